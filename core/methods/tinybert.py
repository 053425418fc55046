"""TinyBERT (Jiao et al. 2020): a narrower, shallower student that imitates the teacher's
embeddings, attention maps and hidden states, then its predictions.

Stage 1 (intermediate distillation): MSE between the student's embeddings and hidden states,
each through a learned projection up to the teacher's width, and the teacher's (student layer m
matches teacher layer m·L/M), plus MSE between their attention maps (head-averaged when the
head counts differ). Stage 2 (prediction-layer distillation): soft cross-entropy on the
teacher's logits at temperature T.

TinyBERT's general distillation (stage 0, on a large corpus such as Wikipedia) is out of reach
offline on a CPU: stage 1 runs on this run's train + transfer + augmented texts instead, and the
student's word embeddings start from the teacher's, projected onto their top principal
directions (PCA), so it does not start from nothing. HF returns attention probabilities, not the
pre-softmax scores the paper matches: we match probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.config import opt
from core.methods import Method, register
from core.methods._base import Shared, StudentJob
from core.methods._tf_fit import StudentStage, fit, plain_steps, rows_for
from core.methods._transformer import (
    TransformerConfig,
    TransformerStudent,
    ce_term,
    load,
    model_inputs,
    teacher_depth,
    teacher_internals,
)
from core.train.batches import count_steps


@dataclass
class TinyBERTConfig(TransformerConfig):
    method: str = opt("tinybert", help="The registered method this config belongs to.")
    layers: int = opt(
        2,
        help="TinyBERT student layers (the paper's small one has 4 × 312; 2 × 256 under a "
        "4 × 512 teacher such as m3e-small is what makes it >= 5x faster).",
        flag="--tinybert-layers",
        min=1,
        max=12,
        step=1,
    )
    hidden: int = opt(
        256,
        help="TinyBERT student width (hidden size).",
        flag="--tinybert-hidden",
        min=32,
        max=1024,
        step=32,
    )
    intermediate: int = opt(
        1024,
        help="Feed-forward width of each TinyBERT layer (4x the hidden size, as in BERT).",
        flag="--tinybert-intermediate",
        min=64,
        max=4096,
        step=64,
    )
    heads: int | None = opt(
        None,
        help="Attention heads of the student.",
        none="the teacher's head count when it divides the width, else width / 64",
        flag="--tinybert-heads",
        min=0,
        max=32,
        step=1,
    )
    lr: float = opt(
        3e-4,
        help="AdamW learning rate of transformer students (BERT fine-tuning's usual value; "
        "TinyBERT's randomly initialised layers use a larger one).",
        flag="--tf-lr",
        min=1e-6,
        max=1e-2,
        step=1e-5,
    )
    intermediate_epochs: int = opt(
        2,
        help="Epochs of stage 1 (embedding, attention and hidden-state MSE) before stage 2 "
        "(prediction-layer distillation, student_epochs).",
        flag="--tinybert-intermediate-epochs",
        aliases=("--tinybert-stage1-epochs",),
        min=0,
        max=50,
        step=1,
    )
    temperature: float = opt(
        1.0,
        help="Temperature of stage 2's soft cross-entropy (the paper's T = 1).",
        flag="--tinybert-temperature",
        min=0.5,
        max=20.0,
        step=0.5,
    )
    prediction_max_texts: int | None = opt(
        None,
        help="Cap on stage 2's texts. Stage 2 needs only the teacher's cached logits, so it "
        "is cheap to run on every text (stage 1 runs the teacher online: max_texts caps it); "
        "a randomly initialised TinyBERT needs the steps: on hotel, 126 stage-2 steps left it "
        "at chance.",
        flag="--tinybert-prediction-max-texts",
        aliases=("--tinybert-prediction-texts",),
        none="every text",
        min=0,
        max=1_000_000,
        step=500,
    )
    init_embeddings: bool = opt(
        True,
        help="Start the student's word and position embeddings from the teacher's, projected "
        "onto their top principal directions (stands in for general distillation).",
        flag="--no-tinybert-init-embeddings",
        aliases=("--tinybert-random-embeddings",),
    )


def _heads(cfg: TinyBERTConfig, teacher_heads: int) -> int:
    if cfg.heads:
        return cfg.heads
    if cfg.hidden % teacher_heads == 0:
        return teacher_heads
    return max(1, cfg.hidden // 64)


@torch.no_grad()
def _pca_init(target: nn.Embedding, source: nn.Embedding) -> None:
    """target = source projected onto source's top principal directions (same vocabulary)."""
    w = source.weight.detach().float().cpu()
    centred = w - w.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    proj = centred @ v[: target.embedding_dim].T
    target.weight.copy_(proj / proj.std() * 0.02 * 2)


def build(cfg: TinyBERTConfig, teacher, label_names: list[str]) -> nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    tc = teacher.model.config
    heads = _heads(cfg, tc.num_attention_heads)
    if cfg.hidden % heads:
        raise ValueError(f"TinyBERT width {cfg.hidden} is not a multiple of {heads} heads")
    conf = BertConfig(
        vocab_size=tc.vocab_size,
        hidden_size=cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=heads,
        intermediate_size=cfg.intermediate,
        max_position_embeddings=tc.max_position_embeddings,
        type_vocab_size=getattr(tc, "type_vocab_size", 2),
        pad_token_id=getattr(tc, "pad_token_id", 0),
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={n: i for i, n in enumerate(label_names)},
    )
    torch.manual_seed(cfg.seed)
    model = BertForSequenceClassification(conf)
    if cfg.init_embeddings:
        s_emb = model.bert.embeddings
        t_emb = getattr(teacher.model, teacher.model.base_model_prefix).embeddings
        _pca_init(s_emb.word_embeddings, t_emb.word_embeddings)
        _pca_init(s_emb.position_embeddings, t_emb.position_embeddings)
    return model


