"""Export any model of a finished run (the teacher or any student) to run outside Distillery.

The folder written holds the model (ONNX, optionally int8 by ONNX Runtime's dynamic
quantisation, or TorchScript), what its tokeniser needs (vocab.json and / or tokenizer.json),
meta.json (labels, lengths, input names) and `predict.py`, a one-file predictor that needs only
onnxruntime (or torch for TorchScript) plus `jieba` or `tokenizers`. The export is then checked:
the predictor in the folder scores the run's test texts and its labels are compared with
Distillery's own (`export.json` says how many differ).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core import methods
from core.teacher.model import load_teacher

log = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript")
OPSET = 17
TEMPLATE = Path(__file__).with_name("predictor_template.py")


@dataclass
class ExportReport:
    """What was written and how faithful it is (saved as export.json beside the model)."""

    run_id: int
    model: str
    family: str  # word | char | transformer
    format: str
    int8: bool
    folder: str
    files: dict[str, int] = field(default_factory=dict)  # name -> bytes
    n_checked: int = 0
    n_label_differs: int = 0
    max_abs_logit_diff: float | None = None
    accuracy_distillery: float | None = None
    accuracy_export: float | None = None
    seconds: float = 0.0
    note: str = ""


def model_folder(store, run_id: int, name: str) -> Path:
    """The saved folder of model `name` of run `run_id` (a distill run's teacher is the one of
    the run it reused)."""
    try:
        run = store.run(run_id)
    except Exception:  # sqlite_utils' NotFoundError
        run = None
    if run is None:
        raise ValueError(f"no run {run_id} in {store.home}")
    folder = store.run_dir(run_id, create=False)
    if name == "teacher":
        t = folder / "teacher"
        reused = (run.get("config") or {}).get("teacher_run")
        if not (t / "distillery.json").is_file() and reused is not None:
            t = store.run_dir(int(reused), create=False) / "teacher"
        if not (t / "distillery.json").is_file():
            raise ValueError(f"run {run_id} has no teacher saved")
        return t
    s = folder / "students" / name
    if not (s / "student.json").is_file():
        have = sorted(
            d.name for d in (folder / "students").glob("*") if (d / "student.json").is_file()
        )
        raise ValueError(
            f"run {run_id} has no model {name!r}; it has: {', '.join(['teacher', *have])}"
        )
    return s


class _Logits(nn.Module):
    """A transformer classifier as ids, mask (, token types) -> logits: one output to export."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, args, strict=True))).logits


