"""Train a word / character student on teacher logits and/or hard labels: its stages for the
one training loop (core.train.loop).

Losses: "mse" on logits (Tang et al. 2019), "soft_ce" with temperature T scaled by T^2 (Hinton
et al. 2015), "hard" cross-entropy. With alpha < 1 the distillation loss is mixed with hard-label
CE on each row that has a gold label (transfer and augmented rows have none: label -1).

Every random draw (weights, dropout, batch order) comes from the student's own seeded streams,
and nothing here touches torch's process-wide generator or thread count: the caller decides the
thread count once, before students start, so students training side by side cannot disturb each
other and the same seed gives the same curves.
"""

from __future__ import annotations

import logging
import random

import torch
import torch.nn.functional as F
from torch import nn

from core.data.text import Vocab
from core.methods._word_config import StudentConfig
from core.methods._word_models import Student, build_model, load_vectors, pad_batch
from core.train.balance import class_weights, gold_ce
from core.train.loop import fit
from core.train.select import resolve_metric
from core.train.stage import DevCheck, OptimSettings, Stage

log = logging.getLogger(__name__)
LOSSES = ("mse", "soft_ce", "hard")


def distill_loss(
    student: torch.Tensor,
    teacher: torch.Tensor | None,
    labels: torch.Tensor,
    loss: str,
    alpha: float = 1.0,
    temperature: float = 1.0,
    weights: torch.Tensor | None = None,
    class_w: torch.Tensor | None = None,
) -> torch.Tensor:
    """The batch loss: the mean over rows of each row's own loss.

    A row with a gold label costs `alpha * distill + (1 - alpha) * CE`; a row with only the
    teacher's logits (transfer and augmented texts, label -1) costs `distill` alone. Averaging
    per-row losses keeps the mix what alpha says whatever share of a batch happens to be gold
    (averaging CE over the gold rows alone would weigh each gold row by 1 / their count).
    `hard` (or no teacher) is plain CE over the gold rows. `weights` scale each row's loss
    (MetaKD's domain expertise; see core.metakd); `class_w` weights each gold row's CE by its
    class (core.train.balance).
    """
    has_gold = labels >= 0
    if loss == "hard" or teacher is None:
        if not has_gold.any():
            raise ValueError("hard-label loss on a batch with no gold labels")
        if weights is not None:
            ce = gold_ce(student[has_gold], labels[has_gold], class_w, reduction="none")
            return (weights[has_gold] * ce).mean()
        return gold_ce(student[has_gold], labels[has_gold], class_w)
    if loss == "mse":
        soft = ((student - teacher) ** 2).mean(-1)
    elif loss == "soft_ce":
        t = temperature
        target = F.softmax(teacher / t, dim=-1)
        soft = -(target * F.log_softmax(student / t, dim=-1)).sum(-1) * t * t
    else:
        raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
    w = weights if weights is not None else torch.ones_like(soft)
    if alpha >= 1.0 or not has_gold.any():
        return (w * soft).mean()
    hard = torch.zeros_like(soft)
    hard[has_gold] = gold_ce(student[has_gold], labels[has_gold], class_w, reduction="none")
    weight = torch.where(has_gold, torch.full_like(soft, alpha), torch.ones_like(soft))
    return (w * (weight * soft + (1.0 - alpha) * hard)).mean()


def _length(ids) -> int:
    """Tokens of a text, or of the longer side of a pair (what its padded batch is as wide as)."""
    return max(len(ids[0]), len(ids[1])) if isinstance(ids, tuple) else len(ids)


