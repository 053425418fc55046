"""The SQLite run store and background jobs, with the real tiny pipeline end to end."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import long_cfg, wait_for

from core.data.hashing import sha256_file
from core.runs.context import RunContext
from core.runs.execute import execute
from core.runs.store import FINAL, SCHEMA_VERSION, RunActive, Store
from core.runs.submit import JobManager, child_env

ROOT = Path(__file__).resolve().parent.parent

ALL_MODELS = {"teacher", "bilstm_plain", "bilstm_distilled", "textcnn_plain", "textcnn_distilled"}
WEIGHT_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".ckpt"}


def _digest(path: Path) -> str:
    """The artifact checksum recomputed from disk: a file's own sha256; for a folder, the sha256
    over its files (sorted by path), each as name + sha256."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.name.encode())
        h.update(hashlib.sha256(f.read_bytes()).hexdigest().encode())
    return h.hexdigest()


# -- schema -------------------------------------------------------------------------------------


def test_schema_created_versioned_and_wal(tmp_path):
    store = Store(tmp_path)
    assert store.path == tmp_path / "distillery.db" and store.path.is_file()
    with sqlite3.connect(store.path) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        assert {"meta", "runs", "metrics", "results", "artifacts"} <= tables
        version = conn.execute("select value from meta where key='schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),)
        assert conn.execute("pragma journal_mode").fetchone() == ("wal",)
    rid = store.create_run("teacher", {"x": 1}, name="kept")
    again = Store(tmp_path)  # reopening migrates nothing away
    assert again.run(rid)["name"] == "kept" and again.run(rid)["config"] == {"x": 1}
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("select count(*) from meta").fetchone() == (1,)


def test_default_home_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILLERY_HOME", str(tmp_path / "h"))
    assert Store().path == tmp_path / "h" / "distillery.db"


def test_store_round_trips_rows(tmp_path):
    store = Store(tmp_path)
    rid = store.create_run("pipeline", {"a": [1, 2]}, name="n")
    run = store.run(rid)
    assert run["status"] == "queued" and run["kind"] == "pipeline" and run["timings"] == {}
    store.update_run(rid, status="running", timings={"data": 0.5}, data={"train": 3})
    assert store.run(rid)["timings"] == {"data": 0.5} and store.run(rid)["data"] == {"train": 3}
    store.log_metrics(rid, "teacher/loss", [(2, 0.5), (1, 0.7)])
    assert [(m["step"], m["value"]) for m in store.metrics(rid)] == [(1, 0.7), (2, 0.5)]
    store.save_result(rid, "teacher", "teacher", "bert", {"accuracy": 0.9, "extra": "kept"})
    store.save_result(rid, "teacher", "teacher", "bert", {"accuracy": 0.8})  # upsert
    (res,) = store.results(rid)
    assert res["accuracy"] == 0.8 and res["detail"] == {"accuracy": 0.8}
    other = store.create_run("teacher", {})
    assert [r["id"] for r in store.runs()] == [other, rid]
    assert [r["id"] for r in store.runs(status="running")] == [rid]
    store.update_run(rid, status="done")
    store.delete_run(rid)
    assert [r["id"] for r in store.runs()] == [other]
    assert store.metrics(rid) == [] and store.results(rid) == []


# The schema of version 1 exactly as the first release created it.
V1_SCHEMA = """
CREATE TABLE "meta" ("key" TEXT PRIMARY KEY, "value" TEXT);
CREATE TABLE "runs" (
   "id" INTEGER PRIMARY KEY, "kind" TEXT NOT NULL, "name" TEXT, "status" TEXT NOT NULL,
   "config" TEXT, "data" TEXT, "teacher" TEXT, "created" REAL, "started" REAL, "finished" REAL,
   "pid" INTEGER, "error" TEXT, "stage" TEXT, "step" INTEGER, "total" INTEGER,
   "progress" REAL DEFAULT 0.0, "eta_s" REAL, "message" TEXT,
   "cancel_requested" INTEGER DEFAULT 0, "timings" TEXT, "updated" REAL);
CREATE TABLE "metrics" ("run_id" INTEGER REFERENCES "runs"("id"), "series" TEXT,
   "step" INTEGER, "value" REAL, "t" REAL);
CREATE INDEX "idx_metrics_run_id_series" ON "metrics" ("run_id", "series");
CREATE TABLE "results" ("run_id" INTEGER REFERENCES "runs"("id"), "model" TEXT, "role" TEXT,
   "arch" TEXT, "accuracy" REAL, "f1" REAL, "params" REAL, "size_bytes" REAL,
   "latency_ms_p50" REAL, "latency_ms_p95" REAL, "throughput" REAL, "detail" TEXT,
   PRIMARY KEY ("run_id", "model"));
CREATE TABLE "artifacts" ("run_id" INTEGER REFERENCES "runs"("id"), "name" TEXT, "path" TEXT,
   "sha256" TEXT, "bytes" INTEGER, PRIMARY KEY ("run_id", "name"));
INSERT INTO meta VALUES ('schema_version', '1');
"""


def test_run_ids_are_never_reused(tmp_path):
    store = Store(tmp_path)
    first = store.create_run("teacher", {})
    newest = store.create_run("teacher", {})
    store.run_dir(newest)
    store.update_run(newest, status="done")
    store.delete_run(newest)
    again = store.create_run("teacher", {})
    assert again == newest + 1 and first < newest
    assert [r["id"] for r in store.runs()] == [again, first]
    (tmp_path / "distillery.db").unlink()  # even a new database skips ids with a folder left
    (tmp_path / "runs" / "7").mkdir(parents=True)
    assert Store(tmp_path).create_run("teacher", {}) == 8


def test_version_1_database_migrates_keeping_its_rows(tmp_path):
    with sqlite3.connect(tmp_path / "distillery.db") as conn:
        conn.executescript(V1_SCHEMA)
        for i in (1, 2, 3):
            conn.execute(
                "insert into runs (id, kind, name, status, config, created, pid, timings) "
                "values (?, 'pipeline', ?, 'done', ?, ?, 99999999, '{}')",
                [i, f"old{i}", json.dumps({"i": i}), 1000.0 + i],
            )
        conn.execute("insert into metrics values (3, 'teacher/loss', 1, 0.5, 1.0)")
        conn.execute(
            "insert into results (run_id, model, role, arch, accuracy, detail) "
            "values (2, 'teacher', 'teacher', 'bert', 0.7, '{}')"
        )
        conn.execute("insert into artifacts values (2, 'teacher', '/x', 'abc', 5)")
    store = Store(tmp_path)
    assert store.migrated_from == 1 and Store(tmp_path).migrated_from is None
    assert [(r["id"], r["name"], r["config"], r["created"]) for r in store.runs()] == [
        (3, "old3", {"i": 3}, 1003.0),
        (2, "old2", {"i": 2}, 1002.0),
        (1, "old1", {"i": 1}, 1001.0),
    ]
    assert [(m["step"], m["value"]) for m in store.metrics(3)] == [(1, 0.5)]
    assert store.results(2)[0]["accuracy"] == 0.7 and store.artifacts(2)[0]["sha256"] == "abc"
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("select value from meta").fetchall() == [(str(SCHEMA_VERSION),)]
        sql = conn.execute("select sql from sqlite_master where name = 'runs'").fetchone()[0]
        assert "AUTOINCREMENT" in sql and "heartbeat" in sql
        assert conn.execute("select seq from sqlite_sequence where name='runs'").fetchone() == (3,)
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
        assert conn.execute("pragma foreign_key_check").fetchall() == []
    store.delete_run(3)
    assert store.create_run("teacher", {}) == 4  # not 3 again


def test_newer_schema_is_refused(tmp_path):
    Store(tmp_path)
    with sqlite3.connect(tmp_path / "distillery.db") as conn:
        conn.execute("update meta set value = '99' where key = 'schema_version'")
    with pytest.raises(RuntimeError, match="schema version 99"):
        Store(tmp_path)


OPEN_AT = """
import sys, time
from core.runs.store import Store
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all start at the same moment
print(Store(sys.argv[1]).migrated_from)
"""


def test_processes_opening_a_fresh_home_at_once_create_the_schema_once(tmp_path):
    home = tmp_path / "fresh"
    start = time.time() + 2.0  # time for every interpreter to start up first
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT, str(home), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    assert sorted(out.strip() for out, _ in outs) == ["0", "None", "None", "None"]
    store = Store(home)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("select * from meta").fetchall() == [
            ("schema_version", str(SCHEMA_VERSION))
        ]
        assert conn.execute("pragma journal_mode").fetchone() == ("wal",)
    assert store.create_run("teacher", {}) == 1


def test_active_runs_cannot_be_deleted(tmp_path):
    store = Store(tmp_path)
    queued = store.create_run("teacher", {})
    running = store.create_run("teacher", {})
    store.start_run(running)
    for rid, status in ((queued, "queued"), (running, "running")):
        store.log_metrics(rid, "teacher/loss", [(1, 0.5)])
        (store.run_dir(rid) / "x.txt").write_text("x")
        with pytest.raises(RunActive, match=f"run {rid} is {status}: cancel it first"):
            store.delete_run(rid)
        assert store.run(rid)["status"] == status and store.metrics(rid)
        assert (store.run_dir(rid, create=False) / "x.txt").is_file()
    store.update_run(running, status="cancelled")
    store.delete_run(running)
    assert [r["id"] for r in store.runs()] == [queued]


# -- a real pipeline run through the JobManager -------------------------------------------------


@pytest.fixture(scope="module")
def done_run(tmp_path_factory, tiny_cfg):
    store = Store(tmp_path_factory.mktemp("jobs_home"))
    manager = JobManager(store)
    rid = manager.submit("pipeline", tiny_cfg(student_epochs=2, name="tiny"))
    assert manager.wait(rid, timeout=600) == "done", store.run(rid)["error"]
    return store, manager, rid


def test_pipeline_run_reaches_done_with_all_results(done_run):
    store, manager, rid = done_run
    run = store.run(rid)
    assert run["status"] == "done" and run["error"] is None
    assert run["progress"] == 1.0 and run["finished"] >= run["started"] >= run["created"]
    assert run["name"] == "tiny" and manager.active() == []
    assert run["data"]["train"] + run["data"]["dev"] == 160 and run["data"]["test"] == 60
    assert run["data"]["transfer"] == 100
    assert {"data", "teacher", "augment", "label", "evaluate"} <= set(run["timings"])
    results = {r["model"]: r for r in store.results(rid)}
    assert set(results) == ALL_MODELS
    for name, r in results.items():
        assert 0.0 <= r["accuracy"] <= 1.0 and 0.0 <= r["f1"] <= 1.0
        assert r["params"] > 0 and r["size_bytes"] > 0
        assert 0 < r["latency_ms_p50"] <= r["latency_ms_p95"]
        assert r["throughput"] > 0
        assert r["detail"]["n_test"] == 60 and r["detail"]["latency_n"] == 10
        assert sum(map(sum, r["detail"]["confusion"])) == 60
        if name != "teacher":
            assert r["arch"] == name.split("_")[0] and r["role"] == name.split("_")[1]
            assert r["params"] < results["teacher"]["params"]
    assert results["teacher"]["arch"] == "bert" and results["teacher"]["role"] == "teacher"


def test_pipeline_run_logged_loss_curves(done_run):
    store, _, rid = done_run
    series: dict[str, list[tuple[int, float]]] = {}
    for m in store.metrics(rid):
        series.setdefault(m["series"], []).append((m["step"], m["value"]))
    expected = {f"{n}/loss" for n in ALL_MODELS - {"teacher"}} | {"teacher/loss"}
    assert expected <= set(series)
    train_rows = store.run(rid)["data"]["train"]
    teacher_steps = list(range(1, math.ceil(train_rows / 16) + 1))  # one epoch, batch 16
    assert [s for s, _ in series["teacher/loss"]] == teacher_steps
    assert [s for s, _ in series["bilstm_plain/loss"]] == list(range(1, 11))  # 5 x 2 epochs
    distilled = series["bilstm_distilled/loss"]
    assert len(distilled) > 10 and [s for s, _ in distilled] == list(range(1, len(distilled) + 1))
    assert all(v >= 0 for pts in series.values() for _, v in pts)


def test_pipeline_artifacts_match_files_on_disk(done_run):
    store, _, rid = done_run
    arts = {a["name"]: a for a in store.artifacts(rid)}
    assert set(arts) == (ALL_MODELS - {"teacher"}) | {"teacher", "augmented"}
    for a in arts.values():
        path = Path(a["path"])
        assert path.exists() and store.run_dir(rid) in path.parents
        assert a["sha256"] == _digest(path), a["name"]
        size = (
            path.stat().st_size
            if path.is_file()
            else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        )
        assert a["bytes"] == size
    assert arts["augmented"]["sha256"] == sha256_file(Path(arts["augmented"]["path"]))


def test_run_folder_holds_only_safetensors_weights(done_run):
    store, _, rid = done_run
    folder = store.run_dir(rid, create=False)
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in WEIGHT_SUFFIXES]
    assert (folder / "teacher" / "model.safetensors").is_file()
    for name in ALL_MODELS - {"teacher"}:
        assert (folder / "students" / name / "model.safetensors").is_file()
    assert not [p for p in folder.rglob("*.tmp")]
    summary = json.loads((folder / "results.json").read_text())
    assert set(summary["models"]) == ALL_MODELS and summary["run_id"] == rid
    acc = {r["model"]: r["accuracy"] for r in store.results(rid)}
    assert {k: v["accuracy"] for k, v in summary["models"].items()} == acc


