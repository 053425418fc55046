"""`sweep`: one teacher, N distill trials through the queue (Optuna), the best printed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli import coordinated
from core.cli.common import EXIT_DATA
from core.cli.fields import add_args, add_several_arg, field_of, from_args
from core.cli.output import say, warn
from core.cli.run_flags import add_student_flags


def add_arguments(sw: argparse.ArgumentParser) -> None:
    coordinated.add_trial_flags(sw)
    add_student_flags(sw)
    add_sweep_flags(sw)


def add_sweep_flags(p: argparse.ArgumentParser) -> None:
    """SweepConfig's flags; --space (several values) and --student (the registry's methods as
    choices) are written out here."""
    from core import methods
    from core.runs.sweep import SweepConfig

    g = p.add_argument_group("sweep (Optuna)")
    add_args(g, SweepConfig)
    add_several_arg(g, SweepConfig, "space", "NAME=SPEC")
    student = field_of(SweepConfig, "student")
    g.add_argument(
        "--student",
        default=student.default,
        choices=methods.names(),
        help=student.metadata["help"] + f" (default: {student.default})",
    )


def run(a: argparse.Namespace) -> int:
    """Queue (with --queue) or coordinate in the foreground a sweep; print the best trial."""
    from core.runs.store import Store
    from core.runs.sweep import SweepConfig, parse_space

    store = Store(a.home)
    store.mark_interrupted()
    sweep = from_args(SweepConfig, a, space=list(a.space), student=a.student)
    try:
        parse_space(sweep.space, sweep.student)
    except ValueError as exc:
        warn(f"error: --space {exc}")
        return EXIT_DATA
    a.students = [sweep.student]

    def announce(rid: int) -> None:
        warn(f"sweep run {rid}: {sweep.trials} trials of {sweep.student}, home={store.home}")
        for w in store.live_workers():
            warn(f"trials go to worker {w['id']} ({w['slots']} slot(s))")
            break
        else:
            warn(f"starting a local worker ({sweep.parallel} slot(s)) for the trials")

    return coordinated.start(
        store,
        a,
        "sweep",
        sweep,
        f"sweep of {sweep.trials} trials",
        announce,
        lambda rid: report(store, rid, sweep, a.json),
    )


def report(store, rid: int, sweep, json_path: str | None) -> int:
    """Print every trial and the best one; the exit code says how the sweep ended."""
    from core.runs.sweep import trials_table

    run = store.run(rid)
    rows = trials_table(store, run)
    names = [x.split("=")[0] for x in sweep.space]
    say(f"{'trial':>5} {'run':>5}  {'status':<10}{sweep.objective:>24}  parameters")
    for r in rows:
        value = f"{r['value']:.4f}" if "value" in r else "-"
        params = ", ".join(f"{n}={fmt(r.get(n))}" for n in names)
        say(f"{r['trial']:>5} {r['run']:>5}  {r['status']:<10}{value:>24}  {params}")
    if run["status"] != "done":
        warn(f"sweep {rid} {run['status']}: {run['error']}")
        return 130 if run["status"] == "cancelled" else 1
    best = json.loads((store.run_dir(rid) / "results.json").read_text())["best"]
    params = ", ".join(f"{n}={fmt(best.get(n))}" for n in names)
    score = "" if sweep.objective == "accuracy" else f"{sweep.objective} {best['value']:.4f}, "
    say(
        f"best: trial {best['trial']} (run {best['run']}): {score}accuracy "
        f"{best['accuracy']:.4f}, F1 {best['f1']:.4f}, p50 {best['latency_ms_p50']:.3f} ms; "
        f"{params}"
    )
    if json_path:
        Path(json_path).write_text((store.run_dir(rid) / "results.json").read_text())
    return 0


def fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
