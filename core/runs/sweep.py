"""Hyper-parameter sweeps with Optuna: `python -m core sweep --trials N --space alpha=0:1 ...`.

A sweep is a run of kind `sweep` that only coordinates: it queues one teacher run (or reuses
`--teacher-run`), then asks Optuna for parameters and queues each trial as a `distill` child run
of that teacher (so the teacher, its label cache and its timing are shared by every trial: see
core.runs.teacher_timing), `parallel` at a time, and tells Optuna each trial's objective.
Trials go through the queue like any run, so they execute on the worker's slots or on Ray.
The store stays the truth: a trial's parameters are saved in its own config (`sweep_trial`),
and the Sweep view rebuilds the Optuna study from the child runs (`study_from_store`) for its
plots.

Space syntax, one parameter per item: `name=LOW:HIGH` (integers if both ends are, floats
otherwise, and always for a float setting such as alpha), `name=LOW:HIGH:log` (log scale), `name=A,B,C` (a choice). A name is a field of the
swept student's config (`hidden` is short for `hidden_dim`), of the augmentation (`n_iter`,
`p_mask`, ...) or of the pipeline (`latency_samples`, ...).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from core import methods
from core.config import AugmentConfig, opt, to_dict
from core.runs.config import PipelineConfig, pipeline_from_dict
from core.runs.store import FINAL
from core.runs.submit import JobManager
from core.runs.teacher_timing import TimingSource

log = logging.getLogger(__name__)

OBJECTIVES = ("accuracy", "f1", "accuracy_under_latency")
ALIASES = {"hidden": "hidden_dim", "filters": "num_filters", "embed": "embed_dim", "lr": "lr"}
DEFAULT_SPACE = ("alpha=0:1", "temperature=1:8", "n_iter=2:20", "hidden=32:256")


@dataclass
class SweepConfig:
    trials: int = opt(
        8, help="Trials Optuna runs (each one a distill run).", flag="--trials", min=1, max=500
    )
    space: list[str] = opt(
        help="Search space, one item per parameter: name=LOW:HIGH, name=LOW:HIGH:log or "
        "name=A,B,C; names are fields of the student's config (hidden = hidden_dim), of the "
        "augmentation (n_iter, p_mask, ...) or of the pipeline. temperature only matters "
        "with loss=soft_ce, so add loss=mse,soft_ce to let Optuna choose.",
        factory=lambda: list(DEFAULT_SPACE),
        flag="--space",
        group="sweep-manual",  # nargs="+": written out in core/cli/commands_sweep.py
    )
    student: str = opt(
        "bilstm_char",
        help="The student method every trial trains (see `python -m core methods`).",
        flag="--student",
        group="sweep-manual",  # its choices are the registry's methods
    )
    objective: str = opt(
        "accuracy",
        help="What Optuna maximises: the distilled student's test accuracy, its macro F1, or "
        "its accuracy under a latency budget (a trial over the budget scores 0).",
        flag="--objective",
        choices=list(OBJECTIVES),
    )
    latency_budget_ms: float = opt(
        1.0,
        help="With objective accuracy_under_latency: the student's batch-1 p50 latency budget.",
        flag="--latency-budget-ms",
        min=0.01,
        max=10_000.0,
    )
    parallel: int = opt(
        1,
        help="Trials queued at once (they run in parallel on a worker with that many slots, "
        "or on Ray).",
        flag="--parallel",
        min=1,
        max=64,
    )


# -- the search space -------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    name: str  # as the user wrote it
    field: str  # the config field it sets
    target: str  # "student", "augment" or "pipeline"
    distribution: Any  # an optuna distribution


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _value(text: str) -> Any:
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return _number(text)
    except ValueError:
        return text


def parse_space(items: list[str], student: str) -> list[Param]:
    """The space as Optuna distributions, each bound to a config field; ValueError with the
    reason (and the names that exist) for anything else."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    scfg = methods.get(student).config
    targets = {
        "student": {f.name for f in dataclasses.fields(scfg)} - {"method"},
        "augment": {f.name for f in dataclasses.fields(AugmentConfig)},
        "pipeline": {
            f.name
            for f in dataclasses.fields(PipelineConfig)
            if f.type in ("int", "float", "bool", "str") and f.name not in ("name", "teacher_run")
        },
    }
    out: list[Param] = []
    for item in items:
        name, sep, spec = item.partition("=")
        name = name.strip()
        if not sep or not name or not spec.strip():
            raise ValueError(f"{item!r}: write name=LOW:HIGH, name=LOW:HIGH:log or name=A,B,C")
        field = ALIASES.get(name, name)
        target = next((t for t, fields in targets.items() if field in fields), None)
        if target is None:
            known = sorted(targets["student"] | targets["augment"] | set(ALIASES))
            raise ValueError(
                f"{item!r}: {name} is not a setting of {student}, of the augmentation or of "
                f"the pipeline; choose from {', '.join(known)}"
            )
        if "," in spec:
            dist = CategoricalDistribution([_value(x) for x in spec.split(",") if x.strip()])
        else:
            parts = spec.split(":")
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
                raise ValueError(f"{item!r}: a range is LOW:HIGH or LOW:HIGH:log")
            try:
                lo, hi = _number(parts[0]), _number(parts[1])
            except ValueError:
                raise ValueError(f"{item!r}: {parts[0]}:{parts[1]} are not numbers") from None
            if lo >= hi:
                raise ValueError(f"{item!r}: LOW must be below HIGH")
            log_scale = len(parts) == 3
            if log_scale and lo <= 0:
                raise ValueError(f"{item!r}: a log range must start above 0")
            cls = {"student": scfg, "augment": AugmentConfig, "pipeline": PipelineConfig}[target]
            is_float = "float" in str(
                next(f.type for f in dataclasses.fields(cls) if f.name == field)
            )
            if isinstance(lo, int) and isinstance(hi, int) and not is_float:
                dist = IntDistribution(lo, hi, log=log_scale)
            else:
                dist = FloatDistribution(float(lo), float(hi), log=log_scale)
        out.append(Param(name, field, target, dist))
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise ValueError(f"a parameter is given twice: {', '.join(names)}")
    return out


