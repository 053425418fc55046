"""The student-method registry and every transformer method, trained for real on a tiny teacher.

Nothing of `core` is faked: a tiny BERT teacher is trained here by hand, each method trains a
real student through `core.methods`, a real pipeline runs every method into a real store, and
the CLI runs as a subprocess. The only stand-in is `Recorder`, a progress sink for `ctx`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import (
    fast_char_students,
    fast_transformer_students,
    fine_tuned_deep_bert,
    shared_inputs,
)

from core import methods
from core.cli.main import build_parser, config_from_args
from core.config import to_dict
from core.methods import pkd, theseus
from core.methods._base import Shared, StudentJob
from core.methods._tf_fit import PLAIN_MAX_EPOCHS, plain_epochs, rows_for
from core.runs.config import PipelineConfig, pipeline_from_dict
from core.runs.context import RunContext
from core.runs.execute import execute
from core.runs.plans import preflight
from core.runs.store import Store
from core.teacher.model import Teacher
from core.train.batches import count_steps

TRANSFORMERS = ("kd", "pkd_skip", "pkd_last", "theseus", "tinybert", "newsbert")
WORD = ("bilstm", "textcnn")
CHAR = ("bilstm_char", "textcnn_char")
# the loss terms each method logs next to their sum ("loss")
TERMS = {
    "kd": {"kd", "ce"},
    "pkd_skip": {"kd", "ce", "hidden"},
    "pkd_last": {"kd", "ce", "hidden"},
    "theseus": {"ce"},
    "tinybert": {"embedding", "attention", "hidden", "kd"},
    "newsbert": {"teacher_ce", "hidden", "kd", "ce"},
}
# the terms that must fall as the student trains: what the method distils. (PKD and KD also mix
# in (1−alpha)·CE on the gold rows, which may trade off against the teacher's soft labels; the
# attention maps of two tiny BERTs differ by ~1e-4 from the start.)
DOWN = {
    "kd": {"kd"},
    "pkd_skip": {"kd", "hidden"},
    "pkd_last": {"kd", "hidden"},
    "theseus": {"ce"},
    "tinybert": {"embedding", "hidden", "kd"},
    "newsbert": {"hidden", "teacher_ce"},
}
STAGES = {
    "kd": {"kd"},
    "pkd_skip": {"pkd"},
    "pkd_last": {"pkd"},
    "theseus": {"replace", "successor"},
    "tinybert": {"intermediate", "prediction"},
    "newsbert": {"joint"},
}
ROW_FIELDS = ("accuracy", "f1", "params", "latency_ms_p50")
LABELS = ["neg", "pos"]
ROOT = Path(__file__).resolve().parent.parent


class Recorder:
    """What `fit` needs of a run context: every logged point, by series."""

    def __init__(self) -> None:
        self.series: dict[str, list[tuple[int, float]]] = {}
        self.steps = 0

    def log_point(self, series: str, step: int, value: float) -> None:
        self.series.setdefault(series, []).append((step, value))

    def step(self, n: int = 1, loss: float | None = None, series: str | None = None) -> None:
        self.steps += n

    def terms(self, job_name: str) -> dict[str, list[float]]:
        prefix = f"{job_name}/"
        return {
            k[len(prefix) :]: [v for _, v in pts]
            for k, pts in self.series.items()
            if k.startswith(prefix)
        }


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _goes_down(values: list[float]) -> bool:
    """The mean of the last quarter of a curve is below that of its first quarter."""
    q = max(2, len(values) // 4)
    return _mean(values[-q:]) < _mean(values[:q])


# -- a teacher deep enough for every method --------------------------------------------------


@pytest.fixture(scope="module")
def deep_teacher_dir(tmp_path_factory, tiny_teacher_dir, tiny_data) -> Path:
    """A 4-layer, 32-wide BERT with the tiny teacher's tokenizer, fine-tuned here for a few
    epochs on the tiny training rows. Four layers give a half-depth student one matched
    intermediate layer (PKD: k−1 of them); a wide initialisation (0.3) makes its upper layers
    matter, so a student cut from its bottom half starts measurably off the teacher and its
    loss has somewhere to go."""
    tok, model = fine_tuned_deep_bert(tiny_teacher_dir, tiny_data.train_rows, 4, 0.3)
    out = tmp_path_factory.mktemp("deep_teacher")
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def teacher(deep_teacher_dir) -> Teacher:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(deep_teacher_dir)
    model = AutoModelForSequenceClassification.from_pretrained(deep_teacher_dir).eval()
    return Teacher(tok, model, 32, torch.device("cpu"), LABELS)


@pytest.fixture(scope="module")
def shared(teacher, tiny_data) -> Shared:
    """160 gold rows, then 100 transfer rows (label -1), every one with the teacher's logits;
    30 test rows as the dev set."""
    return shared_inputs(teacher, tiny_data, LABELS, n_dev=30)


def _cfg(name: str, **kw):
    """Sizes for the tiny teacher: 200 of the 260 rows, batches of 16, a learning rate that
    moves a tiny model in a few epochs."""
    base = dict(epochs=3, batch_size=16, lr=1e-3, max_length=32, max_texts=200, seed=13)
    if name == "tinybert":
        base.update(layers=1, hidden=16, intermediate=32, intermediate_epochs=2)
    return methods.default_config(name, **{**base, **kw})


def _train(name: str, shared: Shared, role: str = "distilled", **kw):
    job = StudentJob(f"{name}_{role}", role, _cfg(name, **kw), methods.get(name))
    ctx = Recorder()
    return job, job.method.train(job, shared, ctx), ctx


@pytest.fixture(scope="module")
def trained(shared) -> dict:
    """Each transformer method's distilled student, trained once for the tests below."""
    return {n: _train(n, shared) for n in TRANSFORMERS}


