"""The run store: one SQLite file (WAL) read by the CLI and the dashboard alike.

Each call opens its own short-lived connection, so background threads, the dashboard and a CLI
process can all write at once without sharing a connection object; WAL plus a busy timeout
serialises the writers. Everything a run produced is committed as it happens, so a crash keeps
what was logged so far.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

SCHEMA_VERSION = 1
ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "cancelled", "interrupted")
RESULT_COLUMNS = (
    "accuracy",
    "f1",
    "params",
    "size_bytes",
    "latency_ms_p50",
    "latency_ms_p95",
    "throughput",
)


def default_home() -> Path:
    env = os.environ.get("DISTILLERY_HOME")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Store:
    def __init__(self, home: str | Path | None = None):
        self.home = Path(home) if home else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.path = self.home / "distillery.db"
        self._migrate()

    # -- plumbing -----------------------------------------------------------------------------
    @contextmanager
    def db(self) -> Iterator[sqlite_utils.Database]:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        try:
            yield sqlite_utils.Database(conn)
            conn.commit()
        finally:
            conn.close()

    def _migrate(self) -> None:
        with self.db() as db:
            db.conn.execute("PRAGMA journal_mode = WAL")
            if "meta" not in db.table_names():
                db["meta"].create({"key": str, "value": str}, pk="key")
            row = db.execute("select value from meta where key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version < 1:
                db["runs"].create(
                    {
                        "id": int,
                        "kind": str,
                        "name": str,
                        "status": str,
                        "config": str,
                        "data": str,
                        "teacher": str,
                        "created": float,
                        "started": float,
                        "finished": float,
                        "pid": int,
                        "error": str,
                        "stage": str,
                        "step": int,
                        "total": int,
                        "progress": float,
                        "eta_s": float,
                        "message": str,
                        "cancel_requested": int,
                        "timings": str,
                        "updated": float,
                    },
                    pk="id",
                    not_null={"kind", "status"},
                    defaults={"cancel_requested": 0, "progress": 0.0},
                    if_not_exists=True,
                )
                db["metrics"].create(
                    {"run_id": int, "series": str, "step": int, "value": float, "t": float},
                    foreign_keys=[("run_id", "runs", "id")],
                    if_not_exists=True,
                )
                db["metrics"].create_index(["run_id", "series"], if_not_exists=True)
                db["results"].create(
                    {
                        "run_id": int,
                        "model": str,
                        "role": str,
                        "arch": str,
                        **{c: float for c in RESULT_COLUMNS},
                        "detail": str,
                    },
                    pk=("run_id", "model"),
                    foreign_keys=[("run_id", "runs", "id")],
                    if_not_exists=True,
                )
                db["artifacts"].create(
                    {"run_id": int, "name": str, "path": str, "sha256": str, "bytes": int},
                    pk=("run_id", "name"),
                    foreign_keys=[("run_id", "runs", "id")],
                    if_not_exists=True,
                )
            db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")

    # -- runs ---------------------------------------------------------------------------------
    def create_run(self, kind: str, config: dict[str, Any], name: str = "") -> int:
        now = time.time()
        with self.db() as db:
            table = db["runs"].insert(
                {
                    "kind": kind,
                    "name": name,
                    "status": "queued",
                    "config": json.dumps(config, ensure_ascii=False),
                    "created": now,
                    "updated": now,
                    "pid": os.getpid(),
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
        with self.db() as db:
            row = db["runs"].get(run_id)
        return _decode_run(row)

    def runs(self, status: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        where, args = [], []
        if status:
            where.append("status = ?")
            args.append(status)
        if kind:
            where.append("kind = ?")
            args.append(kind)
        with self.db() as db:
            rows = db["runs"].rows_where(" and ".join(where) or None, args, order_by="id desc")
            return [_decode_run(r) for r in rows]

    def request_cancel(self, run_id: int) -> None:
        self.update_run(run_id, cancel_requested=1)

    def cancel_requested(self, run_id: int) -> bool:
        with self.db() as db:
            row = db.execute("select cancel_requested from runs where id = ?", [run_id]).fetchone()
        return bool(row and row[0])

    def mark_interrupted(self, live_run_ids: set[int] | None = None) -> list[int]:
        """Runs left active by a process that is gone become `interrupted`; their logs stay."""
        live = live_run_ids or set()
        hit = []
        for r in self.runs():
            if r["status"] not in ACTIVE or r["id"] in live:
                continue
            if r["pid"] == os.getpid() or not _pid_alive(r["pid"]):
                self.update_run(
                    r["id"],
                    status="interrupted",
                    finished=time.time(),
                    error="the process running it stopped before it finished",
                )
                hit.append(r["id"])
        return hit

    def delete_run(self, run_id: int) -> None:
        """Delete a run, its rows and its artifact folder."""
        with self.db() as db:
            for t in ("metrics", "results", "artifacts"):
                db[t].delete_where("run_id = ?", [run_id])
            db["runs"].delete_where("id = ?", [run_id])
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


def _decode_run(row: dict[str, Any]) -> dict[str, Any]:
    r = dict(row)
    for k in ("config", "data", "timings"):
        r[k] = json.loads(r[k]) if r.get(k) else {}
    return r