def apply_params(
    base: PipelineConfig, space: list[Param], params: dict[str, Any]
) -> PipelineConfig:
    """The base config with one trial's parameters set (a deep copy: the base is untouched)."""

    cfg = pipeline_from_dict(to_dict(base))
    for p in space:
        value = params[p.name]
        if p.target == "student":
            cfg.students = [dataclasses.replace(s, **{p.field: value}) for s in cfg.students]
        elif p.target == "augment":
            cfg.augment = dataclasses.replace(cfg.augment, **{p.field: value})
        else:
            cfg = dataclasses.replace(cfg, **{p.field: value})
    return cfg


# -- objective --------------------------------------------------------------------------------
def objective_value(sweep: SweepConfig, result: dict[str, Any]) -> float:
    """A trial's score from its distilled student's result row."""
    if sweep.objective == "f1":
        return float(result["f1"])
    acc = float(result["accuracy"])
    if sweep.objective == "accuracy_under_latency":
        p50 = result.get("latency_ms_p50")
        return acc if p50 is not None and p50 <= sweep.latency_budget_ms else 0.0
    return acc


def trial_result(store, run_id: int, student: str) -> dict[str, Any] | None:
    """The distilled student's result row of a finished trial run."""
    for r in store.results(run_id):
        if r["model"] == f"{student}_distilled":
            return r
    return None


def sweep_of(run: dict[str, Any]) -> SweepConfig:
    d = run["config"].get("sweep", {})
    names = {f.name for f in dataclasses.fields(SweepConfig)}
    return SweepConfig(**{k: v for k, v in d.items() if k in names})


