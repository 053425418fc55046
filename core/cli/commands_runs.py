"""`runs list / show / cancel / delete`: the store only, so these start without torch."""

from __future__ import annotations

import argparse
import json
import time

from core.cli.common import EXIT_DATA
from core.cli.output import say, warn


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "show", "cancel", "delete"])
    p.add_argument("id", type=int, nargs="?")
    p.add_argument("--home")
    p.add_argument(
        "--force",
        action="store_true",
        help="delete: also a teacher run that other runs reuse (queued ones are cancelled, "
        "finished ones are marked as having lost their teacher)",
    )


def run(a: argparse.Namespace) -> int:
    from core.runs.store import Store

    store = Store(a.home)
    store.mark_interrupted()
    if a.action == "list":
        print_runs(store)
        return 0
    if a.id is None:
        warn("error: give a run id")
        return EXIT_DATA
    try:
        run = store.run(a.id)
    except Exception:  # noqa: BLE001 - sqlite_utils NotFoundError
        warn(f"error: no run {a.id}")
        return EXIT_DATA
    if a.action == "show":
        run["results"] = {r["model"]: r["detail"] for r in store.results(a.id)}
        run["artifacts"] = store.artifacts(a.id)
        say(json.dumps(run, indent=1, ensure_ascii=False, default=str))
    elif a.action == "cancel":
        cancel(store, a.id)
    elif a.action == "delete":
        return delete(store, a.id, a.force)
    return 0


def print_runs(store) -> None:
    """Every run; a running one with its whole-run ETA, a queued one with when it likely
    starts (core.runs.eta.queue_starts)."""
    from core.cli.foreground import fmt_duration as fmt
    from core.runs.eta import queue_starts

    starts = queue_starts(store) if store.queue() else {}
    say(f"{'id':>4}  {'kind':<13}{'status':<12}{'stage':<18}{'progress':>9}  {'created':<17} time")
    for r in store.runs():
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"]))
        when = ""
        if r["status"] == "running":
            eta = r.get("eta_s")
            when = f"ETA {fmt(eta)} (whole run)" if eta is not None else "ETA: measuring"
        elif r["id"] in starts:
            wait = starts[r["id"]]
            when = "starts: not known yet" if wait is None else f"starts in ~{fmt(wait)}"
        say(
            f"{r['id']:>4}  {r['kind']:<12} {r['status']:<11} {(r['stage'] or ''):<17} "
            f"{(r['progress'] or 0) * 100:>8.0f}%  {created:<17} {when}".rstrip()
        )


def cancel(store, run_id: int) -> None:
    """A queued run is cancelled at once; a running one is asked to stop at its next step."""
    status = store.request_cancel(run_id)
    if status == "cancelled":
        say(f"run {run_id} cancelled (it was queued)")
    elif status == "running":
        say(f"cancel requested for run {run_id}: it stops at its next step")
    else:
        say(f"run {run_id} is already {status}")


def delete(store, run_id: int, force: bool = False) -> int:
    """Delete a run; refused (exit 2, nothing deleted) while it is active, or while other runs
    reuse its teacher unless `force` (core.runs.deletion)."""
    from core.runs.deletion import HasDependants, delete_run
    from core.runs.store import RunActive

    try:
        marked = delete_run(store, run_id, force=force)
    except (RunActive, HasDependants) as exc:  # refused, with the reason
        warn(f"error: {exc}")
        return EXIT_DATA
    say(f"run {run_id} deleted")
    if marked:
        runs = ", ".join(map(str, marked))
        say(f"runs that reused its teacher, now without it (cancelled if queued): {runs}")
    return 0
