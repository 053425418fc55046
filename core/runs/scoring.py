"""The evaluate stage: accuracy, F1 and speed of every teacher and student of a run.

Each model is scored on the test rows (per domain too, when the data has domains) and, when the
run has a dev set, on the dev rows (`dev_accuracy`, `dev_f1`: what a search compares trials on,
keeping the test rows for the figures it announces), and timed at batch 1 in PyTorch and, by
default, as deployed (ONNX through the export's own predictor). A run given
`teacher_timing_run` copies the teacher's speed figures from that run instead of timing the
same teacher again (an autodistill search's or a sweep's trials share one teacher; see
core.runs.teacher_timing). Rows are saved to the
store as they come, so a crash keeps what was measured.
"""

from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path

import torch

from core import methods
from core.data import pairs
from core.data.bundle import DataBundle
from core.evaluate.metrics import by_domain, classification_metrics, folder_bytes, speed_profile
from core.export.exporter import onnx_speed
from core.runs.config import PipelineConfig
from core.runs.teacher_timing import reused_teacher_timing
from core.teacher.ensemble import EnsembleTeacher
from core.teacher.logits import teacher_logits
from core.teacher.model import META as TEACHER_META
from core.teacher.model import Teacher

log = logging.getLogger(__name__)

# Seconds each timing loop of a model may take (batch-1 latency, tokenisation, throughput, and
# each ONNX figure): a fast student reaches a stable median on the whole sample well inside it,
# the teacher and transformer students (hundreds of ms a call on a busy CPU) stop at the budget
# with at least core.evaluate.metrics.MIN_CALLS_OVER_BUDGET calls. Each figure records its calls.
TIMING_BUDGET_S = 2.0


def _latency_texts(bundle: DataBundle, n: int, seed: int) -> list[str]:
    texts = list(bundle.test.texts)
    random.Random(seed).shuffle(texts)
    return texts[:n]


def _scores(pred: list[int], bundle: DataBundle) -> dict:
    """Accuracy, F1, per class; with domains, also per domain of the test rows."""
    m = classification_metrics(pred, bundle.test.labels, bundle.label_names)
    if bundle.test.domains is not None:
        m["domains"] = by_domain(pred, bundle.test.labels, bundle.test.domains, bundle.label_names)
    return m


def dev_scores(pred: list[int], bundle: DataBundle) -> dict:
    """Accuracy and macro-F1 on the dev rows (none without a dev set)."""
    if not bundle.dev:
        return {}
    m = classification_metrics(pred, bundle.dev.labels, bundle.label_names)
    return {"dev_accuracy": m["accuracy"], "dev_f1": m["f1"], "dev_rows": len(bundle.dev)}


def _eval_teacher(teacher: Teacher, bundle: DataBundle, cfg: PipelineConfig, ctx) -> dict:
    logits, _ = teacher_logits(teacher, bundle.test.texts, ctx.store.home)
    m = _scores(logits.argmax(-1).tolist(), bundle)
    if bundle.dev:
        dev_logits, _ = teacher_logits(teacher, bundle.dev.texts, ctx.store.home)
        m.update(dev_scores(dev_logits.argmax(-1).tolist(), bundle))
    m.update(teacher_record(teacher))
    m["params"] = teacher.num_params()
    # where the teacher's stages ran (the batch-1 latency above is on this device too)
    m["device"] = teacher.device.type
    m["precision"] = teacher.precision  # labelling and batch-1 latency alike
    files = getattr(teacher, "weight_files", lambda: [Path(teacher.path) / "model.safetensors"])()
    m["size_bytes"] = sum(folder_bytes(f) for f in files)
    m["max_length"] = teacher.max_length
    reused = reused_teacher_timing(ctx.store, cfg)
    if reused is not None:  # the same teacher, timed once for all the runs that share it
        log.info("teacher timing reused from run %s", reused["timing_from_run"])
        return m | reused
    return m | _time_teacher(teacher, bundle, cfg, ctx)


def _time_teacher(teacher: Teacher, bundle: DataBundle, cfg: PipelineConfig, ctx) -> dict:
    """The teacher's batch-1 latency, tokenisation and throughput, and its ONNX figures."""
    lat = _latency_texts(bundle, cfg.latency_samples, cfg.data.seed)
    tok = teacher.tokenizer
    m = speed_profile(
        lambda t: int(teacher.predict_one(t).argmax()),
        lambda t: pairs.encode(tok, t, teacher.max_length),
        lambda b: teacher.logits(b, batch_size=64),
        lat,
        budget_s=TIMING_BUDGET_S,
    )
    if cfg.onnx_latency and isinstance(teacher, EnsembleTeacher):
        m["onnx_error"] = "a teacher ensemble is timed in PyTorch only (ONNX exports one model)"
    elif cfg.onnx_latency:
        m.update(_onnx_speed(ctx, "teacher", lat, torch.get_num_threads()))
    return m


