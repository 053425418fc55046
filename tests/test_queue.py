"""The run queue and its workers, with real processes on a real store: `pipeline --queue`,
`worker --once`, cancel while queued or running, a killed worker, a dashboard restart, and the
latency gate (no other run of a worker executes while one times its models)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import long_cfg, tiny_run_flags, wait_for

from core.config import to_dict
from core.runs.gate import Gate
from core.runs.store import Store
from core.runs.submit import JobManager, child_env, start_local_worker

ROOT = Path(__file__).resolve().parent.parent


def _tiny_flags(tiny_data, tiny_teacher_dir) -> list[str]:
    return tiny_run_flags(tiny_data, tiny_teacher_dir) + [
        "--augment-iters",
        "1",
        "--students",
        "bilstm",
        "--latency-samples",
        "10",
    ]


def test_queue_then_worker_once(cli, tiny_data, tiny_teacher_dir, tmp_path):
    flags = _tiny_flags(tiny_data, tiny_teacher_dir)
    t0 = time.monotonic()
    res = cli("pipeline", "--queue", *flags, home=tmp_path)
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - t0 < 60
    assert "run 1 queued (pipeline), position 1 of 1" in res.stdout
    assert "no worker is alive" in res.stderr  # and how to start one
    second = cli("teacher", "--queue", *flags[:10], home=tmp_path)
    assert "run 2 queued (teacher), position 2 of 2" in second.stdout
    store = Store(tmp_path)
    assert [r["status"] for r in store.runs()] == ["queued", "queued"]

    res = cli("worker", "--once", home=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "run 1: done"  # the oldest first, and only one
    assert store.run(2)["status"] == "queued" and store.queue_position(2) == (1, 1)
    run = store.run(1)
    assert run["worker"] and run["pid"] != os.getpid()
    results = {r["model"]: r["detail"] for r in store.results(1)}
    assert set(results) == {"teacher", "bilstm_plain", "bilstm_distilled"}
    for m in results.values():  # every latency figure says it was measured alone
        assert m["measured_alone"] is True and run["worker"] in m["isolation"]
    worker = store.live_workers(max_age_s=1e9)
    assert worker == []  # it said it stopped
    assert "run 1 (pipeline) in process" in (store.run_dir(1) / "run.log").read_text()


def test_cancel_queued_and_running_runs(cli, tiny_cfg, tmp_path):
    store = Store(tmp_path)
    manager = JobManager(store, start_workers=False)
    long_run = manager.submit("pipeline", long_cfg(tiny_cfg))
    queued = manager.submit("pipeline", tiny_cfg())
    res = cli("runs", "cancel", str(queued), home=tmp_path)
    assert res.returncode == 0 and f"run {queued} cancelled (it was queued)" in res.stdout
    run = store.run(queued)
    assert run["status"] == "cancelled" and "never started" in run["error"]

    worker = start_local_worker(store, idle_exit_s=5)
    try:
        wait_for(lambda: store.run(long_run)["status"] == "running", "the long run to start")
        wait_for(lambda: store.metrics(long_run), "loss points")
        assert manager.cancel(long_run) == "running"  # flagged: it stops at its next step
        assert manager.wait(long_run, timeout=60) == "cancelled"
        assert "cancelled during teacher" in store.run(long_run)["error"]
        assert store.run(queued)["status"] == "cancelled"  # never executed
        assert worker.wait(timeout=60) == 0  # idle: it exits
    finally:
        worker.kill()


def test_killed_worker_interrupts_its_run_and_the_queue_goes_on(cli, tiny_cfg, tmp_path):
    store = Store(tmp_path)
    manager = JobManager(store, start_workers=False)
    victim = manager.submit("pipeline", long_cfg(tiny_cfg))
    after = manager.submit("pipeline", tiny_cfg(name="after"))
    worker = start_local_worker(store)
    try:
        wait_for(lambda: store.metrics(victim), "the first run to train")
        killed_at = time.monotonic()
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        wait_for(lambda: store.run(victim)["status"] == "interrupted", "interrupted", limit_s=60)
        assert time.monotonic() - killed_at < 60
        assert "its worker" in store.run(victim)["error"]
        assert store.run(after)["status"] == "queued"
    finally:
        worker.kill()
    res = cli("worker", "--once", home=tmp_path)  # the next worker takes the next run
    assert res.returncode == 0 and f"run {after}: done" in res.stdout, res.stderr


DASHBOARD = textwrap.dedent(
    """
    import json, sys, time
    from core.runs.config import pipeline_from_dict
    from core.runs.submit import JobManager
    from core.runs.store import Store
    manager = JobManager(Store(sys.argv[1]))  # what the dashboard does on "Run"
    rid = manager.submit("pipeline", pipeline_from_dict(json.loads(sys.argv[2])))
    print(rid, flush=True)
    time.sleep(600)
    """
)


def test_restarting_the_dashboard_does_not_interrupt_a_run(tiny_cfg, tmp_path):
    """The process that queued the run (and started the worker) is killed with its whole
    process group, as a Ctrl-C in its terminal would; the run goes on to `done`."""
    cfg = tiny_cfg(teacher_epochs=3)
    proc = subprocess.Popen(
        [sys.executable, "-c", DASHBOARD, str(tmp_path), __import__("json").dumps(to_dict(cfg))],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    rid = int(proc.stdout.readline())
    store = Store(tmp_path)
    wait_for(lambda: store.run(rid)["status"] == "running", "running")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert JobManager(store, start_workers=False).wait(rid, timeout=300) == "done"
    assert store.live_workers()  # the worker the "dashboard" started is still there


def test_claims_are_atomic_and_in_queue_order(tmp_path):
    store = Store(tmp_path)
    ids = [store.create_run("teacher", {}) for _ in range(30)]
    store.create_run("teacher", {}, status="running")  # a foreground CLI run: never claimed
    assert store.queue_position(ids[2]) == (3, 30)
    got: dict[str, list[int]] = {}

    def claim(name: str) -> None:
        mine = got.setdefault(name, [])
        while (run := Store(tmp_path).claim_next(name)) is not None:
            mine.append(run["id"])

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [rid for mine in got.values() for rid in mine]
    assert sorted(claimed) == ids  # every queued run once, none twice
    assert all(mine == sorted(mine) for mine in got.values())  # oldest first
    assert {r["worker"] for r in store.runs(status="running")} <= {"w0", "w1", "w2", "w3", None}


GATE_RUNNER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from core.runs.gate import Gate
    gate = Gate("w", Path(sys.argv[1]))
    gate.enter()
    print("in", flush=True)
    end = time.time() + float(sys.argv[2])
    while time.time() < end:  # a run's steps: each one checks the gate
        gate.pause_if_wanted()
        print(time.time(), flush=True)
        time.sleep(0.01)
    gate.leave()
    """
)


