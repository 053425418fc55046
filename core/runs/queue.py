"""The store as a queue: workers claim queued runs atomically and register with a heartbeat.

Functions of a `Store` (which offers each as a method too): a queued run is taken by exactly one
worker (`claim_next`, one write transaction), idle workers poll with a read (`queue_waiting`),
and the dashboard shows each queued run's place (`queue_position`) and the live workers.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from core.runs.schema import HOST, WORKER_STALE_S, decode_run, pid_alive

# `store` below is a core.runs.store.Store, which offers each function as a method: typed
# loosely here so that this module, below the store, does not import it back.
Store = Any


def claim_next(
    store: Store, worker: str, kinds: tuple[str, ...] | None = None, exclude: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """Take the oldest queued run (of `kinds`, not of `exclude`) for `worker`, atomically:
    two workers never get the same run. None when the queue has nothing for it."""
    where = ["status = 'queued'"]
    args: list[Any] = []
    if kinds:
        where.append("kind in ({})".format(", ".join("?" * len(kinds))))
        args += list(kinds)
    if exclude:
        where.append("kind not in ({})".format(", ".join("?" * len(exclude))))
        args += list(exclude)
    now = time.time()
    with store.transaction() as conn:
        row = conn.execute(
            f"select id from runs where {' and '.join(where)} order by id limit 1", args
        ).fetchone()
        if row is None:
            return None
        conn.execute(
            "update runs set status = 'running', worker = ?, started = ?, pid = ?, host = ?, "
            "heartbeat = ?, updated = ? where id = ?",
            [worker, now, os.getpid(), HOST, now, now, row[0]],
        )
    return store.run(row[0])


def queue_waiting(store: Store) -> bool:
    """Is anything queued? A read, so idle workers poll without taking the write lock."""
    with store.db() as db:
        return (
            db.execute("select 1 from runs where status = 'queued' limit 1").fetchone() is not None
        )


def queue(store: Store) -> list[dict[str, Any]]:
    """Queued runs in the order workers take them (oldest first)."""
    return [
        decode_run(r)
        for r in store.select("select * from runs where status = 'queued' order by id")
    ]


def queue_position(store: Store, run_id: int) -> tuple[int, int] | None:
    """(position, queue length) of a queued run, 1 = next to start; None if not queued."""
    ids = [r["id"] for r in queue(store)]
    return (ids.index(run_id) + 1, len(ids)) if run_id in ids else None


def register_worker(store: Store, worker: str, backend: str, slots: int) -> None:
    now = time.time()
    with store.db() as db:
        db["workers"].upsert(
            {
                "id": worker,
                "host": HOST,
                "pid": os.getpid(),
                "backend": backend,
                "slots": slots,
                "started": now,
                "heartbeat": now,
                "stopped": None,
                "runs": "[]",
            },
            pk="id",
        )


def worker_beat(store: Store, worker: str, runs: list[int], stopped: bool = False) -> None:
    now = time.time()
    with store.db() as db:
        db.execute(
            "update workers set heartbeat = ?, runs = ?, stopped = ? where id = ?",
            [now, json.dumps(runs), now if stopped else None, worker],
        )


def live_workers(store: Store, max_age_s: float = WORKER_STALE_S) -> list[dict[str, Any]]:
    """Workers that beat within `max_age_s` and have not stopped (on this host: whose
    process is alive), oldest first."""
    now = time.time()
    rows = store.select(
        "select * from workers where stopped is null and heartbeat > ? order by started",
        [now - max_age_s],
    )
    out = []
    for r in rows:
        if r["host"] == HOST and not pid_alive(r["pid"]):
            continue
        r = dict(r)
        r["runs"] = json.loads(r["runs"] or "[]")
        out.append(r)
    return out


SLOTS_KEY = "worker_slots"  # meta key: runs at once that the Train page asked the workers for


def wanted_slots(store: Store) -> int | None:
    """The slots the Train page asked for (None: it did not; workers keep their own)."""
    with store.db() as db:
        row = db.execute("select value from meta where key = ?", [SLOTS_KEY]).fetchone()
    return int(row[0]) if row and str(row[0]).isdigit() else None


def set_wanted_slots(store: Store, slots: int) -> None:
    """Ask every local worker of this store to run `slots` runs at once (from its next
    loop); the runs of one worker still time their models alone (core.runs.gate)."""
    if slots < 1:
        raise ValueError(f"slots must be at least 1, not {slots}")
    with store.db() as db:
        db.execute(
            "insert or replace into meta (key, value) values (?, ?)", [SLOTS_KEY, str(slots)]
        )
    with store.db() as db:
        db.execute("update workers set slots = ? where stopped is null and backend = 'local'",
                   [slots])  # fmt: skip
