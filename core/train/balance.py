"""Class-weighted cross-entropy on gold labels: the one implementation the teacher's
fine-tuning, the plain twins and the label term of every distilled student use.

`balanced` weights are the inverse class frequency of the training rows, normalised so that the
weights averaged over those rows are 1 (scikit-learn's "balanced": n / (classes · n_c)): the
loss keeps its scale, and mixing it with a distillation term keeps the mix alpha says, while a
minority row counts as much in total as a majority one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from core.train.select import class_counts

CLASS_WEIGHTS = ("none", "balanced")


def class_weights(labels: Sequence[int], num_labels: int, mode: str) -> torch.Tensor | None:
    """Per-class loss weights from the gold `labels` (-1 skipped): None for `none`, for
    `balanced` n / (classes present · n_c), 0 for a class without rows (it never occurs)."""
    if mode == "none":
        return None
    if mode != "balanced":
        raise ValueError(f"unknown class_weights {mode!r}; expected {' or '.join(CLASS_WEIGHTS)}")
    counts = class_counts(labels, num_labels)
    present = [c for c in counts if c > 0]
    n, k = sum(present), len(present)
    return torch.tensor([n / (k * c) if c else 0.0 for c in counts], dtype=torch.float32)


def gold_ce(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy of `logits` against `labels` (every row gold), each row times its class's
    weight when `weights` is given; "mean" averages the weighted rows over the rows (not over
    the weights, as torch's `weight=` does, so a batch's scale follows its rows). Without
    weights it is torch's own cross-entropy, bit for bit."""
    if weights is None:
        return F.cross_entropy(logits, labels, reduction=reduction)
    per_row = F.cross_entropy(logits, labels, reduction="none")
    per_row = per_row * weights.to(device=per_row.device, dtype=per_row.dtype)[labels]
    return per_row.mean() if reduction == "mean" else per_row
