"""Vanilla KD into a smaller transformer (EasyNLP's `vanilla_kd`, Hinton et al. 2015).

The student is the teacher cut to its bottom k layers (default: half its depth), or any
checkpoint the user names (with its own tokenizer: the teacher's logits are per text, so the
cached ones serve any tokenizer). Loss per row: alpha·KL·T² + (1−alpha)·CE where a gold label
exists, KL alone on transfer and augmented rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.config import opt
from core.methods import Method, register
from core.methods._base import Shared, StudentJob
from core.methods._tf_fit import StudentStage, fit, plain_steps, rows_for
from core.methods._transformer import (
    BottomConfig,
    TransformerStudent,
    ce_term,
    cut_student,
    kd_terms,
    load,
    model_inputs,
    teacher_depth,
    teacher_internals,
    weighted_hidden_mse,
)
from core.teacher.hf import load_pretrained, resolve_source
from core.train.batches import count_steps


@dataclass
class LogitKDConfig(BottomConfig):
    """The knobs of every method whose student is the teacher's bottom layers on KD loss."""

    alpha: float = opt(
        0.5,
        help="Weight of the KL term against hard-label cross-entropy on labelled rows "
        "(alpha·KL·T² + (1−alpha)·CE, EasyNLP's vanilla_kd); unlabelled rows get KL alone.",
        flag="--kd-alpha",
        min=0.0,
        max=1.0,
        step=0.05,
    )
    temperature: float = opt(
        2.0,
        help="Softmax temperature T of the KL term (scaled by T²): above 1 the student also "
        "learns the teacher's second choices.",
        flag="--kd-temperature",
        min=0.5,
        max=20.0,
        step=0.5,
    )


@dataclass
class KDConfig(LogitKDConfig):
    method: str = opt("kd", help="The registered method this config belongs to.")
    checkpoint: str | None = opt(
        None,
        help="A small checkpoint to distil into instead of the teacher's bottom layers: a "
        "local folder or a hub name (e.g. a 4-layer TinyBERT); it keeps its own tokenizer.",
        flag="--kd-checkpoint",
        none="the teacher's bottom layers",
    )


def build(job: StudentJob, shared: Shared) -> TransformerStudent:
    cfg = job.cfg
    if not getattr(cfg, "checkpoint", None):
        return cut_student(job, shared)[0]
    source = resolve_source(cfg.checkpoint, shared.home) if shared.home else cfg.checkpoint
    tok, model = load_pretrained(source, len(shared.label_names), shared.label_names)
    return TransformerStudent(cfg.method, model, tok, cfg, shared.label_names, cfg.max_length)


def student_forward(student: TransformerStudent, batch, **kw):
    m = student.model
    return m(**model_inputs(m, batch.enc, next(m.parameters()).device), **kw)


def _row_weights(shared: Shared, batch, like: torch.Tensor) -> torch.Tensor | None:
    if shared.weights is None:
        return None
    return shared.weights[batch.rows].to(like.device, like.dtype)


def meta_stage(job: StudentJob, shared: Shared) -> bool:
    """MetaKD's first stage applies: a meta-distilled student cut from the (meta-)teacher."""
    return (
        job.role != "plain"
        and shared.weights is not None
        and shared.hidden_epochs > 0
        and not getattr(job.cfg, "checkpoint", None)
    )


def train(job: StudentJob, shared: Shared, ctx) -> TransformerStudent:
    student = build(job, shared)
    cfg = job.cfg

    def loss(batch, progress):
        out = student_forward(student, batch).logits
        if job.role == "plain":
            return ce_term(out, batch.labels, batch.class_w)
        w = _row_weights(shared, batch, out)
        y = batch.labels
        return kd_terms(out, batch.t_logits, y, cfg.alpha, cfg.temperature, w, batch.class_w)

    stages = []
    if meta_stage(job, shared):  # MetaKD: hidden states first, weighted by domain expertise
        k = int(student.model.config.num_hidden_layers)
        big = teacher_depth(shared.teacher)
        pairs = [(i, round(i * big / k)) for i in range(k + 1)]

        def intermediate(batch, progress):
            t_out = teacher_internals(shared.teacher, batch.enc)
            s_out = student_forward(student, batch, output_hidden_states=True)
            dev = s_out.hidden_states[0].device
            t_hid = [h.to(dev) for h in t_out.hidden_states]
            mask = batch.enc["attention_mask"].to(dev)
            w = _row_weights(shared, batch, s_out.hidden_states[0])
            return {"hidden": weighted_hidden_mse(s_out.hidden_states, t_hid, mask, pairs, w)}

        stages.append(
            StudentStage(
                "intermediate", shared.hidden_epochs, student.model.parameters(), intermediate
            )
        )
    stages.append(
        StudentStage("kd", cfg.epochs, student.model.parameters(), loss, select_on_dev=True)
    )
    return fit(job, shared, ctx, student, stages, rows_for(job, shared))


def steps(job: StudentJob, shared: Shared) -> int:
    if job.role == "plain":
        return plain_steps(job, shared)
    first = shared.hidden_epochs if meta_stage(job, shared) else 0
    return count_steps(len(rows_for(job, shared)), job.cfg.batch_size, job.cfg.epochs + first)


def plain_key(cfg):
    """The plain twin of every teacher-bottom-layers method is the same model: bottom k layers
    fine-tuned on the gold labels (with the same selection metric, class weights and budget:
    `max_texts` sets its steps when `plain_steps` is matched)."""
    loss = (cfg.select_metric, cfg.class_weights, cfg.plain_steps, cfg.max_texts)
    if getattr(cfg, "checkpoint", None):
        return (
            "checkpoint",
            cfg.checkpoint,
            cfg.epochs,
            cfg.lr,
            cfg.batch_size,
            cfg.max_length,
            cfg.seed,
            *loss,
        )
    return (
        "bottom",
        cfg.layers,
        cfg.epochs,
        cfg.lr,
        cfg.batch_size,
        cfg.max_length,
        cfg.seed,
        *loss,
    )


register(
    Method(
        name="kd",
        title="Vanilla KD",
        family="transformer",
        config=KDConfig,
        summary="The teacher's bottom layers (half its depth by default), or a small checkpoint "
        "you name, trained on the teacher's softened logits (KL·T²) mixed with the labels "
        "(EasyNLP's vanilla_kd).",
        needs=("logits",),
        train=train,
        steps=steps,
        load=load,
        plain_key=plain_key,
        rank=1,
        meta_distil=True,  # cut from the meta-teacher: hidden states first, then logits
        paper="Hinton et al. 2015; EasyNLP vanilla_kd",
    )
)
