"""`python -m core autodistill`: the best student for these data under a latency budget.

A run of kind `autodistill` is a sweep (core.runs.sweep) across methods: it queues one teacher
run (or reuses `--teacher-run`), then asks a multi-objective Optuna study (score up, deployed
batch-1 p50 down, the budget as a constraint) for a method and its key settings
(core.runs.auto_space) and queues each trial as a `distill` child run of that teacher, so every
trial shares the teacher, its label cache and (per `n_iter`) the augmented texts.

Cheap before dear:
- a trial's student is first built untrained and timed (core.runs.auto_probe); over
  `probe_margin` x the budget it is pruned before it trains: no run, no artifact;
- the first trials are the small students at their defaults (auto_space.CHEAP_FIRST);
- a transformer trial whose dev curve falls below that of a finished trial at least as fast,
  at the same dev check, is cancelled (Optuna's pruners are single-objective, so the rule is
  ours; it reads the trial's dev points from the store as the training loop logs them).

The store stays the truth: each trial's parameters and distributions are in its run's config
(`auto_trial`), the trials pruned before training in the search run's config
(`autodistill_pruned`), so a killed search resumes (`--resume ID`) by rebuilding the study from
the store; finished trials are not repeated and trials still on the queue are waited for.

Then the winner (best score within the budget) is re-trained with more seeds (its first seed
is the trial itself), with its plain twin as a reference, and `results.json` holds the front,
the winner with its seed figures, the teacher and the plain twin, and the sentence.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

from core import methods
from core.config import opt, to_dict
from core.data.bundle import load_bundle
from core.runs import auto_answer, auto_space
from core.runs.auto_probe import Prober
from core.runs.config import PipelineConfig, pipeline_from_dict
from core.runs.stages import teacher_dir
from core.runs.store import ACTIVE, FINAL
from core.runs.submit import JobManager
from core.runs.sweep import Coordinator, teacher_run_for
from core.teacher.model import load_teacher

log = logging.getLogger(__name__)

METRICS = ("accuracy", "f1")
CALIBRATED_SAFETY = 1.25  # a calibrated prediction must be this far over the budget to prune
PROBES_PER_TRIAL = 6  # at most this many probes per trained trial (a space mostly over budget)


@dataclass
class AutoConfig:
    budget_ms: float = opt(
        1.0,
        help="Latency budget: the student's batch-1 p50 as deployed (ONNX Runtime on the CPU "
        "through the export's predict.py, on the machine that runs the search).",
        flag="--budget-ms",
        min=0.01,
        max=10_000.0,
    )
    trials: int = opt(
        12,
        help="Students trained (trials pruned before training by their latency do not count).",
        flag="--trials",
        min=1,
        max=500,
    )
    minutes: float | None = opt(
        None,
        help="Time budget of the search: no trial is started after it (those running finish).",
        flag="--minutes",
        none="no time limit",
        min=0.0,
        max=10_000.0,
    )
    metric: str = opt(
        "accuracy",
        help="What the search maximises beside latency: test accuracy or macro-F1.",
        flag="--metric",
        choices=list(METRICS),
    )
    methods: list[str] = opt(
        help="The student methods searched over (each with its key settings).",
        factory=lambda: list(auto_space.SEARCHED),
        flag="--methods",
        group="auto-manual",  # nargs="+": written out in core/cli/commands_autodistill.py
    )
    parallel: int = opt(
        1,
        help="Trials queued at once (a worker with that many slots, or Ray, runs them).",
        flag="--parallel",
        min=1,
        max=64,
    )
    seeds: int = opt(
        3,
        help="Seeds the winner is trained with before it is announced (the trial is the first).",
        flag="--confirm-seeds",
        min=1,
        max=10,
    )
    probe_margin: float = opt(
        3.0,
        help="Before any trial of a family has trained: a trial is pruned before training when "
        "its untrained student's PyTorch batch-1 p50 is over this many times the budget "
        "(ONNX Runtime, the deployed path, measured 1.5-5x faster on these models). Once one "
        "has, the family's measured ONNX / PyTorch-probe ratio is used instead.",
        flag="--probe-margin",
        min=1.0,
        max=100.0,
    )
    max_epochs: int | None = opt(
        None,
        help="Cap on every trial's searched epochs (a quick or capped search).",
        flag="--max-epochs",
        none="the search space's ranges",
        min=1,
        max=50,
    )
    cheap_first: bool = opt(
        True,
        help="Start with the word and character students at their defaults.",
        flag="--no-cheap-first",
    )


def auto_of(run: dict[str, Any]) -> AutoConfig:
    d = run["config"].get("autodistill", {})
    names = {f.name for f in dataclasses.fields(AutoConfig)}
    return AutoConfig(**{k: v for k, v in d.items() if k in names})


# -- reading trials back from the store -----------------------------------------------------------
def student_row(store, run_id: int, method: str, role: str = "distilled") -> dict | None:
    for r in store.results(run_id):
        if r["model"] == f"{method}_{role}":
            return r
    return None


def score_of(row: dict[str, Any], metric: str) -> float:
    return float(row["f1"] if metric == "f1" else row["accuracy"])


def trial_rows(store, search: dict[str, Any]) -> list[dict[str, Any]]:
    """Every trial of a search, by number: trained ones (a child run), pruned ones (before
    training: no run), with score, deployed p50, probe p50 and status."""
    auto = auto_of(search)
    rows = []
    for child in store.runs(parent=search["id"]):
        info = child["config"].get("auto_trial")
        if not info or info.get("role") != "trial":
            continue
        params = info["params"]
        row: dict[str, Any] = {
            "trial": info["number"],
            "run": child["id"],
            "status": child["status"],
            "method": params["method"],
            "description": auto_space.describe(params),
            "params": params,
            "probe_ms": info.get("probe_ms"),
            "pruned": None,
        }
        if child["status"] == "cancelled" and info["number"] in curve_pruned(search):
            row["pruned"] = "dev curve"
        res = (
            student_row(store, child["id"], params["method"]) if child["status"] == "done" else None
        )
        if res is not None:
            row["score"] = score_of(res, auto.metric)
            row["accuracy"] = res["accuracy"]
            row["f1"] = res["f1"]
            row["p50_ms"] = auto_answer.deployed_p50(res)
            row["torch_p50_ms"] = res["latency_ms_p50"]
        rows.append(row)
    for p in search["config"].get("autodistill_pruned", []):
        rows.append(
            {
                "trial": p["number"],
                "run": None,
                "status": "pruned",
                "method": p["params"]["method"],
                "description": auto_space.describe(p["params"]),
                "params": p["params"],
                "probe_ms": p["probe_ms"],
                "pruned": "over budget before training",
            }
        )
    return sorted(rows, key=lambda r: r["trial"])


def curve_pruned(search: dict[str, Any]) -> set[int]:
    return set(search["config"].get("autodistill_curve_pruned", []))


def dev_curve(store, run_id: int) -> list[float]:
    """The trial's dev checks in order (the training loop logs `<series>/dev_<metric>`)."""
    pts = [m for m in store.metrics(run_id) if "/dev_" in m["series"]]
    return [m["value"] for m in sorted(pts, key=lambda m: (m["t"], m["step"]))]