# -- the registry ------------------------------------------------------------------------------


def test_registry_lists_every_method_word_students_first():
    names = methods.names()
    assert names == [*WORD, *CHAR, *TRANSFORMERS]
    for n in names:
        m = methods.get(n)
        assert m.name == n and m.title and m.summary and m.needs
        assert m.family == ("word" if n in WORD else "char" if n in CHAR else "transformer")
        # word and character students side by side, transformers alone
        assert m.parallel == (n not in TRANSFORMERS)
    assert methods.title("pkd_skip") == "PKD-Skip" and methods.title("nope") == "nope"
    with pytest.raises(ValueError, match="unknown student method 'nope'.*bilstm.*tinybert"):
        methods.get("nope")


def test_register_refuses_a_bad_family_or_a_config_without_arch():
    kd = methods.get("kd")
    with pytest.raises(ValueError, match="family 'rnn'"):
        methods.register(dataclasses.replace(kd, name="broken", family="rnn"))

    @dataclasses.dataclass
    class NoArch:
        epochs: int = 1

    with pytest.raises(TypeError, match="needs a `method` field"):
        methods.register(dataclasses.replace(kd, name="broken", config=NoArch))
    assert "broken" not in methods.names()


@pytest.mark.parametrize("name", [*WORD, *CHAR, *TRANSFORMERS])
def test_config_round_trips_through_a_dict_and_json(name):
    default = methods.default_config(name)
    assert default.method == name
    assert methods.config_from_dict(dataclasses.asdict(default)) == default
    # through JSON (a run's config.json): tuples come back as lists and must be restored
    back = methods.config_from_dict(json.loads(json.dumps(dataclasses.asdict(default))))
    assert back == default and type(back) is methods.get(name).config
    # keys of other versions are dropped
    assert methods.config_from_dict({**dataclasses.asdict(default), "gone": 1}) == default


def test_pipeline_config_with_every_method_round_trips():
    cfg = PipelineConfig(students=[methods.default_config(n) for n in methods.names()])
    back = pipeline_from_dict(json.loads(json.dumps(to_dict(cfg))))
    assert back.students == cfg.students


