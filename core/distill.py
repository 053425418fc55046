"""Train a student on teacher logits and/or hard labels: the whole loop in one readable file.

Losses: "mse" on logits (Tang et al. 2019), "soft_ce" with temperature T scaled by T^2 (Hinton
et al. 2015), "hard" cross-entropy. With alpha < 1 the distillation loss is mixed with hard-label
CE on the rows that have a gold label (transfer and augmented rows have none: label -1).
"""

from __future__ import annotations

import logging
import math
import random

import torch
import torch.nn.functional as F

from .config import StudentConfig
from .students import Student, build_model, load_vectors, pad_batch
from .text import Vocab

log = logging.getLogger(__name__)
LOSSES = ("mse", "soft_ce", "hard")


def distill_loss(
    student: torch.Tensor,
    teacher: torch.Tensor | None,
    labels: torch.Tensor,
    loss: str,
    alpha: float = 1.0,
    temperature: float = 1.0,
) -> torch.Tensor:
    has_gold = labels >= 0
    hard = F.cross_entropy(student[has_gold], labels[has_gold]) if has_gold.any() else None
    if loss == "hard" or teacher is None:
        if hard is None:
            raise ValueError("hard-label loss on a batch with no gold labels")
        return hard
    if loss == "mse":
        soft = F.mse_loss(student, teacher)
    elif loss == "soft_ce":
        t = temperature
        target = F.softmax(teacher / t, dim=-1)
        soft = -(target * F.log_softmax(student / t, dim=-1)).sum(-1).mean() * t * t
    else:
        raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
    if hard is None or alpha >= 1.0:
        return soft
    return alpha * soft + (1.0 - alpha) * hard


def _batches(seqs: list[list[int]], batch_size: int, rng: random.Random) -> list[list[int]]:
    idx = list(range(len(seqs)))
    rng.shuffle(idx)
    chunk = batch_size * 50
    out = []
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s : s + chunk], key=lambda i: len(seqs[i]))
        out += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


@torch.inference_mode()
def _accuracy(model, seqs: list[list[int]], labels: list[int]) -> float:
    model.eval()
    correct = 0
    for s in range(0, len(seqs), 512):
        ids, lengths = pad_batch(seqs[s : s + 512])
        pred = model(ids, lengths).argmax(-1)
        correct += int((pred == torch.tensor(labels[s : s + 512])).sum())
    model.train()
    return correct / max(len(seqs), 1)


def train_student(
    name: str,
    cfg: StudentConfig,
    vocab: Vocab,
    label_names: list[str],
    seqs: list[list[int]],
    labels: list[int],
    teacher_logits: torch.Tensor | None = None,
    dev: tuple[list[list[int]], list[int]] | None = None,
    ctx=None,
    own_stage: bool = True,
) -> Student:
    """`seqs` are word ids; `labels` hold -1 where only the teacher's logits are known.

    With `own_stage` the run's progress shows this training as a stage of its own; without, its
    steps count towards a stage the caller opened (several students training at once).
    """
    before = torch.get_num_threads()
    if own_stage:
        torch.set_num_threads(cfg.threads or before)
    try:
        return _train(
            name, cfg, vocab, label_names, seqs, labels, teacher_logits, dev, ctx, own_stage
        )
    finally:
        if own_stage:
            torch.set_num_threads(before)


def _train(
    name, cfg, vocab, label_names, seqs, labels, teacher_logits, dev, ctx, own_stage
) -> Student:
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    if cfg.loss == "hard" or teacher_logits is None:
        keep = [i for i, y in enumerate(labels) if y >= 0]
        seqs, labels = [seqs[i] for i in keep], [labels[i] for i in keep]
        teacher_logits = None
    model = build_model(cfg.arch, len(vocab), len(label_names), cfg)
    if cfg.vectors:
        load_vectors(cfg.vectors, vocab, model.embed)
    # Sparse embedding gradients: each step touches a few hundred of the vocabulary's rows, and a
    # dense Adam update of the whole table was most of a CPU training step.
    dense = [p for n, p in model.named_parameters() if not n.startswith("embed.")]
    opts = [
        torch.optim.SparseAdam([model.embed.weight], lr=cfg.lr),
        torch.optim.Adam(dense, lr=cfg.lr),
    ]
    labels_t = torch.tensor(labels)
    steps = math.ceil(len(seqs) / cfg.batch_size) * cfg.epochs
    if ctx and own_stage:
        ctx.stage(name, steps)
    best, best_state = -1.0, None
    step = 0
    model.train()
    for epoch in range(cfg.epochs):
        for batch in _batches(seqs, cfg.batch_size, rng):
            ids, lengths = pad_batch([seqs[i] for i in batch])
            out = model(ids, lengths)
            tl = teacher_logits[batch] if teacher_logits is not None else None
            loss = distill_loss(out, tl, labels_t[batch], cfg.loss, cfg.alpha, cfg.temperature)
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(dense, 5.0)
            for opt in opts:
                opt.step()
            step += 1
            if ctx:
                value = loss.item()
                ctx.log_point(f"{name}/loss", step, value)  # the student's own step count
                ctx.step(loss=value)
        if dev and dev[0]:
            acc = _accuracy(model, *dev)
            log.info("%s epoch %d dev accuracy %.4f", name, epoch + 1, acc)
            if ctx:
                ctx.log_point(f"{name}/dev_accuracy", step, acc)
            if acc > best:
                best = acc
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return Student(cfg.arch, model, vocab, cfg, label_names)