class _PairLogits(nn.Module):
    """A Siamese student as ids_a, ids_b -> logits (each side unpadded, batch 1)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids_a: torch.Tensor, ids_b: torch.Tensor) -> torch.Tensor:
        return self.model.forward_pair(ids_a, ids_b)


def _load(store, run_id: int, name: str) -> tuple[Any, str, Path]:
    """(model object, family, folder): a Teacher, a word / char Student or a TransformerStudent."""
    folder = model_folder(store, run_id, name)
    if name == "teacher":
        return load_teacher(folder, device="cpu"), "transformer", folder
    method = methods.method_of_folder(folder)
    return methods.load_student(folder), method.family, folder


def _module_and_inputs(obj: Any, family: str) -> tuple[nn.Module, dict[str, torch.Tensor], dict]:
    """The module to export, example inputs by name, and meta for the predictor."""
    if family in ("word", "char"):
        model = obj.model.eval()
        min_len = getattr(model, "min_len", 1)
        ids = torch.ones(1, max(8, min_len), dtype=torch.long)
        meta = {"max_len": obj.cfg.max_len, "min_len": min_len, "task": obj.task}
        if obj.task == "pair":  # Siamese: each side through the shared encoder
            return _PairLogits(model).eval(), {"ids_a": ids, "ids_b": ids.clone()}, meta
        return model, {"ids": ids}, meta
    model = obj.model.to("cpu").eval()
    tok = obj.tokenizer
    task = getattr(obj, "task", "single")
    example = ("示例 example", "例子") if task == "pair" else ("示例 example",)
    enc = tok(*example, truncation=True, max_length=obj.max_length, return_tensors="pt")
    accepts = set(model.forward.__code__.co_varnames)
    names = [
        k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc and k in accepts
    ]
    inputs = {k: enc[k] for k in names}
    return _Logits(model, names).eval(), inputs, {"max_len": obj.max_length, "task": task}


def _write_tokenizer(obj: Any, family: str, out: Path) -> None:
    if family in ("word", "char"):
        obj.vocab.save(out / "vocab.json")
    if family == "char":
        obj.pieces.save(out / "tokenizer.json")
    if family == "transformer":
        obj.tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))


def _export_onnx(module: nn.Module, inputs: dict[str, torch.Tensor], path: Path) -> None:
    names = list(inputs)
    # a transformer's inputs share one length; a Siamese student's two sides have their own
    dynamic = {
        k: {0: "batch", 1: f"tokens_{k}" if k.startswith("ids_") else "tokens"} for k in names
    }
    dynamic["logits"] = {0: "batch"}
    with torch.inference_mode():
        torch.onnx.export(
            module,
            tuple(inputs.values()),
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,  # the TorchScript-based exporter: no onnxscript needed at run time
        )


def _quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)


def export_model(
    store,
    run_id: int,
    name: str,
    out: str | Path,
    fmt: str = "onnx",
    int8: bool = False,
    check: int | None = None,
) -> ExportReport:
    """Write model `name` of run `run_id` to folder `out` and check it against Distillery's
    own scoring on up to `check` of the run's test texts (None: all of them; 0: no check)."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if int8 and fmt != "onnx":
        raise ValueError("--int8 is ONNX Runtime's dynamic quantisation: use --format onnx")
    t0 = time.time()
    obj, family, _ = _load(store, run_id, name)
    if family == "transformer" and (store.run(run_id).get("data") or {}).get("task") == "pair":
        obj.task = "pair"  # (a teacher saved before pairs were recorded in its folder)
    out = Path(out)
    write_export(obj, family, out, fmt, int8, source={"run": run_id, "model": name})
    rep = ExportReport(run_id, name, family, fmt, int8, str(out))
    if check != 0:
        _check(store, run_id, obj, family, out, rep, check)
    rep.files = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    rep.seconds = round(time.time() - t0, 2)
    (out / "export.json").write_text(json.dumps(asdict(rep), ensure_ascii=False, indent=1))
    checked = (
        f": {rep.n_label_differs} of {rep.n_checked} test labels differ"
        if rep.n_checked
        else " (not checked)"
    )
    log.info("exported %s of run %d to %s (%s%s)%s", name, run_id, out, fmt,
             " int8" if int8 else "", checked)  # fmt: skip
    return rep


def write_export(
    obj: Any, family: str, out: Path, fmt: str = "onnx", int8: bool = False, source=None
) -> None:
    """Write model object `obj` (a Teacher, a word / char Student or a TransformerStudent, saved
    in a run or not) to folder `out` with its tokeniser files, meta.json and predict.py."""
    out.mkdir(parents=True, exist_ok=True)
    module, inputs, meta = _module_and_inputs(obj, family)
    model_file = "model.onnx" if fmt == "onnx" else "model.pt"
    if fmt == "onnx":
        if int8:
            fp32 = out / "model.fp32.onnx"
            _export_onnx(module, inputs, fp32)
            _quantize(fp32, out / model_file)
            fp32.unlink()
        else:
            _export_onnx(module, inputs, out / model_file)
    else:
        with torch.inference_mode():
            traced = torch.jit.trace(module, tuple(inputs.values()), check_trace=False)
        traced.save(str(out / model_file))
    _write_tokenizer(obj, family, out)
    meta.update(
        family=family,
        labels=list(obj.label_names),
        inputs=list(inputs),
        model_file=model_file,
        source=source or {},
        int8=int8,
    )
    (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))
    shutil.copyfile(TEMPLATE, out / "predict.py")