def test_help_lists_every_method_and_its_flags(cli):
    r = cli("pipeline", "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())  # argparse wraps lines
    for n in methods.names():
        assert n in text, n
    for flag in (
        "--kd-alpha",
        "--kd-temperature",
        "--kd-checkpoint",
        "--tf-layers",
        "--tf-max-texts",
        "--pkd-beta",
        "--theseus-replace-start",
        "--theseus-successor-epochs",
        "--tinybert-layers",
        "--tinybert-hidden",
        "--tinybert-stage1-epochs",
    ):
        assert flag in text, flag
    # a flag shared with different defaults says which default is whose
    assert (
        "Default: 6 for bilstm, textcnn, bilstm_char, textcnn_char; 2 for kd, pkd_skip, "
        "pkd_last, theseus, tinybert" in text
    )


def test_unknown_method_is_refused_by_the_cli(cli, tmp_path):
    r = cli("pipeline", "--students", "bilstm,bert_of_nowhere", home=tmp_path / "home")
    assert r.returncode == 2
    assert "--students" in r.stderr and "'bilstm,bert_of_nowhere'" in r.stderr
    assert "expected a comma list of bilstm, textcnn, bilstm_char, textcnn_char, kd" in r.stderr
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("runs.db"))


def _parse(*args: str) -> PipelineConfig:
    return config_from_args(build_parser().parse_args(["pipeline", *args]))


def test_students_all_expands_to_every_method():
    cfg = _parse("--students", "all")
    assert [s.method for s in cfg.students] == methods.names()
    for s in cfg.students:
        assert type(s) is methods.get(s.method).config
    assert [s.method for s in _parse().students] == list(CHAR)  # the default: characters
    assert [s.method for s in _parse("--students", "tinybert,kd").students] == ["tinybert", "kd"]


def test_shared_flag_keeps_each_methods_default_unless_given():
    absent = _parse("--students", "all")
    for s in absent.students:
        assert s.epochs == methods.default_config(s.method).epochs
        assert s.epochs == (6 if s.method in (*WORD, *CHAR) else 2)
    by = {s.method: s for s in absent.students}
    assert by["kd"].lr == 5e-5 and by["tinybert"].lr == 3e-4  # --tf-lr: its own default each
    given = _parse("--students", "all", "--student-epochs", "3", "--tf-lr", "1e-3")
    assert {s.epochs for s in given.students} == {3}
    assert {s.lr for s in given.students if s.method in TRANSFORMERS} == {1e-3}
    one = _parse("--students", "pkd_last,tinybert", "--tinybert-hidden", "64", "--pkd-beta", "5")
    pkd_last, tiny = one.students
    assert pkd_last.beta == 5.0 and pkd_last.method == "pkd_last" and tiny.hidden == 64


# -- layer maps and row selection --------------------------------------------------------------


def test_pkd_layer_maps():
    assert pkd.layer_map("pkd_skip", 12, 6) == [(1, 2), (2, 4), (3, 6), (4, 8), (5, 10)]
    assert pkd.layer_map("pkd_last", 12, 6) == [(1, 7), (2, 8), (3, 9), (4, 10), (5, 11)]
    assert pkd.layer_map("pkd_skip", 4, 2) == [(1, 2)]
    assert pkd.layer_map("pkd_last", 4, 2) == [(1, 3)]
    assert pkd.layer_map("pkd_skip", 2, 1) == []  # one student layer: the logits alone
    with pytest.raises(ValueError, match="no PKD layer map"):
        pkd.layer_map("kd", 12, 6)


def test_theseus_blocks():
    assert theseus.blocks(12, 6) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
    assert theseus.blocks(4, 3) == [[0, 1], [2], [3]]
    assert theseus.blocks(4, 2) == [[0, 1], [2, 3]]


def _job(name: str, role: str = "distilled", **kw) -> StudentJob:
    return StudentJob(f"{name}_{role}", role, _cfg(name, **kw), methods.get(name))


def test_rows_for_caps_with_max_texts_and_keeps_every_gold_row(shared):
    gold = list(range(shared.n_gold))
    assert len(shared.texts) == 260 and shared.n_gold == 160
    rows = rows_for(_job("kd", max_texts=200), shared)
    assert len(rows) == 200 and rows[:160] == gold
    rest = rows[160:]
    assert rest == sorted(rest) and len(set(rest)) == 40 and min(rest) >= 160
    assert rows_for(_job("kd", max_texts=200), shared) == rows  # seeded
    assert rows_for(_job("kd", max_texts=200, seed=14), shared) != rows
    assert rows_for(_job("kd", max_texts=50), shared) == gold  # a cap below the gold rows
    assert rows_for(_job("kd", max_texts=None), shared) == list(range(260))
    assert rows_for(_job("kd", "plain", max_texts=None), shared) == gold
    assert rows_for(_job("tinybert", max_texts=None), shared, gold_only=True) == gold


