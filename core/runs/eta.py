"""One whole-run estimate of the time left, from what this machine measured.

The run plan gives every stage a weight (core.runs.pipeline `plan_for`). A stage already done
costs nothing more; the stage under way is extrapolated from its measured step times; a stage
not yet started costs either what it took in an earlier finished run on this machine (the store's
`timings`, scaled by how this run's finished stages compare with that run's: the machine may be
busier or quieter today), or, with no history, its weight times this run's measured seconds per
unit of weight so far. So the evaluate stage and every stage not yet started are in the estimate
from the first step on, and a second run of the same settings is estimated from the first one.

`eta_errors` turns a finished run's recorded `eta` series (seconds left, logged as the run went)
into the error at 25 / 50 / 75% of the run: what the benchmarks report.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Mapping
from typing import Any

from core import methods
from core.config import to_dict
from core.runs.config import PipelineConfig, pipeline_from_dict
from core.runs.store import COORDINATOR_KINDS

log = logging.getLogger(__name__)

# Relative cost of each stage of the plain pipeline (the students' weight is per method); a
# first run on a machine has nothing better, later runs are calibrated by the store's timings.
# About a quarter of the seconds each stage took in the untouched default run on a quiet 2-core
# AMD EPYC (docs/benchmarks.md: teacher 167 s, label 161 s, students 94 s for two methods,
# evaluate 31 s). A students weight of 20 per method (twice what it took) put the whole-run ETA
# 75% too long at three quarters of that run: the first run's estimate of a stage not yet under
# way is its weight times the seconds per weight of the stages before it.
WEIGHTS = {"data": 1, "teacher": 40, "augment": 1, "label": 40, "tokenize": 1, "evaluate": 8}
# int8 labels (the default for an fp32 CPU teacher) took the default run's label stage from
# 174.7 s to 113.1 s on the quiet machine above: the label weight shrinks by that ratio
INT8_LABEL_FACTOR = 0.65
SMALL_STUDENT_WEIGHT = 12  # one word / character method, its plain twin included
TRANSFORMER_STUDENT_WEIGHT = 60
HISTORY_RUNS = 20  # finished runs of the same kind looked at for a calibration
SPEED_CLAMP = (0.2, 5.0)  # a machine 5x slower or faster than in the calibrating run, at most
PLAIN_KINDS = ("pipeline", "teacher", "augment", "distill")  # the kinds `plan_for` describes
ETA_SERIES = "eta"  # metric series: seconds left (value) at seconds since the start (step)
# Share of a stage after which its own measured step times alone estimate the rest of it; before,
# they are blended with the plan's estimate. Every stage's steps cost alike on average (batches
# visited in a shuffled order, core.train.batches; the label pass too, core.teacher.model), so a
# tenth of a stage's steps is a fair sample; trusting them only as far as the stage had gone
# (`frac`) kept the plan's guess for most of a stage, wrong by that guess's error.
STEP_TRUST_FRAC = 0.1
# Before any run has finished here, the untouched default run is estimated from runs measured
# elsewhere: `python -m core pipeline` with no flags on a quiet 2-core AMD EPYC without bf16 took
# 387.0, 383.5 and 428.4 s in three runs of two days (benchmarks/results/first_run_int8.json,
# first_run_check.json, first_run_promise.json; the same CPU model, not the same machine), and
# core.train.device.speed_probe_s read 15.2 ms there, quiet (the middle of its readings in
# fresh processes on the day of the last run). A machine whose probe reads twice that is taken
# to need twice as long: the teacher's fine-tuning and labelling, two thirds of the run, are
# this arithmetic. The runs' own spread (+-6%) and the probe's (13.6-16.4 ms quiet) are why
# the pages say "roughly".
REFERENCE_RUN_S = 400.0
REFERENCE_PROBE_S = 0.0152
REFERENCE_MACHINE = "a quiet 2-core AMD EPYC without bf16"


def plan_for(kind: str, cfg) -> dict[str, float]:
    """The stage weights of a plain-pipeline run of `kind` with PipelineConfig `cfg`, in the
    order the stages run (a stage the run will skip is left out)."""
    students = cfg.students if kind in ("pipeline", "distill") else []
    plan: dict[str, float] = {"data": WEIGHTS["data"], "teacher": WEIGHTS["teacher"]}
    if kind != "teacher":
        if cfg.use_augmentation and cfg.augment.n_iter > 0:
            plan["augment"] = WEIGHTS["augment"]
        int8 = cfg.label_int8 and cfg.device != "cuda"  # (auto on a GPU: a slight overestimate)
        plan["label"] = WEIGHTS["label"] * (INT8_LABEL_FACTOR if int8 else 1.0)
    if students:
        small = [s for s in students if methods.get(s.method).parallel]
        if any(methods.get(s.method).family in ("word", "char") for s in students):
            plan["tokenize"] = WEIGHTS["tokenize"]
        plan["students"] = SMALL_STUDENT_WEIGHT * len(small) + TRANSFORMER_STUDENT_WEIGHT * (
            len(students) - len(small)
        )
    plan["evaluate"] = WEIGHTS["evaluate"]
    return plan


def _config_key(config: Mapping[str, Any]) -> dict[str, Any]:
    """A run's config as compared for calibration: its name does not change its cost, and the
    embedded set's row cap is the same whether the CLI wrote it out or the page left it None."""
    key = {k: v for k, v in config.items() if k != "name"}
    data = dict(key.get("data") or {})
    if data.get("max_train") is None and data.get("train") is None:
        data["max_train"] = data.get("max_train_embedded")
    return key | {"data": data} if "data" in key else key