def test_distill_reuses_teacher_and_cached_logits(done_run, tiny_cfg):
    store, manager, rid = done_run
    cache = store.home / "cache" / "logits"
    before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert before  # the pipeline run cached its teacher logits
    rid2 = manager.submit("distill", tiny_cfg(teacher_run=rid))
    assert manager.wait(rid2, timeout=600) == "done", store.run(rid2)["error"]
    run2 = store.run(rid2)
    assert "label" in store.run(rid)["timings"]  # the first run labelled with its teacher...
    assert "label" not in run2["timings"]  # ...the second found the logits cached
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == before
    assert run2["teacher"] == f"run {rid} (teacher)"
    res2 = {r["model"]: r for r in store.results(rid2)}
    assert set(res2) == ALL_MODELS
    teacher1 = next(r for r in store.results(rid) if r["model"] == "teacher")
    assert res2["teacher"]["accuracy"] == teacher1["accuracy"]  # the very same teacher
    assert not (store.run_dir(rid2, create=False) / "teacher").exists()


@pytest.mark.slow  # kept out of the default suite's 15 minutes; CI runs it with -m slow
def test_augment_run_labels_once_for_later_distill_runs(done_run, tiny_cfg):
    store, manager, rid = done_run
    aug = manager.submit("augment", tiny_cfg(teacher_run=rid, aug_seed=21))
    assert manager.wait(aug, timeout=300) == "done", store.run(aug)["error"]
    assert "label" in store.run(aug)["timings"]  # new augmented texts: labelled now
    assert [r["model"] for r in store.results(aug)] == ["teacher"]
    assert {a["name"] for a in store.artifacts(aug)} == {"augmented"}
    dis = manager.submit("distill", tiny_cfg(teacher_run=rid, aug_seed=21, plain_baseline=False))
    assert manager.wait(dis, timeout=300) == "done", store.run(dis)["error"]
    assert "label" not in store.run(dis)["timings"]  # ...and reused here
    assert {r["model"] for r in store.results(dis)} == {
        "teacher",
        "bilstm_distilled",
        "textcnn_distilled",
    }