# -- each transformer method, trained for real -------------------------------------------------


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_distilled_student_learns_through_its_own_loss_terms(name, trained, shared):
    job, student, ctx = trained[name]
    curves = ctx.terms(job.name)
    logged = set(curves) - {"loss", "dev_accuracy"}
    assert logged == TERMS[name]
    loss = curves["loss"]
    # one point per optimiser step, as many as the method announced for its progress bar
    assert len(loss) == job.method.steps(job, shared) == ctx.steps
    steps = [s for s, _ in ctx.series[f"{job.name}/loss"]]
    assert steps == list(range(1, len(loss) + 1))
    assert all(v >= 0 and v == v for vs in curves.values() for v in vs)
    assert _goes_down(loss), loss
    for term in DOWN[name]:
        assert _goes_down(curves[term]), (term, curves[term])
    # each step's loss is the sum of its terms
    per_step = {t: dict(ctx.series[f"{job.name}/{t}"]) for t in logged}
    for step, total in ctx.series[f"{job.name}/loss"]:
        parts = [pts[step] for pts in per_step.values() if step in pts]
        assert total == pytest.approx(sum(parts), rel=1e-4, abs=1e-6)
    # the last stage keeps its best dev epoch: one dev point per epoch of that stage
    last = job.cfg.successor_epochs if name == "theseus" else job.cfg.epochs
    assert len(curves["dev_accuracy"]) == last


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_student_is_smaller_and_records_where_and_how_it_trained(name, trained, teacher):
    job, student, _ = trained[name]
    assert student.method == name and student.cfg == job.cfg
    assert student.num_params() < teacher.num_params()
    assert student.info["train_device"] == "cpu"
    assert set(student.info["stage_s"]) == STAGES[name]
    assert all(s >= 0 for s in student.info["stage_s"].values())
    # theseus learns from the gold rows through the teacher's modules; tinybert's stage 2 (cached
    # logits only, uncapped by default) from all 260 texts; the others from 200 rows (max_texts)
    assert student.info["train_texts"] == {"theseus": 160, "tinybert": 260}.get(name, 200)
    assert next(student.model.parameters()).device.type == "cpu"
    assert not student.model.training


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_saved_student_loads_with_identical_logits(name, trained, tiny_data, tmp_path):
    job, student, _ = trained[name]
    texts = [t for _, t in tiny_data.test_rows]
    folder = student.save(tmp_path / job.name)
    assert (folder / "model.safetensors").is_file() and not list(tmp_path.glob("*.tmp"))
    assert methods.method_of_folder(folder).name == name
    back = methods.load_student(folder)
    assert back.method == name and back.cfg == job.cfg
    assert back.label_names == LABELS and back.max_length == job.cfg.max_length
    assert back.num_params() == student.num_params()
    assert torch.equal(back.logits(texts), student.logits(texts))
    assert torch.equal(back.predict_logits(texts[0]), student.predict_logits(texts[0]))
    assert torch.allclose(student.predict_logits(texts[0]), student.logits(texts[:1])[0], atol=1e-5)


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_same_seed_same_student(name, trained, shared, tiny_data):
    job, student, ctx = trained[name]
    texts = [t for _, t in tiny_data.test_rows]
    _, again, ctx_again = _train(name, shared)
    assert torch.equal(again.logits(texts), student.logits(texts))
    assert ctx_again.series == ctx.series


def test_a_different_seed_gives_a_different_student(trained, shared, tiny_data):
    """The determinism checks above can fail: the seed does reach training."""
    texts = [t for _, t in tiny_data.test_rows]
    for name in ("kd", "tinybert"):
        _, other, _ = _train(name, shared, seed=14, epochs=1)
        assert not torch.equal(other.logits(texts), trained[name][1].logits(texts))


