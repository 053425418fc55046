"""The run store: one SQLite file (WAL) read by the CLI and the dashboard alike.

Each call opens its own short-lived connection, so the run processes, the dashboard and a CLI
process can all write at once without sharing a connection object; WAL plus a busy timeout
serialises the writers. Everything a run produced is committed as it happens, so a crash keeps
what was logged so far.

Run ids are never reused (AUTOINCREMENT): a deleted run's id, and its `runs/<id>/` folder name,
stay retired. The store is also the queue: a submitted run is `queued` until a worker claims it
(`claim_next`, atomic), and workers register in the `workers` table with a heartbeat of their
own. A run that is executing writes a heartbeat every few seconds; any process that lists runs
calls `mark_interrupted()`, which turns running runs whose heartbeat is stale or whose process is
gone into `interrupted`. Queued runs simply wait for a worker, however long that takes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.data.hashing import sha256_file
from core.runs import queue as run_queue
from core.runs.schema import (
    HOST,
    RESULT_COLUMNS,
    SCHEMA_VERSION,
    WORKER_STALE_S,
    StoreError,
    create_schema,
    decode_run,
    enable_wal,
    pid_alive,
    version,
)

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
IS_ACTIVE = "status in ({})".format(", ".join(f"'{x}'" for x in ACTIVE))  # an SQL condition
FINAL = ("done", "failed", "cancelled", "interrupted")
# runs that only queue other runs and wait for them: they take no worker slot nor latency gate
COORDINATOR_KINDS = ("sweep", "autodistill")
STALE_AFTER_S = 30.0  # a running run with no heartbeat for this long is taken for dead


class RunActive(ValueError):
    """A queued or running run cannot be deleted."""

    def __init__(self, run_id: int, status: str):
        self.run_id, self.status = run_id, status
        super().__init__(
            f"run {run_id} is {status}: cancel it first and delete it once it has stopped"
        )


def default_home() -> Path:
    env = os.environ.get("DISTILLERY_HOME")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data"


class Store:
    def __init__(self, home: str | Path | None = None, busy_timeout_s: float = 30.0):
        self.home = Path(home) if home else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.path = self.home / "distillery.db"
        self.busy_timeout_s = busy_timeout_s  # how long a write waits for another writer
        self.migrated_from: int | None = None  # the version this Store upgraded, if it did
        self._migrate()

    # -- plumbing -----------------------------------------------------------------------------
    def _connect(self, autocommit: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None if autocommit else ""
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        return conn

    @contextmanager
    def db(self) -> Iterator[Any]:
        """A sqlite-utils Database on a fresh connection, committed on the way out (the writes
        and their upserts). Imported here: sqlite-utils imports pandas (half a second), which a
        store-only command (`runs list`) never needs; its reads go through `select`."""
        import sqlite_utils

        conn = self._connect()
        try:
            yield sqlite_utils.Database(conn)
            conn.commit()
        finally:
            conn.close()

    def select(self, sql: str, args: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Rows of one read query as dicts, on plain sqlite3."""
        conn = self._connect()
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql, list(args)).fetchall()]
        finally:
            conn.close()

    def execute(self, sql: str, args: list[Any] | tuple[Any, ...] = ()) -> int:
        """One write statement, committed; the number of rows it changed."""
        conn = self._connect()
        try:
            n = conn.execute(sql, list(args)).rowcount
            conn.commit()
            return n
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front (BEGIN IMMEDIATE): read-then-write is atomic."""
        conn = self._connect(autocommit=True)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _migrate(self) -> None:
        """Create or upgrade the schema; safe when several processes open a fresh home at once."""
        conn = self._connect(autocommit=True)
        try:
            enable_wal(conn, self.busy_timeout_s)
            if version(conn) == SCHEMA_VERSION:  # the usual case: no write lock taken
                return
        finally:
            conn.close()
        with self.transaction() as conn:
            found = version(conn)  # again, now that no one else can be migrating
            if found > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {found}; this code reads up to "
                    f"{SCHEMA_VERSION}: update Distillery"
                )
            if found == SCHEMA_VERSION:
                return
            create_schema(conn, self.home)
            conn.execute(
                "insert or replace into meta (key, value) values ('schema_version', ?)",
                [str(SCHEMA_VERSION)],
            )
            self.migrated_from = found
            log.info("store %s: schema %d -> %d", self.path, found, SCHEMA_VERSION)

    # -- runs ---------------------------------------------------------------------------------
    def create_run(
        self,
        kind: str,
        config: dict[str, Any],
        name: str = "",
        status: str = "queued",
        parent: int | None = None,
    ) -> int:
        """A new run: `queued` for a worker to claim, or `running` for one this process
        executes itself (the CLI in the foreground), which no worker may take."""
        if status not in ACTIVE:
            raise ValueError(f"a new run is queued or running, not {status!r}")
        now = time.time()
        with self.db() as db:
            table = db["runs"].insert(
                {
                    "kind": kind,
                    "name": name,
                    "status": status,
                    "parent": parent,
                    "started": now if status == "running" else None,
                    "config": json.dumps(config, ensure_ascii=False),
                    "created": now,
                    "updated": now,
                    "pid": os.getpid(),
                    "host": HOST,
                    "cancel_requested": 0,
                    "progress": 0.0,
                    "timings": "{}",
                }
            )
            return int(table.last_pk)

    def update_run(self, run_id: int, **fields: Any) -> None:
        for k in ("config", "data", "timings"):
            if k in fields and not isinstance(fields[k], str):
                fields[k] = json.dumps(fields[k], ensure_ascii=False)
        fields["updated"] = time.time()
        with self.db() as db:
            db["runs"].update(run_id, fields)

    def run(self, run_id: int) -> dict[str, Any]:
        rows = self.select("select * from runs where id = ?", [run_id])
        if not rows:
            raise KeyError(f"no run {run_id}")
        return decode_run(rows[0])

    def runs(
        self, status: str | None = None, kind: str | None = None, parent: int | None = None
    ) -> list[dict[str, Any]]:
        where, args = [], []
        if parent is not None:
            where.append("parent = ?")
            args.append(parent)
        if status:
            where.append("status = ?")
            args.append(status)
        if kind:
            where.append("kind = ?")
            args.append(kind)
        cond = f"where {' and '.join(where)} " if where else ""
        return [
            decode_run(r) for r in self.select(f"select * from runs {cond}order by id desc", args)
        ]

    def active_runs(self) -> list[dict[str, Any]]:
        """Queued and running runs, newest first: one small query, cheap enough for every
        page render and every live refresh."""
        rows = self.select(f"select * from runs where {IS_ACTIVE} order by id desc")
        return [decode_run(r) for r in rows]

    def request_cancel(self, run_id: int) -> str:
        """Cancel a run: a queued one is `cancelled` at once (no worker will take it); a running
        one is flagged and stops at its next step. Returns the run's status after the call."""
        now = time.time()
        with self.transaction() as conn:
            row = conn.execute("select status from runs where id = ?", [run_id]).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id}")
            if row[0] == "queued":
                conn.execute(
                    "update runs set status = 'cancelled', cancel_requested = 1, finished = ?, "
                    "updated = ?, error = 'cancelled while queued (it never started)' "
                    "where id = ?",
                    [now, now, run_id],
                )
                return "cancelled"
            if row[0] == "running":
                conn.execute(
                    "update runs set cancel_requested = 1, updated = ? where id = ?", [now, run_id]
                )
            return row[0]

    def cancel_requested(self, run_id: int) -> bool:
        with self.db() as db:
            row = db.execute("select cancel_requested from runs where id = ?", [run_id]).fetchone()
        return bool(row and row[0])

    def start_run(
        self, run_id: int, claim: bool = False, pid: int | None = None, host: str | None = None
    ) -> bool:
        """Mark the run `running` in this process (or in `pid` on `host`: a Ray task's), with
        its first heartbeat.

        With `claim`, only a `queued` run is taken, atomically: False if it was not queued (so two
        processes can never execute the same run).
        """
        now = time.time()
        sql = (
            "update runs set status = 'running', started = ?, pid = ?, host = ?, heartbeat = ?, "
            "updated = ? where id = ?" + (" and status = 'queued'" if claim else "")
        )
        with self.db() as db:
            cur = db.execute(sql, [now, pid or os.getpid(), host or HOST, now, now, run_id])
            return cur.rowcount == 1

    # -- the queue and its workers (core.runs.queue) --------------------------------------------
    def claim_next(
        self, worker: str, kinds: tuple[str, ...] | None = None, exclude: tuple[str, ...] = ()
    ) -> dict[str, Any] | None:
        return run_queue.claim_next(self, worker, kinds, exclude)

    def queue_waiting(self) -> bool:
        return run_queue.queue_waiting(self)

    def queue(self) -> list[dict[str, Any]]:
        return run_queue.queue(self)

    def queue_position(self, run_id: int) -> tuple[int, int] | None:
        return run_queue.queue_position(self, run_id)

    def register_worker(self, worker: str, backend: str, slots: int) -> None:
        run_queue.register_worker(self, worker, backend, slots)

    def worker_beat(self, worker: str, runs: list[int], stopped: bool = False) -> None:
        run_queue.worker_beat(self, worker, runs, stopped)

    def live_workers(self, max_age_s: float = WORKER_STALE_S) -> list[dict[str, Any]]:
        return run_queue.live_workers(self, max_age_s)

    def heartbeat(self, run_id: int) -> None:
        """`I am still working on it`: written by the executing process every few seconds."""
        with self.db() as db:
            db.execute(
                f"update runs set heartbeat = ? where id = ? and {IS_ACTIVE}",
                [time.time(), run_id],
            )

    def finish_if_active(self, run_id: int, status: str, error: str | None) -> bool:
        """Give an active run a final status; a run that has one already is left alone."""
        now = time.time()
        with self.db() as db:
            cur = db.execute(
                "update runs set status = ?, error = ?, finished = ?, updated = ? "
                f"where id = ? and {IS_ACTIVE}",
                [status, error, now, now, run_id],
            )
            return cur.rowcount == 1

    def stopped_error(self, run_id: int, why: str) -> str:
        """The error of a run whose process stopped without a final status, with its log."""
        error = f"the process running it stopped before it finished ({why})"
        log_file = self.run_dir(run_id, create=False) / "run.log"
        return error + (f"; its log: {log_file}" if log_file.is_file() else "")

    def mark_interrupted(self, stale_after_s: float = STALE_AFTER_S) -> list[int]:
        """Running runs whose process is gone become `interrupted`; their logs stay.

        Gone means: no heartbeat for `stale_after_s` (counted from the start when there is none
        yet), or its pid is dead on this host. A live pid with a stale heartbeat does not count as
        alive: the pid may have been reused by another program. Queued runs are left alone: they
        wait for a worker. One small query when nothing runs, so every page render can afford it.
        """
        now = time.time()
        rows = self.select(
            "select id, pid, host, heartbeat, coalesce(started, created) as since from runs "
            "where status = 'running'"
        )
        hit = []
        for r in rows:
            rid, pid, host, beat, created = r["id"], r["pid"], r["host"], r["heartbeat"], r["since"]
            last = beat if beat is not None else created
            if last is not None and now - last > stale_after_s:
                why = f"no heartbeat for {now - last:.0f} s"
            elif host in (None, "", HOST) and not pid_alive(pid):
                why = f"process {pid} is gone"
            else:
                continue
            error = self.stopped_error(rid, why)
            # only if nothing moved since we looked: no new heartbeat, no new owner
            changed = self.execute(
                "update runs set status = 'interrupted', finished = ?, updated = ?, error = ? "
                "where id = ? and status = 'running' and heartbeat is ? and pid is ?",
                [now, now, error, rid, beat, pid],
            )
            if changed:
                log.warning("run %d marked interrupted: %s", rid, why)
                hit.append(rid)
        return hit

    def delete_run(self, run_id: int) -> None:
        """Delete a run, its rows and its artifact folder; a queued or running run raises
        `RunActive` (cancel it first)."""
        with self.transaction() as conn:
            row = conn.execute("select status from runs where id = ?", [run_id]).fetchone()
            if row and row[0] in ACTIVE:
                raise RunActive(run_id, row[0])
            for t in ("metrics", "results", "artifacts"):
                conn.execute(f'delete from "{t}" where run_id = ?', [run_id])
            conn.execute("delete from runs where id = ?", [run_id])
        shutil.rmtree(self.run_dir(run_id, create=False), ignore_errors=True)

    def run_dir(self, run_id: int, create: bool = True) -> Path:
        d = self.home / "runs" / str(run_id)
        if create:
            d.mkdir(parents=True, exist_ok=True)
        return d

    # -- metrics, results, artifacts ----------------------------------------------------------
    def log_metrics(self, run_id: int, series: str, points: list[tuple[int, float]]) -> None:
        now = time.time()
        with self.db() as db:
            db["metrics"].insert_all(
                {"run_id": run_id, "series": series, "step": s, "value": float(v), "t": now}
                for s, v in points
            )

    def metrics(self, run_id: int) -> list[dict[str, Any]]:
        with self.db() as db:
            return list(db["metrics"].rows_where("run_id = ?", [run_id], order_by="series, step"))

    def save_result(self, run_id: int, model: str, role: str, arch: str, metrics: dict) -> None:
        row = {"run_id": run_id, "model": model, "role": role, "arch": arch}
        row.update({c: metrics.get(c) for c in RESULT_COLUMNS})
        row["detail"] = json.dumps(metrics, ensure_ascii=False)
        with self.db() as db:
            db["results"].upsert(row, pk=("run_id", "model"))

    def results(self, run_id: int | None = None) -> list[dict[str, Any]]:
        with self.db() as db:
            rows = db["results"].rows_where(
                "run_id = ?" if run_id is not None else None,
                [run_id] if run_id is not None else [],
                order_by="run_id, rowid",
            )
            out = []
            for r in rows:
                r = dict(r)
                r["detail"] = json.loads(r["detail"] or "{}")
                out.append(r)
            return out

    def add_artifact(self, run_id: int, name: str, path: Path) -> None:
        path = Path(path)
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        digest = hashlib.sha256()
        size = 0
        for f in files:
            digest.update(f.name.encode())
            digest.update(sha256_file(f).encode())
            size += f.stat().st_size
        with self.db() as db:
            db["artifacts"].upsert(
                {
                    "run_id": run_id,
                    "name": name,
                    "path": str(path),
                    # a single file's checksum is its own, so `sha256sum FILE` verifies it
                    "sha256": sha256_file(path) if path.is_file() else digest.hexdigest(),
                    "bytes": size,
                },
                pk=("run_id", "name"),
            )

    def artifacts(self, run_id: int) -> list[dict[str, Any]]:
        with self.db() as db:
            return list(db["artifacts"].rows_where("run_id = ?", [run_id], order_by="name"))
