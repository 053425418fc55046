"""MetaKD (Pan et al., ACL 2021; EasyNLP's meta-teacher and meta-distillation), in three parts:

1. prototype scores: each training row's [CLS] vector (pre-trained encoder, before any
   fine-tuning) against its class's centroid in the *other* domains. A row close to how its
   class looks elsewhere carries knowledge that transfers; the scores, scaled to mean 1, weight
   the meta-teacher's loss;
2. the meta-teacher: the teacher's architecture fine-tuned on every domain at once, each row's
   cross-entropy times its prototype score, plus a domain-corruption term (a head that reads
   the domain embedding + the mean token state must predict a *shuffled* domain label, so the
   encoder is pushed away from features that only name the domain). The head is training-only:
   the saved meta-teacher is a plain sequence classifier, loaded and scored like any teacher;
3. domain expertise: for a target domain's rows, the meta-teacher's probability of the gold
   label (its confidence for unlabelled, augmented rows), times (1 + prototype score) as
   EasyNLP does, scaled to mean 1: the weights of the meta-distilled students' losses.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from core.data import pairs
from core.teacher.hf import load_pretrained, resolve_source
from core.teacher.model import Teacher
from core.train.device import autocast, pick_device, precision

log = logging.getLogger(__name__)


def _encode_batches(tok, texts: list[str], max_length: int, batch_size: int):
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        enc = pairs.encode(
            tok, [texts[i] for i in idx], max_length, padding=True, return_tensors="pt"
        )
        yield idx, enc


def mean_tokens(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of the token states after [CLS] (EasyNLP's "content" vector), padding left out."""
    m = mask[:, 1:].unsqueeze(-1).to(hidden.dtype)
    return (hidden[:, 1:] * m).sum(1) / m.sum(1).clamp(min=1.0)


@torch.inference_mode()
def cls_vectors(
    model: str,
    texts: list[str],
    home,
    max_length: int,
    device: str = "auto",
    batch_size=64,
    requested: str = "fp32",
) -> torch.Tensor:
    """[CLS] vectors of the pre-trained encoder `model` (a preset, folder or hub name), in the
    precision `requested` resolves to on `device`."""
    tok, m = load_pretrained(resolve_source(model, home), 2, None)
    dev = pick_device(device)
    m.to(dev).eval()
    resolved = precision(dev, requested)
    out = None
    for idx, enc in _encode_batches(tok, texts, max_length, batch_size):
        with autocast(dev, resolved):
            h = m(**enc.to(dev), output_hidden_states=True).hidden_states[-1][:, 0].float().cpu()
        if out is None:
            out = torch.empty(len(texts), h.shape[-1])
        out[idx] = h
    return out if out is not None else torch.empty(0, 0)


def prototype_scores(vectors: torch.Tensor, labels: list[int], domains: list[str]) -> list[float]:
    """Per row: the mean cosine of its vector with its class's centroid in every other domain
    that has that class (its own domain's centroid when no other has), shifted to [0, 1] and
    scaled so the scores average 1 (so they reweight rows without changing the loss's scale)."""
    v = F.normalize(vectors.float(), dim=-1)
    keys = sorted(set(zip(domains, labels, strict=True)))
    rows = list(zip(domains, labels, strict=True))
    cents = torch.stack(
        [F.normalize(v[[i for i, r in enumerate(rows) if r == k]].mean(0), dim=0) for k in keys]
    )
    cos = v @ cents.T  # rows × (domain, class) centroids
    raw = []
    for i, (d, y) in enumerate(rows):
        cols = [j for j, k in enumerate(keys) if k[1] == y and k[0] != d]
        cols = cols or [keys.index((d, y))]
        raw.append((float(cos[i, cols].mean()) + 1.0) / 2.0)
    mean = sum(raw) / max(len(raw), 1)
    return [r / mean for r in raw] if mean > 0 else [1.0] * len(raw)


class DomainCorruption:
    """EasyNLP's domain-corruption head: tanh(W(domain embedding + content)) -> domain logits,
    cross-entropy against the batch's domain ids shuffled, times `weight`. Seeded, so the
    shuffles repeat."""

    def __init__(self, domain_ids: list[int], n_domains: int, hidden: int, weight: float, seed):
        self.ids = torch.tensor(domain_ids)
        self.weight = weight
        self.gen = torch.Generator().manual_seed(seed)
        self.modules = nn.ModuleDict(
            {
                "embedding": nn.Embedding(n_domains, hidden),
                "dense": nn.Linear(hidden, hidden),
                "classifier": nn.Linear(hidden, n_domains),
            }
        )

    def loss(self, out, feats, rows: list[int]) -> torch.Tensor:
        dev = out.logits.device
        ids = self.ids[rows].to(dev)
        content = mean_tokens(out.hidden_states[-1].float(), feats["attention_mask"])
        m = self.modules
        h = torch.tanh(m["dense"](m["embedding"](ids) + content))
        logits = m["classifier"](F.dropout(h, 0.1, self.modules.training))
        shuffled = ids[torch.randperm(len(rows), generator=self.gen).to(dev)]
        return self.weight * F.cross_entropy(logits, shuffled, reduction="none")


@torch.inference_mode()
def teacher_features(
    teacher: Teacher, texts: list[str], batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, content vectors) of a fine-tuned teacher for `texts`, float32 on the CPU: the
    targets of a meta-distilled student's two stages."""
    m = teacher.model.eval()
    logits = torch.empty(len(texts), len(teacher.label_names))
    content = None
    for idx, enc in _encode_batches(teacher.tokenizer, texts, teacher.max_length, batch_size):
        enc = enc.to(teacher.device)
        with autocast(teacher.device, teacher.precision):
            out = m(**enc, output_hidden_states=True)
        logits[idx] = out.logits.float().cpu()
        c = mean_tokens(out.hidden_states[-1].float(), enc["attention_mask"]).cpu()
        if content is None:
            content = torch.empty(len(texts), c.shape[-1])
        content[idx] = c
    return logits, content if content is not None else torch.empty(0, 0)


def expertise_weights(
    logits: torch.Tensor, labels: list[int], proto: list[float] | None = None
) -> torch.Tensor:
    """Per row: the meta-teacher's probability of the gold label (of its own choice where there
    is none, label -1), times (1 + prototype score) where one is known (2 elsewhere: a score
    of 1 is the average), scaled to mean 1."""
    p = F.softmax(logits.float(), dim=-1)
    y = torch.tensor(labels)
    conf = p.max(-1).values
    gold = y >= 0
    conf[gold] = p[gold, y[gold]]
    scale = torch.full_like(conf, 2.0)
    if proto is not None:
        scale[: len(proto)] = 1.0 + torch.tensor(proto, dtype=conf.dtype)
    w = conf * scale
    return w / w.mean().clamp(min=1e-8)