def _plan_of(run: Mapping[str, Any]) -> dict[str, float] | None:
    try:
        cfg = pipeline_from_dict(run.get("config") or {})
        if cfg.domains.targets():
            return None  # the target-domain plan has stages of its own per domain
        return plan_for(run["kind"], cfg) if run["kind"] in PLAIN_KINDS else None
    except Exception:  # noqa: BLE001 - an old or foreign config: no calibration from it
        return None


def calibration(
    store, kind: str, config: Mapping[str, Any], plan: Mapping[str, float], exclude: int = -1
) -> dict[str, float]:
    """Expected seconds per stage of `plan` on this machine, from earlier finished runs of
    `kind`: the timings of the last run with the same settings where there is one, else each
    stage's weight times the median seconds per weight that stage took in earlier runs. {} when
    the store has no finished run of this kind (the first run calibrates)."""
    done = [r for r in store.runs(status="done", kind=kind) if r["id"] != exclude]
    done = [r for r in done if r.get("timings")][:HISTORY_RUNS]
    key = _config_key(config)
    for r in done:
        if _config_key(r.get("config") or {}) == key:
            return {s: float(r["timings"][s]) for s in plan if s in r["timings"]}
    per_weight: dict[str, list[float]] = {}
    for r in done:
        theirs = _plan_of(r)
        for s, sec in (r["timings"] or {}).items():
            if theirs and theirs.get(s):
                per_weight.setdefault(s, []).append(float(sec) / theirs[s])
    return {s: w * statistics.median(per_weight[s]) for s, w in plan.items() if s in per_weight}


def remaining_s(
    plan: Mapping[str, float],
    timings: Mapping[str, float],
    stage: str,
    step: int,
    total: int,
    stage_elapsed: float,
    expected: Mapping[str, float] | None = None,
) -> float | None:
    """Seconds left for the whole run (None: nothing measured yet to base it on).

    `timings` are the finished stages' seconds, `stage` the one under way (`step` of `total`
    done, for `stage_elapsed` s), `expected` a calibration (see `calibration`)."""
    expected = expected or {}
    frac = min(step / total, 1.0) if total else 0.0
    done_w = sum(plan.get(s, 0.0) for s in timings) + plan.get(stage, 0.0) * frac
    done_s = sum(timings[s] for s in timings if s in plan) + (stage_elapsed if stage else 0.0)
    rate = done_s / done_w if done_w > 0 and done_s > 0 else None  # seconds per weight
    known = [s for s in timings if s in expected and expected[s] > 0]
    speed = 1.0
    if known:
        speed = sum(timings[s] for s in known) / sum(expected[s] for s in known)
        speed = min(max(speed, SPEED_CLAMP[0]), SPEED_CLAMP[1])

    def cost(s: str) -> float | None:
        if s in expected:
            return expected[s] * speed
        return plan[s] * rate if rate is not None else None

    left = 0.0
    if stage and stage not in timings:
        by_steps = stage_elapsed / step * max(total - step, 0) if step and total else None
        whole = cost(stage) if stage in plan else None
        by_plan = max(whole - stage_elapsed, 0.0) if whole is not None else None
        if by_steps is not None and by_plan is not None:
            # early in a stage its own step times are noisy: trust them as the stage goes on
            trust = min(frac / STEP_TRUST_FRAC, 1.0)
            now = trust * by_steps + (1 - trust) * by_plan
        else:
            now = by_steps if by_steps is not None else by_plan
        if now is None:
            return None
        left += now
    order = list(plan)
    now_at = order.index(stage) if stage in plan else -1
    for i, s in enumerate(order):
        if s in timings or s == stage or i < now_at:  # done, under way, or skipped
            continue
        c = cost(s)
        if c is None:
            return None
        left += c
    return max(left, 0.0)


