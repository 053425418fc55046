"""Which run a page puts first: the one a user just waited for. Runs are numbered when they are
queued, not when they end, so "newest id" is not "just finished": a long run started first ends
after three short ones, and a sweep's trials or a cancelled run have nothing to show."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from core.runs.store import ACTIVE


def by_finish(runs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs that are over (done, failed, cancelled, interrupted), the last to finish first; a run
    without a finish time (an old row) goes after the others, newest id first."""
    over = [r for r in runs if r.get("status") not in ACTIVE]
    return sorted(over, key=lambda r: (r.get("finished") or 0.0, r["id"]), reverse=True)


def showable(run: dict[str, Any], with_results: Collection[int] | None = None) -> bool:
    """A run worth opening a page on: done, not a sweep's trial (the sweep stands for them) and,
    when `with_results` is given, with results in the store."""
    if run.get("status") != "done" or run.get("parent") is not None:
        return False
    return with_results is None or run["id"] in with_results


def latest_showable(
    runs: Iterable[dict[str, Any]], with_results: Collection[int] | None = None
) -> int | None:
    """The id of the most recently finished run with something to show (see `showable`); None
    when there is none."""
    for r in by_finish(runs):
        if showable(r, with_results):
            return int(r["id"])
    return None
