"""Patient KD (Sun et al. 2019): the student also learns the teacher's intermediate [CLS] states.

PKD-Skip matches student layer i to teacher layer i·⌈L/k⌉ (every ⌈L/k⌉-th layer); PKD-Last to
the last k−1 layers below the top (L−k+i). The patient term is the squared distance between the
L2-normalised [CLS] states, summed over the matched layers, weighted by beta, added to the KD
loss; the student starts from the teacher's bottom k layers (PKD, section 3).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.config import opt
from core.methods import Method, register
from core.methods._base import Shared, StudentJob
from core.methods._tf_fit import StudentStage, fit, rows_for
from core.methods._transformer import (
    TransformerStudent,
    ce_term,
    cut_student,
    kd_terms,
    load,
    teacher_depth,
    teacher_internals,
)
from core.methods.kd import LogitKDConfig, plain_key, steps, student_forward

log = logging.getLogger(__name__)


@dataclass
class PKDConfig(LogitKDConfig):
    method: str = opt("pkd_skip", help="The registered method this config belongs to.")
    beta: float = opt(
        10.0,
        help="Weight of the patient term (normalised [CLS]-state MSE) against the KD loss: the "
        "lowest of the paper's grid {10, 100, 500, 1000}, which suits a few epochs.",
        flag="--pkd-beta",
        min=0.0,
        max=1000.0,
        step=10.0,
    )


def layer_map(arch: str, teacher_layers: int, student_layers: int) -> list[tuple[int, int]]:
    """(student layer, teacher layer) pairs, 1-based, for the k−1 layers below the student's
    top (its top layer is matched through the logits)."""
    L, k = teacher_layers, student_layers
    if arch == "pkd_skip":
        step = math.ceil(L / k)
        pairs = [(i, i * step) for i in range(1, k)]
    elif arch == "pkd_last":
        pairs = [(i, L - k + i) for i in range(1, k)]
    else:
        raise ValueError(f"no PKD layer map for {arch!r}")
    return [(s, t) for s, t in pairs if 1 <= t < L]


def patient_loss(s_hidden, t_hidden, pairs) -> torch.Tensor:
    """Sum over matched layers of ‖h_s/‖h_s‖ − h_t/‖h_t‖‖² on [CLS], averaged over the batch."""
    total = s_hidden[0].new_zeros(())
    for s, t in pairs:
        hs = F.normalize(s_hidden[s][:, 0], dim=-1)
        ht = F.normalize(t_hidden[t][:, 0].to(hs.device), dim=-1)
        total = total + ((hs - ht) ** 2).sum(-1).mean()
    return total


def train(job: StudentJob, shared: Shared, ctx) -> TransformerStudent:
    cfg = job.cfg
    teacher = shared.teacher
    student, k = cut_student(job, shared)
    model = student.model
    pairs = layer_map(cfg.method, teacher_depth(teacher), k)
    if not pairs and job.role == "distilled":
        log.warning(
            "%s: a %d-layer student of a %d-layer teacher has no intermediate layer to match: "
            "this is plain KD",
            job.name,
            k,
            teacher_depth(teacher),
        )

    def loss(batch, progress):
        if job.role == "plain":
            return ce_term(student_forward(student, batch).logits, batch.labels, batch.class_w)
        out = student_forward(student, batch, output_hidden_states=True)
        terms = kd_terms(
            out.logits,
            batch.t_logits,
            batch.labels,
            cfg.alpha,
            cfg.temperature,
            None,
            batch.class_w,
        )
        if pairs and cfg.beta > 0:
            t_out = teacher_internals(teacher, batch.enc)
            terms["hidden"] = cfg.beta * patient_loss(out.hidden_states, t_out.hidden_states, pairs)
        return terms

    stage = StudentStage("pkd", cfg.epochs, model.parameters(), loss, select_on_dev=True)
    return fit(job, shared, ctx, student, [stage], rows_for(job, shared))


for _name, _title, _summary in (
    (
        "pkd_skip",
        "PKD-Skip",
        "The teacher's bottom layers, trained on KD loss plus the teacher's [CLS] states of "
        "every ⌈L/k⌉-th layer (Patient KD, skip).",
    ),
    (
        "pkd_last",
        "PKD-Last",
        "The teacher's bottom layers, trained on KD loss plus the teacher's [CLS] states of its "
        "last k−1 layers below the top (Patient KD, last).",
    ),
):
    register(
        Method(
            name=_name,
            title=_title,
            family="transformer",
            config=PKDConfig,
            summary=_summary,
            needs=("logits", "hidden"),
            train=train,
            steps=steps,
            load=load,
            plain_key=plain_key,
            rank={"pkd_skip": 2, "pkd_last": 3}[_name],
            paper="Sun et al. 2019, Patient Knowledge Distillation for BERT Model Compression",
        )
    )
