"""Imbalanced labels and pairs that learn (issue #22, point 2): the `auto` selection metric, the
class-weighted cross-entropy, and the teacher ensemble, each with real tiny models."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import fast_transformer_students, run_cli, tiny_run_flags
from streamlit.testing.v1 import AppTest
from torch import nn

from core.config import DataConfig
from core.data.bundle import load_bundle
from core.methods._transformer import ce_term, kd_terms
from core.methods._word_fit import distill_loss
from core.runs.context import RunContext
from core.runs.execute import execute
from core.runs.store import Store
from core.teacher.ensemble import EnsembleTeacher, load_any_teacher, member_models
from core.teacher.logits import cache_key
from core.teacher.model import load_teacher
from core.train.balance import class_weights, gold_ce
from core.train.loop import fit
from core.train.select import imbalanced, resolve_metric, score
from core.train.stage import DevCheck, OptimSettings, Stage

ROOT = Path(__file__).resolve().parent.parent


# -- auto ------------------------------------------------------------------------------------------
def test_auto_is_macro_f1_on_imbalanced_labels_and_accuracy_on_balanced_ones():
    assert resolve_metric("auto", [0] * 69 + [1] * 31) == "macro_f1"  # AFQMC's 69/31
    assert resolve_metric("auto", [0] * 50 + [1] * 50) == "accuracy"
    assert resolve_metric("auto", [0] * 59 + [1] * 41) == "accuracy"  # under 1.5x
    assert resolve_metric("auto", [0] * 60 + [1] * 40) == "macro_f1"  # 1.5x: a 40% minority
    assert resolve_metric("auto", [0, 0, 1, 1, -1, -1, -1]) == "accuracy"  # unlabelled skipped
    assert resolve_metric("auto", [0, 0, 1, 1], num_labels=3) == "macro_f1"  # a class with none
    assert resolve_metric("accuracy", [0] * 9 + [1]) == "accuracy"  # an explicit choice stays
    with pytest.raises(ValueError, match="unknown dev metric"):
        resolve_metric("auc", [0, 1])


def test_the_embedded_default_data_is_balanced_so_auto_keeps_accuracy():
    """The golden figures' runs use balanced data: `auto` must not move them."""
    bundle = load_bundle(DataConfig())
    assert not imbalanced(bundle.train.labels, len(bundle.label_names))
    assert resolve_metric("auto", bundle.train.labels) == "accuracy"


# -- selection on macro-F1 picks a minority-aware epoch --------------------------------------------
def _selected_model(metric: str) -> tuple[nn.Linear, list[tuple[float, float]]]:
    """A 1-feature linear classifier trained 8 full-batch epochs (class-weighted CE) on 85
    majority rows (60 at x=-1, 25 at x=+1) and 20 minority rows (x=+1); dev = train. It starts
    predicting the majority everywhere (accuracy 0.81, macro-F1 0.45) and after a few epochs
    predicts the minority at x=+1 (accuracy 0.76, macro-F1 0.72)."""
    x = torch.tensor([[-1.0]] * 60 + [[1.0]] * 45)
    y = torch.tensor([0] * 85 + [1] * 20)
    model = nn.Linear(1, 2)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([0.5, -0.5]))
    w = class_weights(y.tolist(), 2, "balanced")
    seen: list[tuple[float, float]] = []

    def predict() -> torch.Tensor:
        p = model(x).argmax(-1).tolist()
        seen.append((score("accuracy", p, y.tolist(), 2), score("macro_f1", p, y.tolist(), 2)))
        return p

    stage = Stage(
        "s", model, list(model.parameters()),
        lambda i, progress: {"ce": gold_ce(model(x[i]), y[i], w)},
        [1] * 105, 105, 8, OptimSettings(lr=0.05, optimiser="adam"),
        dev=DevCheck(predict, y.tolist(), 2, metric),
    )  # fmt: skip
    fit([stage], random.Random(0))
    return model, seen


def test_macro_f1_selection_keeps_a_minority_aware_epoch_where_accuracy_keeps_the_majority():
    by_acc, seen = _selected_model("accuracy")
    by_f1, seen_f1 = _selected_model("macro_f1")
    assert seen == seen_f1  # the same training; only the kept epoch differs
    assert seen[0][1] < 0.5 and seen[-1][1] > 0.7 and seen[-1][0] < seen[0][0]
    x = torch.tensor([[-1.0], [1.0]])
    assert by_acc(x).argmax(-1).tolist() == [0, 0]  # accuracy kept "always the majority"
    assert by_f1(x).argmax(-1).tolist() == [0, 1]  # macro-F1 kept the epoch that finds class 1