# -- the search -------------------------------------------------------------------------------
@dataclass
class Search:
    """One search's state in this process: the study, its trials in flight, its records."""

    co: Coordinator
    auto: AutoConfig
    base: PipelineConfig
    prober: Prober
    depth: int
    seed: int
    study: Any = None
    in_flight: dict[int, Any] = dataclasses.field(default_factory=dict)  # run -> trial | None
    probes: int = 0
    trained: int = 0
    numbers: int = 0  # the next trial number (ours: Optuna's restart from 0 on a rebuilt study)
    curves: dict[int, list[float]] = dataclasses.field(default_factory=dict)  # finished runs

    @property
    def store(self):
        return self.co.ctx.store

    @property
    def sid(self) -> int:
        return self.co.ctx.run_id

    def search_run(self) -> dict[str, Any]:
        return self.store.run(self.sid)

    def note(self, key: str, value: Any) -> None:
        """Append to a list in the search run's config (the store keeps the search's state)."""
        run = self.search_run()
        config = dict(run["config"])
        config[key] = [*config.get(key, []), value]
        self.store.update_run(self.sid, config=config)

    def trial_config(self, params: dict[str, Any], seed: int | None = None) -> PipelineConfig:
        cfg = pipeline_from_dict(to_dict(self.base))
        student = auto_space.student_config(params, seed)
        if self.auto.max_epochs and student.epochs > self.auto.max_epochs:
            student = dataclasses.replace(student, epochs=self.auto.max_epochs)
        cfg.students = [student]
        n_iter = int(params.get("n_iter", cfg.augment.n_iter))
        cfg.use_augmentation = cfg.use_augmentation and n_iter > 0
        if n_iter > 0:
            cfg.augment = dataclasses.replace(cfg.augment, n_iter=n_iter)
        return cfg

    # -- the study, rebuilt from the store ----------------------------------------------------
    def rebuild(self) -> None:
        import optuna
        from optuna.distributions import json_to_distribution
        from optuna.trial import TrialState, create_trial

        with warnings.catch_warnings():  # constraints_func: deprecated in 5.0, still supported
            warnings.simplefilter("ignore", FutureWarning)
            sampler = optuna.samplers.TPESampler(seed=self.seed, constraints_func=constraints)
        self.study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
        run = self.search_run()
        records = {r["trial"]: r for r in trial_rows(self.store, run)}
        dists_of = {}
        for child in self.store.runs(parent=self.sid):
            info = child["config"].get("auto_trial")
            if info and info.get("role") == "trial":
                dists_of[info["number"]] = info["dists"]
        for p in run["config"].get("autodistill_pruned", []):
            dists_of[p["number"]] = p["dists"]
        self.numbers = 1 + max(records, default=-1)
        for number in sorted(records):
            r = records[number]
            if r["status"] in ACTIVE:
                self.in_flight[r["run"]] = None  # waited for, then added as finished
                self.co.mine.append(r["run"])  # and cancelled with the search
                self.trained += 1
                continue
            dists = {k: json_to_distribution(v) for k, v in dists_of[number].items()}
            if r["status"] == "pruned":
                self.probes += 1
                values, state = [0.0, r["probe_ms"]], TrialState.COMPLETE
                over = r["probe_ms"] - self.auto.budget_ms
            elif "score" in r:
                self.trained += 1
                values, state = [r["score"], r["p50_ms"]], TrialState.COMPLETE
                over = r["p50_ms"] - self.auto.budget_ms
            else:  # failed, cancelled or pruned on its dev curve
                self.trained += 1
                values, state, over = None, TrialState.PRUNED, 0.0
            self.study.add_trial(
                create_trial(
                    params=r["params"],
                    distributions=dists,
                    values=values,
                    state=state,
                    user_attrs={"run": r["run"], "constraint": [over]},
                )
            )
        if not records and self.auto.cheap_first:
            for params in auto_space.cheap_first(self.auto.methods):
                self.study.enqueue_trial(params)

    # -- asking ---------------------------------------------------------------------------------
    def ask_one(self) -> None:
        """Ask for a trial; prune it before training if its untrained student is too slow,
        else queue it as a distill run."""
        from optuna.distributions import distribution_to_json

        trial = self.study.ask()
        number = self.numbers
        self.numbers += 1
        params = auto_space.suggest(trial, self.auto.methods, self.depth)
        dists = {k: distribution_to_json(v) for k, v in trial.distributions.items()}
        scfg = auto_space.student_config(params)
        probe = self.prober.p50_ms(scfg)
        self.probes += 1
        if self.over_budget(params["method"], probe):
            trial.set_user_attr("constraint", [probe - self.auto.budget_ms])
            self.study.tell(trial, [0.0, probe])
            record = {"number": number, "params": params, "dists": dists, "probe_ms": probe}
            self.note("autodistill_pruned", record)
            log.info(
                "autodistill %d: trial %d (%s) pruned before training: %.3f ms untrained",
                self.sid,
                number,
                auto_space.describe(params),
                probe,
            )
            return
        cfg = dataclasses.replace(
            self.trial_config(params), name=f"autodistill {self.sid} trial {number}"
        )
        info = {
            "search": self.sid,
            "role": "trial",
            "number": number,
            "params": params,
            "dists": dists,
            "probe_ms": probe,
        }
        rid = self.co.submit("distill", cfg, extra={"auto_trial": info})
        self.in_flight[rid] = trial
        self.trained += 1

    def over_budget(self, method: str, probe_ms: float) -> bool:
        """Whether a trial whose untrained student timed `probe_ms` (PyTorch) cannot meet the
        budget as deployed: predicted with the smallest deployed / probe ratio of its family's
        trained trials (with a safety factor), or, before any, over `probe_margin` x budget."""
        family = methods.get(method).family
        ratios = [
            r["p50_ms"] / r["probe_ms"]
            for r in trial_rows(self.store, self.search_run())
            if "score" in r and r["probe_ms"] and methods.get(r["method"]).family == family
        ]
        if ratios:
            return probe_ms * min(ratios) > CALIBRATED_SAFETY * self.auto.budget_ms
        return probe_ms > self.auto.probe_margin * self.auto.budget_ms

    # -- telling --------------------------------------------------------------------------------
    def collect(self) -> None:
        """Tell the study about every trial run that has finished."""
        import optuna

        rows = {r["run"]: r for r in trial_rows(self.store, self.search_run()) if r["run"]}
        for rid in [r for r in self.in_flight if self.store.run(r)["status"] in FINAL]:
            trial = self.in_flight.pop(rid)
            r = rows[rid]
            if trial is None:  # a trial from before a resume: rebuilt with the others later
                self.rebuild_one(r)
            elif "score" in r:
                trial.set_user_attr("constraint", [r["p50_ms"] - self.auto.budget_ms])
                trial.set_user_attr("run", rid)
                self.study.tell(trial, [r["score"], r["p50_ms"]])
            else:
                self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            self.co.ctx.step()
            self.message()

    def rebuild_one(self, r: dict[str, Any]) -> None:
        from optuna.distributions import json_to_distribution
        from optuna.trial import TrialState, create_trial

        run = self.store.run(r["run"])
        dists = {
            k: json_to_distribution(v) for k, v in run["config"]["auto_trial"]["dists"].items()
        }
        done = "score" in r
        self.study.add_trial(
            create_trial(
                params=r["params"],
                distributions=dists,
                values=[r["score"], r["p50_ms"]] if done else None,
                state=TrialState.COMPLETE if done else TrialState.PRUNED,
                user_attrs={
                    "run": r["run"],
                    "constraint": [(r["p50_ms"] - self.auto.budget_ms) if done else 0.0],
                },
            )
        )

    def prune_curves(self) -> None:
        """Cancel a transformer trial whose dev curve is below that of a finished trial at
        least as fast (by the untrained probe) at the same dev check (see `curve_verdict`)."""
        rows = trial_rows(self.store, self.search_run())
        by_run = {r["run"]: r for r in rows if r["run"]}
        watched = [
            by_run[rid]
            for rid in self.in_flight
            if rid in by_run
            and by_run[rid]["status"] == "running"
            and methods.get(by_run[rid]["method"]).family == "transformer"
        ]
        if not watched:
            return
        finished = [r for r in rows if "score" in r and r["run"]]
        for r in finished:
            if r["run"] not in self.curves:
                self.curves[r["run"]] = dev_curve(self.store, r["run"])
        rivals = [(r["probe_ms"], self.curves[r["run"]]) for r in finished]
        for r in watched:
            verdict = curve_verdict(dev_curve(self.store, r["run"]), r["probe_ms"], rivals)
            if verdict is None:
                continue
            check, mine, best = verdict
            log.info(
                "autodistill %d: trial %d pruned at dev check %d (%.4f < %.4f)",
                self.sid,
                r["trial"],
                check,
                mine,
                best,
            )
            self.note("autodistill_curve_pruned", r["trial"])
            self.store.request_cancel(r["run"])

    def message(self) -> None:
        rows = trial_rows(self.store, self.search_run())
        best = auto_answer.winner_under([r for r in rows if "score" in r], self.auto.budget_ms)
        text = f"{self.trained}/{self.auto.trials} trials, {self.probes} probed"
        if best:
            text += f"; best under budget: {best['description']} {best['score']:.4f}"
        self.store.update_run(self.sid, message=text)

    def search(self, deadline: float | None) -> None:
        ctx = self.co.ctx
        while True:
            more = (
                self.trained < self.auto.trials
                and (deadline is None or time.monotonic() < deadline)
                and self.probes < PROBES_PER_TRIAL * self.auto.trials
            )
            while more and len(self.in_flight) < self.auto.parallel:
                self.ask_one()
                ctx.check_cancel()
                more = (
                    self.trained < self.auto.trials
                    and self.probes < PROBES_PER_TRIAL * self.auto.trials
                )
            if not more and not self.in_flight:
                return
            ctx.check_cancel()
            self.collect()
            self.prune_curves()
            if self.in_flight:
                self.co.keep_a_worker()
                time.sleep(0.5)


