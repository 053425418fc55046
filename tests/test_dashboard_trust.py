"""What a user must not lose or misread (issue 20, points 1-4), against the real engine and the
real Streamlit script runner (AppTest): the Train form outlives a page switch, the run that
finished last is the one the pages open on, Predict repeats a run's sanity flags beside its
predictions, and a latency measured on a busy machine is marked and never headlined."""

from __future__ import annotations

import time

import pytest
from test_dashboard_apptest import RESULTS, RUN, _tiny_config, app, frame, no_trouble, texts

from core.evaluate import contention
from core.evaluate.metrics import latency_stats
from core.runs.store import Store
from core.runs.submit import JobManager
from dashboard.report_text import report_sentences
from dashboard.result_tables import results_frame, speedup, summary_records


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory, tiny_teacher_dir):
    """#1 a pipeline (done, results), #2 a sweep-like trial of it (done, parent 1), #3 a
    cancelled run; #1 is set to finish after #3 and before the trial, as a long run would."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("trust") / "home"
    mp.setenv("DISTILLERY_HOME", str(home))
    mp.setenv("HF_HUB_OFFLINE", "1")
    store = Store(home)
    manager = JobManager(store)
    one = manager.submit("pipeline", _tiny_config(tiny_teacher_dir, name="long"))
    assert manager.wait(one, timeout=300) == "done", store.run(one).get("error")
    cfg = _tiny_config(tiny_teacher_dir, name="trial")
    cfg.teacher_run = one
    two = manager.submit("distill", cfg, parent=one)
    assert manager.wait(two, timeout=300) == "done", store.run(two).get("error")
    three = manager.submit("pipeline", _tiny_config(tiny_teacher_dir, name="stopped"))
    manager.cancel(three)
    assert manager.wait(three, timeout=60) == "cancelled"
    now = time.time()
    store.update_run(one, finished=now + 10)
    store.update_run(two, finished=now + 20)
    store.update_run(three, finished=now + 5)
    yield {"home": home, "store": store, "ids": (one, two, three)}
    mp.undo()


# -- 1. the Train form outlives a page switch ------------------------------------------------
def test_train_form_keeps_its_values_across_a_page_switch(three_runs):
    at = app("dashboard/app.py").run()
    at.switch_page("../pages/train.py").run()
    no_trouble(at)
    at.number_input(key="pipe-max-train").set_value(123)
    at.number_input(key="pipe-t-epochs").set_value(5)
    at.multiselect(key="pipe-archs").set_value(["bilstm"])
    at.checkbox(key="pipe-use-aug").uncheck()
    at.run()
    at.switch_page("../pages/runs.py").run()
    no_trouble(at)
    assert "pipe-max-train" not in at.session_state  # Streamlit dropped the widget's state
    at.switch_page("../pages/train.py").run()
    no_trouble(at)
    assert at.number_input(key="pipe-max-train").value == 123
    assert at.number_input(key="pipe-t-epochs").value == 5
    assert at.multiselect(key="pipe-archs").value == ["bilstm"]
    assert at.checkbox(key="pipe-use-aug").value is False


def test_train_form_starts_at_the_saved_values_on_a_reload(three_runs):
    from dashboard import ui_state

    forms = {**(ui_state.load_ui_state().get("forms") or {}), "pipe-max-test": 77}
    (three_runs["home"] / ui_state.UI_STATE).write_text(
        __import__("json").dumps({"forms": forms}), encoding="utf-8"
    )
    at = app("pages/train.py").run()  # a new session: a reload or a new tab
    no_trouble(at)
    assert at.number_input(key="pipe-max-test").value == 77


# -- 2. the run just finished comes first ----------------------------------------------------
def test_recently_finished_is_by_finish_time_and_pages_open_on_the_last_result(three_runs):
    one, two, three = three_runs["ids"]
    at = app("pages/train.py").run()
    no_trouble(at)
    shown = [e.value for e in at.success] + [e.value for e in at.warning]
    order = [min((i for i, v in enumerate(shown) if f"#{r} " in v), default=99) for r in (two, one)]
    assert order[0] < order[1], shown  # the trial finished last, then #1
    recent = [e.value for e in at.get("alert") if "finished in" in str(e.value)] or shown
    assert f"#{two} " in recent[0] or f"#{two} " in shown[0]
    at = app("pages/report.py").run()
    no_trouble(at)
    assert at.multiselect(key="report-runs").value == [one]  # not the trial, not the newest id
    at = app("pages/runs.py").run()
    no_trouble(at)
    assert at.multiselect(key="runs-compare").value[0] == one
    assert three not in at.multiselect(key="runs-compare").value


# -- 3. Predict repeats the run's sanity flags -----------------------------------------------
def test_predict_repeats_the_runs_sanity_flags(three_runs):
    from core.evaluate.sanity import flags_from_results

    one = three_runs["ids"][0]
    flags = flags_from_results(three_runs["store"].results(one))[one]
    assert flags
    at = app("pages/predict.py").run()
    at.selectbox(key="pred-run").set_value(one).run()
    no_trouble(at)
    box = next(w for w in at.warning if "Check before trusting these predictions" in w.value)
    assert all(f.text in box.value for f in flags)
    table = frame(at, "run flag")
    flagged = {f.model for f in flags if f.model}
    for _, row in table.iterrows():
        assert bool(row["run flag"]) == (row["model"] in flagged), row
    assert "Scoring the sentence" not in texts(at.info)  # the busy sign made way for scores


# -- 4. contended latency --------------------------------------------------------------------
def test_contention_is_judged_from_load_and_run_queue_wait():
    quiet = contention.Sample(0.0, 0.0, 0.5, 0.0), contention.Sample(1.0, 1.0, 0.6, 0.01)
    busy_load = contention.Sample(0.0, 0.0, 9.0, None), contention.Sample(1.0, 0.5, 9.0, None)
    busy_wait = contention.Sample(0.0, 0.0, 0.5, 0.0), contention.Sample(1.0, 0.6, 0.5, 0.4)
    assert contention.judge(*quiet, "latency")["latency_contended"] is False
    m = contention.judge(*busy_load, "latency")
    assert m["latency_contended"] is True and m["latency_load1"] == [9.0, 9.0]
    assert "load average 9.0" in contention.why_contended(m)
    m = contention.judge(*busy_wait, "onnx_latency")
    assert m["onnx_latency_contended"] and m["onnx_latency_cpu_wait"] == pytest.approx(0.4)
    assert "waited for a CPU 40%" in contention.why_contended(m, "onnx_latency")


def test_latency_stats_record_the_machine_state():
    m = latency_stats(len, ["a", "bb"] * 20)
    assert {"latency_load1", "latency_cpus", "latency_cpu_wait", "latency_contended"} <= set(m)
    assert isinstance(m["latency_contended"], bool)
    assert "tokenize_contended" not in latency_stats(len, ["a"], prefix="tokenize")


def _with(row, **detail):
    return {**row, "detail": {**row["detail"], **detail}}


def test_speed_up_prefers_onnx_and_is_not_headlined_when_contended():
    t, plain, dist = RESULTS
    onnx = [
        _with(t, onnx_latency_ms_p50=20.0),
        _with(plain, onnx_latency_ms_p50=0.5),
        _with(dist, onnx_latency_ms_p50=0.5),
    ]
    fast = speedup(onnx[0], onnx[2])
    assert fast["basis"] == "ONNX" and fast["ratio"] == pytest.approx(40.0)
    assert summary_records(onnx)[0]["speed-up vs teacher"] == pytest.approx(40.0)
    assert "40.0x faster than the teacher as deployed (ONNX)" in " ".join(
        report_sentences(RUN, onnx)
    )
    busy = contention.judge(
        contention.Sample(0.0, 0.0, 7.0, 0.0), contention.Sample(1.0, 0.3, 7.0, 0.5), "onnx_latency"
    )
    contended = [_with(onnx[0], **busy), onnx[1], onnx[2]]
    text = " ".join(report_sentences(RUN, contended))
    assert "x faster" not in text
    assert "speed-up over the teacher is not stated" in text and "load average 7.0" in text
    assert "measured under contention" in text  # the teacher's own figure too
    df = results_frame(contended)
    assert (
        df.loc[df["model"] == "teacher", "measured under contention"]
        .iloc[0]
        .startswith("measured under contention (ONNX")
    )
    assert (df.loc[df["model"] != "teacher", "measured under contention"] == "").all()


def test_runs_and_report_pages_mark_a_contended_measurement(three_runs):
    store, one = three_runs["store"], three_runs["ids"][0]
    t = next(r for r in store.results(one) if r["model"] == "teacher")
    # both of the teacher's figures (PyTorch and ONNX: the speed-up compares the ONNX ones when
    # both sides have them) measured while the machine was busy
    before, after = contention.Sample(0.0, 0.0, 8.0, 0.0), contention.Sample(1.0, 0.3, 8.0, 0.6)
    busy = {
        **contention.judge(before, after, "latency"),
        **contention.judge(before, after, "onnx_latency"),
    }
    store.save_result(one, "teacher", "teacher", t["arch"], {**t["detail"], **busy})
    at = app("pages/runs.py").run()
    no_trouble(at)
    assert "Latency measured under contention" in texts(at.warning)
    assert (
        frame(at, "measured under contention")
        .loc[lambda d: d["model"] == "teacher"]
        .iloc[0]["measured under contention"]
        .startswith("measured under contention (PyTorch: load average 8.0")
    )
    at = app("pages/report.py").run()
    no_trouble(at)
    assert "Latency measured under contention" in texts(at.warning)
    md = texts(at.markdown)
    assert "measured under contention" in md and "x faster than the teacher" not in md
