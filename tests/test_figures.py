"""Figures that can be trusted: fair plain baselines, identical results for identical seeds
(alone, side by side, or next to another run), and teachers that cannot leak test texts."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.config import AugmentConfig
from core.data.augment import augment
from core.data.load import load_labelled
from core.runs.context import RunContext
from core.runs.execute import execute
from core.runs.store import Store
from core.teacher.model import load_teacher

ROOT = Path(__file__).resolve().parent.parent
STUDENTS = ("bilstm_plain", "bilstm_distilled", "textcnn_plain", "textcnn_distilled")
# the CLI's default students: the character ones
CLI_STUDENTS = tuple(s.replace("_", "_char_", 1) for s in STUDENTS)


def _execute(home: Path, kind: str, cfg) -> tuple[int, dict]:
    store = Store(home)
    run_id = store.create_run(kind, dataclasses.asdict(cfg))
    execute(store, run_id, kind, cfg, RunContext(store, run_id))
    run = store.run(run_id)
    assert run["status"] == "done", run["error"]
    return run_id, json.loads((store.run_dir(run_id) / "results.json").read_text())


def _curves(home: Path, run_id: int) -> dict[str, list[tuple[int, float]]]:
    """Every student's loss and dev-accuracy series, as (step, value) lists."""
    out: dict[str, list[tuple[int, float]]] = {}
    for row in Store(home).metrics(run_id):
        if row["series"].split("/")[0] in STUDENTS:
            out.setdefault(row["series"], []).append((row["step"], row["value"]))
    return out


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory, tiny_cfg):
    """A teacher fine-tuned once on the tiny data, reused by the distill runs below."""
    home = tmp_path_factory.mktemp("figures_home")
    run_id, _ = _execute(home, "teacher", tiny_cfg(teacher_epochs=1))
    return home, run_id


def test_plain_twins_get_their_own_smaller_vocabulary(teacher_run, tiny_cfg, tiny_data):
    home, tid = teacher_run
    _, summary = _execute(home, "distill", tiny_cfg(teacher_run=tid, n_iter=2))
    models = summary["models"]
    n_train = summary["data"]["train"]
    for arch in ("bilstm", "textcnn"):
        plain, dist = models[f"{arch}_plain"], models[f"{arch}_distilled"]
        assert plain["train_texts"] == n_train
        n_aug = summary["data"]["augmented"]
        assert dist["train_texts"] == n_train + summary["data"]["transfer"] + n_aug
        assert 2 < plain["vocab_size"] < dist["vocab_size"]
    # the plain twin's vocabulary holds exactly the words of the gold training texts
    from core.data.text import detect_lang, tokenize

    train = load_labelled(tiny_data.train)
    folder = home / "runs" / str(summary["run_id"]) / "students" / "bilstm_plain"
    itos = json.loads((folder / "vocab.json").read_text())["itos"]
    lang = detect_lang(train.texts)
    words = {w for t in train.texts for w in tokenize(t, lang, 40)}
    # a subset: a dev split may have been carved from the training file
    assert set(itos[2:]) <= words
    assert len(itos) == models["bilstm_plain"]["vocab_size"]