def test_distill_with_run_that_has_no_teacher_fails_cleanly(done_run, tiny_cfg):
    store, manager, _ = done_run
    empty = store.create_run("augment", {}, status="running")  # a run with no teacher folder
    store.update_run(empty, status="done")
    rid = manager.submit("distill", tiny_cfg(teacher_run=empty))
    assert manager.wait(rid, timeout=120) == "failed"
    assert "has no fine-tuned teacher" in store.run(rid)["error"]


def test_unknown_kind_is_rejected(done_run, tiny_cfg):
    _, manager, _ = done_run
    with pytest.raises(ValueError, match="unknown run kind"):
        manager.submit("nonsense", tiny_cfg())


# -- cancel, restart, concurrency -----------------------------------------------------------------


def test_cancel_a_running_run(tmp_path, tiny_cfg):
    store = Store(tmp_path)
    manager = JobManager(store)
    rid = manager.submit("pipeline", long_cfg(tiny_cfg))
    wait_for(lambda: store.run(rid)["status"] == "running", "running")
    logged = wait_for(
        lambda: [m for m in store.metrics(rid) if m["series"] == "teacher/loss"],
        "teacher loss points",
    )
    manager.cancel(rid)
    assert manager.wait(rid, timeout=120) == "cancelled"
    run = store.run(rid)
    assert run["finished"] is not None and run["cancel_requested"] == 1
    assert "cancelled during teacher" in run["error"]
    assert manager.active() == []
    after = {(m["series"], m["step"], m["value"]) for m in store.metrics(rid)}
    assert {(m["series"], m["step"], m["value"]) for m in logged} <= after
    steps_done = max(s for series, s, _ in after if series == "teacher/loss")
    assert steps_done < 400 * 10  # stopped long before the 4000 planned steps
    assert store.results(rid) == []


