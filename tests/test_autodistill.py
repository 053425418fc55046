"""autodistill: a real search on the tiny data and teacher from the CLI (cheap students first,
trials as child distill runs of one teacher, the Pareto front, the winner re-trained with a
second seed, exported and predicting like Distillery), pruning before training (a trial over
the budget leaves no run and no artifact), resuming a killed search without repeating a
finished trial, and the Train page's tab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, run_cli, tiny_run_flags, wait_for

from core.data.load import load_labelled
from core.runs import auto_space
from core.runs.auto_answer import deployed_p50, pareto_front, sentence, winner_under
from core.runs.auto_probe import Prober
from core.runs.auto_trials import curve_verdict, trial_rows
from core.runs.store import Store
from core.teacher.hf import load_pretrained
from core.teacher.model import Teacher

TEXTS = ["房间很干净，服务也好", "太差了，再也不来"]


def test_front_winner_and_dev_curve_rule_on_figures():
    rows = [
        {"trial": 0, "score": 0.90, "p50_ms": 0.5},
        {"trial": 1, "score": 0.88, "p50_ms": 0.2},
        {"trial": 2, "score": 0.87, "p50_ms": 0.3},  # dominated by 1
        {"trial": 3, "score": 0.93, "p50_ms": 4.0},
        {"trial": 4, "score": 0.90, "p50_ms": 0.6},  # dominated by 0 (same score, slower)
    ]
    assert [r["trial"] for r in pareto_front(rows)] == [1, 0, 3]
    assert winner_under(rows, 1.0)["trial"] == 0 and winner_under(rows, 0.1) is None
    rivals = [(2.0, [0.80, 0.85]), (9.0, [0.95, 0.96])]  # (probe ms, dev curve)
    assert curve_verdict([0.70], 3.0, rivals) == (1, 0.70, 0.80)  # a faster one did better
    assert curve_verdict([0.82], 3.0, rivals) is None  # above it
    assert curve_verdict([0.70], 1.0, rivals) is None  # the better ones are slower
    assert curve_verdict([0.9, 0.84], 3.0, rivals) == (2, 0.84, 0.85)  # same check compared
    assert curve_verdict([], 3.0, rivals) is None


def test_the_sentence_says_which_split_chose_the_winner():
    w = {"description": "X", "mean": 0.9, "sd": 0.01, "p50_ms": 0.2, "seeds": [{}, {}]}
    answer = {"metric": "accuracy", "compared_on": "dev", "dev_rows": 16, "winner": w}
    answer["teacher"] = {"score": 0.95, "p50_ms": 2.0}
    assert sentence(answer) == (
        "X: test accuracy 0.900 at 0.20 ms, 94.7% of the teacher, 10x faster "
        "(2 seeds: 0.900 ± 0.010; picked on the dev set (16 rows))."
    )
    answer["compared_on"] = "test"
    assert "picked on the test set: the data have no dev set" in sentence(answer)


def test_a_teacher_timing_is_copied_only_when_it_covers_what_the_run_would_time(tmp_path):
    """A run reusing a teacher copies its speed figures from `teacher_timing_run` only if that
    run timed what it would (ONNX included when it times ONNX); else it times the teacher."""
    from core.runs.config import PipelineConfig
    from core.runs.teacher_timing import reused_teacher_timing

    store = Store(tmp_path)
    torch_only = store.create_run("teacher", {})
    figures = {"accuracy": 0.9, "f1": 0.9, "latency_ms_p50": 3.0, "throughput": 50.0}
    store.save_result(torch_only, "teacher", "teacher", "bert", figures)
    with_onnx = store.create_run("teacher", {})
    store.save_result(
        with_onnx, "teacher", "teacher", "bert", figures | {"onnx_latency_ms_p50": 1.5}
    )
    cfg = PipelineConfig(teacher_timing_run=torch_only)
    assert reused_teacher_timing(store, cfg) is None  # this run times ONNX: not covered
    cfg.onnx_latency = False
    got = reused_teacher_timing(store, cfg)
    assert got == {"latency_ms_p50": 3.0, "throughput": 50.0, "timing_from_run": torch_only}
    cfg = PipelineConfig(teacher_timing_run=with_onnx)
    assert reused_teacher_timing(store, cfg)["onnx_latency_ms_p50"] == 1.5
    assert reused_teacher_timing(store, PipelineConfig()) is None  # none named: time it


def _flags(tiny_data, tiny_teacher_dir) -> list[str]:
    return tiny_run_flags(tiny_data, tiny_teacher_dir)[:4] + [
        "--teacher",
        str(tiny_teacher_dir),
        "--teacher-epochs",
        "1",
        "--teacher-max-length",
        "32",
        "--latency-samples",
        "10",
        "--max-epochs",
        "1",
        "-q",
    ]


def test_the_deployed_probe_times_an_untrained_small_student_through_its_export(
    tiny_data, tiny_teacher_dir
):
    """A word or character student is timed before training as deployed (ONNX, through the
    export's own predict.py): a wide BiLSTM reads far slower than a narrow TextCNN; a
    transformer has no such probe (None)."""
    data = load_labelled(tiny_data.train)
    tok, model = load_pretrained(str(tiny_teacher_dir), len(data.label_names), data.label_names)
    teacher = Teacher(tok, model.eval(), 32, torch.device("cpu"), data.label_names)
    prober = Prober.from_texts(teacher, data.texts, data.label_names)
    narrow = {"method": "textcnn_char", "textcnn_char.num_filters": 16}
    wide = {"method": "bilstm_char", "bilstm_char.hidden_dim": 256, "bilstm_char.max_len": 192}
    fast = prober.deployed_ms(auto_space.student_config(narrow))
    slow = prober.deployed_ms(auto_space.student_config(wide))
    assert 0 < fast < 2 * fast < slow, (fast, slow)
    assert prober.deployed_ms(auto_space.student_config({"method": "kd"})) is None


@pytest.fixture(scope="module")
def searched(tmp_path_factory, tiny_data, tiny_teacher_dir):
    home = tmp_path_factory.mktemp("auto_home")
    out = home / "answer.json"
    res = run_cli(
        "autodistill",
        "--methods",
        "textcnn_char",
        "bilstm",
        "--trials",
        "3",
        "--budget-ms",
        "500",
        "--confirm-seeds",
        "2",
        *_flags(tiny_data, tiny_teacher_dir),
        "--json",
        str(out),
        "--export",
        str(home / "winner"),
        home=home,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    return home, res, json.loads(out.read_text())


@pytest.mark.slow  # a real search: about 3 minutes for the file on 2 cores
def test_search_trains_cheap_students_first_on_one_teacher(searched):
    home, res, answer = searched
    store = Store(home)
    search = store.runs(kind="autodistill")[0]
    assert search["status"] == "done", search["error"]
    children = store.runs(parent=search["id"])
    teachers = [c for c in children if c["kind"] == "teacher"]
    trials = [c for c in children if c["config"].get("auto_trial", {}).get("role") == "trial"]
    assert len(teachers) == 1 and len(trials) == 3
    for t in trials:  # every trial distils from the search's one teacher
        assert t["kind"] == "distill" and t["config"]["teacher_run"] == teachers[0]["id"]
        params = t["config"]["auto_trial"]["params"]
        assert t["config"]["students"][0]["method"] == params["method"]
    rows = trial_rows(store, search)
    # cheap before dear: the fixed first trials are the small students at their defaults
    assert [r["method"] for r in rows[:2]] == ["textcnn_char", "bilstm"]
    assert all(r["probe_ms"] > 0 for r in rows)
    assert all(r["probe_deployed_ms"] > 0 for r in rows)  # small students: timed as deployed


@pytest.mark.slow  # a real search: about 3 minutes for the file on 2 cores
def test_front_is_non_dominated_and_the_winner_is_confirmed(searched):
    home, res, answer = searched
    front, done = answer["front"], [r for r in answer["trials"] if "score" in r]
    assert front and {r["trial"] for r in front} <= {r["trial"] for r in done}
    for r in front:  # nothing beats a front point on both axes
        assert not any(
            o["score"] >= r["score"]
            and o["p50_ms"] <= r["p50_ms"]
            and (o["score"] > r["score"] or o["p50_ms"] < r["p50_ms"])
            for o in done
        )
    for r in done:  # and every other point is beaten by one
        if r["trial"] not in {f["trial"] for f in front}:
            assert any(f["score"] >= r["score"] and f["p50_ms"] <= r["p50_ms"] for f in front)
    assert [f["trial"] for f in pareto_front(done)] == [f["trial"] for f in front]
    w = answer["winner"]
    assert w["score"] == max(r["score"] for r in done if r["p50_ms"] <= 500)
    assert len(w["seeds"]) == 2 and w["seeds"][0]["run"] == w["run"]
    store = Store(home)
    confirm = store.run(w["seeds"][1]["run"])
    assert confirm["config"]["auto_trial"]["role"] == "confirm"
    trial_seed = store.run(w["run"])["config"]["students"][0]["seed"]
    assert confirm["config"]["students"][0]["seed"] == trial_seed + 1
    assert confirm["config"]["plain_baseline"] is True
    assert answer["plain"]["seeds"] == 1  # the confirm run's plain twin: a reference point
    assert answer["teacher"]["score"] > 0 and answer["teacher"]["p50_ms"] > 0
    assert answer["sentence"] in res.stdout and "% of the teacher" in answer["sentence"]
    assert "Pareto front" in res.stdout


@pytest.mark.slow  # a real search: about 3 minutes for the file on 2 cores
def test_trials_compete_on_their_dev_score_and_the_winner_is_announced_on_test(searched):
    """The study is told each trial's DEV score (the test rows never choose a trial); the
    front and the winner stand on those, and the announced seed figures are test scores."""
    home, res, answer = searched
    store = Store(home)
    search = store.run(answer["run_id"])
    assert search["config"]["autodistill_compared_on"] == "dev" == answer["compared_on"]
    told = {t["run"]: t["values"] for t in search["config"]["autodistill_told"]}
    trials = [r for r in answer["trials"] if "score" in r]
    assert len(told) == len(trials) == 3
    for r in trials:  # what the study compared: the student's dev accuracy, read from the store
        row = next(x for x in store.results(r["run"]) if x["model"] == f"{r['method']}_distilled")
        assert row["detail"]["dev_rows"] == answer["dev_rows"] > 0
        assert told[r["run"]] == [row["detail"]["dev_accuracy"], deployed_p50(row)]
        assert r["score"] == row["detail"]["dev_accuracy"] and r["test_score"] == row["accuracy"]
    w = answer["winner"]
    assert w["score"] == max(r["score"] for r in trials if r["p50_ms"] <= 500)  # dev decides
    assert w["seeds"][0]["score"] == w["test_score"]  # the trial's test score is seed one
    confirm = store.run(w["seeds"][1]["run"])
    row = next(x for x in store.results(confirm["id"]) if x["model"] == f"{w['method']}_distilled")
    assert w["seeds"][1]["score"] == row["accuracy"]
    assert abs(w["mean"] - (w["seeds"][0]["score"] + row["accuracy"]) / 2) < 1e-9
    assert f"picked on the dev set ({answer['dev_rows']} rows)" in answer["sentence"]
    assert "trials compared on the dev set" in res.stdout


@pytest.mark.slow  # a real search: about 3 minutes for the file on 2 cores
def test_trials_reuse_the_teacher_runs_timing(searched):
    """The teacher is timed once, by the search's teacher run: every trial copies its figures
    (PyTorch and ONNX p50) instead of timing and exporting the same teacher again."""
    home, _, answer = searched
    store = Store(home)
    teacher_run = store.runs(parent=answer["run_id"], kind="teacher")[0]["id"]
    timed = next(r for r in store.results(teacher_run) if r["model"] == "teacher")["detail"]
    assert timed["onnx_latency_ms_p50"] > 0 and "timing_from_run" not in timed
    for child in store.runs(parent=answer["run_id"], kind="distill"):
        assert child["config"]["teacher_timing_run"] == teacher_run
        t = next(r for r in store.results(child["id"]) if r["model"] == "teacher")["detail"]
        assert t["timing_from_run"] == teacher_run
        for key in ("latency_ms_p50", "onnx_latency_ms_p50", "onnx_export_s", "throughput"):
            assert t[key] == timed[key]
    assert answer["teacher"]["p50_ms"] == timed["onnx_latency_ms_p50"]


def _predict_py(folder, *texts: str) -> list[dict]:
    run = "import runpy, sys; sys.modules['core'] = None; sys.argv = sys.argv[1:]; "
    run += "runpy.run_path(sys.argv[0], run_name='__main__')"
    r = subprocess.run(
        [sys.executable, "-c", run, str(folder / "predict.py"), "--json", *texts],
        capture_output=True,
        text=True,
        cwd=folder.parent,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


@pytest.mark.slow  # a real search: about 3 minutes for the file on 2 cores
def test_exported_winner_predicts_like_distillery(searched, cli):
    home, res, answer = searched
    w = answer["winner"]
    folder = home / "winner"
    assert (folder / "model.onnx").is_file() and (folder / "predict.py").is_file()
    ours = cli(
        "predict",
        "--run",
        str(w["run"]),
        "--model",
        f"{w['method']}_distilled",
        "--json",
        *TEXTS,
        home=home,
    )
    assert ours.returncode == 0, ours.stderr[-2000:]
    ours = json.loads(ours.stdout)
    theirs = _predict_py(folder, *TEXTS)
    assert [r["label"] for r in theirs] == [r["label"] for r in ours]
    for a, b in zip(ours, theirs, strict=True):
        for k, p in a["probabilities"].items():
            assert abs(b["probabilities"][k] - p) < 1e-3


@pytest.mark.slow  # a real search: about 3 minutes for the file on 2 cores
def test_a_trial_over_budget_never_trains(searched, tiny_data, tiny_teacher_dir):
    """A budget nothing can meet: every trial is pruned on its untrained student's latency,
    so the store holds no trial run, no result and no artifact of one. (Its data have no dev
    set: the search says, and records, that it would compare trials on the test set.)"""
    home, _, _ = searched
    store = Store(home)
    teacher = store.runs(kind="teacher")[-1]["id"]
    before = {r["id"] for r in store.runs()}
    res = run_cli(
        "autodistill",
        "--teacher-run",
        str(teacher),
        "--methods",
        "textcnn_char",
        "kd",
        "--trials",
        "1",
        "--budget-ms",
        "0.01",
        "--dev-fraction",
        "0",
        *_flags(tiny_data, tiny_teacher_dir),
        home=home,
        timeout=600,
    )
    assert res.returncode == 1 and "no student met 0.01 ms" in res.stderr, res.stderr[-3000:]
    # no dev set: the search says it compares on the test set, and records it
    assert "trials compared on the TEST set: the data have no dev set" in res.stderr
    search = next(r for r in store.runs(kind="autodistill") if r["id"] not in before)
    assert store.runs(parent=search["id"]) == []  # no trial ever went to the queue
    new = [r for r in store.runs() if r["id"] not in before]
    assert [r["id"] for r in new] == [search["id"]]
    assert store.results(search["id"]) == [] and store.artifacts(search["id"]) == []
    assert search["config"]["autodistill_compared_on"] == "test"
    pruned = search["config"]["autodistill_pruned"]
    assert len(pruned) >= 2 and all(p["probe_ms"] > 0.01 * 3.0 for p in pruned)
    assert {p["params"]["method"] for p in pruned} <= {"textcnn_char", "kd"}
    for p in pruned:  # a character student was timed as deployed, a transformer was not
        assert (p["probe_deployed_ms"] is None) == (p["params"]["method"] == "kd")
    rows = trial_rows(store, search)
    assert all(r["status"] == "pruned" and r["run"] is None for r in rows)


@pytest.mark.slow  # a real search: about 3 minutes for the file on 2 cores
def test_a_killed_search_resumes_without_repeating_finished_trials(
    searched, tiny_data, tiny_teacher_dir
):
    home, _, _ = searched
    store = Store(home)
    teacher = store.runs(kind="teacher")[-1]["id"]
    before = {r["id"] for r in store.runs()}
    args = [
        "autodistill",
        "--teacher-run",
        str(teacher),
        "--methods",
        "textcnn_char",
        "bilstm_char",
        "--trials",
        "3",
        "--budget-ms",
        "500",
        "--confirm-seeds",
        "1",
        "--no-onnx-latency",
        *_flags(tiny_data, tiny_teacher_dir),
        "--home",
        str(home),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        search = wait_for(
            lambda: next(
                (r for r in store.runs(kind="autodistill") if r["id"] not in before), None
            ),
            "the search run",
        )
        sid = search["id"]
        first = wait_for(
            lambda: [r for r in store.runs(parent=sid) if r["status"] == "done"],
            "a finished trial",
            limit_s=300,
        )
    finally:
        proc.kill()  # as a crash or `kill -9`: no cancel, no final status
        proc.wait()
    assert store.run(sid)["status"] == "running"
    store.mark_interrupted()
    assert store.run(sid)["status"] == "interrupted"
    done_before = {r["id"]: r["config"]["auto_trial"]["number"] for r in first}
    res = run_cli("autodistill", "--resume", str(sid), "-q", home=home, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    assert store.run(sid)["status"] == "done"
    trials = [r for r in store.runs(parent=sid) if r["config"]["auto_trial"]["role"] == "trial"]
    numbers = [r["config"]["auto_trial"]["number"] for r in trials]
    assert len(numbers) == len(set(numbers))  # no trial number run twice
    assert len([r for r in trials if r["status"] == "done"]) == 3
    for rid, number in done_before.items():  # the finished ones were kept, not re-run
        assert store.run(rid)["status"] == "done"
        assert [r["id"] for r in trials if r["config"]["auto_trial"]["number"] == number] == [rid]
    assert "winner:" in res.stdout


# -- the Train page's tab -------------------------------------------------------------------------
def _train_page():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / "pages/train.py"), default_timeout=120)


@pytest.mark.slow  # a real search: about 3 minutes for the file on 2 cores
def test_train_tab_shows_the_answer_and_exports_the_winner(searched, monkeypatch, tmp_path):
    home, _, answer = searched
    monkeypatch.setenv("DISTILLERY_HOME", str(home))
    at = _train_page().run()
    assert not at.exception, at.exception
    sid = answer["run_id"]
    at.selectbox(key="auto-pick").select(sid).run()
    assert answer["sentence"] in [s.value for s in at.success]
    front = next(d.value for d in at.dataframe if "student" in d.value.columns)
    assert list(front["student"])[: len(answer["front"])] == [
        r["description"] for r in answer["front"]
    ]
    assert "teacher (reference)" in list(front["student"])
    out = tmp_path / "exported"
    at.text_input(key="auto-export-dir").input(str(out)).run()
    at.button(key="auto-export").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert (out / "model.onnx").is_file() and (out / "predict.py").is_file()
    assert any(str(out) in s.value for s in at.success)


@pytest.mark.slow  # a real search: about 3 minutes for the file on 2 cores
def test_train_tab_queues_a_search_on_an_earlier_teacher(searched, monkeypatch):
    home, _, _ = searched
    monkeypatch.setenv("DISTILLERY_HOME", str(home))
    store = Store(home)
    before = {r["id"] for r in store.runs()}
    teacher = store.runs(kind="teacher")[-1]["id"]
    at = _train_page().run()
    at.selectbox(key="auto-teacher-run").select(teacher).run()
    at.number_input(key="auto-budget").set_value(0.5)
    at.number_input(key="auto-trials").set_value(4)
    at.multiselect(key="auto-methods").set_value(["textcnn_char", "tinybert"])
    at.button(key="go-auto").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    new = [r for r in store.runs() if r["id"] not in before]
    assert len(new) == 1 and new[0]["kind"] == "autodistill"
    auto = new[0]["config"]["autodistill"]
    assert auto["budget_ms"] == 0.5 and auto["trials"] == 4
    assert auto["methods"] == ["textcnn_char", "tinybert"]
    assert new[0]["config"]["teacher_run"] == teacher
    store.request_cancel(new[0]["id"])  # cancelled as a whole: the search and its trials
    deadline = time.time() + 180
    while store.run(new[0]["id"])["status"] not in ("cancelled", "done", "failed"):
        assert time.time() < deadline, "the search did not stop"
        time.sleep(0.5)
    assert store.run(new[0]["id"])["status"] == "cancelled"
    for child in store.runs(parent=new[0]["id"]):
        wait_for(lambda c=child: store.run(c["id"])["status"] != "running", "a trial to stop")
        assert store.run(child["id"])["status"] in ("cancelled", "done")
