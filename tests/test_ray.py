"""Runs on a real local Ray (loopback, started by the worker): the progress, loss points,
results and artifacts come back into the user's store, with the files in place (`shared`) or
sent with the task and brought back (`ship`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data.hashing import sha256_file
from core.runs.store import Store

pytest.importorskip("ray")


def _check_artifacts(store: Store, rid: int) -> None:
    arts = store.artifacts(rid)
    assert arts
    run_dir = store.run_dir(rid, create=False).resolve()
    for a in arts:
        path = Path(a["path"])
        assert path.exists() and path.resolve().is_relative_to(run_dir), a
        if path.is_file():
            assert sha256_file(path) == a["sha256"]


@pytest.mark.slow  # a real local Ray cluster: about a minute on 2 cores
def test_worker_on_local_ray_runs_a_pipeline_then_a_shipped_distill(
    cli, tiny_data, tiny_teacher_dir, tmp_path
):
    flags = [
        "--train",
        str(tiny_data.train),
        "--test",
        str(tiny_data.test),
        "--student-epochs",
        "1",
        "--augment-iters",
        "1",
        "--latency-samples",
        "10",
    ]
    teacher = ["--teacher", str(tiny_teacher_dir), "--teacher-epochs", "1"]
    res = cli("pipeline", "--queue", *flags, *teacher, "--students", "bilstm", home=tmp_path)
    assert res.returncode == 0 and "run 1 queued" in res.stdout, res.stderr
    res = cli("worker", "--once", "--ray", "local", home=tmp_path, timeout=400)
    assert res.returncode == 0 and res.stdout.strip() == "run 1: done", res.stderr[-3000:]
    assert "Ray at local" in res.stderr and "files shared" in res.stderr

    store = Store(tmp_path)
    run = store.run(1)
    assert run["status"] == "done" and run["progress"] == 1.0 and run["finished"]
    assert set(run["timings"]) >= {"data", "teacher", "augment", "students", "evaluate"}
    series = {m["series"] for m in store.metrics(1)}  # streamed back from the task
    assert "teacher/loss" in series and any(s.startswith("bilstm") for s in series)
    results = {r["model"]: r["detail"] for r in store.results(1)}
    assert set(results) == {"teacher", "bilstm_plain", "bilstm_distilled"}
    assert all(m["measured_alone"] for m in results.values())
    assert (store.run_dir(1) / "teacher" / "distillery.json").is_file()
    assert "(Ray)" in (store.run_dir(1) / "run.log").read_text()
    _check_artifacts(store, 1)

    # a distill run reusing run 1's teacher, its files shipped to the task and brought back
    res = cli(
        "distill", "--queue", "--teacher-run", "1", *flags, "--students", "textcnn", home=tmp_path
    )
    assert res.returncode == 0, res.stderr
    res = cli("worker", "--once", "--ray", "local", "--files", "ship", home=tmp_path, timeout=400)
    assert res.returncode == 0 and res.stdout.strip() == "run 2: done", res.stderr[-3000:]
    results = {r["model"] for r in store.results(2)}
    assert results == {"teacher", "textcnn_plain", "textcnn_distilled"}
    assert (store.run_dir(2) / "students" / "textcnn_distilled" / "model.safetensors").is_file()
    _check_artifacts(store, 2)
    assert store.run(2)["teacher"].startswith("run 1")
