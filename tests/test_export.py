"""Export: every kind of model of a real run to ONNX (fp32 / int8) and TorchScript, each folder's
own predict.py run as a subprocess and compared with `python -m core predict`."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from conftest import fast_char_students, fast_transformer_students

from core.config import to_dict
from core.export.exporter import export_model, load_predictor
from core.runs.context import RunContext
from core.runs.execute import execute
from core.runs.store import Store

TEXTS = ["房间很干净，服务也好", "太差了，再也不来"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_cfg):
    """One finished run with a word, a character and a transformer student (and the teacher)."""
    base = tiny_cfg(n_iter=1)
    students = [
        next(s for s in base.students if s.method == "textcnn"),
        next(s for s in base.students if s.method == "bilstm"),
        *[s for s in fast_char_students() if s.method == "textcnn_char"],
        *fast_transformer_students(names=("kd",)),
    ]
    cfg = dataclasses.replace(base, students=students)
    home = tmp_path_factory.mktemp("export_home")
    store = Store(home)
    rid = store.create_run("pipeline", to_dict(cfg))
    execute(store, rid, "pipeline", cfg, RunContext(store, rid))
    assert store.run(rid)["status"] == "done", store.run(rid)["error"]
    return store, rid


def _predict_py(folder, *texts: str) -> list[dict]:
    """The exported predict.py as a user runs it: a fresh interpreter, from another folder."""
    # It must not need Distillery: `core` is installed here, so block it for this interpreter.
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


def _core_predict(cli, store, rid, model, *texts) -> list[dict]:
    r = cli("predict", "--run", str(rid), "--model", model, "--json", *texts, home=store.home)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


@pytest.mark.parametrize(
    "model", ["textcnn_distilled", "bilstm_plain", "textcnn_char_distilled", "kd_distilled"]
)
def test_onnx_export_gives_distillerys_labels(model, run, tmp_path, cli):
    store, rid = run
    rep = export_model(store, rid, model, tmp_path / model)
    folder = tmp_path / model
    for f in ("model.onnx", "meta.json", "predict.py", "export.json"):
        assert (folder / f).is_file(), f
    assert rep.n_checked == 60 and rep.n_label_differs == 0  # the whole test set
    assert rep.max_abs_logit_diff < 1e-3
    assert rep.accuracy_export == rep.accuracy_distillery
    ours = _core_predict(cli, store, rid, model, *TEXTS)
    theirs = _predict_py(folder, *TEXTS)
    assert [r["label"] for r in theirs] == [r["label"] for r in ours]
    for a, b in zip(ours, theirs, strict=True):
        for k, p in a["probabilities"].items():
            assert abs(b["probabilities"][k] - p) < 1e-3


def test_int8_teacher_and_transformer_student(run, tmp_path):
    store, rid = run
    for model in ("teacher", "kd_distilled"):
        fp32 = export_model(store, rid, model, tmp_path / f"{model}-fp32", check=20)
        int8 = export_model(store, rid, model, tmp_path / f"{model}-int8", int8=True, check=20)
        assert int8.int8 and int8.n_checked == 20
        assert int8.files["model.onnx"] < fp32.files["model.onnx"]  # int8 weights are smaller
        # how many labels int8 moves is reported, not hidden (a tiny random teacher sits near
        # the decision boundary, so some may)
        assert 0 <= int8.n_label_differs <= 20
        out = _predict_py(tmp_path / f"{model}-int8", TEXTS[0])
        assert (
            out[0]["label"]
            in json.loads((tmp_path / f"{model}-int8/meta.json").read_text())["labels"]
        )


def test_torchscript_export(run, tmp_path):
    store, rid = run
    rep = export_model(store, rid, "bilstm_distilled", tmp_path / "ts", fmt="torchscript")
    assert (tmp_path / "ts" / "model.pt").is_file()
    assert rep.n_label_differs == 0
    pred = load_predictor(tmp_path / "ts")
    assert pred.predict(TEXTS[0])[0] in pred.labels


def test_export_refuses_what_it_cannot_do(run, tmp_path, cli):
    store, rid = run
    with pytest.raises(ValueError, match="has no model 'nope'.*teacher.*textcnn_distilled"):
        export_model(store, rid, "nope", tmp_path / "x")
    with pytest.raises(ValueError, match="use --format onnx"):
        export_model(store, rid, "teacher", tmp_path / "x", fmt="torchscript", int8=True)
    r = cli("export", "--run", str(rid), "--model", "nope", "--out", str(tmp_path / "y"),
            home=store.home)  # fmt: skip
    assert r.returncode == 2 and "has no model 'nope'" in r.stderr
    r = cli("export", "--run", "999", "--model", "teacher", "--out", str(tmp_path / "y"),
            home=store.home)  # fmt: skip
    assert r.returncode == 2 and "no run 999" in r.stderr


def test_cli_export_then_predict_py(run, tmp_path, cli):
    store, rid = run
    out = tmp_path / "cli"
    r = cli("export", "--run", str(rid), "--model", "textcnn_distilled", "--out", str(out),
            home=store.home)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert "0 labels differ" in r.stdout
    # texts on stdin, plain output: label first on each line
    p = subprocess.run(
        [sys.executable, str(out / "predict.py")],
        input="\n".join(TEXTS) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    labels = [line.split("\t")[0] for line in p.stdout.splitlines()]
    ours = _core_predict(cli, store, rid, "textcnn_distilled", *TEXTS)
    assert labels == [r["label"] for r in ours]


def test_pipeline_times_every_model_as_deployed(run):
    """Each model's results carry the ONNX Runtime latency (the export's own predict.py), with
    tokenisation and the model call apart."""
    store, rid = run
    models = json.loads((store.run_dir(rid) / "results.json").read_text())["models"]
    assert set(models) >= {"teacher", "textcnn_distilled", "textcnn_char_distilled", "kd_plain"}
    for name, m in models.items():
        assert "onnx_error" not in m, (name, m.get("onnx_error"))
        for k in ("onnx_latency_ms_p50", "onnx_tokenize_ms_p50", "onnx_model_ms_p50"):
            assert m[k] > 0, (name, k)
        assert m["onnx_tokenize_ms_p50"] < m["onnx_latency_ms_p50"]
    assert models["textcnn_distilled"]["onnx_threads"] == 1  # small students on one thread
    # no export is left behind by the timing
    assert not (store.run_dir(rid) / "exports").exists()


# the characters a fast path could get wrong: digits and Latin runs, full-width forms, accents
# and combining marks, control and format characters, odd whitespace, emoji, rare ideographs
EDGE_TEXTS = [
    "290元的房间设施还可以，4星级应该会好",
    "WiFi信号差!!!  早餐ok吗？",
    "Ｗｉｆｉ很好１２３，ＡＢＣ",
    "café 很好 naïve",
    "房间e\u0301很好",
    "好\x00坏\x1c差\x0b中\x85间\u200b的\ufeff字",
    "空格\u00a0不同\u3000全角\u2028行\u2029段",
    "表情😀很好🏨",
    "𠀀𪜀罕见字",
    "\ufffd坏字节",
    "",
    "   ",
    "「引号」『书名』（括号）【方括】—— …… ～",
    "a" * 900,
    "好" * 300,
]


def test_predictor_fast_tokenizer_path_is_exact(run, tmp_path):
    """predict.py's per-character fast path for BERT tokenizers gives exactly the ids of one
    tokenizer call, on the hotel-like edge cases above and on every text the run has seen."""
    store, rid = run
    folder = tmp_path / "char"
    export_model(store, rid, "textcnn_char_distilled", folder, check=0)
    pred = load_predictor(folder)
    assert pred.fast, "m3e's tokenizer is BERT-style: the fast path is on"
    exact = load_predictor(folder)
    exact.fast = False
    texts = EDGE_TEXTS + [ln.split("\t", 1)[-1] for ln in _run_texts(store, rid)]
    for t in texts:
        assert pred.inputs(t)["ids"].tolist() == exact.inputs(t)["ids"].tolist(), repr(t[:40])
    for t in texts:  # and again from the warm caches
        assert pred.inputs(t)["ids"].tolist() == exact.inputs(t)["ids"].tolist(), repr(t[:40])


def _run_texts(store, rid) -> list[str]:
    d = store.run(rid)["config"]["data"]
    return [
        ln
        for f in (d["train"], d["test"], d["transfer"])
        for ln in open(f, encoding="utf-8").read().splitlines()
    ]