def test_same_seed_same_figures_alone_side_by_side_and_concurrently(teacher_run, tiny_cfg):
    """One config three ways: students one after another; side by side; and two runs at once
    in two threads of this process. Accuracies and every loss curve must be identical."""
    home, tid = teacher_run
    cfg = tiny_cfg(teacher_run=tid, n_iter=1, student_epochs=2)
    one_by_one = dataclasses.replace(cfg, student_workers=1)
    rid_a, a = _execute(home, "distill", one_by_one)
    results: dict[str, tuple[int, dict]] = {}

    def go(key: str) -> None:
        results[key] = _execute(home, "distill", cfg)

    threads = [threading.Thread(target=go, args=(k,)) for k in ("b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    (rid_b, b), (rid_c, c) = results["b"], results["c"]
    for name in STUDENTS:
        accs = {a["models"][name]["accuracy"], b["models"][name]["accuracy"]}
        accs.add(c["models"][name]["accuracy"])
        assert len(accs) == 1, (name, accs)
        assert a["models"][name]["f1"] == b["models"][name]["f1"] == c["models"][name]["f1"]
    curves = _curves(home, rid_a)
    assert any(k.endswith("/loss") for k in curves) and len(curves) >= 4
    assert _curves(home, rid_b) == curves
    assert _curves(home, rid_c) == curves
    # a different seed gives different curves: the comparison above can fail
    other = dataclasses.replace(
        cfg, students=[dataclasses.replace(s, seed=s.seed + 1) for s in cfg.students]
    )
    rid_d, _ = _execute(home, "distill", other)
    assert _curves(home, rid_d) != curves


def _cli_pipeline(home: Path, tiny_data, tiny_teacher_dir, out: Path) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    args = [
        sys.executable, "-m", "core", "pipeline",
        "--train", str(tiny_data.train), "--test", str(tiny_data.test),
        "--transfer", str(tiny_data.transfer), "--max-transfer", "200",
        "--teacher", str(tiny_teacher_dir), "--teacher-epochs", "1",
        "--teacher-max-length", "32", "--student-epochs", "1", "--augment-iters", "1",
        "--latency-samples", "5", "--home", str(home), "--json", str(out), "-q",
    ]  # fmt: skip
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow  # kept out of the default suite's 15 minutes; CI runs it with -m slow
def test_two_cli_pipelines_at_once_give_identical_figures(tmp_path, tiny_data, tiny_teacher_dir):
    """Teacher fine-tuning included: two processes with the same config and seed, run at the
    same time (each with its own home, so neither reuses the other's cached labels)."""
    procs = []
    for k in ("x", "y"):
        out = tmp_path / f"{k}.json"
        procs.append((out, _cli_pipeline(tmp_path / k, tiny_data, tiny_teacher_dir, out)))
    summaries = []
    for out, p in procs:
        _, err = p.communicate(timeout=400)
        assert p.returncode == 0, err.decode()[-2000:]
        summaries.append(json.loads(out.read_text()))
    x, y = summaries
    assert set(x["models"]) == {"teacher", *CLI_STUDENTS}
    for name in x["models"]:
        assert x["models"][name]["accuracy"] == y["models"][name]["accuracy"], name
        assert x["models"][name]["confusion"] == y["models"][name]["confusion"], name
        if name != "teacher":
            assert x["models"][name]["vocab_size"] == y["models"][name]["vocab_size"]
    assert _curves(tmp_path / "x", x["run_id"]) == _curves(tmp_path / "y", y["run_id"])


def test_reused_teacher_that_saw_every_test_text_is_refused(teacher_run, tiny_cfg, tiny_data):
    home, tid = teacher_run
    teacher_dir = home / "runs" / str(tid) / "teacher"
    prov = json.loads((teacher_dir / "provenance.json").read_text())
    assert len(prov["train"]) > 0
    # scoring on the teacher's own training file: every test text was seen (by the teacher,
    # not by this run, which trains on the tiny test file): all dropped, none left
    cfg = tiny_cfg(teacher_run=tid)
    data = dataclasses.replace(cfg.data, train=str(tiny_data.test), test=str(tiny_data.train))
    cfg = dataclasses.replace(cfg, data=data)
    store = Store(home)
    rid = store.create_run("distill", dataclasses.asdict(cfg))
    execute(store, rid, "distill", cfg, RunContext(store, rid))
    run = store.run(rid)
    assert run["status"] == "failed"
    assert "DataError" in run["error"]
    assert "test split (after dropping 160 rows the teacher saw) is empty" in run["error"]
    assert not store.results(rid)  # nothing was scored


def test_augmented_texts_equal_to_test_texts_are_dropped(
    teacher_run, tiny_cfg, tiny_data, tmp_path
):
    """Put some of the exact sentences augmentation will produce into the test file: the run
    drops them from the transfer set and says how many."""
    home, tid = teacher_run
    cfg = tiny_cfg(teacher_run=tid, n_iter=2, plain_baseline=False)
    from core.data.bundle import load_bundle

    bundle = load_bundle(cfg.data)
    mask = load_teacher(home / "runs" / str(tid) / "teacher").tokenizer.mask_token
    aug = augment(bundle.train.texts, AugmentConfig(**dataclasses.asdict(cfg.augment)), mask)
    leaked = [t for t in aug if "\t" not in t][:7]
    test = tmp_path / "test_with_augmented.tsv"
    rows = tiny_data.test.read_text(encoding="utf-8")
    test.write_text(rows + "".join(f"{i % 2}\t{t}\n" for i, t in enumerate(leaked)), "utf-8")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, test=str(test)))
    _, summary = _execute(home, "distill", cfg)
    assert summary["data"]["augmented_dropped_overlap"] == len(leaked)
    assert summary["data"]["augmented"] == len(aug) - len(leaked)