def _masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE over the real tokens of (batch, tokens, dim) tensors."""
    m = mask.unsqueeze(-1).to(a.dtype)
    return (((a - b) ** 2) * m).sum() / (m.sum() * a.shape[-1]).clamp(min=1)


def _attention_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE between (batch, heads, q, k) attention maps over real query/key pairs; maps with
    different head counts are compared head-averaged."""
    if a.shape[1] != b.shape[1]:
        a, b = a.mean(1, keepdim=True), b.mean(1, keepdim=True)
    m = (mask.unsqueeze(1) * mask.unsqueeze(2)).unsqueeze(1).to(a.dtype)
    return (((a - b) ** 2) * m).sum() / (m.sum() * a.shape[1]).clamp(min=1)


def train(job: StudentJob, shared: Shared, ctx) -> TransformerStudent:
    cfg = job.cfg
    teacher = shared.teacher
    model = build(cfg, teacher, shared.label_names)
    student = TransformerStudent(
        cfg.method, model, teacher.tokenizer, cfg, shared.label_names, cfg.max_length
    )
    rows = rows_for(job, shared)

    def forward(batch, **kw):
        return model(**model_inputs(model, batch.enc, next(model.parameters()).device), **kw)

    if job.role == "plain":

        def plain(batch, progress):
            return ce_term(forward(batch).logits, batch.labels, batch.class_w)

        stage = StudentStage("fine-tune", cfg.epochs, model.parameters(), plain, select_on_dev=True)
        return fit(job, shared, ctx, student, [stage], rows)

    t_width = teacher.model.config.hidden_size
    L, M = teacher_depth(teacher), cfg.layers
    pairs = [(m, max(1, round(m * L / M))) for m in range(1, M + 1)]  # 1-based layers
    proj_emb = nn.Linear(cfg.hidden, t_width)
    proj_hid = nn.Linear(cfg.hidden, t_width)

    def intermediate(batch, progress):
        out = forward(batch, output_hidden_states=True, output_attentions=True)
        t = teacher_internals(teacher, batch.enc, attention=True)
        device = out.logits.device
        mask = batch.enc["attention_mask"].to(device)
        th = [h.to(device) for h in t.hidden_states]
        ta = [a.to(device) for a in t.attentions]
        emb = _masked_mse(proj_emb(out.hidden_states[0]), th[0], mask)
        hid = sum(_masked_mse(proj_hid(out.hidden_states[s]), th[tl], mask) for s, tl in pairs)
        att = sum(_attention_mse(out.attentions[s - 1], ta[tl - 1], mask) for s, tl in pairs)
        return {"embedding": emb, "hidden": hid, "attention": att}

    def prediction(batch, progress):
        s = forward(batch).logits
        T = cfg.temperature
        soft = -(F.softmax(batch.t_logits / T, -1) * F.log_softmax(s / T, -1)).sum(-1)
        return {"kd": soft.mean() * T * T}

    stages = []
    if cfg.intermediate_epochs > 0:
        params = [*model.parameters(), *proj_emb.parameters(), *proj_hid.parameters()]
        stages.append(StudentStage("intermediate", cfg.intermediate_epochs, params, intermediate))
    every = rows_for(job, shared, cap=cfg.prediction_max_texts)
    stages.append(
        StudentStage("prediction", cfg.epochs, model.parameters(), prediction, True, rows=every)
    )
    return fit(job, shared, ctx, student, stages, rows, extra_modules=(proj_emb, proj_hid))


def steps(job: StudentJob, shared: Shared) -> int:
    cfg = job.cfg
    if job.role == "plain":
        return plain_steps(job, shared)
    return count_steps(
        len(rows_for(job, shared)), cfg.batch_size, cfg.intermediate_epochs
    ) + count_steps(
        len(rows_for(job, shared, cap=cfg.prediction_max_texts)), cfg.batch_size, cfg.epochs
    )


def plain_key(cfg: TinyBERTConfig):
    return (
        "tinybert",
        cfg.layers,
        cfg.hidden,
        cfg.intermediate,
        cfg.heads,
        cfg.init_embeddings,
        cfg.epochs,
        cfg.lr,
        cfg.batch_size,
        cfg.max_length,
        cfg.seed,
        cfg.select_metric,
        cfg.class_weights,
        cfg.plain_steps,
        cfg.max_texts,
    )


register(
    Method(
        name="tinybert",
        title="TinyBERT",
        family="transformer",
        config=TinyBERTConfig,
        summary="A narrower, shallower BERT (2 × 256 by default) that first imitates the "
        "teacher's embeddings, attention maps and hidden states through learned projections, "
        "then its predictions (soft cross-entropy).",
        needs=("logits", "hidden", "attention", "embeddings"),
        train=train,
        steps=steps,
        load=load,
        plain_key=plain_key,
        rank=5,
        paper="Jiao et al. 2020, TinyBERT: Distilling BERT for Natural Language Understanding",
    )
)
