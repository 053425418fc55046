"""NewsBERT (Wu et al. 2021): teacher and student trained together, with momentum distillation.

The student has k layers, layer j standing for the j-th block of L/k teacher layers: it starts
as that block's last layer (with the teacher's embeddings and its own copy of the teacher's
pooler and classifier). Each step the teacher learns the labels (cross-entropy on gold rows)
while the student learns from the teacher as it is now: embedding-output, hidden-state
(student layer j against the last teacher layer of block j) and pooled-output MSE, each
relative to the teacher's own mean square and averaged (the `hidden` term, about 1 for a
student no closer than zero), soft cross-entropy on the teacher's logits (T², as in KD) and
the labels. Momentum distillation then mixes the teacher's gradients into the student's before
the step: for student layer j, g_s ← beta · mean(g_t over the teacher layers of block j) +
(1 − beta) · g_s (embeddings likewise), so what the teacher learns about the task reaches the
student directly. Each model's gradient is clipped on its own (the teacher's before it is mixed
in), as two models with two optimisers would be.

Why not as first written (issue #22; docs/methods.md has the figures): the paper shares the
pooler and classifier between teacher and student, with both starting from the pre-trained
model, so that head is learned for both at once. Here both start from the run's fine-tuned
teacher, whose head is fitted to its top layer: shared, it kept moving with the teacher, and a
2-layer student, whose own layers move little in a few dozen steps, answered the majority class.
Cut from the teacher's bottom layers, student layer 2 (teacher layer 2) was pulled towards
teacher layer 4's output and stepped with the gradients of teacher layers 3 and 4: both fit a
student whose layer j starts as the last layer of block j. One clip over both models let the
teacher's larger gradients shrink the student's steps, and the summed raw hidden-state MSE
outweighed the student's soft and hard labels.

Both start from the run's fine-tuned teacher (the paper starts both from the pre-trained model;
starting here compares NewsBERT with vanilla KD from the same point). The jointly trained
teacher is reported too (`newsbert_teacher`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.config import opt
from core.methods import Method, register
from core.methods._base import Shared, StudentJob
from core.methods._tf_fit import StudentStage, fit, rows_for
from core.methods._transformer import (
    TransformerStudent,
    bottom_layers,
    ce_term,
    half_depth,
    layers_of,
    load,
    model_inputs,
)
from core.methods.kd import LogitKDConfig, plain_key, steps
from core.train.balance import gold_ce


@dataclass
class NewsBERTConfig(LogitKDConfig):
    method: str = opt("newsbert", help="The registered method this config belongs to.")
    momentum: float = opt(
        0.5,
        help="NewsBERT's beta: the share of the teacher's (block-averaged) gradient mixed into "
        "each student layer's own before a step (g_s <- beta·g_t + (1−beta)·g_s); 0 is joint "
        "training without momentum distillation.",
        flag="--newsbert-momentum",
        aliases=("--newsbert-beta",),
        min=0.0,
        max=1.0,
        step=0.05,
    )
    hidden_weight: float = opt(
        1.0,
        help="Weight of the embedding, hidden-state and pooled-output MSE terms together.",
        flag="--newsbert-hidden-weight",
        min=0.0,
        max=100.0,
        step=0.5,
    )


def _base(model):
    return getattr(model, model.base_model_prefix)


def _masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(a.dtype)
    return (((a - b) ** 2) * m).sum() / (m.sum() * a.shape[-1]).clamp(min=1.0)


def relative_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None):
    """MSE of `a` against the target `b`, over `b`'s mean square: scale-free (a BERT's hidden
    states run to tens in a few dimensions), 1 for a student that outputs zeros."""
    if mask is None:
        mask = torch.ones(b.shape[:-1], device=b.device)
    return _masked_mse(a, b, mask) / _masked_mse(torch.zeros_like(b), b, mask).clamp(min=1e-6)


def block_map(teacher_layers: int, student_layers: int) -> list[list[int]]:
    """Teacher layers (0-based) of each student layer's block: L/k consecutive layers each
    (the remainder goes to the top blocks)."""
    L, k = teacher_layers, student_layers
    bounds = [round(j * L / k) for j in range(k + 1)]
    return [list(range(bounds[j], bounds[j + 1])) for j in range(k)]


def momentum_mix(student, teacher, blocks: list[list[int]], beta: float) -> None:
    """g_s <- beta · mean(g_t over the block) + (1 − beta) · g_s, per student layer, and for
    the embeddings; shared modules (pooler, classifier) already carry both gradients."""
    if beta <= 0:
        return
    s_layers, t_layers = layers_of(student), layers_of(teacher)
    pairs = [(_base(student).embeddings, [_base(teacher).embeddings])]
    pairs += [(s_layers[j], [t_layers[i] for i in block]) for j, block in enumerate(blocks)]
    for s_mod, t_mods in pairs:
        t_params = [dict(m.named_parameters()) for m in t_mods]
        for name, p in s_mod.named_parameters():
            gs = [tp[name].grad for tp in t_params if tp[name].grad is not None]
            if p.grad is None or not gs:
                continue
            g_t = torch.stack(gs).mean(0)
            p.grad.mul_(1.0 - beta).add_(g_t, alpha=beta)


def build(job: StudentJob, shared: Shared):
    """(student, joint teacher): a trainable copy of the run's teacher, and a k-layer student
    with its embeddings, layer j copied from the last teacher layer of block j (the layer whose
    output it is trained to match, whose block's gradients are mixed into it), and its own copy
    of the pooler and classifier (not shared: see the module's docstring). The plain twin is
    the bottom k layers, as kd's."""
    teacher_model = copy.deepcopy(shared.teacher.model).float().to("cpu")
    k = half_depth(shared.teacher, job.cfg.layers)
    student_model = bottom_layers(teacher_model, k)
    if job.role != "plain":  # layer j stands for block j: it starts as the block's last layer
        blocks = block_map(int(teacher_model.config.num_hidden_layers), k)
        s_layers, t_layers = layers_of(student_model), layers_of(teacher_model)
        for j, block in enumerate(blocks):
            s_layers[j].load_state_dict(t_layers[block[-1]].state_dict())
    cfg, tok = job.cfg, shared.teacher.tokenizer
    student = TransformerStudent(
        cfg.method, student_model, tok, cfg, shared.label_names, cfg.max_length
    )
    joint = TransformerStudent(
        cfg.method, teacher_model, tok, cfg, shared.label_names, shared.teacher.max_length
    )
    return student, joint, k


def train(job: StudentJob, shared: Shared, ctx) -> TransformerStudent:
    cfg = job.cfg
    student, joint, k = build(job, shared)
    s_model, t_model = student.model, joint.model
    if job.role == "plain":  # the bottom k layers on the labels (the same model as kd_plain)

        def plain_loss(batch, progress):
            dev = next(s_model.parameters()).device
            logits = s_model(**model_inputs(s_model, batch.enc, dev)).logits
            return ce_term(logits, batch.labels, batch.class_w)

        stage = StudentStage(
            "plain", cfg.epochs, s_model.parameters(), plain_loss, select_on_dev=True
        )
        return fit(job, shared, ctx, student, [stage], rows_for(job, shared))

    blocks = block_map(int(t_model.config.num_hidden_layers), k)
    t = cfg.temperature

    def loss(batch, progress):
        dev = next(s_model.parameters()).device
        t_model.train()
        enc = model_inputs(t_model, batch.enc, dev)
        t_out = t_model(**enc, output_hidden_states=True)
        s_out = s_model(**model_inputs(s_model, batch.enc, dev), output_hidden_states=True)
        mask = enc["attention_mask"]
        gold = batch.labels >= 0
        terms: dict[str, torch.Tensor] = {}
        if gold.any():
            y = batch.labels[gold]
            terms["teacher_ce"] = gold_ce(t_out.logits[gold], y, batch.class_w)
        th, sh = t_out.hidden_states, s_out.hidden_states
        hid = [relative_mse(sh[0], th[0].detach(), mask)]  # embedding outputs
        hid += [
            relative_mse(sh[j + 1], th[block[-1] + 1].detach(), mask)
            for j, block in enumerate(blocks)
        ]
        base_t, base_s = _base(t_model), _base(s_model)
        if getattr(base_t, "pooler", None) is not None:
            pooled_t = base_t.pooler(th[-1]).detach()
            hid.append(relative_mse(base_s.pooler(sh[-1]), pooled_t))
        terms["hidden"] = cfg.hidden_weight * torch.stack(hid).mean()
        soft = F.kl_div(
            F.log_softmax(s_out.logits / t, dim=-1),
            F.softmax(t_out.logits.detach() / t, dim=-1),
            reduction="none",
        ).sum(-1) * (t * t)
        w = torch.where(gold, torch.full_like(soft, cfg.alpha), torch.ones_like(soft))
        terms["kd"] = (w * soft).mean()
        if cfg.alpha < 1.0 and gold.any():
            ce = torch.zeros_like(soft)
            y = batch.labels[gold]
            ce[gold] = gold_ce(s_out.logits[gold], y, batch.class_w, reduction="none")
            terms["ce"] = ((1.0 - cfg.alpha) * ce).mean()
        return terms

    s_params, t_params = list(s_model.parameters()), list(t_model.parameters())

    def before_step() -> None:
        # the teacher's gradient clipped on its own, then mixed into the student's; the loop
        # clips the student's (clip_params): one joint clip let the teacher's shrink the student's
        torch.nn.utils.clip_grad_norm_(t_params, cfg.clip_norm)
        momentum_mix(s_model, t_model, blocks, cfg.momentum)

    stage = StudentStage(
        "joint",
        cfg.epochs,
        s_params + t_params,
        loss,
        select_on_dev=True,
        before_step=before_step,
        clip_params=s_params,
    )
    out = fit(job, shared, ctx, student, [stage], rows_for(job, shared), extra_modules=[t_model])
    joint.model = t_model.to("cpu").eval()
    joint.task = out.task
    out.extras = {"teacher": joint}  # reported as newsbert_teacher (Method.reports)
    out.info["momentum"] = cfg.momentum
    return out


register(
    Method(
        name="newsbert",
        title="NewsBERT",
        family="transformer",
        config=NewsBERTConfig,
        summary="Teacher and student (k layers, each starting as the last teacher layer of "
        "its block) trained together: the "
        "student learns embeddings, hidden states, pooled output and logits from the teacher as "
        "it learns, and momentum distillation mixes the teacher's gradients into the "
        "student's. The jointly trained teacher is reported too.",
        needs=("joint",),
        train=train,
        steps=steps,
        load=load,
        plain_key=plain_key,
        rank=6,
        reports={"teacher": "joint_teacher"},
        supports=("single", "pair"),
        paper="Wu et al. 2021, NewsBERT: Distilling Pre-trained Language Model for Intelligent "
        "News Application",
    )
)