def test_cancel_requested_from_another_process_is_seen(tmp_path, tiny_cfg):
    """The CLI's `runs cancel` only sets the flag in the DB; the run must still stop."""
    store = Store(tmp_path)
    manager = JobManager(store)
    rid = manager.submit("pipeline", long_cfg(tiny_cfg))
    wait_for(lambda: any(m["series"] == "teacher/loss" for m in store.metrics(rid)), "loss")
    Store(tmp_path).request_cancel(rid)  # not through the manager: no in-process event
    assert manager.wait(rid, timeout=120) == "cancelled"


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_runs_of_a_dead_process_become_interrupted(tmp_path):
    store = Store(tmp_path)
    orphan = store.create_run("pipeline", {"x": 1})
    store.update_run(orphan, status="running", pid=_dead_pid(), stage="teacher", step=3)
    store.log_metrics(orphan, "teacher/loss", [(1, 0.7), (2, 0.65), (3, 0.6)])
    queued = store.create_run("teacher", {})
    store.update_run(queued, pid=_dead_pid())  # its submitter is gone: it still waits
    alive = store.create_run("teacher", {})
    store.update_run(alive, status="running", pid=1)  # pid 1 is always alive
    finished = store.create_run("teacher", {})
    store.update_run(finished, status="done", pid=_dead_pid())

    JobManager(store)  # a restarted dashboard / process

    run = store.run(orphan)
    assert run["status"] == "interrupted" and run["finished"] is not None
    assert "stopped before it finished" in run["error"]
    assert [(m["step"], m["value"]) for m in store.metrics(orphan)] == [
        (1, 0.7),
        (2, 0.65),
        (3, 0.6),
    ]
    assert run["stage"] == "teacher" and run["step"] == 3
    assert store.run(queued)["status"] == "queued"
    assert store.run(alive)["status"] == "running"
    assert store.run(finished)["status"] == "done"