def deployed_p50_ms(
    obj: Any, family: str, texts: list[str], threads: int, budget_s: float | None = None
) -> float:
    """Batch-1 p50 (ms) of a model object as deployed (ONNX, through its own predict.py, text in,
    label out), exported to a temporary folder: autodistill times untrained students this way,
    since latency does not depend on the weights."""
    import tempfile

    from core.evaluate.metrics import percentile, time_calls

    with tempfile.TemporaryDirectory(prefix="distillery-probe-") as d:
        write_export(obj, family, Path(d), source={"probe": "untrained"})
        pred = load_predictor(d, threads=threads)
        ms = time_calls(pred.predict, texts, budget_s=budget_s)
    return percentile(ms, 0.5)


def load_predictor(folder: str | Path, threads: int = 1):
    """The exported folder's own predict.py, imported from there (what a user runs)."""
    path = Path(folder) / "predict.py"
    spec = importlib.util.spec_from_file_location(f"distillery_export_{abs(hash(path))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Predictor(folder, threads=threads)


def _test_set(store, run_id: int):
    from core.config import data_from_dict
    from core.data.bundle import load_bundle

    return load_bundle(data_from_dict(store.run(run_id)["config"].get("data", {}))).test


def _check(store, run_id, obj, family, out: Path, rep: ExportReport, limit: int | None) -> None:
    """Score the run's test texts with Distillery and with the export's own predictor."""
    try:
        test = _test_set(store, run_id)
    except Exception as exc:  # the run's data files moved: export anyway, say so
        rep.note = f"not checked: the run's test data could not be loaded ({exc})"
        log.warning(rep.note)
        return
    texts, gold = test.texts[:limit], test.labels[:limit]
    ours = obj.logits(texts).float()
    pred = load_predictor(out)
    theirs = torch.from_numpy(np.stack([pred.logits(t) for t in texts])).float()
    a, b = ours.argmax(-1), theirs.argmax(-1)
    gold_t = torch.tensor(gold)
    rep.n_checked = len(texts)
    rep.n_label_differs = int((a != b).sum())
    rep.max_abs_logit_diff = float((ours - theirs).abs().max()) if len(texts) else None
    rep.accuracy_distillery = float((a == gold_t).float().mean()) if len(texts) else None
    rep.accuracy_export = float((b == gold_t).float().mean()) if len(texts) else None


def zip_folder(folder: str | Path) -> bytes:
    """The export folder as one zip (what the dashboard's download button serves)."""
    import io
    import zipfile

    folder = Path(folder)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.iterdir()):
            if p.is_file():
                z.write(p, f"{folder.name}/{p.name}")
    return buf.getvalue()


def export_dir(store, run_id: int, name: str, fmt: str, int8: bool) -> Path:
    """Where the dashboard keeps a run's exports: runs/<id>/exports/<model>-<format>[-int8]."""
    suffix = f"{fmt}-int8" if int8 else fmt
    return store.run_dir(run_id) / "exports" / f"{name}-{suffix}"


def onnx_speed(
    store,
    run_id: int,
    name: str,
    texts: list[str],
    threads: int,
    budget_s: float | None = None,
) -> dict[str, Any]:
    """Batch-1 latency of model `name` as deployed: exported to ONNX once, in a temporary
    folder, and run by that folder's own predict.py on `threads` threads. `onnx_latency_*` is
    text in, label out; `onnx_tokenize_*` and `onnx_model_*` the two parts alone; each with the
    calls its median rests on (`budget_s` bounds each timing: see core.evaluate.time_calls)."""
    import tempfile

    from core.evaluate.metrics import latency_stats

    with tempfile.TemporaryDirectory(prefix="distillery-onnx-") as d:
        t0 = time.perf_counter()
        export_model(store, run_id, name, d, check=0)
        export_s = time.perf_counter() - t0
        pred = load_predictor(d, threads=threads)
        feeds = {t: pred.inputs(t) for t in texts}
        out: dict[str, Any] = {
            **latency_stats(pred.predict, texts, "onnx_latency", budget_s),
            **latency_stats(pred.inputs, texts, "onnx_tokenize", budget_s),
            **latency_stats(lambda t: pred.run(feeds[t]), texts, "onnx_model", budget_s),
            "onnx_threads": threads,
            "onnx_export_s": round(export_s, 2),
        }
    return out