@torch.inference_mode()
def predict(model, seqs: list) -> list[int]:
    """Predicted label ids of `seqs`, 512 at a time."""
    model.eval()
    out: list[int] = []
    for s in range(0, len(seqs), 512):
        ids, lengths = pad_batch(seqs[s : s + 512])
        out += model(ids, lengths).argmax(-1).tolist()
    return out


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
    init_embed: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    hidden: torch.Tensor | None = None,
    hidden_epochs: int = 0,
) -> Student:
    """`seqs` are word ids (a pair of id lists per row for sentence pairs: the student is then
    Siamese); `labels` hold -1 where only the teacher's logits are known. Its steps count
    towards the progress stage the caller opened (several students train at once).
    `init_embed` (vocabulary × embed_dim) replaces the random initial embeddings.

    MetaKD (core.teacher.metakd): `weights` scale each row's loss; with `hidden` (a teacher
    vector per row) and `hidden_epochs`, a first stage fits the student's sentence vector,
    through a learned projection, to it (weighted MSE) before the logits stage.
    """
    gen = torch.Generator().manual_seed(cfg.seed)  # weights and dropout masks
    rng = random.Random(cfg.seed)  # batch order
    if cfg.loss == "hard" or teacher_logits is None:
        keep = [i for i, y in enumerate(labels) if y >= 0]
        seqs, labels = [seqs[i] for i in keep], [labels[i] for i in keep]
        teacher_logits = None
        weights = weights[keep] if weights is not None else None
        hidden = hidden[keep] if hidden is not None else None
    pair = bool(seqs) and isinstance(seqs[0], tuple)  # a Siamese student (see students.py)
    model = build_model(cfg.method, len(vocab), len(label_names), cfg, generator=gen, pair=pair)
    if init_embed is not None:
        with torch.no_grad():
            model.embed.weight.copy_(init_embed)
            model.embed.weight[0].zero_()  # padding
    if cfg.vectors:
        load_vectors(cfg.vectors, vocab, model.embed)
    stages = []
    if hidden is not None and hidden_epochs > 0:
        stages.append(
            intermediate_stage(name, model, seqs, hidden, weights, hidden_epochs, cfg, gen)
        )
    labels_t = torch.tensor(labels)
    per_class = class_weights(labels, len(label_names), cfg.class_weights)

    def loss(batch: list[int], progress: float) -> dict[str, torch.Tensor]:
        ids, lengths = pad_batch([seqs[i] for i in batch])
        out = model(ids, lengths)
        tl = teacher_logits[batch] if teacher_logits is not None else None
        w = weights[batch] if weights is not None else None
        y = labels_t[batch]
        return {
            "loss": distill_loss(out, tl, y, cfg.loss, cfg.alpha, cfg.temperature, w, per_class)
        }

    check = None
    if dev and dev[0]:
        dev_seqs = dev[0]
        metric = resolve_metric(cfg.select_metric, labels, len(label_names))
        check = DevCheck(lambda: predict(model, dev_seqs), dev[1], len(label_names), metric)
    stages.append(word_stage("distil", name, model, seqs, loss, cfg.epochs, cfg, dev=check))
    fit(stages, rng, ctx)
    return Student(cfg.method, model, vocab, cfg, label_names)


def word_stage(name, series, model, seqs, loss, epochs, cfg, extra=(), total="loss", dev=None):
    """A stage of a word student: SparseAdam on the embedding table (each step touches a few
    hundred of its rows, and a dense Adam update of the whole table was most of a CPU step),
    Adam on the rest and `extra`, at `cfg.lr`, no schedule; the dense weights (not `extra`)
    clipped to `cfg.clip_norm`. Its curve steps count from 0."""
    dense = [p for n, p in model.named_parameters() if not n.startswith("embed.")]
    return Stage(
        name=name,
        model=model,
        params=dense + list(extra),
        loss=loss,
        lengths=[_length(x) for x in seqs],
        batch_size=cfg.batch_size,
        epochs=epochs,
        optim=OptimSettings(lr=cfg.lr, optimiser="adam", clip=cfg.clip_norm),
        series=series,
        total=total,
        chunk=50,
        sparse_params=[model.embed.weight],
        clip_params=dense,
        dev=dev,
        step_from=0,
    )


def intermediate_stage(name, model, seqs, hidden, weights, epochs, cfg, gen) -> Stage:
    """MetaKD's first stage for a word student: its sentence vector (`model.encode`) through a
    projection W fits the teacher's vector of the same text: mean over rows of
    weight · MSE(W·h, h_teacher). W is dropped afterwards."""
    with torch.no_grad():
        width = model.encode(*pad_batch(seqs[:2])).shape[-1]
    proj = nn.Linear(width, hidden.shape[-1])
    with torch.no_grad():  # seeded like the student's own weights
        proj.weight.normal_(0.0, 0.02, generator=gen)
        proj.bias.zero_()
    w = weights if weights is not None else torch.ones(len(seqs))

    def loss(batch: list[int], progress: float) -> dict[str, torch.Tensor]:
        ids, lengths = pad_batch([seqs[i] for i in batch])
        h = proj(model.encode(ids, lengths))
        return {"intermediate": (w[batch] * ((h - hidden[batch]) ** 2).mean(-1)).mean()}

    return word_stage(
        "intermediate", name, model, seqs, loss, epochs, cfg, proj.parameters(), "intermediate"
    )
