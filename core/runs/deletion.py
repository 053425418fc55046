"""Deleting a run that other runs depend on: a teacher run named by `--teacher-run`.

A distill run keeps no copy of the teacher it reused: its `predict` and its report read the
teacher run's folder, and a queued one loads it when it starts. Deleting that run silently
would make a queued run fail later and a finished one lose its teacher without a word, so
`delete_run` refuses while any run depends on it (`HasDependants`, listing them). With
`force`, the dependants are dealt with first: a queued one is cancelled (it could not run), a
finished one is marked (its data description says `teacher_deleted`, which `predict` shows);
a running one is still refused, since it is reading the teacher now.
"""

from __future__ import annotations

import time

from core.runs.store import Store

BLOCKING = ("queued", "running", "done", "interrupted")  # runs that would lose their teacher


class HasDependants(ValueError):
    """Other runs reuse this run's teacher: deleting it would break them."""

    def __init__(self, run_id: int, runs: list[dict], running_only: bool = False):
        self.run_id, self.runs = run_id, runs
        listed = ", ".join(f"run {r['id']} ({r['kind']}, {r['status']})" for r in runs)
        if running_only:
            hint = "cancel them first; --force cannot delete a teacher that is being read"
        else:
            hint = (
                "delete them first, or delete with --force (queued ones are cancelled, "
                "finished ones keep their students and are marked as having lost their teacher)"
            )
        super().__init__(f"run {run_id}'s teacher is reused by {listed}: {hint}")


def dependants(store: Store, run_id: int) -> list[dict]:
    """Runs (oldest first) whose config reuses `run_id`'s teacher (`teacher_run == run_id`)."""
    return [
        r
        for r in reversed(store.runs())
        if r["id"] != run_id and (r.get("config") or {}).get("teacher_run") == run_id
    ]


def delete_run(store: Store, run_id: int, force: bool = False) -> list[int]:
    """Delete `run_id` (store.delete_run: an active run raises RunActive), refusing with
    `HasDependants` while other runs reuse its teacher, unless `force`; returns the ids of
    the dependants that were cancelled or marked."""
    deps = [r for r in dependants(store, run_id) if r["status"] in BLOCKING]
    if deps and not force:
        raise HasDependants(run_id, deps)
    running = [r for r in deps if r["status"] == "running"]
    if running:
        raise HasDependants(run_id, running, running_only=True)
    store.delete_run(run_id)  # RunActive if run_id itself is active: nothing marked yet
    when = time.strftime("%Y-%m-%d %H:%M")
    note = f"its teacher (run {run_id}) was deleted on {when} (runs delete --force)"
    for r in deps:
        if r["status"] == "queued" and store.request_cancel(r["id"]) == "cancelled":
            store.update_run(r["id"], error=f"cancelled: {note}")
        data = dict(r.get("data") or {}, teacher_deleted=note)
        store.update_run(r["id"], data=data, teacher=f"deleted (run {run_id})")
    return [r["id"] for r in deps]