def test_two_runs_at_once_both_finish(tmp_path, tiny_cfg):
    """Two distill runs on one teacher, started together (a worker with two slots), compute the
    same new logits at once."""
    store = Store(tmp_path)
    manager = JobManager(store, slots=2)
    teacher_run = manager.submit("teacher", tiny_cfg())
    assert manager.wait(teacher_run, timeout=300) == "done", store.run(teacher_run)["error"]
    a = manager.submit("distill", tiny_cfg(teacher_run=teacher_run, aug_seed=5, name="a"))
    b = manager.submit("distill", tiny_cfg(teacher_run=teacher_run, aug_seed=5, name="b"))
    for rid in (a, b):
        assert manager.wait(rid, timeout=600) == "done", store.run(rid)["error"]
    for rid in (a, b):
        assert {r["model"] for r in store.results(rid)} == ALL_MODELS
        assert store.metrics(rid)
    assert all(r["status"] in FINAL for r in store.runs())
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
    cache = store.home / "cache" / "logits"
    # nothing half-written left behind: label files and their int8 checks only
    kept = (".safetensors", ".int8check.json")
    assert not [p for p in cache.iterdir() if not p.name.endswith(kept)]


def test_teacher_run_stops_after_teacher(tmp_path, tiny_cfg):
    store = Store(tmp_path)
    manager = JobManager(store)
    rid = manager.submit("teacher", tiny_cfg())
    assert manager.wait(rid, timeout=300) == "done"
    assert [r["model"] for r in store.results(rid)] == ["teacher"]
    assert set(store.run(rid)["timings"]) == {"data", "teacher", "evaluate"}
    assert {a["name"] for a in store.artifacts(rid)} == {"teacher"}


