"""Issue 20, points 5 and 7: label names that apply where they are typed and stay with their
file, and tables and words a stakeholder reads without tripping (Streamlit AppTest on a real
store, plus the plain functions behind the wording)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import to_dict
from core.runs.config import PipelineConfig
from core.runs.stages import teacher_dir
from core.runs.store import Store
from dashboard.data_preview import new_variants
from dashboard.formatting import blank_missing, fmt_times
from dashboard.report_text import student_sentences
from dashboard.run_tables import finished_text, runs_table, worker_runs

ROOT = Path(__file__).resolve().parent.parent


def app(path: str) -> AppTest:
    return AppTest.from_file(str(ROOT / path), default_timeout=120)


def chart_x(at: AppTest, key: str) -> list:
    import json

    c = next(c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}"))
    return json.loads(c.proto.spec)["data"][0]["x"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("DISTILLERY_HOME", str(h))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return h


def _upload(at: AppTest, name: str, rows: list[str]) -> None:
    at.file_uploader(key="up-train").upload(name, "\n".join(rows).encode(), "text/plain")
    at.run()


# -- 5: label names ----------------------------------------------------------------------------
def test_label_names_apply_on_data_and_stay_with_their_file(home):
    at = app("pages/data.py").run()
    at.radio(key="data-mode").set_value("upload").run()
    _upload(
        at,
        "nums.tsv",
        [f"{i % 2}\tsentence {i} is {'good' if i % 2 else 'bad'}" for i in range(30)],
    )
    assert chart_x(at, "class-balance") == ["0", "1"]
    at.text_input(key="label-name-0").set_value("negative").run()
    at.text_input(key="label-name-1").set_value("positive").run()
    assert not at.exception and not at.error
    # Data's own chart and preview call the classes by the typed names
    assert chart_x(at, "class-balance") == ["negative", "positive"]
    preview = next(d.value for d in at.dataframe if "text" in d.value.columns)
    assert set(preview["label"]) == {"negative", "positive"}
    # another file: the names are not carried over, and the page says so
    _upload(
        at,
        "other.tsv",
        [f"{i % 2}\tanother line {i} {'yes' if i % 2 else 'no'}" for i in range(30)],
    )
    assert not at.exception
    assert at.text_input(key="label-name-0").value == ""
    assert "label_names" not in at.session_state["data_choice"]
    assert chart_x(at, "class-balance") == ["0", "1"]
    assert "were not carried over" in "\n".join(i.value for i in at.info)


def test_augmentation_preview_skips_variants_that_change_only_punctuation():
    got = new_variants(
        ["good phone ,", "good  phone", "good [MASK]", "good [MASK] !", "好 手机。"], "good phone"
    )
    assert got == ["good [MASK]", "好 手机。"]


# -- 7: wording and tables -----------------------------------------------------------------------
def test_ratios_read_like_the_tables():
    assert fmt_times(1.4, "smaller") == "1.4x smaller"  # the table's 1.4x, not "1x smaller"
    assert fmt_times(1.02, "smaller") == "about the same size"
    row = {
        "student": "BiLSTM", "distilled acc": 0.8, "distilled F1": 0.79, "plain acc": None,
        "teacher acc": None, "speed-up vs teacher": 3.0, "distilled latency p50 (ms)": 1.0,
        "x smaller than teacher": 1.4, "gap closed": None,
    }  # fmt: skip
    assert "1.4x smaller" in student_sentences(row)[0]


def test_missing_cells_and_runs_that_never_started():
    import pandas as pd

    shown = blank_missing(pd.DataFrame({"family": ["word", None], "acc": [0.5, None]}))
    assert list(shown["family"]) == ["word", "—"]  # never "None"
    assert pd.isna(shown["acc"][1])  # numbers stay numbers (shown blank)
    assert finished_text({"started": None, "finished": 100.0}) == "never started"
    assert finished_text({"started": 100.0, "finished": 165.0}) == "finished in 1m 05s"
    # a run claimed since the worker's last beat: the worker is busy with it, not idle
    w = {"id": "w1", "runs": []}
    assert worker_runs(w, [{"id": 7, "worker": "w1", "started": 1.0}]) == [7]
    table = runs_table([{"id": 1, "config": {"teacher": {"model": "/a/long/path/m3e-small"}}}], [])
    assert table["teacher"][0] == "m3e-small"


def _runs(home: Path) -> tuple[Store, list[int]]:
    s = Store(home)
    cfg = to_dict(PipelineConfig())
    ids = []
    for name in ("one", "two", "three"):
        rid = s.create_run("teacher", cfg, name=name, status="running")
        s.finish_if_active(rid, "done", None)
        ids.append(rid)
    return s, ids


def test_runs_selection_survives_a_reload(home):
    _, ids = _runs(home)
    at = app("pages/runs.py").run()
    assert not at.exception
    at.multiselect(key="runs-compare").set_value([ids[0], ids[2]]).run()
    assert at.query_params["runs"] == [f"{ids[0]},{ids[2]}"] or at.query_params["runs"] == (
        f"{ids[0]},{ids[2]}"
    )
    again = app("pages/runs.py")  # a reload: a fresh session with the same URL
    again.query_params["runs"] = f"{ids[0]},{ids[2]}"
    again.run()
    assert again.multiselect(key="runs-compare").value == [ids[0], ids[2]]
    table = next(d.value for d in again.dataframe if "best distilled acc" in d.value.columns)
    assert "None" not in table.astype(str).to_numpy().ravel().tolist()


def test_sweep_form_speaks_in_words_and_hides_a_reused_teachers_settings(home):
    s, ids = _runs(home)
    (teacher_dir(s, ids[0])).mkdir(parents=True)
    (teacher_dir(s, ids[0]) / "distillery.json").write_text("{}")
    at = app("pages/train.py").run()
    assert not at.exception
    assert "BiLSTM" in at.selectbox(key="sweep-student").options
    assert "bilstm" not in at.selectbox(key="sweep-student").options
    assert "accuracy under a latency budget" in at.selectbox(key="sweep-objective-in").options

    def sweep_expanders() -> list[str]:  # the Sweep tab's alone (Find the best student has its own)
        tab = next(t for t in at.tabs if "Sweep" in t.label)
        return [e.label for e in tab.expander]

    assert "Teacher settings (for a new teacher)" in sweep_expanders()
    at.selectbox(key="sweep-teacher-run").select(ids[0]).run()
    assert "Teacher settings (for a new teacher)" not in sweep_expanders()
