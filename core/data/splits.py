"""Stratified splits: test / dev / train carving and capping that keep every class (and, with
domains, every domain's classes) in proportion.

The same seed gives the same split, so runs on the same data and config compare like for like.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from core.data.labelled import LabelledSet
from core.data.problems import Problem


def stratified_split(
    labels: list[int], fractions_or_sizes: list[float | int], seed: int
) -> list[list[int]]:
    """Split indices into parts per label, so every part keeps the class balance."""
    rng = random.Random(seed)
    by_label: dict[int, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_label[y].append(i)
    n = len(labels)
    sizes = [s if isinstance(s, int) else round(s * n) for s in fractions_or_sizes]
    parts: list[list[int]] = [[] for _ in sizes]
    for y in sorted(by_label):
        idx = by_label[y]
        rng.shuffle(idx)
        share = len(idx) / n
        start = 0
        for k, size in enumerate(sizes):
            take = round(size * share) if k < len(sizes) - 1 else len(idx) - start
            parts[k].extend(idx[start : start + take])
            start += take
    for p in parts:
        rng.shuffle(p)
    return parts


def cap(ds: LabelledSet, n: int | None, seed: int) -> tuple[LabelledSet, list[str]]:
    """Stratified subsample to n rows; also returns the texts left out (future transfer set)."""
    if n is None or n >= len(ds):
        return ds, []
    keep, rest = stratified_split(ds.strata(), [n, len(ds) - n], seed)
    return ds.subset(sorted(keep)), [ds.texts[i] for i in sorted(rest)]


def _pct(frac: float) -> str:
    return f"{frac * 100:.3g}%"


def carve_dev(
    train: LabelledSet, frac: float, seed: int, name: str, max_train: int | None = None
) -> tuple[LabelledSet | None, LabelledSet, str, Problem]:
    """A stratified dev split of train for early stopping, or none when train is too small.

    The split is `frac` of the rows a run uses: of train, or, when `max_train` will cap train,
    of `max_train` + the dev rows (so 2,000 rows of a 67,000-row file get a dev set of 222, not
    6,700). Too small: some class would get fewer than 2 rows in the dev split or keep fewer
    than 2 in train (a dev set without every class says little about when to stop).
    """
    if frac <= 0:
        msg = "no dev file and dev_fraction is 0: no dev set, so no early stopping"
        return None, train, "none", Problem(name, None, msg, "warning")
    n_dev = round(frac * len(train))
    if max_train is not None and max_train < len(train) - n_dev:
        n_dev = round(frac / (1 - frac) * max_train)
    dev_i, train_i = stratified_split(train.strata(), [n_dev, len(train) - n_dev], seed)
    in_dev = Counter(train.labels[i] for i in dev_i)
    in_train = Counter(train.labels[i] for i in train_i)
    classes = range(len(train.label_names))
    if any(in_dev[c] < 2 or in_train[c] < 2 for c in classes):
        msg = (
            f"no dev file, and train ({len(train)} rows) is too small to carve a {_pct(frac)} "
            "dev split with 2 or more rows of every class in both parts: no dev set, so no "
            "early stopping"
        )
        return (
            None,
            train,
            "none (train too small to carve one)",
            Problem(name, None, msg, "warning"),
        )
    msg = (
        f"no dev file: {_pct(frac)} of train ({len(dev_i)} rows, stratified) held out as the "
        "dev set for early stopping"
    )
    return (
        train.subset(dev_i),
        train.subset(train_i),
        f"carved {_pct(frac)} of train",
        Problem(name, None, msg, "warning"),
    )
