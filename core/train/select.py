"""Dev metrics a stage can select its best epoch on (and stop early on): the config names one.

Kept here rather than borrowed from core.evaluate (a layer above): selection needs only the
predicted and gold label ids."""

from __future__ import annotations

from collections.abc import Sequence

METRICS = ("accuracy", "macro_f1")


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
