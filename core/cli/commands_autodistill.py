"""`autodistill`: the best student under a latency budget (a search across methods), its answer
printed, the winner exported with `--export DIR`; `--resume ID` carries on a killed search."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli import coordinated
from core.cli.common import EXIT_DATA
from core.cli.fields import add_args, add_several_arg, from_args
from core.cli.foreground import execute_in_foreground
from core.cli.output import say, warn


def add_arguments(p: argparse.ArgumentParser) -> None:
    coordinated.add_trial_flags(p)
    add_auto_flags(p)


def add_auto_flags(p: argparse.ArgumentParser) -> None:
    """AutoConfig's flags; --methods (several values) is written out here."""
    from core.runs.auto_config import AutoConfig
    from core.runs.auto_space import SEARCHED

    g = p.add_argument_group("autodistill")
    add_args(g, AutoConfig)
    shown = f"all: {' '.join(SEARCHED)}"
    add_several_arg(g, AutoConfig, "methods", "METHOD", list(SEARCHED), shown)
    g.add_argument("--export", metavar="DIR", help="export the winner here (ONNX + predict.py)")
    g.add_argument(
        "--resume",
        type=int,
        metavar="ID",
        help="carry on the interrupted or cancelled autodistill run ID: its finished trials "
        "are kept, not repeated (the other flags are ignored: the run's own are used)",
    )


def run(a: argparse.Namespace) -> int:
    """Queue (with --queue) or run in the foreground a search; print its answer."""
    from core.runs.auto_config import AutoConfig
    from core.runs.store import Store

    store = Store(a.home)
    store.mark_interrupted()
    if a.resume is not None:
        return resume(store, a)
    auto = from_args(AutoConfig, a, methods=list(a.methods))
    if a.export and Path(a.export).exists() and any(Path(a.export).iterdir()):
        warn(f"error: --export {a.export} is a folder that is not empty")
        return EXIT_DATA

    def announce(rid: int) -> None:
        warn(
            f"autodistill run {rid}: {auto.trials} trials under {auto.budget_ms:g} ms "
            f"across {', '.join(auto.methods)}; home={store.home}"
        )

    return coordinated.start(
        store,
        a,
        "autodistill",
        auto,
        f"autodistill, {auto.trials} trials",
        announce,
        lambda rid: report(store, rid, a.json, a.export),
    )


def resume(store, a: argparse.Namespace) -> int:
    """Execute a stopped search again under its own id: the study is rebuilt from the store."""
    from core.runs.config import pipeline_from_dict

    try:
        run = store.run(a.resume)
    except KeyError:
        warn(f"error: no run {a.resume}")
        return EXIT_DATA
    if run["kind"] != "autodistill" or run["status"] not in ("interrupted", "cancelled", "failed"):
        warn(
            f"error: run {a.resume} is a {run['kind']} run, {run['status']}: only a stopped "
            "autodistill run can be resumed"
        )
        return EXIT_DATA
    store.update_run(
        a.resume, status="running", error=None, finished=None, cancel_requested=0, pid=None
    )
    warn(f"autodistill run {a.resume}: resuming")
    execute_in_foreground(
        store, a.resume, "autodistill", pipeline_from_dict(run["config"]), a.quiet
    )
    return report(store, a.resume, a.json, a.export)


def report(store, rid: int, json_path: str | None, export: str | None) -> int:
    """Every trial, the front and the winner in a sentence; the exit code says how it ended."""
    from core.runs.auto_export import export_winner
    from core.runs.auto_trials import compared_on, trial_rows

    run = store.run(rid)
    split = compared_on(run)
    if split == "dev":
        say("trials compared on the dev set; the winner's figures are test scores")
    else:
        warn(
            "trials compared on the TEST set: the data have no dev set (give --dev or a "
            "--dev-fraction), so the winner's trial figure is optimistic"
        )
    say(
        f"{'trial':>5} {'run':>5}  {'status':<10}{split:>8}{'test':>8}{'p50 ms':>9}"
        f"{'probe ms':>10}  student"
    )
    for r in trial_rows(store, run):
        score = f"{r['score']:.4f}" if "score" in r else "-"
        test = f"{r['test_score']:.4f}" if r.get("test_score") is not None else "-"
        p50 = f"{r['p50_ms']:.3f}" if r.get("p50_ms") is not None else "-"
        probe = f"{r['probe_ms']:.3f}" if r.get("probe_ms") is not None else "-"
        status = r["pruned"] and "pruned" or r["status"]
        say(
            f"{r['trial']:>5} {r['run'] or '-':>5}  {status:<10}{score:>8}{test:>8}{p50:>9}"
            f"{probe:>10}  {r['description']}"
        )
    if run["status"] != "done":
        warn(f"autodistill {rid} {run['status']}: {run['error']}")
        return 130 if run["status"] == "cancelled" else 1
    answer = json.loads((store.run_dir(rid) / "results.json").read_text())
    say(f"Pareto front ({split} score vs p50 as deployed):")
    for r in answer["front"]:
        say(
            f"  {r['score']:.4f} ({split}), {r['test_score']:.4f} (test) at {r['p50_ms']:.3f} "
            f"ms: {r['description']} (run {r['run']})"
        )
    t = answer.get("teacher") or {}
    if t:
        say(f"  teacher: {t['score']:.4f} (test) at {t['p50_ms']:.3f} ms")
    if answer.get("plain"):
        p = answer["plain"]
        n = f"{p['seeds']} seed{'s' if p['seeds'] > 1 else ''}"
        say(f"  plain twin of the winner: {p['score']:.4f} ± {p['sd']:.4f} (test, {n})")
    say(f"winner: {answer['sentence']}")
    if json_path:
        Path(json_path).write_text(json.dumps(answer, indent=1, ensure_ascii=False))
    if export:
        rep = export_winner(store, rid, export)
        say(f"exported the winner to {rep.folder}: try python {Path(rep.folder) / 'predict.py'}")
    return 0
