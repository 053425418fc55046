"""Optuna sweeps: the space parser, a real two-trial sweep from the CLI (its teacher shared by
the trials, each trial a child run with its parameters applied), a queued sweep that a
two-slot worker coordinates beside its trials, and the Sweeps page on the result."""

from __future__ import annotations

import json
import time

import pytest
from conftest import ROOT, run_cli, tiny_run_flags

from core.runs.store import Store
from core.runs.sweep import SweepConfig, parse_space, study_from_store, trials_table
from core.runs.teacher_timing import TIMING_KEYS


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
    return tiny_run_flags(tiny_data, tiny_teacher_dir) + [
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


def teacher_detail(store, rid: int) -> dict:
    return next(r for r in store.results(rid) if r["model"] == "teacher")["detail"]


def assert_teacher_timed_once(store, trials: list[int], timing_run: int) -> None:
    """Every trial copied the teacher's speed figures from `timing_run` (which timed the teacher
    itself) instead of timing, and exporting, the same teacher again."""
    timed = teacher_detail(store, timing_run)
    assert timed["latency_ms_p50"] > 0 and "timing_from_run" not in timed
    for rid in trials:
        assert store.run(rid)["config"]["teacher_timing_run"] == timing_run
        t = teacher_detail(store, rid)
        assert t["timing_from_run"] == timing_run
        for key in [k for k in timed if k.startswith(TIMING_KEYS)]:
            assert t[key] == timed[key], key
        assert t["accuracy"] == timed["accuracy"]  # the same teacher, scored by each run


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_data, tiny_teacher_dir):
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
        assert student["method"] == "bilstm" and student["hidden_dim"] == params["hidden"]
        assert student["alpha"] == params["alpha"] and 0 <= params["alpha"] <= 1
        assert t["config"]["augment"]["n_iter"] == params["n_iter"]
        assert t["config"]["plain_baseline"] is False
        assert {r["model"] for r in store.results(t["id"])} == {"teacher", "bilstm_distilled"}
    assert_teacher_timed_once(store, [t["id"] for t in trials], teachers[0]["id"])
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
    assert store.live_workers() == []  # the CLI sweep above stopped the worker it started
    res = cli("worker", "--idle-exit", "3", home=home, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"run {sid}: done" in res.stdout  # this one-slot worker did it all
    sweep = store.run(sid)
    assert sweep["status"] == "done", sweep["error"]
    trials = store.runs(parent=sid)
    assert len(trials) == 2 and all(t["kind"] == "distill" for t in trials)  # no new teacher
    rows = trials_table(store, sweep)
    assert all(r["value"] == r["accuracy"] for r in rows)  # 1000 ms: every trial within budget
    assert_teacher_timed_once(store, [t["id"] for t in trials], teacher_run)  # the named run's
    # --parallel 2: both trials were queued before the first one finished
    assert max(t["created"] for t in trials) < min(t["finished"] for t in trials)


@pytest.mark.slow  # kept out of the default suite's 15 minutes; CI runs it with -m slow
def test_a_teacher_run_that_did_not_time_onnx_leaves_the_timing_to_the_first_trial(
    cli, tiny_data, tiny_teacher_dir, swept
):
    """The named teacher run timed no ONNX figure and these trials time ONNX: the first trial
    times (and exports) the teacher itself, the next one copies its figures."""
    home, _, _ = swept
    store = Store(home)
    teacher_run = next(r["id"] for r in store.runs(kind="teacher"))
    assert "onnx_latency_ms_p50" not in teacher_detail(store, teacher_run)
    flags = _flags(tiny_data, tiny_teacher_dir)
    flags.remove("--no-onnx-latency")
    res = cli("sweep", "--trials", "2", "--teacher-run", str(teacher_run), *flags, home=home)
    assert res.returncode == 0, res.stderr[-3000:]
    sweep = store.runs(kind="sweep")[0]
    first, second = sorted(t["id"] for t in store.runs(parent=sweep["id"]))
    assert store.run(first)["config"]["teacher_timing_run"] is None
    assert teacher_detail(store, first)["onnx_latency_ms_p50"] > 0
    assert_teacher_timed_once(store, [second], first)


# -- the dashboard on the finished sweep -------------------------------------------------------
def _app(path: str):
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / path), default_timeout=120)


def test_sweeps_page_plots_the_study_and_links_the_best_trial(swept, monkeypatch):
    home, _, summary = swept
    monkeypatch.setenv("DISTILLERY_HOME", str(home))
    at = _app("pages/sweeps.py").run()
    first = summary["run_id"]  # the CLI sweep (a later test may have added another)
    at.selectbox(key="sweep-pick").select(first).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    charts = {c.key if hasattr(c, "key") else None for c in at.get("plotly_chart")}
    assert len(at.get("plotly_chart")) == 2, charts  # parallel coordinates and importances
    best = summary["best"]
    page = "\n".join(m.value for m in at.markdown)
    assert f"Best trial: #{best['trial']}** (run #{best['run']})" in page
    # (this page on its own has no st.navigation: the link is a plain one to the Runs page)
    assert f"[Open run #{best['run']}](runs?run={best['run']})" in page
    trials = at.dataframe[0].value
    assert sorted(trials["trial"]) == [0, 1] and set(trials["status"]) == {"done"}
    # the reader scores the trials by F1 instead: the table's values follow
    at.selectbox(key="sweep-objective").select("f1").run()
    trials = at.dataframe[0].value
    assert list(trials["value"]) == list(trials["f1"])
    # the best trial's link opens the Runs page on that run
    monkeypatch.setattr("sys.argv", ["streamlit"])
    runs = _app("pages/runs.py")
    runs.query_params["run"] = str(best["run"])
    runs.run()
    assert not runs.exception
    assert runs.multiselect(key="runs-compare").value == [best["run"]]


def test_train_page_starts_a_sweep_and_checks_its_space(swept, monkeypatch):
    home, _, _ = swept
    monkeypatch.setenv("DISTILLERY_HOME", str(home))
    store = Store(home)
    before = {r["id"] for r in store.runs()}
    at = _app("pages/train.py").run()
    assert not at.exception
    at.selectbox(key="sweep-student").select("bilstm").run()
    at.text_area(key="sweep-space").input("alpha=0:1\nfoo=1:2")
    at.button(key="go-sweep").click().run()
    assert "The search space" in "\n".join(e.value for e in at.error)
    assert {r["id"] for r in store.runs()} == before  # nothing queued

    teacher = next(r["id"] for r in store.runs(kind="teacher"))
    at.text_area(key="sweep-space").input("alpha=0:1\nhidden=8:16")
    at.number_input(key="sweep-n").set_value(3)
    at.selectbox(key="sweep-teacher-run").select(teacher)
    at.button(key="go-sweep").click().run()
    assert not at.exception
    new = [r for r in store.runs() if r["id"] not in before]
    assert len(new) == 1 and new[0]["kind"] == "sweep"
    cfg = new[0]["config"]
    assert cfg["sweep"]["space"] == ["alpha=0:1", "hidden=8:16"] and cfg["sweep"]["trials"] == 3
    assert cfg["sweep"]["student"] == "bilstm" and cfg["teacher_run"] == teacher
    store.request_cancel(new[0]["id"])  # queued: cancelled; claimed already: it stops soon
    deadline = time.time() + 120
    while store.run(new[0]["id"])["status"] not in ("cancelled", "done") and time.time() < deadline:
        time.sleep(0.5)
    assert store.run(new[0]["id"])["status"] == "cancelled"
    for child in store.runs(parent=new[0]["id"]):  # and so did any trial it had queued
        assert child["status"] in ("cancelled", "done")