# -- class weights ----------------------------------------------------------------------------------
def test_balanced_class_weights_are_inverse_frequency_averaging_one_over_the_rows():
    labels = [0, 0, 0, 1, -1]  # the unlabelled row does not count
    w = class_weights(labels, 2, "balanced")
    assert w.tolist() == pytest.approx([4 / 6, 2.0])
    assert (3 * w[0] + w[1]).item() / 4 == pytest.approx(1.0)
    assert class_weights(labels, 2, "none") is None
    with pytest.raises(ValueError, match="class_weights"):
        class_weights(labels, 2, "inverse")


def test_class_weights_scale_each_gold_rows_cross_entropy_by_its_class():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 2), torch.tensor([0, 0, 0, 0, 1, 1])
    w = class_weights(y.tolist(), 2, "balanced")
    per_row = F.cross_entropy(logits, y, reduction="none")
    assert torch.equal(gold_ce(logits, y), F.cross_entropy(logits, y))  # none: torch's own
    assert gold_ce(logits, y, w).item() == pytest.approx((per_row * w[y]).mean().item())
    # a minority row's error costs more than a majority row's: 2x the rows, 2x the weight
    assert w[1] / w[0] == pytest.approx(2.0)
    # every stage's label term follows: the word students' and the transformer students'
    labels = torch.tensor([0, 0, 0, 0, 1, -1])
    t_logits = torch.randn(6, 2)
    gold = labels >= 0
    hard = F.cross_entropy(logits[gold], labels[gold], reduction="none") * w[labels[gold]]
    assert distill_loss(logits, None, labels, "hard", class_w=w).item() == pytest.approx(
        hard.mean().item()
    )
    assert ce_term(logits, labels, w)["ce"].item() == pytest.approx(hard.mean().item())
    mixed = distill_loss(logits, t_logits, labels, "mse", 0.5, class_w=w)
    plain = distill_loss(logits, t_logits, labels, "mse", 0.5)
    assert mixed.item() != pytest.approx(plain.item())
    kd_w = kd_terms(logits, t_logits, labels, 0.5, 2.0, class_w=w)
    kd = kd_terms(logits, t_logits, labels, 0.5, 2.0)
    assert kd_w["kd"].item() == pytest.approx(kd["kd"].item())  # the teacher's term unweighted
    assert kd_w["ce"].item() != pytest.approx(kd["ce"].item())


# -- an imbalanced run with a teacher ensemble, end to end ------------------------------------------
@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory, tiny_cfg, tiny_data, second_tiny_teacher_dir):
    """A real pipeline on 80/30 training rows (imbalanced): a two-member ensemble of tiny
    teachers, class weights on, a word student and Vanilla KD (the first member's layers)."""
    folder = tmp_path_factory.mktemp("imbalanced")
    rows = [r for r in tiny_data.train_rows if r[0] == 0] + [
        r for r in tiny_data.train_rows if r[0] == 1
    ][:30]
    train = folder / "train.tsv"
    train.write_text("".join(f"{y}\t{t}\n" for y, t in rows), encoding="utf-8")
    cfg = tiny_cfg(n_iter=1, onnx_latency=False, use_augmentation=False)
    cfg.data = dataclasses.replace(cfg.data, train=str(train))
    cfg.teacher = dataclasses.replace(
        cfg.teacher, members=str(second_tiny_teacher_dir), class_weights="balanced"
    )
    word = dataclasses.replace(cfg.students[0], class_weights="balanced")
    cfg.students = [word, *fast_transformer_students(names=("kd",))]
    home = tmp_path_factory.mktemp("ens") / "home"
    store = Store(home)
    rid = store.create_run("pipeline", dataclasses.asdict(cfg))
    execute(store, rid, "pipeline", cfg, RunContext(store, rid))
    run = store.run(rid)
    assert run["status"] == "done", run["error"]
    return {"home": home, "store": store, "rid": rid, "cfg": cfg, "tiny": tiny_data}


def test_auto_resolves_once_and_is_recorded_with_every_model(ensemble_run):
    store, rid = ensemble_run["store"], ensemble_run["rid"]
    sel = store.run(rid)["data"]["selection"]
    assert sel == {
        "auto": "macro_f1",
        "teacher": "macro_f1",
        "imbalanced": True,
        "class_counts": [72, 27],  # 80/30 less the stratified dev rows
    }
    saved = store.run(rid)["config"]
    assert saved["teacher"]["select_metric"] == "auto"  # what was asked stays in the config
    rows = {r["model"]: r["detail"] for r in store.results(rid)}
    assert set(rows) == {
        "teacher", "bilstm_plain", "bilstm_distilled", "kd_plain", "kd_distilled"
    }  # fmt: skip
    assert {d["select_metric"] for d in rows.values()} == {"macro_f1"}
    assert rows["teacher"]["class_weights"] == "balanced"
    assert rows["bilstm_distilled"]["class_weights"] == "balanced"
    assert rows["kd_distilled"]["class_weights"] == "none"
    meta = json.loads((store.run_dir(rid) / "teacher" / "distillery.json").read_text())
    assert meta["select_metric"] == "macro_f1" and "dev_macro_f1" in meta


