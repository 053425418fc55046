"""Dev metrics a stage can select its best epoch on (and stop early on): the config names one,
or `auto`, which `resolve_metric` turns into one from the training labels.

Kept here rather than borrowed from core.evaluate (a layer above): selection needs only the
predicted and gold label ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

METRICS = ("accuracy", "macro_f1")
AUTO = "auto"
# `auto` selects on macro-F1 when the largest class has at least this many times the rows of the
# smallest (binary: a minority share under 40%); on AFQMC (69/31, ratio 2.2) accuracy picked
# "always no match" epochs, which macro-F1 scores at ~0.41 instead of 0.69.
IMBALANCE_RATIO = 1.5


def class_counts(labels: Sequence[int], num_labels: int | None = None) -> list[int]:
    """Rows per class among the gold labels (-1, an unlabelled row, is skipped); with
    `num_labels`, a class without rows counts 0."""
    counts = Counter(int(y) for y in labels if int(y) >= 0)
    n = num_labels if num_labels is not None else (max(counts) + 1 if counts else 0)
    return [counts.get(c, 0) for c in range(n)]


def imbalanced(labels: Sequence[int], num_labels: int | None = None) -> bool:
    """Whether the largest class has IMBALANCE_RATIO times the rows of the smallest or more
    (a class with no rows at all counts as imbalanced)."""
    counts = class_counts(labels, num_labels)
    if len(counts) < 2:
        return False
    return min(counts) == 0 or max(counts) >= IMBALANCE_RATIO * min(counts)


def resolve_metric(requested: str, labels: Sequence[int], num_labels: int | None = None) -> str:
    """The one place `auto` is decided: macro_f1 on imbalanced training labels (see
    `imbalanced`), accuracy otherwise; an explicit metric is returned as it is."""
    if requested != AUTO:
        if requested not in METRICS:
            raise ValueError(
                f"unknown dev metric {requested!r}; expected auto or {', '.join(METRICS)}"
            )
        return requested
    return "macro_f1" if imbalanced(labels, num_labels) else "accuracy"


def accuracy(pred: Sequence[int], gold: Sequence[int]) -> float:
    """Share of rows whose predicted label is the gold one."""
    return sum(int(p == g) for p, g in zip(pred, gold, strict=True)) / max(len(gold), 1)


def macro_f1(pred: Sequence[int], gold: Sequence[int], num_labels: int) -> float:
    """F1 averaged over the `num_labels` classes, each counting equally (a class never
    predicted nor present scores 0, as in core.evaluate.metrics): the metric that does not
    reward ignoring a rare class."""
    f1s = []
    for c in range(num_labels):
        tp = sum(1 for p, g in zip(pred, gold, strict=True) if p == c and g == c)
        fp = sum(1 for p, g in zip(pred, gold, strict=True) if p == c and g != c)
        fn = sum(1 for p, g in zip(pred, gold, strict=True) if p != c and g == c)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return sum(f1s) / num_labels if num_labels else 0.0


def score(metric: str, pred: Sequence[int], gold: Sequence[int], num_labels: int) -> float:
    """`metric` ("accuracy" | "macro_f1") of predictions against gold labels."""
    if metric == "accuracy":
        return accuracy(pred, gold)
    if metric == "macro_f1":
        return macro_f1(pred, gold, num_labels)
    raise ValueError(f"unknown dev metric {metric!r}; expected one of {', '.join(METRICS)}")