def test_stale_heartbeat_or_dead_pid_means_interrupted(tmp_path):
    store = Store(tmp_path)
    now = time.time()

    def run(status="running", **fields) -> int:
        rid = store.create_run("teacher", {})
        store.update_run(rid, status=status, **fields)
        return rid

    me = os.getpid()  # alive
    fresh = run(pid=me, heartbeat=now)
    reused_pid = run(pid=me, heartbeat=now - 120)  # live pid, stale heartbeat: not alive
    dead = run(pid=_dead_pid(), heartbeat=now)
    elsewhere = run(pid=_dead_pid(), heartbeat=now, host="another-host")  # pid not ours to check
    started_silent = run(pid=me, started=now - 120)  # no heartbeat yet: counted from the start
    queued_old = run(status="queued", pid=_dead_pid(), created=now - 999)  # waits for a worker
    done = run(status="done", pid=_dead_pid(), heartbeat=now - 999)

    assert sorted(store.mark_interrupted()) == sorted([reused_pid, dead, started_silent])
    status = {r["id"]: r["status"] for r in store.runs()}
    assert status[fresh] == status[elsewhere] == "running" and status[queued_old] == "queued"
    assert status[done] == "done"
    assert "(no heartbeat for 12" in store.run(reused_pid)["error"]
    assert f"process {store.run(dead)['pid']} is gone" in store.run(dead)["error"]
    assert store.mark_interrupted() == []  # nothing left to do: one cheap query
    time.sleep(0.3)
    assert sorted(store.mark_interrupted(stale_after_s=0.2)) == [fresh, elsewhere]
    assert store.run(queued_old)["status"] == "queued"  # however old: queued runs wait


# -- every status write covered, heartbeat, a process per run ----------------------------------