def trials_table(store, sweep_run: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per trial (child distill run) of a sweep: number, run, status, parameters,
    objective value and the student's figures."""
    sweep = sweep_of(sweep_run)
    rows = []
    for child in sorted(store.runs(parent=sweep_run["id"]), key=lambda r: r["id"]):
        trial = child["config"].get("sweep_trial")
        if not trial:
            continue  # the sweep's teacher run
        row: dict[str, Any] = {
            "trial": trial["number"],
            "run": child["id"],
            "status": child["status"],
            **trial["params"],
        }
        res = trial_result(store, child["id"], sweep.student) if child["status"] == "done" else None
        if res is not None:
            row["value"] = objective_value(sweep, res)
            row["accuracy"] = res["accuracy"]
            row["f1"] = res["f1"]
            row["latency_ms_p50"] = res["latency_ms_p50"]
        rows.append(row)
    return rows


def study_from_store(store, sweep_run: dict[str, Any]):
    """An in-memory Optuna study rebuilt from the sweep's finished trials (for the plots)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweep = sweep_of(sweep_run)
    space = parse_space(sweep.space, sweep.student)
    dists = {p.name: p.distribution for p in space}
    study = optuna.create_study(direction="maximize", study_name=f"sweep {sweep_run['id']}")
    for row in trials_table(store, sweep_run):
        if "value" not in row:
            continue
        params = {p.name: row[p.name] for p in space}
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=dists,
                value=row["value"],
                user_attrs={"run": row["run"]},
            )
        )
    return study


# -- the coordinator --------------------------------------------------------------------------
@dataclass
class Coordinator:
    """A sweep's handle on its own runs: submit them, wait for them while keeping a worker alive
    (the queue needs one), and cancel every one of them when the sweep stops."""

    ctx: Any
    manager: JobManager
    mine: list[int] = field(default_factory=list)
    checked: float = 0.0

    def submit(self, kind: str, cfg: PipelineConfig, **kw: Any) -> int:
        rid = self.manager.submit(kind, cfg, parent=self.ctx.run_id, **kw)
        self.mine.append(rid)
        return rid

    def keep_a_worker(self) -> None:
        """Every 10 s: a worker that idled out or died is replaced."""
        if time.monotonic() - self.checked > 10:
            self.manager.ensure_worker()
            self.checked = time.monotonic()

    def wait(self, rids: list[int]) -> None:
        while any(self.ctx.store.run(r)["status"] not in FINAL for r in rids):
            self.ctx.check_cancel()
            self.keep_a_worker()
            time.sleep(0.5)

    def cancel_all(self) -> None:
        for rid in self.mine:
            if self.ctx.store.run(rid)["status"] in ("queued", "running"):
                self.ctx.store.request_cancel(rid)


def _base_config(cfg: PipelineConfig, sweep: SweepConfig) -> PipelineConfig:
    """The run config every trial starts from: the swept student alone, no plain twin."""
    base = dataclasses.replace(cfg, plain_baseline=False)
    if not any(s.method == sweep.student for s in base.students):
        base.students = [methods.get(sweep.student).config(method=sweep.student)]
    base.students = [s for s in base.students if s.method == sweep.student][:1]
    return base


def teacher_run_for(co: Coordinator, base: PipelineConfig, cfg: PipelineConfig) -> int:
    """The earlier run named by `teacher_run`, or a teacher run submitted and waited for."""
    if cfg.teacher_run is not None:
        return cfg.teacher_run
    store, sid = co.ctx.store, co.ctx.run_id
    co.ctx.stage("teacher", 1)
    rid = co.submit("teacher", dataclasses.replace(base, name=f"sweep {sid} teacher"))
    store.update_run(sid, message=f"teacher: run {rid}")
    co.wait([rid])
    run = store.run(rid)
    if run["status"] != "done":
        raise RuntimeError(f"the sweep's teacher run {rid} is {run['status']}: {run['error']}")
    co.ctx.step()
    return rid


def _trials(co: Coordinator, base: PipelineConfig, sweep: SweepConfig, seed: int) -> None:
    """Ask Optuna for trials, `sweep.parallel` at a time as queued distill runs, and tell it
    each finished run's objective value."""
    import optuna  # lazily: only a sweep needs it

    store, sid, ctx = co.ctx.store, co.ctx.run_id, co.ctx
    space = parse_space(sweep.space, sweep.student)
    ctx.stage("trials", sweep.trials)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    dists = {p.name: p.distribution for p in space}
    in_flight: dict[int, Any] = {}  # run id -> optuna trial
    asked = 0
    best: tuple[float, int] | None = None
    timing = TimingSource(store, sid, "sweep_trial")  # the shared teacher, timed once
    while asked < sweep.trials or in_flight:
        while asked < sweep.trials and len(in_flight) < sweep.parallel:
            trial = study.ask(dists)
            tcfg = apply_params(base, space, trial.params)
            tcfg = dataclasses.replace(tcfg, name=f"sweep {sid} trial {trial.number}")
            tcfg.teacher_timing_run = timing.run_for(tcfg)
            extra = {"sweep_trial": {"sweep": sid, "number": trial.number, "params": trial.params}}
            in_flight[co.submit("distill", tcfg, extra=extra)] = trial
            asked += 1
        ctx.check_cancel()
        for rid in [r for r in in_flight if store.run(r)["status"] in FINAL]:
            trial = in_flight.pop(rid)
            res = trial_result(store, rid, sweep.student)
            if store.run(rid)["status"] != "done" or res is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                log.warning("sweep %d: trial %d (run %d) failed", sid, trial.number, rid)
            else:
                value = objective_value(sweep, res)
                study.tell(trial, value)
                if best is None or value > best[0]:
                    best = (value, rid)
                log.info("sweep %d: trial %d (run %d) = %.4f", sid, trial.number, rid, value)
            ctx.step()
            text = f"{ctx.steps_done}/{sweep.trials} trials"
            if best:
                text += f"; best {sweep.objective} {best[0]:.4f} (run {best[1]})"
            store.update_run(sid, message=text)
        if in_flight:
            co.keep_a_worker()
            time.sleep(0.5)


def run_sweep(cfg: PipelineConfig, ctx) -> dict[str, Any]:
    """Execute a sweep run (kind `sweep`): teacher, then the trials through the queue."""
    import optuna  # lazily: only a sweep needs it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store, sid = ctx.store, ctx.run_id
    sweep = sweep_of(store.run(sid))
    parse_space(sweep.space, sweep.student)  # a bad space fails before any run is queued
    co = Coordinator(ctx, JobManager(store, slots=sweep.parallel, start_workers=False))
    base = _base_config(cfg, sweep)
    ctx.plan({"teacher": 1.0, "trials": float(sweep.trials)})
    try:
        teacher_run = teacher_run_for(co, base, cfg)
        _trials(co, dataclasses.replace(base, teacher_run=teacher_run), sweep, cfg.data.seed)
    except BaseException:  # cancelled, Ctrl-C, or any failure: the sweep's runs stop with it
        co.cancel_all()
        raise
    finally:
        co.manager.close()  # a worker this sweep had to start stops with it (none: nothing to do)
    rows = trials_table(store, store.run(sid))
    done = [r for r in rows if "value" in r]
    if not done:
        raise RuntimeError("no trial finished: see the trial runs' errors")
    top = max(done, key=lambda r: r["value"])
    summary = {
        "run_id": sid,
        "kind": "sweep",
        "teacher_run": teacher_run,
        "objective": sweep.objective,
        "best": top,
        "trials": rows,
        "timings": ctx.finish(),
    }
    (ctx.run_dir / "results.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    store.update_run(
        sid,
        message=f"best: trial {top['trial']} (run {top['run']}) "
        f"{sweep.objective} {top['value']:.4f}",
    )
    return summary