def test_the_ensembles_logits_are_the_mean_of_its_members(ensemble_run, second_tiny_teacher_dir):
    store, rid, cfg = ensemble_run["store"], ensemble_run["rid"], ensemble_run["cfg"]
    folder = store.run_dir(rid)
    ens = load_any_teacher(folder / "teacher", "cpu")
    assert isinstance(ens, EnsembleTeacher)
    assert ens.sources == [cfg.teacher.model, str(second_tiny_teacher_dir)]
    a, b = load_teacher(folder / "teacher", "cpu"), load_teacher(folder / "teacher_2", "cpu")
    assert a.fingerprint != b.fingerprint  # two teachers, each fine-tuned
    texts = [t for _, t in ensemble_run["tiny"].test_rows]
    mean = (a.logits(texts) + b.logits(texts)) / 2
    assert torch.allclose(ens.logits(texts), mean, atol=1e-6)
    assert torch.allclose(ens.predict_one(texts[0]), mean[0], atol=1e-5)
    # scored as the teacher: the accuracy of the averaged logits
    row = next(r for r in store.results(rid) if r["model"] == "teacher")
    gold = [y for y, _ in ensemble_run["tiny"].test_rows]
    acc = sum(int(p == g) for p, g in zip(mean.argmax(-1).tolist(), gold, strict=True)) / len(gold)
    assert row["accuracy"] == pytest.approx(acc)
    assert row["params"] == a.num_params() + b.num_params()
    assert row["detail"]["members"] == ens.sources
    # the label cache is keyed by the member set, not by the first member
    assert cache_key(ens, texts) != cache_key(a, texts)
    assert {x["name"] for x in store.artifacts(rid)} >= {"teacher", "teacher_2"}


def test_a_member_named_twice_or_an_ensemble_with_target_domains_is_refused(
    tmp_path, tiny_data, tiny_teacher_dir, second_tiny_teacher_dir
):
    with pytest.raises(ValueError, match="twice"):
        member_models("m3e-small", "multilingual-e5-small, m3e-small")
    home = tmp_path / "home"
    flags = [*tiny_run_flags(tiny_data, tiny_teacher_dir), "--teacher-members"]
    res = run_cli("pipeline", *flags, str(second_tiny_teacher_dir), "--target-domain", "a",
                  home=home)  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "--teacher-members" in res.stderr and "--target-domain" in res.stderr
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_reusing_an_ensemble_reuses_every_member(ensemble_run, tiny_data):
    """A distill run from the ensemble's run (the CLI copies its teacher config, members too)
    labels with the whole ensemble again: the same teacher figures."""
    store, rid = ensemble_run["store"], ensemble_run["rid"]
    cfg = dataclasses.replace(ensemble_run["cfg"], teacher_run=rid, students=[])
    again = store.create_run("distill", dataclasses.asdict(cfg))
    execute(store, again, "distill", cfg, RunContext(store, again))
    assert store.run(again)["status"] == "done", store.run(again)["error"]
    first = next(r for r in store.results(rid) if r["model"] == "teacher")
    second = next(r for r in store.results(again) if r["model"] == "teacher")
    assert second["accuracy"] == first["accuracy"]
    assert second["detail"]["members"] == first["detail"]["members"]


def test_runs_page_and_report_name_the_selection_metric_and_the_members(ensemble_run, monkeypatch):
    monkeypatch.setenv("DISTILLERY_HOME", str(ensemble_run["home"]))
    at = AppTest.from_file(str(ROOT / "pages/runs.py"), default_timeout=60).run()
    assert not at.exception
    results = next(
        d.value for d in at.dataframe if "selected on" in getattr(d.value, "columns", [])
    )
    assert set(results["selected on"]) == {"macro_f1"}
    runs = next(d.value for d in at.dataframe if "teacher acc" in getattr(d.value, "columns", []))
    assert any(str(t).startswith("ensemble: ") for t in runs["teacher"])
    at = AppTest.from_file(str(ROOT / "pages/report.py"), default_timeout=60).run()
    assert not at.exception
    md = "\n".join(m.value for m in at.markdown)
    assert "an ensemble of" in md and str(ensemble_run["cfg"].teacher.members) in md
    assert "picked on macro-F1 (auto: the training labels are imbalanced, 72/27" in md