def eta_errors(store, run_id: int, at: tuple[float, ...] = (0.25, 0.5, 0.75)) -> dict[str, Any]:
    """The error of a finished run's whole-run ETA at fractions `at` of its duration.

    For each fraction f: the last ETA recorded at or before f of the run (the `eta` series:
    seconds left at seconds since the start), the actual time left then, and
    `error` = (estimate - actual) / actual (+0.2: it promised 20% too much time). A run that
    recorded no ETA gives None for that fraction."""
    run = store.run(run_id)
    if not run.get("started") or not run.get("finished"):
        raise ValueError(f"run {run_id} has not finished")
    total = run["finished"] - run["started"]
    points = sorted(
        (m["step"], m["value"]) for m in store.metrics(run_id) if m["series"] == ETA_SERIES
    )
    out: dict[str, Any] = {"run_id": run_id, "duration_s": round(total, 2), "at": {}}
    for f in at:
        t = f * total
        before = [p for p in points if p[0] <= t]
        if not before:
            out["at"][f"{round(100 * f)}%"] = None
            continue
        when, estimate = before[-1]
        actual = total - when
        out["at"][f"{round(100 * f)}%"] = {
            "elapsed_s": when,
            "estimate_s": round(estimate, 2),
            "actual_s": round(actual, 2),
            "error": round((estimate - actual) / actual, 4) if actual > 0 else None,
        }
    return out


def is_untouched(cfg: PipelineConfig) -> bool:
    """Every setting at its default (the name aside): the run the reference timing is of."""
    return _config_key(to_dict(cfg)) == _config_key(to_dict(PipelineConfig()))


def probe_can_promise(cfg: PipelineConfig) -> bool:
    """Whether a speed probe of this CPU can say how long `cfg` takes before any run has
    finished: only the untouched settings (the reference run's) and only where the run would
    use the CPU the probe measures. Asked before probing, so other runs never pay for it."""
    from core.train.device import pick_device  # torch: not for store-only commands (runs list)

    return is_untouched(cfg) and pick_device(cfg.device).type == "cpu"


def first_run_estimate(cfg: PipelineConfig, probe_s: float) -> float | None:
    """Seconds the untouched default run should take on a machine whose speed probe read
    `probe_s`, before any run there has finished: the reference run scaled by the probes'
    ratio. None for any other settings: the stage weights do not know how the cost grows with
    the data, the methods or the epochs, and a wrong promise is worse than none (the first
    finished run calibrates those)."""
    if not probe_can_promise(cfg) or probe_s <= 0:
        return None
    return REFERENCE_RUN_S * probe_s / REFERENCE_PROBE_S


def expected_duration(store, run: Mapping[str, Any]) -> float | None:
    """Seconds a run not yet started will likely take on this machine: the calibration of
    its plan from earlier finished runs (None: no such run yet, or not every stage of its
    plan is known)."""
    plan = _plan_of(run)
    if plan is None:
        return None
    exp = calibration(store, run["kind"], run.get("config") or {}, plan, exclude=run["id"])
    return sum(exp.values()) if exp and all(s in exp for s in plan) else None


def queue_starts(store) -> dict[int, float | None]:
    """{queued run id: seconds until it likely starts}, from the running runs' ETAs, the
    estimates of the queued runs ahead of it and the live workers' slots (sweeps coordinate
    beside the slots and take none). None where something ahead has no estimate yet; {} with
    no live worker."""
    workers = store.live_workers()
    if not workers:
        return {}  # nobody to take them yet: the page says so instead
    slots = sum(int(w.get("slots") or 1) for w in workers)
    running = [  # a foreground CLI run takes no worker slot; a sweep only coordinates
        r
        for r in store.active_runs()
        if r["status"] == "running" and r.get("worker") and r["kind"] not in COORDINATOR_KINDS
    ]
    free = sorted((r["eta_s"] if r.get("eta_s") is not None else float("inf")) for r in running)
    free = sorted(free + [0.0] * max(slots - len(free), 0))
    out: dict[int, float | None] = {}
    for r in store.queue():
        if r["kind"] in COORDINATOR_KINDS:
            out[r["id"]] = 0.0
            continue
        start = free.pop(0)  # the slot that frees first takes the next queued run
        out[r["id"]] = None if start == float("inf") else start
        took = expected_duration(store, r) if start != float("inf") else None
        free = sorted([*free, start + took if took is not None else float("inf")])
    return out