def test_plain_twins_of_teacher_cut_methods_are_one_model(shared, tiny_data):
    """KD, PKD and Theseus report one plain twin (equal `plain_key`): it must really be the
    same model, label-trained on the gold rows alone; TinyBERT's plain twin is its own."""
    texts = [t for _, t in tiny_data.test_rows]
    out = {}
    for name in ("kd", "pkd_skip", "theseus", "tinybert"):
        job, student, ctx = _train(name, shared, role="plain", epochs=1)
        assert set(ctx.terms(job.name)) - {"loss", "dev_accuracy"} == {"ce"}
        assert student.info["train_texts"] == shared.n_gold
        out[name] = (job, student)
    keys = {n: j.method.plain_key(j.cfg) for n, (j, _) in out.items()}
    assert keys["kd"] == keys["pkd_skip"] == keys["theseus"] != keys["tinybert"]
    ref = out["kd"][1].logits(texts)
    assert torch.equal(out["pkd_skip"][1].logits(texts), ref)
    assert torch.equal(out["theseus"][1].logits(texts), ref)


def test_a_plain_twin_trains_as_many_steps_as_its_distilled_sibling(shared):
    """`matched` (the default): the twin's one stage runs as many steps as a distilled student
    reading `max_texts` texts, whole epochs over the gold rows, each with its dev check;
    `epochs` keeps the config's epochs. Before, a 2-layer SST-2 twin stopped at one class."""
    distilled = count_steps(200, 16, 1)  # max_texts 200 of the 260 rows, batches of 16
    for name in ("kd", "tinybert"):
        job, _, ctx = _train(name, shared, role="plain", epochs=1)
        per_epoch = count_steps(shared.n_gold, 16, 1)
        assert plain_epochs(job, shared) == 2 and ctx.steps == 2 * per_epoch >= distilled
        assert ctx.steps == job.method.steps(job, shared)  # what its progress bar announced
        assert len(ctx.terms(job.name)["dev_accuracy"]) == 2
        job, _, ctx = _train(name, shared, role="plain", epochs=1, plain_steps="epochs")
        assert ctx.steps == per_epoch == job.method.steps(job, shared)
    few = dataclasses.replace(shared, n_gold=16)  # 16 gold rows: one step an epoch
    assert plain_epochs(_job("kd", epochs=1), few) == distilled
    assert plain_epochs(_job("kd", epochs=2, max_texts=None), few) == PLAIN_MAX_EPOCHS
    assert plain_epochs(_job("kd", epochs=30, max_texts=None), few) == 30  # never fewer


# -- one pipeline with every method ------------------------------------------------------------


@pytest.fixture(scope="module")
def methods_run(tmp_path_factory, tiny_cfg, deep_teacher_dir):
    """A real pipeline run with every method (word students and fast transformer students),
    from the 4-layer teacher so the half-depth PKD students have a layer to match."""
    base = tiny_cfg(n_iter=1)
    cfg = tiny_cfg(
        n_iter=1,
        students=[*base.students, *fast_char_students(), *fast_transformer_students()],
        teacher=dataclasses.replace(base.teacher, model=str(deep_teacher_dir)),
    )
    store = Store(tmp_path_factory.mktemp("methods_home"))
    run_id = store.create_run("pipeline", to_dict(cfg))
    execute(store, run_id, "pipeline", cfg, RunContext(store, run_id))
    run = store.run(run_id)
    assert run["status"] == "done", run["error"]
    summary = json.loads((store.run_dir(run_id) / "results.json").read_text())
    return store, run_id, summary


def test_pipeline_reports_every_method_plain_and_distilled(methods_run):
    store, run_id, summary = methods_run
    models = summary["models"]
    expected = {"teacher"} | {f"{n}_{r}" for n in methods.names() for r in ("plain", "distilled")}
    expected |= {"newsbert_teacher"}  # NewsBERT's jointly trained teacher
    assert set(models) == expected
    for name, m in models.items():
        for k in ROW_FIELDS:
            assert k in m, (name, k)
        assert 0 <= m["accuracy"] <= 1 and 0 <= m["f1"] <= 1
        assert m["params"] > 0 and m["latency_ms_p50"] > 0
    rows = {r["model"]: r for r in store.results(run_id)}
    assert set(rows) == expected
    for name in expected - {"teacher"}:
        arch, role = name.rsplit("_", 1)
        role = "joint_teacher" if role == "teacher" else role
        assert rows[name]["arch"] == arch and rows[name]["role"] == role
        assert models[name]["family"] == methods.get(arch).family


