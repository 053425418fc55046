"""The store's SQLite schema: its tables, its version, and the upgrade from every older one.

A fresh home gets the current version; an older file is upgraded in place, its rows kept
(see `create_schema`). Several processes may open a fresh home at once: the caller takes a write
lock before creating anything (core.runs.store.Store).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

HOST = socket.gethostname()
WORKER_STALE_S = 15.0  # a worker with no heartbeat for this long is taken for gone

SCHEMA_VERSION = 3  # 1: first release; 2: AUTOINCREMENT run ids, heartbeat and host columns;
# 3: the queue (worker and parent columns, workers table)
RESULT_COLUMNS = (
    "accuracy",
    "f1",
    "params",
    "size_bytes",
    "latency_ms_p50",
    "latency_ms_p95",
    "throughput",
)
RUNS_COLUMNS = (
    ("id", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    ("kind", "TEXT NOT NULL"),
    ("name", "TEXT"),
    ("status", "TEXT NOT NULL"),
    ("config", "TEXT"),
    ("data", "TEXT"),
    ("teacher", "TEXT"),
    ("created", "REAL"),
    ("started", "REAL"),
    ("finished", "REAL"),
    ("pid", "INTEGER"),
    ("error", "TEXT"),
    ("stage", "TEXT"),
    ("step", "INTEGER"),
    ("total", "INTEGER"),
    ("progress", "REAL DEFAULT 0.0"),
    ("eta_s", "REAL"),
    ("message", "TEXT"),
    ("cancel_requested", "INTEGER DEFAULT 0"),
    ("timings", "TEXT"),
    ("updated", "REAL"),
    ("heartbeat", "REAL"),  # written every few seconds by the process executing the run
    ("host", "TEXT"),  # where `pid` lives: a pid is only checked on its own host
    ("worker", "TEXT"),  # the worker that claimed the run (None: run in the foreground)
    ("parent", "INTEGER"),  # the sweep this run is a trial of
)
OTHER_TABLES = (
    'CREATE TABLE IF NOT EXISTS "meta" ("key" TEXT PRIMARY KEY, "value" TEXT)',
    'CREATE TABLE IF NOT EXISTS "metrics" ("run_id" INTEGER REFERENCES "runs"("id"), '
    '"series" TEXT, "step" INTEGER, "value" REAL, "t" REAL)',
    'CREATE INDEX IF NOT EXISTS "idx_metrics_run_id_series" ON "metrics" ("run_id", "series")',
    'CREATE TABLE IF NOT EXISTS "results" ("run_id" INTEGER REFERENCES "runs"("id"), '
    '"model" TEXT, "role" TEXT, "arch" TEXT, '
    + ", ".join(f'"{c}" REAL' for c in RESULT_COLUMNS)
    + ', "detail" TEXT, PRIMARY KEY ("run_id", "model"))',
    'CREATE TABLE IF NOT EXISTS "artifacts" ("run_id" INTEGER REFERENCES "runs"("id"), '
    '"name" TEXT, "path" TEXT, "sha256" TEXT, "bytes" INTEGER, PRIMARY KEY ("run_id", "name"))',
    'CREATE TABLE IF NOT EXISTS "workers" ("id" TEXT PRIMARY KEY, "host" TEXT, "pid" INTEGER, '
    '"backend" TEXT, "slots" INTEGER, "started" REAL, "heartbeat" REAL, "stopped" REAL, '
    '"runs" TEXT)',
)


class StoreError(RuntimeError):
    """The database cannot be used by this version of the code."""


def version(conn: sqlite3.Connection) -> int:
    if not conn.execute("select 1 from sqlite_master where name = 'meta'").fetchone():
        return 0
    row = conn.execute("select value from meta where key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def enable_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Switch the file to WAL, retrying: the switch can answer SQLITE_BUSY at once, without
    going through the busy handler, while another process is opening the same fresh file."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            # WAL is a property of the file; it cannot be switched inside a transaction
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def create_schema(conn: sqlite3.Connection, home: Path) -> None:
    """The current version from nothing, from version 1 (the runs table is rebuilt, rows
    kept: SQLite cannot add AUTOINCREMENT to a table) or from 2 (columns added)."""
    cols = ",\n   ".join(f'"{n}" {t}' for n, t in RUNS_COLUMNS)
    old = [r[1] for r in conn.execute('PRAGMA table_info("runs")')]
    autoinc = conn.execute(
        "select 1 from sqlite_master where name = 'runs' and sql like '%AUTOINCREMENT%'"
    ).fetchone()
    if not old:
        conn.execute(f'CREATE TABLE "runs" (\n   {cols}\n)')
    elif autoinc:  # version 2: only new (nullable) columns
        for name, typ in RUNS_COLUMNS:
            if name not in old:
                conn.execute(f'ALTER TABLE "runs" ADD COLUMN "{name}" {typ}')
        # a version-2 `queued` run was one whose process was about to start; workers would
        # now run it long after its process gave up on it: it stays what it was, stopped
        conn.execute(
            "update runs set status = 'interrupted', finished = ?, error = ? "
            "where status = 'queued'",
            [time.time(), "queued before the upgrade to workers; its process never started"],
        )
    else:  # version 1: recreate the table with AUTOINCREMENT and copy the rows
        keep = ", ".join(f'"{c}"' for c in old if c in dict(RUNS_COLUMNS))
        conn.execute('DROP TABLE IF EXISTS "runs_v2"')
        conn.execute(f'CREATE TABLE "runs_v2" (\n   {cols}\n)')
        conn.execute(f'INSERT INTO "runs_v2" ({keep}) SELECT {keep} FROM "runs"')
        conn.execute('DROP TABLE "runs"')
        conn.execute('ALTER TABLE "runs_v2" RENAME TO "runs"')
    for ddl in OTHER_TABLES:
        conn.execute(ddl)
    # ids continue after the largest ever seen: in the table, or as a folder under runs/
    top = conn.execute('select coalesce(max(id), 0) from "runs"').fetchone()[0]
    runs_dir = home / "runs"
    if runs_dir.is_dir():
        top = max([top] + [int(p.name) for p in runs_dir.iterdir() if p.name.isdigit()])
    if top:
        cur = conn.execute(
            "update sqlite_sequence set seq = max(seq, ?) where name = 'runs'", [top]
        )
        if not cur.rowcount:
            conn.execute("insert into sqlite_sequence (name, seq) values ('runs', ?)", [top])


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def decode_run(row: dict[str, Any]) -> dict[str, Any]:
    r = dict(row)
    for k in ("config", "data", "timings"):
        r[k] = json.loads(r[k]) if r.get(k) else {}
    return r
