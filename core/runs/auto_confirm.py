"""The end of an autodistill search: the winner re-trained with more seeds (`confirm`), then
the answer built from the store (`answer`): the front, the winner with its seed figures, the
teacher and the plain twin as references, the rivals within the noise, and the sentence.
Trials were compared on the dev rows (core.runs.auto_trials.compared_on); the winner's
announced figures, its seeds' mean and spread, are its test scores."""

from __future__ import annotations

import dataclasses
from typing import Any

from core.runs import auto_answer, auto_space
from core.runs.auto_config import auto_of
from core.runs.auto_search import Search
from core.runs.auto_trials import compared_on, compared_score, score_of, student_row, trial_rows


def confirm(s: Search, winner: dict[str, Any]) -> list[int]:
    """The winner re-trained with seeds 2..n (the trial was the first), each with its plain twin;
    their runs (already there after a resume are reused)."""
    have = {
        c["config"]["auto_trial"]["seed"]: c["id"]
        for c in s.store.runs(parent=s.sid)
        if (c["config"].get("auto_trial") or {}).get("role") == "confirm"
        and c["status"] not in ("failed", "cancelled", "interrupted")
    }
    base_seed = auto_space.student_config(winner["params"]).seed
    rids = []
    for k in range(1, s.auto.seeds):
        seed = base_seed + k
        if seed in have:
            rids.append(have[seed])
            continue
        cfg = s.trial_config(winner["params"], seed=seed)
        cfg = dataclasses.replace(
            cfg, plain_baseline=True, name=f"autodistill {s.sid} winner seed {seed}"
        )
        info = {"search": s.sid, "role": "confirm", "seed": seed, "params": winner["params"]}
        rids.append(s.co.submit("distill", cfg, extra={"auto_trial": info}))
    s.co.ctx.stage("confirm", max(1, len(rids)))
    s.co.wait(rids)
    s.co.ctx.step(len(rids))
    return rids


def answer(store, search: dict[str, Any], confirm_runs: list[int]) -> dict[str, Any]:
    """Front and winner (chosen on the split the trials were compared on), the winner's seed
    figures (on test), references, rivals within the noise, sentence."""
    auto = auto_of(search)
    split = compared_on(search)
    rows = trial_rows(store, search)
    done = [r for r in rows if "score" in r]
    front = auto_answer.pareto_front(done)
    winner = auto_answer.winner_under(done, auto.budget_ms)
    out: dict[str, Any] = {
        "run_id": search["id"],
        "kind": "autodistill",
        "budget_ms": auto.budget_ms,
        "metric": auto.metric,
        "compared_on": split,
        "trials": rows,
        "front": front,
        "winner": None,
    }
    if done:
        t = next(r for r in store.results(done[0]["run"]) if r["model"] == "teacher")
        out["dev_rows"] = (t.get("detail") or {}).get("dev_rows")
        out["teacher"] = {
            "score": score_of(t, auto.metric),
            "compared": compared_score(t, auto.metric, split),
            "p50_ms": auto_answer.deployed_p50(t),
            "run": done[0]["run"],
        }
    if winner is None:
        return out
    seeds, plain = seed_figures(store, winner, confirm_runs, auto.metric, split)
    mean, sd = auto_answer.seed_stats([x["score"] for x in seeds])
    cmean, csd = auto_answer.seed_stats([x["compared"] for x in seeds])
    p50s = sorted(x["p50_ms"] for x in seeds)
    out["winner"] = {
        **winner,
        "seeds": seeds,
        "mean": mean,
        "sd": sd,
        "compared_mean": cmean,
        "compared_sd": csd,
        "p50_ms": p50s[len(p50s) // 2],
    }
    if plain:
        pm, psd = auto_answer.seed_stats(plain)
        out["plain"] = {"score": pm, "sd": psd, "seeds": len(plain)}
    out["within_noise"] = auto_answer.within_noise(front, winner, cmean, csd, auto.budget_ms)
    out["sentence"] = auto_answer.sentence(out)
    return out


def seed_figures(
    store, winner: dict[str, Any], confirm_runs: list[int], metric: str, split: str
) -> tuple[list[dict[str, Any]], list[float]]:
    """The winner's seeds (the trial, then each finished confirm run): its test score (what is
    announced), its score on the compared split and its p50; and the plain twins' test scores."""
    seeds = [
        {
            "run": winner["run"],
            "score": winner["test_score"],
            "compared": winner["score"],
            "p50_ms": winner["p50_ms"],
        }
    ]
    plain = []
    for rid in confirm_runs:
        if store.run(rid)["status"] != "done":
            continue
        r = student_row(store, rid, winner["method"])
        if r is not None and (c := compared_score(r, metric, split)) is not None:
            seeds.append(
                {
                    "run": rid,
                    "score": score_of(r, metric),
                    "compared": c,
                    "p50_ms": auto_answer.deployed_p50(r),
                }
            )
        p = student_row(store, rid, winner["method"], "plain")
        if p is not None:
            plain.append(score_of(p, metric))
    return seeds, plain