def test_pipeline_trains_the_shared_plain_twin_once(methods_run):
    _, _, summary = methods_run
    models = summary["models"]
    assert "same_model_as" not in models["kd_plain"]
    assert "same_model_as" not in models["tinybert_plain"]
    for name in ("pkd_skip_plain", "pkd_last_plain", "theseus_plain"):
        m = models[name]
        assert m["same_model_as"] == "kd_plain" and m["train_s"] == 0.0
        for k in ("accuracy", "f1", "params", "confusion", "latency_ms_p50"):
            assert m[k] == models["kd_plain"][k], (name, k)
    for name in TRANSFORMERS:  # distilled students are each their own
        assert "same_model_as" not in models[f"{name}_distilled"]


def test_pipeline_transformer_students_are_smaller_and_say_how_they_trained(methods_run):
    _, _, summary = methods_run
    models = summary["models"]
    teacher_params = models["teacher"]["params"]
    for n in TRANSFORMERS:
        for role in ("plain", "distilled"):
            m = models[f"{n}_{role}"]
            assert m["params"] < teacher_params, (n, role)
            assert m["train_device"] == "cpu"
            assert m["stage_s"] and all(v >= 0 for v in m["stage_s"].values())
        assert set(models[f"{n}_distilled"]["stage_s"]) == STAGES[n]
    assert models["tinybert_distilled"]["params"] < models["kd_distilled"]["params"]
    assert models["kd_distilled"]["train_texts"] == 200  # fast_transformer_students' cap


def test_pipeline_stores_each_methods_loss_terms(methods_run):
    store, run_id, _ = methods_run
    series: dict[str, list[tuple[int, float]]] = {}
    for row in store.metrics(run_id):
        series.setdefault(row["series"], []).append((row["step"], row["value"]))
    for n in TRANSFORMERS:
        for term in (*TERMS[n], "loss"):
            pts = series.get(f"{n}_distilled/{term}")
            assert pts, f"{n}_distilled/{term}"
            assert all(v >= 0 for _, v in pts)
    assert series["kd_plain/ce"] and series["tinybert_plain/ce"]
    for twin in ("pkd_skip_plain", "pkd_last_plain", "theseus_plain"):  # never trained
        assert not [s for s in series if s.startswith(f"{twin}/")]


def test_pipeline_students_reload_to_their_reported_accuracy(methods_run, tiny_data):
    store, run_id, summary = methods_run
    from core.data.bundle import load_bundle

    cfg = pipeline_from_dict(store.run(run_id)["config"])
    test = load_bundle(cfg.data).test
    folders = {a["name"]: Path(a["path"]) for a in store.artifacts(run_id)}
    for n in TRANSFORMERS:
        for role in ("plain", "distilled"):
            name = f"{n}_{role}"
            student = methods.load_student(folders[name])
            pred = student.logits(test.texts).argmax(-1)
            acc = float((pred == torch.tensor(test.labels)).float().mean())
            assert acc == pytest.approx(summary["models"][name]["accuracy"], abs=1e-6), name


# -- the CLI end to end ------------------------------------------------------------------------