def curve_verdict(
    mine: list[float], probe_ms: float, rivals: list[tuple[float, list[float]]]
) -> tuple[int, float, float] | None:
    """(dev check number, this trial's value, the best rival's) when this trial's latest dev
    check is below that of a finished trial at least as fast (probe p50) at the same check;
    None while it is not (or has no dev check yet)."""
    if not mine:
        return None
    i = len(mine) - 1
    same = [curve[i] for p, curve in rivals if p <= probe_ms and len(curve) > i]
    if same and mine[i] < max(same):
        return i + 1, mine[i], max(same)
    return None


def constraints(trial) -> list[float]:
    """Optuna's constraint of a trial: its p50 over the budget (> 0: infeasible)."""
    return list(trial.user_attrs.get("constraint", [0.0]))


# -- the winner, confirmed ------------------------------------------------------------------------
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


def run_autodistill(cfg: PipelineConfig, ctx) -> dict[str, Any]:
    """Execute a search run (kind `autodistill`): teacher, trials, the winner's seeds, answer."""
    import optuna  # lazily: only a search needs it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store, sid = ctx.store, ctx.run_id
    auto = auto_of(store.run(sid))
    auto_space.check_methods(auto.methods)
    co = Coordinator(ctx, JobManager(store, slots=auto.parallel, start_workers=False))
    base = dataclasses.replace(cfg, plain_baseline=False)
    ctx.plan({"teacher": 1.0, "trials": float(auto.trials), "confirm": float(auto.seeds)})
    deadline = time.monotonic() + 60 * auto.minutes if auto.minutes else None
    try:
        teacher_run = earlier_teacher(co, sid) or teacher_run_for(co, base, cfg)
        base = dataclasses.replace(base, teacher_run=teacher_run)
        teacher = load_teacher(teacher_dir(store, teacher_run), "cpu")
        bundle = load_bundle(cfg.data)
        prober = Prober.from_texts(
            teacher, bundle.train.texts, bundle.label_names, cfg.data.seed, cfg.student_threads
        )
        depth = int(teacher.model.config.num_hidden_layers)
        s = Search(co, auto, base, prober, depth, cfg.data.seed)
        ctx.stage("trials", auto.trials)
        s.rebuild()
        s.search(deadline)
        rows = trial_rows(store, store.run(sid))
        winner = auto_answer.winner_under([r for r in rows if "score" in r], auto.budget_ms)
        runs = confirm(s, winner) if winner is not None else []
    except BaseException:  # cancelled, Ctrl-C, or any failure: the search's runs stop with it
        co.cancel_all()
        raise
    finally:
        co.manager.close()
    out = answer(store, store.run(sid), runs)
    out["teacher_run"] = teacher_run
    out["timings"] = ctx.finish()
    (ctx.run_dir / "results.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))
    if out["winner"] is None:
        fastest = min((r for r in rows if "score" in r), key=lambda r: r["p50_ms"], default=None)
        why = f"no student met {auto.budget_ms:g} ms"
        if fastest:
            why += f"; the fastest was {fastest['description']} at {fastest['p50_ms']:.3f} ms"
        raise RuntimeError(why)
    store.update_run(sid, message=out["sentence"][:500])
    return out


def earlier_teacher(co: Coordinator, sid: int) -> int | None:
    """The teacher run this search queued before it was killed (resume), waited for if it is
    still on the queue; None if there is none that finished."""
    for child in co.ctx.store.runs(parent=sid, kind="teacher"):
        if child["status"] in ACTIVE:
            co.wait([child["id"]])
        if co.ctx.store.run(child["id"])["status"] == "done":
            return child["id"]
    return None


def export_winner(store, search_id: int, out, check: int | None = None):
    """Export the winner of a finished search (its trial run's distilled student) to `out`:
    ONNX and predict.py (core.export), checked against Distillery's own scoring."""
    from core.export.exporter import export_model

    path = store.run_dir(search_id, create=False) / "results.json"
    if not path.is_file():
        raise ValueError(f"run {search_id} has no answer yet (not a finished autodistill run)")
    winner = json.loads(path.read_text()).get("winner")
    if not winner:
        raise ValueError(f"run {search_id} found no student under its budget")
    return export_model(store, winner["run"], f"{winner['method']}_distilled", out, check=check)
