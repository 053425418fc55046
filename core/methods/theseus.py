"""BERT-of-Theseus (Xu et al. 2020): teacher modules randomly replaced by smaller successors.

The teacher's L layers are cut into k blocks; successor module i (one layer, initialised from
the teacher's layer i) stands in for block i with probability p, which rises linearly from
`replace_start` to 1 over the replacement stage. The predecessor's layers stay frozen; the
successor layers, embeddings, pooler and classifier learn. Then the successor is fine-tuned
alone. Task loss only (cross-entropy on the gold rows): the teacher teaches through its modules,
not through its logits.
"""

from __future__ import annotations

import copy
import random
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
    layers_of,
    load,
    model_inputs,
    teacher_depth,
)
from core.methods.kd import plain_key as _kd_plain_key
from core.methods.kd import student_forward
from core.train.balance import gold_ce
from core.train.batches import count_steps


@dataclass
class TheseusConfig(BottomConfig):
    method: str = opt("theseus", help="The registered method this config belongs to.")
    replace_start: float = opt(
        0.3,
        help="Replacement probability at the start of the replacement stage; it rises linearly "
        "to 1 by the stage's end (the paper's linear curriculum).",
        flag="--theseus-replace-start",
        min=0.0,
        max=1.0,
        step=0.05,
    )
    successor_epochs: int = opt(
        1,
        help="Epochs of successor-only fine-tuning after the replacement stage "
        "(student_epochs counts the replacement stage).",
        flag="--theseus-successor-epochs",
        min=0,
        max=20,
        step=1,
    )


def blocks(teacher_layers: int, k: int) -> list[list[int]]:
    """Teacher layer indices (0-based) each successor replaces: k nearly equal runs."""
    base, extra = divmod(teacher_layers, k)
    out, start = [], 0
    for i in range(k):
        n = base + (1 if i < extra else 0)
        out.append(list(range(start, start + n)))
        start += n
    return out


def train(job: StudentJob, shared: Shared, ctx) -> TransformerStudent:
    cfg = job.cfg
    teacher = shared.teacher
    student, k = cut_student(job, shared)
    model = student.model
    rows = rows_for(job, shared, gold_only=True)
    if job.role == "plain":

        def plain(batch, progress):
            return ce_term(student_forward(student, batch).logits, batch.labels, batch.class_w)

        stage = StudentStage("fine-tune", cfg.epochs, model.parameters(), plain, select_on_dev=True)
        return fit(job, shared, ctx, student, [stage], rows)

    predecessor = copy.deepcopy(layers_of(teacher.model)).eval()
    predecessor.requires_grad_(False)
    groups = blocks(teacher_depth(teacher), k)
    successor = layers_of(model)
    rng = random.Random(cfg.seed)
    base = getattr(model, model.base_model_prefix)

    def mixed(batch, progress):
        p = cfg.replace_start + (1.0 - cfg.replace_start) * progress
        device = next(model.parameters()).device
        predecessor.to(device)
        enc = model_inputs(model, batch.enc, device)
        h = base.embeddings(input_ids=enc["input_ids"], token_type_ids=enc.get("token_type_ids"))
        mask = base.get_extended_attention_mask(enc["attention_mask"], enc["input_ids"].shape)
        for i, group in enumerate(groups):
            if rng.random() < p:
                h = successor[i](h, attention_mask=mask)[0]
            else:
                for j in group:
                    h = predecessor[j](h, attention_mask=mask)[0]
        logits = model.classifier(model.dropout(base.pooler(h)))
        return {"ce": gold_ce(logits, batch.labels, batch.class_w)}

    def alone(batch, progress):
        return ce_term(student_forward(student, batch).logits, batch.labels, batch.class_w)

    stages = [StudentStage("replace", cfg.epochs, model.parameters(), mixed)]
    if cfg.successor_epochs > 0:
        stages.append(
            StudentStage(
                "successor", cfg.successor_epochs, model.parameters(), alone, select_on_dev=True
            )
        )
    else:
        stages[0].select_on_dev = True
    with torch.enable_grad():
        return fit(job, shared, ctx, student, stages, rows)


def steps(job: StudentJob, shared: Shared) -> int:
    if job.role == "plain":
        return plain_steps(job, shared)
    cfg = job.cfg
    n = len(rows_for(job, shared, gold_only=True))
    epochs = cfg.epochs + (cfg.successor_epochs if job.role == "distilled" else 0)
    return count_steps(n, cfg.batch_size, epochs)


def plain_key(cfg):
    return _kd_plain_key(cfg)


register(
    Method(
        name="theseus",
        title="BERT-of-Theseus",
        family="transformer",
        config=TheseusConfig,
        summary="Each block of teacher layers is randomly swapped for one smaller successor "
        "layer, more often as training goes on, then the successor is fine-tuned alone; it "
        "learns from the labels through the teacher's own modules (gold rows only).",
        needs=("modules",),
        train=train,
        steps=steps,
        load=load,
        plain_key=plain_key,
        rank=4,
        paper="Xu et al. 2020, BERT-of-Theseus: Compressing BERT by Progressive Module Replacing",
    )
)