def teacher_record(teacher) -> dict:
    """How the teacher was trained, from its saved meta: the selection metric its best epoch
    was picked on (what `auto` resolved to), its class weights, and an ensemble's members."""
    meta_path = Path(teacher.path) / TEACHER_META
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    out = {k: meta[k] for k in ("select_metric", "class_weights") if k in meta}
    if isinstance(teacher, EnsembleTeacher):
        out["members"] = list(teacher.sources)
    return out


def _onnx_speed(ctx, name: str, texts: list[str], threads: int) -> dict:
    """The deployed path's latency (see core.export.onnx_speed); a model the exporter cannot
    handle keeps its PyTorch figures and says why."""
    try:
        return onnx_speed(ctx.store, ctx.run_id, name, texts, threads, TIMING_BUDGET_S)
    except Exception as exc:  # noqa: BLE001 - timing is extra; the run's results stand
        log.warning("ONNX timing of %s skipped: %s", name, exc)
        return {"onnx_error": str(exc)[:300]}


def _eval_student(
    student, folder: Path, bundle: DataBundle, cfg: PipelineConfig, threads, ctx
) -> dict:
    pred = student.logits(bundle.test.texts).argmax(-1).tolist()
    m = _scores(pred, bundle)
    if bundle.dev:
        m.update(dev_scores(student.logits(bundle.dev.texts).argmax(-1).tolist(), bundle))
    lat = _latency_texts(bundle, cfg.latency_samples, cfg.data.seed)
    m.update(
        speed_profile(
            lambda t: int(student.predict_logits(t).argmax()),
            student.tokenize,
            lambda b: student.logits(b, batch_size=64),
            lat,
            threads=threads,
            budget_s=TIMING_BUDGET_S,
        )
    )
    m["params"] = student.num_params()
    m["size_bytes"] = folder_bytes(folder / "model.safetensors")
    if cfg.onnx_latency:
        m.update(_onnx_speed(ctx, folder.name, lat, threads or torch.get_num_threads()))
    m["size_bytes_with_vocab"] = folder_bytes(folder)
    return m


def evaluate_models(
    teachers: dict[str, tuple[Teacher, str]],
    results: dict,
    bundle: DataBundle,
    cfg: PipelineConfig,
    ctx,
    extra: dict,
) -> dict[str, dict]:
    """Accuracy, F1 and speed of the teachers ({name: (Teacher, role)}: one teacher, or a
    target domain's teacher and the meta-teacher) and every student, saved as they come; `extra`
    (how the latency was isolated, the target domain) is recorded with each row."""
    store, run_id = ctx.store, ctx.run_id
    t0 = time.time()
    out = {}
    for tname, (t, role) in teachers.items():
        t1 = time.time()
        tm = _eval_teacher(t, bundle, cfg, ctx) | extra
        tm["evaluate_s"] = round(time.time() - t1, 2)  # what this model cost the stage
        tm["role"] = role
        store.save_result(run_id, tname, role, "bert", tm)
        out[tname] = tm
        ctx.step()
    evaluated: dict[str, dict] = {}
    for name, r in results.items():
        twin = r.get("same_as")
        if twin in evaluated:  # the same model as another plain twin: the same figures
            m = dict(evaluated[twin])
        else:
            small = methods.get(r["arch"]).parallel
            t1 = time.time()
            m = _eval_student(
                r["student"], r["dir"], bundle, cfg, cfg.student_threads if small else None, ctx
            )
            m["evaluate_s"] = round(time.time() - t1, 2)
        evaluated[name] = m
        m = dict(m)
        m["family"] = r["family"]
        m["role"] = r["role"]
        for key in (
            "train_texts",
            "vocab_size",
            "seed",
            "train_s",
            "train_device",
            "train_precision",
            "stage_s",
            "select_metric",
            "class_weights",
        ):
            if key in r:
                m[key] = r[key]
        if twin:
            m["same_model_as"] = twin
        m.update(extra)
        store.save_result(run_id, name, r["role"], r["arch"], m)
        out[name] = m
        ctx.step()
    log.info("evaluation took %.1fs", time.time() - t0)
    return out