def test_a_measuring_run_has_the_worker_alone(tmp_path):
    """Two other 'runs' step through the gate while this one measures: none of their steps
    falls inside the measurement, and both go on afterwards."""
    runners = [
        subprocess.Popen(
            [sys.executable, "-c", GATE_RUNNER, str(tmp_path), "4"],
            cwd=ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for r in runners:
        assert r.stdout.readline().strip() == "in"
    time.sleep(0.5)
    gate = Gate("w", tmp_path)
    gate.enter()
    with gate.alone() as waited:
        start = time.time()
        time.sleep(1.0)
        end = time.time()
    gate.leave()
    assert waited < 1.0
    for r in runners:
        out, _ = r.communicate(timeout=30)
        steps = [float(x) for x in out.split()]
        assert not [t for t in steps if start < t < end], "a run stepped during the measurement"
        assert any(t < start for t in steps) and any(t > end for t in steps)


@pytest.mark.parametrize("slots", [0])
def test_worker_refuses_zero_slots(cli, tmp_path, slots):
    res = cli("worker", "--slots", str(slots), home=tmp_path)
    assert res.returncode == 2 and "at least 1" in res.stderr


def test_version_2_store_gains_the_queue_and_retires_its_queued_runs(tmp_path):
    """A version-2 file (before workers): new columns and the workers table are added, rows are
    kept, and a run it had left `queued` (its process never started) is not run by a worker."""
    import sqlite3

    store = Store(tmp_path)
    done = store.create_run("teacher", {"a": 1}, name="kept", status="running")
    store.update_run(done, status="done")
    stuck = store.create_run("pipeline", {})
    with sqlite3.connect(store.path) as conn:  # make it the version-2 file it was
        conn.execute('ALTER TABLE "runs" DROP COLUMN "worker"')
        conn.execute('ALTER TABLE "runs" DROP COLUMN "parent"')
        conn.execute('DROP TABLE "workers"')
        conn.execute("update meta set value = '2' where key = 'schema_version'")
    again = Store(tmp_path)
    assert again.migrated_from == 2
    assert again.run(done)["status"] == "done" and again.run(done)["name"] == "kept"
    assert again.run(stuck)["status"] == "interrupted" and not again.queue()
    assert "upgrade to workers" in again.run(stuck)["error"]
    assert again.live_workers() == [] and again.run(done)["worker"] is None
