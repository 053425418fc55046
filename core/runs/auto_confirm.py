"""The end of an autodistill search: the winner re-trained with more seeds (`confirm`), then
the answer built from the store (`answer`): the front, the winner with its seed figures, the
teacher and the plain twin as references, the rivals within the noise, and the sentence."""

from __future__ import annotations

import dataclasses
from typing import Any

from core.runs import auto_answer, auto_space
from core.runs.auto_config import auto_of
from core.runs.auto_search import Search
from core.runs.auto_trials import score_of, student_row, trial_rows


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
    """Front, winner with its seed figures, references, rivals within the noise, sentence."""
    auto = auto_of(search)
    rows = trial_rows(store, search)
    done = [r for r in rows if "score" in r]
    front = auto_answer.pareto_front(done)
    winner = auto_answer.winner_under(done, auto.budget_ms)
    out: dict[str, Any] = {
        "run_id": search["id"],
        "kind": "autodistill",
        "budget_ms": auto.budget_ms,
        "metric": auto.metric,
        "trials": rows,
        "front": front,
        "winner": None,
    }
    if done:
        t = next(r for r in store.results(done[0]["run"]) if r["model"] == "teacher")
        out["teacher"] = {
            "score": score_of(t, auto.metric),
            "p50_ms": auto_answer.deployed_p50(t),
            "run": done[0]["run"],
        }
    if winner is None:
        return out
    method = winner["method"]
    seeds = [{"run": winner["run"], "score": winner["score"], "p50_ms": winner["p50_ms"]}]
    plain = []
    for rid in confirm_runs:
        if store.run(rid)["status"] != "done":
            continue
        r = student_row(store, rid, method)
        if r is not None:
            seeds.append(
                {
                    "run": rid,
                    "score": score_of(r, auto.metric),
                    "p50_ms": auto_answer.deployed_p50(r),
                }
            )
        p = student_row(store, rid, method, "plain")
        if p is not None:
            plain.append(score_of(p, auto.metric))
    mean, sd = auto_answer.seed_stats([x["score"] for x in seeds])
    p50s = sorted(x["p50_ms"] for x in seeds)
    out["winner"] = {
        **winner,
        "seeds": seeds,
        "mean": mean,
        "sd": sd,
        "p50_ms": p50s[len(p50s) // 2],
    }
    if plain:
        pm, psd = auto_answer.seed_stats(plain)
        out["plain"] = {"score": pm, "sd": psd, "seeds": len(plain)}
    out["within_noise"] = auto_answer.within_noise(front, winner, mean, sd, auto.budget_ms)
    out["sentence"] = auto_answer.sentence(out)
    return out
