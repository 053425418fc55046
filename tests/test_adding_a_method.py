"""Adding a method is one module: a toy method registered from this test module (no other file
edited) shows up in the CLI's flags, the Train page's knobs, a run's results and curves, and an
export that predicts like Distillery. docs/adding-a-method.md walks through the same steps.

The toy: the teacher's bottom layers trained on the MSE between its logits and the teacher's
(Ba & Caruana's logit regression), scaled by a knob of its own. It declares its config, one
stage and its loss terms; the one training loop (core.train) does the rest.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from core import methods
from core.cli.main import build_parser, config_from_args
from core.config import opt
from core.export.exporter import export_model, load_predictor
from core.methods import Method, register
from core.methods._base import Shared, StudentJob
from core.methods._tf_fit import StudentStage, fit, rows_for
from core.methods._transformer import BottomConfig, ce_term, cut_student, load
from core.methods.kd import student_forward
from core.runs.context import RunContext
from core.runs.execute import execute
from core.runs.store import Store
from core.train.batches import count_steps

NAME = "toy_mse"


@dataclass
class ToyConfig(BottomConfig):
    method: str = opt(NAME, help="The registered method this config belongs to.")
    scale: float = opt(
        2.0,
        help="Weight of the logit MSE against the teacher (the toy's one knob of its own).",
        flag="--toy-mse-scale",
        min=0.0,
        max=10.0,
        step=0.5,
    )


def train(job: StudentJob, shared: Shared, ctx):
    student = cut_student(job, shared)[0]

    def loss(batch, progress):
        out = student_forward(student, batch).logits
        if job.role == "plain":
            return ce_term(out, batch.labels, batch.class_w)
        target = batch.t_logits.to(out.device, out.dtype)
        return {"mse": job.cfg.scale * F.mse_loss(out, target)}

    stage = StudentStage("toy", job.cfg.epochs, student.model.parameters(), loss, True)
    return fit(job, shared, ctx, student, [stage], rows_for(job, shared))


def steps(job: StudentJob, shared: Shared) -> int:
    return count_steps(len(rows_for(job, shared)), job.cfg.batch_size, job.cfg.epochs)


TOY = Method(
    name=NAME,
    title="Toy logit MSE",
    family="transformer",
    config=ToyConfig,
    summary="The teacher's bottom layers fitted to its logits by mean squared error (a toy).",
    needs=("logits",),
    train=train,
    steps=steps,
    load=load,
    rank=99,
)


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def toy():
    """The toy registered for one test, then gone again (other tests see the real registry)."""
    register(TOY)
    try:
        yield TOY
    finally:
        methods.REGISTRY.pop(NAME, None)


def test_the_toy_gets_cli_flags(toy, capsys):
    argv = ["distill", "--teacher-run", "1", "--students", f"kd,{NAME}", "--toy-mse-scale", "3.5"]
    cfg = config_from_args(build_parser(["distill"]).parse_args(argv))
    toy_cfg = next(s for s in cfg.students if s.method == NAME)
    assert type(toy_cfg) is ToyConfig and toy_cfg.scale == 3.5
    with pytest.raises(SystemExit):
        build_parser(["distill"]).parse_args(["distill", "--help"])
    shown = capsys.readouterr().out
    assert "--toy-mse-scale" in shown and NAME in shown


def test_the_toy_gets_knobs_on_the_train_page(toy, tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILLERY_HOME", str(tmp_path / "home"))
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=60).run()
    assert not at.exception, [e.message for e in at.exception]
    picker = at.multiselect(key="pipe-archs")
    assert "Toy logit MSE" in picker.options
    picker.set_value([*picker.value, "Toy logit MSE"]).run()
    assert not at.exception, [e.message for e in at.exception]
    assert "Toy logit MSE settings" in [e.label for e in at.expander]
    scale = [w for w in at.number_input if w.key and w.key.endswith("scale")]
    assert [w.value for w in scale] == [2.0]
    assert any(TOY.summary in c.value for c in at.caption)  # in plain words, as every method


def test_the_toy_trains_reports_and_exports(toy, tiny_cfg, tmp_path):
    cfg = tiny_cfg()
    student = methods.default_config(NAME, epochs=1, max_texts=100, batch_size=16, layers=1)
    cfg = dataclasses.replace(cfg, students=[student])
    store = Store(tmp_path / "home")
    rid = store.create_run("pipeline", dataclasses.asdict(cfg))
    execute(store, rid, "pipeline", cfg, RunContext(store, rid))
    assert store.run(rid)["status"] == "done", store.run(rid)["error"]

    summary = json.loads((store.run_dir(rid) / "results.json").read_text())
    assert {f"{NAME}_plain", f"{NAME}_distilled"} <= set(summary["models"])
    rows = {r["model"]: r for r in store.results(rid)}
    assert rows[f"{NAME}_distilled"]["role"] == "distilled"
    series = {m["series"] for m in store.metrics(rid)}
    assert f"{NAME}_distilled/mse" in series and f"{NAME}_plain/ce" in series  # its own terms

    rep = export_model(store, rid, f"{NAME}_distilled", tmp_path / "export")
    assert rep.n_label_differs == 0 and rep.accuracy_export == rep.accuracy_distillery
    exported = load_predictor(tmp_path / "export")
    ours = methods.load_student(store.run_dir(rid) / "students" / f"{NAME}_distilled")
    for text in ("房间很干净，服务也很好", "太差了，再也不来了", "还行吧"):
        label = ours.label_names[int(ours.predict_logits(text).argmax())]
        assert exported.predict(text)[0] == label