class _WriteLock:
    """Another connection holding the database's write lock: a real `database is locked`."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.held = threading.Event()

    def take(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.held.set()

    def release_after(self, seconds: float) -> None:
        def release():
            self.conn.execute("ROLLBACK")
            self.conn.close()

        threading.Timer(seconds, release).start()


def test_run_ends_failed_when_marking_it_running_fails(tmp_path, tiny_cfg):
    store = Store(tmp_path, busy_timeout_s=0.2)
    rid = store.create_run("teacher", {})
    lock = _WriteLock(store.path)
    lock.take()
    lock.release_after(1.0)  # the store is locked while the run starts, then free again
    status = execute(store, rid, "teacher", tiny_cfg(), RunContext(store, rid), heartbeat_s=0.1)
    run = store.run(rid)
    assert status == run["status"] == "failed" and run["finished"] is not None
    assert "OperationalError: database is locked" in run["error"]
    assert store.mark_interrupted() == []


def test_run_ends_failed_when_recording_done_fails(tmp_path, tiny_cfg):
    store = Store(tmp_path, busy_timeout_s=0.2)
    rid = store.create_run("teacher", {})
    lock = _WriteLock(store.path)

    def on_progress(state):  # the last progress write of a finished run; then lock the store
        if "evaluate" in state["timings"] and not lock.held.is_set():
            lock.take()
            lock.release_after(1.5)

    ctx = RunContext(store, rid, on_progress=on_progress)
    status = execute(store, rid, "teacher", tiny_cfg(), ctx, heartbeat_s=0.1)
    run = store.run(rid)
    assert lock.held.is_set()
    assert status == run["status"] == "failed" and run["finished"] is not None
    assert "could not record status 'done': OperationalError: database is locked" in run["error"]
    assert [r["model"] for r in store.results(rid)] == ["teacher"]  # what was written stays


def test_heartbeat_keeps_a_running_run_alive(tmp_path, tiny_cfg):
    store = Store(tmp_path)
    rid = store.create_run("pipeline", {})
    ctx = RunContext(store, rid)
    cfg = long_cfg(tiny_cfg)
    result: list[str] = []
    worker = threading.Thread(
        target=lambda: result.append(execute(store, rid, "pipeline", cfg, ctx, heartbeat_s=0.1))
    )
    worker.start()
    beats = set()

    def beating():
        run = store.run(rid)
        if run["status"] == "running":
            beats.add(run["heartbeat"])
            assert store.mark_interrupted(stale_after_s=1.0) == []  # alive: nothing marked
        return len(beats) >= 5

    wait_for(beating, "five heartbeats")
    assert store.run(rid)["pid"] == os.getpid() and store.run(rid)["status"] == "running"
    ctx.cancel_event.set()
    worker.join(60)
    assert result == ["cancelled"]
    last = store.run(rid)["heartbeat"]
    time.sleep(0.3)
    assert store.run(rid)["heartbeat"] == last  # the heartbeat stopped with the run


def test_runs_execute_in_a_process_of_their_own(done_run):
    store, _, rid = done_run
    run = store.run(rid)
    assert run["pid"] != os.getpid()
    log = (store.run_dir(rid, create=False) / "run.log").read_text()
    assert f"run {rid} (pipeline) in process {run['pid']}" in log and "stage students" in log
    env = child_env()  # what the child inherits: our environment (core is installed)
    assert env["HF_HUB_OFFLINE"] == os.environ["HF_HUB_OFFLINE"] == "1"


def test_a_killed_run_process_leaves_an_interrupted_run(tmp_path, tiny_cfg, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the child finds the installed project from anywhere
    store = Store(tmp_path / "home")
    manager = JobManager(store)
    rid = manager.submit("pipeline", long_cfg(tiny_cfg))
    wait_for(lambda: any(m["series"] == "teacher/loss" for m in store.metrics(rid)), "loss")
    os.kill(store.run(rid)["pid"], signal.SIGKILL)
    assert manager.wait(rid, timeout=60) == "interrupted"
    run = store.run(rid)
    assert "stopped before it finished" in run["error"] and "run.log" in run["error"]
    assert store.metrics(rid) and manager.active() == []
