"""Optuna sweeps: the space parser, a real two-trial sweep from the CLI (its teacher shared by
the trials, each trial a child run with its parameters applied), a queued sweep that a
two-slot worker coordinates beside its trials, and the Sweeps page on the result."""

from __future__ import annotations

import json

import pytest

from core.store import Store
from core.sweep import SweepConfig, parse_space, study_from_store, trials_table


def test_space_parser_types_and_errors():
    space = {p.name: p for p in parse_space(SweepConfig().space + ["loss=mse,soft_ce"], "bilstm")}
    assert type(space["alpha"].distribution).__name__ == "FloatDistribution"  # 0:1 of a float
    assert space["hidden"].field == "hidden_dim" and space["hidden"].target == "student"
    assert type(space["hidden"].distribution).__name__ == "IntDistribution"
    assert space["n_iter"].target == "augment"
    assert space["loss"].distribution.choices == ("mse", "soft_ce")
    lr = parse_space(["lr=1e-4:1e-2:log"], "bilstm")[0].distribution
    assert lr.log and lr.low == pytest.approx(1e-4)
    for bad, why in [
        ("foo=1:2", "not a setting of bilstm"),
        ("alpha", "write name=LOW:HIGH"),
        ("alpha=1:0", "LOW must be below HIGH"),
        ("lr=0:1:log", "above 0"),
        ("hidden=a:b", "are not numbers"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_space([bad], "bilstm")
    with pytest.raises(ValueError, match="given twice"):
        parse_space(["alpha=0:1", "alpha=0:0.5"], "bilstm")


def _flags(tiny_data, tiny_teacher_dir) -> list[str]:
    return [
        "--train",
        str(tiny_data.train),
        "--test",
        str(tiny_data.test),
        "--teacher",
        str(tiny_teacher_dir),
        "--teacher-epochs",
        "1",
        "--teacher-max-length",
        "32",
        "--student-epochs",
        "1",
        "--latency-samples",
        "10",
        "--no-onnx-latency",
        "--student",
        "bilstm",
        "--space",
        "alpha=0:1",
        "hidden=8:48",
        "n_iter=1:2",
    ]


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_data, tiny_teacher_dir):
    from tests.conftest import run_cli

    home = tmp_path_factory.mktemp("sweep_home")
    out = home / "sweep.json"
    res = run_cli(
        "sweep",
        "--trials",
        "2",
        *_flags(tiny_data, tiny_teacher_dir),
        "--json",
        str(out),
        "-q",
        home=home,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return home, res, json.loads(out.read_text())


def test_cli_sweep_runs_two_trials_on_one_teacher(swept):
    home, res, summary = swept
    assert "best: trial" in res.stdout
    store = Store(home)
    sweep = store.runs(kind="sweep")[0]
    assert sweep["status"] == "done" and sweep["progress"] == 1.0
    children = {r["id"]: r for r in store.runs(parent=sweep["id"])}
    teachers = [r for r in children.values() if r["kind"] == "teacher"]
    trials = [r for r in children.values() if r["kind"] == "distill"]
    assert len(teachers) == 1 and len(trials) == 2
    for t in trials:  # every trial reuses the sweep's one teacher, with its own parameters
        assert t["status"] == "done" and t["config"]["teacher_run"] == teachers[0]["id"]
        params = t["config"]["sweep_trial"]["params"]
        student = t["config"]["students"][0]
        assert student["arch"] == "bilstm" and student["hidden_dim"] == params["hidden"]
        assert student["alpha"] == params["alpha"] and 0 <= params["alpha"] <= 1
        assert t["config"]["augment"]["n_iter"] == params["n_iter"]
        assert t["config"]["plain_baseline"] is False
        assert {r["model"] for r in store.results(t["id"])} == {"teacher", "bilstm_distilled"}
    rows = trials_table(store, sweep)
    assert sorted(r["trial"] for r in rows) == [0, 1]
    best = max(rows, key=lambda r: r["value"])
    assert summary["best"]["run"] == best["run"] and summary["best"]["value"] == best["value"]
    assert f"(run {best['run']})" in res.stdout
    study = study_from_store(store, sweep)
    assert len(study.trials) == 2 and study.best_value == best["value"]


def test_queued_sweep_is_coordinated_beside_its_trials(cli, tiny_data, tiny_teacher_dir, swept):
    """A one-sweep, one-slot worker: the sweep must not take the slot its trials need."""
    home, _, _ = swept
    store = Store(home)
    teacher_run = next(r["id"] for r in store.runs(kind="teacher"))
    res = cli(
        "sweep",
        "--queue",
        "--trials",
        "2",
        "--parallel",
        "2",
        "--teacher-run",
        str(teacher_run),
        "--objective",
        "accuracy_under_latency",
        "--latency-budget-ms",
        "1000",
        *_flags(tiny_data, tiny_teacher_dir)[:4],
        *_flags(tiny_data, tiny_teacher_dir)[10:],
        home=home,
    )
    assert res.returncode == 0 and "queued (sweep of 2 trials)" in res.stdout, res.stderr
    sid = store.runs(kind="sweep")[0]["id"]
    res = cli("worker", "--idle-exit", "3", home=home, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    sweep = store.run(sid)
    assert sweep["status"] == "done", sweep["error"]
    trials = store.runs(parent=sid)
    assert len(trials) == 2 and all(t["kind"] == "distill" for t in trials)  # no new teacher
    rows = trials_table(store, sweep)
    assert all(r["value"] == r["accuracy"] for r in rows)  # 1000 ms: every trial within budget
    # --parallel 2: both trials were queued before the first one finished
    assert max(t["created"] for t in trials) < min(t["finished"] for t in trials)
