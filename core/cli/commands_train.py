"""`pipeline`, `teacher`, `augment`, `distill` (a run in the foreground, or queued with --queue)
and `exec` (a queued run, in the process a worker starts for it)."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from core.cli.common import EXIT_DATA
from core.cli.foreground import cancel_on_signals, execute_in_foreground
from core.cli.output import say, warn
from core.cli.run_flags import (
    add_augment_flags,
    add_common_flags,
    add_data_flags,
    add_domain_flags,
    add_student_flags,
    add_teacher_flags,
    config_from_args,
)
from core.config import TeacherConfig, to_dict
from core.runs.config import PipelineConfig


def add_run_arguments(sp: argparse.ArgumentParser, kind: str) -> None:
    """The flags of one run kind: only the stages it runs."""
    add_data_flags(sp)
    add_common_flags(sp)
    if kind in ("pipeline", "teacher"):
        add_teacher_flags(sp)
    if kind in ("pipeline", "augment", "distill"):
        add_augment_flags(sp)
    if kind in ("pipeline", "distill"):
        add_student_flags(sp)
    if kind == "pipeline":
        add_domain_flags(sp)
    sp.set_defaults(kind=kind)


def check_before_run(store, kind: str, cfg: PipelineConfig) -> int | None:
    """Validate the data and the teacher reuse before a run is even created, so nothing is left
    half-done; an exit code when they are not usable, else None."""
    from core.data.problems import DataError
    from core.runs.plans import preflight

    try:
        preflight(store, kind, cfg)
    except DataError as exc:
        warn(f"data error:\n{exc}")
        return EXIT_DATA
    except ValueError as exc:  # a teacher with other labels, a run with no teacher
        warn(f"error: {exc}")
        return EXIT_DATA
    return None


def run_kind(a: argparse.Namespace) -> int:
    """One run of `a.kind`: queued with --queue, else executed here with progress bars."""
    from core.runs.store import Store

    kind = a.kind
    store = Store(a.home)
    store.mark_interrupted()  # runs a dead process left `running`
    cfg = config_from_args(a)
    if cfg.teacher_run is not None:  # record the teacher that is really reused, not defaults
        try:
            cfg.teacher = TeacherConfig(**store.run(cfg.teacher_run)["config"]["teacher"])
        except Exception:  # noqa: BLE001 - a missing run is reported when the run starts
            pass
    if kind in ("augment", "distill") and cfg.teacher_run is None:
        warn(f"error: `{kind}` needs --teacher-run ID (a run with a fine-tuned teacher)")
        return EXIT_DATA
    if (code := check_before_run(store, kind, cfg)) is not None:
        return code
    if a.queue:  # for a worker: return at once
        queue_run(store, kind, cfg, a.home)
        return 0
    # executed here, in the foreground: `running` from the start, so no worker takes it
    run_id = store.create_run(kind, to_dict(cfg), name=cfg.name, status="running")
    warn(f"run {run_id} ({kind}) home={store.home}")
    signalled = execute_in_foreground(store, run_id, kind, cfg, a.quiet)
    run = store.run(run_id)
    if run["status"] == "cancelled" and signalled:
        warn(f"run {run_id} cancelled: {run['error']}")
        return 130
    if run["status"] != "done":
        warn(f"run {run_id} {run['status']}: {run['error']}")
        return 1
    summary = json.loads((store.run_dir(run_id) / "results.json").read_text())
    print_table(summary["models"])
    say("stage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in run["timings"].items()))
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=1, ensure_ascii=False))
        warn(f"results written to {a.json}")
    return 0


def queue_run(store, kind: str, cfg: PipelineConfig, home: str | None) -> None:
    run_id = store.create_run(kind, to_dict(cfg), name=cfg.name)
    pos, total = store.queue_position(run_id) or (0, 0)
    workers = store.live_workers()
    say(f"run {run_id} queued ({kind}), position {pos} of {total}, home={store.home}")
    if not workers:
        warn(
            "no worker is alive for this store: start one with "
            f"`python -m core worker{' --home ' + home if home else ''}` "
            "(or open the dashboard, which starts one)"
        )


def print_table(models: dict[str, dict]) -> None:
    t = models.get("teacher", {}).get("latency_ms_p50")
    w = max(20, *(len(n) + 2 for n in models))  # textcnn_char_distilled fits
    say(
        f"{'model':<{w}}{'acc':>8}{'F1':>8}{'params':>12}{'p50 ms':>9}{'p95 ms':>9}{'speed-up':>10}"
    )
    for name, m in models.items():
        sp = f"{t / m['latency_ms_p50']:.1f}x" if t and m.get("latency_ms_p50") else ""
        say(
            f"{name:<{w}}{m['accuracy']:>8.4f}{m['f1']:>8.4f}{m['params']:>12,}"
            f"{m['latency_ms_p50']:>9.3f}{m['latency_ms_p95']:>9.3f}{sp:>10}"
        )


# -- exec ----------------------------------------------------------------------------------------
def add_exec_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("id", type=int)
    e.add_argument("--home")
    e.add_argument("--claimed", action="store_true", help=argparse.SUPPRESS)


def run_exec(a: argparse.Namespace) -> int:
    """Execute a queued run from its stored kind and config, in the foreground: the process
    `JobManager` starts for each dashboard run (its output goes to runs/<id>/run.log)."""
    from core.runs.config import pipeline_from_dict
    from core.runs.context import KINDS, RunContext
    from core.runs.execute import execute
    from core.runs.gate import from_env as gate_from_env
    from core.runs.store import COORDINATOR_KINDS, Store
    from core.workers.worker import watch_parent

    store = Store(a.home)
    try:
        run = store.run(a.id)
    except Exception:  # noqa: BLE001 - sqlite_utils NotFoundError
        warn(f"error: no run {a.id}")
        return EXIT_DATA
    if a.claimed:  # a worker claimed it for this process (status running, its worker id)
        if run["status"] != "running" or run["worker"] != os.environ.get("DISTILLERY_WORKER"):
            warn(f"error: run {a.id} is not claimed by this worker")
            return EXIT_DATA
        watch_parent(store, a.id)
    elif not store.start_run(a.id, claim=True):  # never two processes on one run
        warn(f"error: run {a.id} is {store.run(a.id)['status']}, not queued")
        return EXIT_DATA
    log = logging.getLogger(__name__)
    log.info("run %d (%s) in process %d", a.id, run["kind"], os.getpid())
    try:
        if run["kind"] not in KINDS:
            raise ValueError(f"unknown run kind {run['kind']!r}")
        cfg = pipeline_from_dict(run["config"])
    except Exception as exc:  # noqa: BLE001 - recorded on the run
        store.finish_if_active(a.id, "failed", f"bad stored config: {type(exc).__name__}: {exc}")
        return 1
    # a sweep (or autodistill) only waits for its trials: it must not hold the latency gate
    coordinator = run["kind"] in COORDINATOR_KINDS
    ctx = RunContext(store, a.id, gate=None if coordinator else gate_from_env())
    with cancel_on_signals(store, a.id, ctx):
        try:
            status = execute(store, a.id, run["kind"], cfg, ctx)
        except KeyboardInterrupt:
            status = "cancelled"
    log.info("run %d: %s", a.id, status)
    return 0 if status == "done" else 1