def test_cli_pipeline_with_every_transformer_method(cli, tiny_data, tiny_teacher_dir, tmp_path):
    out = tmp_path / "out.json"
    home = tmp_path / "home"
    students = ["bilstm", *TRANSFORMERS]
    r = cli(
        "pipeline",
        "--train", str(tiny_data.train), "--test", str(tiny_data.test),
        "--teacher", str(tiny_teacher_dir), "--teacher-epochs", "1",
        "--teacher-max-length", "32", "--student-epochs", "1", "--augment-iters", "1",
        "--students", ",".join(students),
        "--tinybert-layers", "1", "--tinybert-hidden", "16", "--tinybert-intermediate", "32",
        "--tinybert-stage1-epochs", "1", "--tf-max-texts", "200",
        "--latency-samples", "5", "--json", str(out), "-q",
        home=home,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    models = json.loads(out.read_text())["models"]
    joint = {"newsbert_teacher"} if "newsbert" in students else set()
    assert set(models) == {"teacher"} | joint | {
        f"{n}_{r}" for n in students for r in ("plain", "distilled")
    }
    for name, m in models.items():
        for k in ROW_FIELDS:
            assert k in m, (name, k)
        assert 0 <= m["accuracy"] <= 1 and m["params"] > 0 and m["latency_ms_p50"] > 0
        if not name.endswith("teacher"):
            assert m["params"] < models["teacher"]["params"], name
    for name in ("pkd_skip_plain", "pkd_last_plain", "theseus_plain"):
        assert models[name]["same_model_as"] == "kd_plain"
    for name in models:  # the printed table has a row per model
        assert name in r.stdout
    # the flags reached each method's config, as saved with the run
    store = Store(home)
    (run,) = store.runs()
    saved = {s.method: s for s in pipeline_from_dict(store.run(run["id"])["config"]).students}
    assert list(saved) == students
    assert (saved["tinybert"].layers, saved["tinybert"].hidden) == (1, 16)
    assert saved["tinybert"].intermediate == 32 and saved["tinybert"].intermediate_epochs == 1
    assert {s.epochs for s in saved.values()} == {1}
    assert {saved[n].max_texts for n in TRANSFORMERS} == {200}


# -- regressions: a method named twice, students loaded side by side --------------------------


def test_a_method_named_twice_is_dropped_by_the_cli_and_refused_by_preflight(tiny_cfg, tmp_path):
    assert [s.method for s in _parse("--students", "kd,bilstm,kd").students] == ["kd", "bilstm"]
    cfg = tiny_cfg(students=fast_transformer_students(names=("kd", "kd")))
    with pytest.raises(ValueError, match="kd"):
        preflight(Store(tmp_path), "pipeline", cfg)


def test_students_load_side_by_side_in_threads(trained, tmp_path):
    """In a subprocess: a failure leaves torch patched for the whole process."""
    folder = trained["kd"][1].save(tmp_path / "kd_distilled")
    script = textwrap.dedent(
        f"""
        import threading
        import torch
        from core import methods
        folder = {str(folder)!r}
        ref = methods.load_student(folder).logits(["很好", "太差了"])
        errors = []
        def go():
            try:
                got = methods.load_student(folder).logits(["很好", "太差了"])
                assert torch.equal(got, ref), "different logits"
            except Exception as exc:
                errors.append(repr(exc))
        for _ in range(5):
            threads = [threading.Thread(target=go) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert not errors, f"{{len(errors)}} of 20 loads failed: {{errors[0]}}"
        assert torch.nn.Module.register_parameter.__name__ == "register_parameter"
        """
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    r = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-1500:]


def test_kd_into_a_named_checkpoint(shared, tiny_teacher_dir, tiny_data, tmp_path):
    """`--kd-checkpoint`: the student is that checkpoint (its own depth, width and tokenizer),
    distilled on the cached teacher logits; it saves and reloads like any student."""
    job, student, ctx = _train("kd", shared, checkpoint=str(tiny_teacher_dir))
    conf = student.model.config
    assert (conf.num_hidden_layers, conf.hidden_size) == (
        2,
        32,
    )  # the checkpoint's, not the teacher's
    assert student.tokenizer.name_or_path == str(tiny_teacher_dir)
    assert set(ctx.terms(job.name)) >= {"kd", "ce"}
    texts = [t for _, t in tiny_data.test_rows[:8]]
    again = methods.load_student(student.save(tmp_path / "kd_ckpt"))
    assert torch.equal(student.logits(texts), again.logits(texts))
    assert again.cfg.checkpoint == str(tiny_teacher_dir)


def test_cli_predict_scores_with_every_model_of_a_run(cli, methods_run):
    store, run_id, summary = methods_run
    r = cli("predict", str(run_id), "房间很干净", "太差了", "--json", home=store.home)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(r.stdout)
    assert {x["model"] for x in rows} == set(summary["models"])  # the teacher and every student
    assert len(rows) == 2 * len(summary["models"])
    for x in rows:
        assert abs(sum(x["probabilities"].values()) - 1) < 1e-4 and x["label"] in x["probabilities"]
    bad = cli("predict", str(run_id), "x", "--models", "kd_distilled,gpt", home=store.home)
    assert bad.returncode == 2 and "no model gpt" in bad.stderr
