"""Checks that keep a run's figures honest: a test split that covers every class, enough
training rows per class, and no held-out text seen in training (leakage between train, dev,
test and transfer texts).

One leakage rule for every run: a test row whose text the teacher saw (trained on, or used to
pick its best epoch) is dropped from the test set, counted in the run's data description and
warned about. A first run compares with its own train and dev texts (`drop_seen_test`); a run
reusing a teacher compares with the hashes that teacher recorded (core.runs.stages). The same
data give the same test set either way, so a benchmark's first seed and the seeds that reuse
its teacher are scored on the same rows. A test set left empty, or without a class, is an error.
"""

from __future__ import annotations

from core.data.labelled import LabelledSet
from core.data.problems import Problem


def missing_classes(ds: LabelledSet, names: list[str]) -> list[str]:
    """The classes of `names` with no row in `ds`: a split without one cannot score it."""
    present = set(ds.labels)
    return [n for i, n in enumerate(names) if i not in present]


# Fewer training rows than this in a class is refused. Two is the least that means anything:
# with one row a class is a single example the model memorises (3 training rows ran to the end
# at 0.50 accuracy), and no dev row of it can be held out (core.data.splits.carve_dev needs 2).
# Below FEW_TRAIN_PER_CLASS the run goes on with a warning: its figures are mostly noise.
MIN_TRAIN_PER_CLASS = 2
FEW_TRAIN_PER_CLASS = 10


def class_count_text(ds: LabelledSet) -> str:
    """ "'neg' 1, 'pos' 2": the rows of every class, for messages."""
    counts = [ds.labels.count(i) for i in range(len(ds.label_names))]
    return ", ".join(f"{n!r} {c}" for n, c in zip(ds.label_names, counts, strict=True))


def too_few_rows(train: LabelledSet, train_name: str) -> list[Problem]:
    """An error when a class has fewer than MIN_TRAIN_PER_CLASS training rows (a missing class
    is `split_problems`' own error), a warning below FEW_TRAIN_PER_CLASS."""
    counts = [train.labels.count(i) for i in range(len(train.label_names))]
    if not counts or min(counts) == 0:
        return []
    if min(counts) < MIN_TRAIN_PER_CLASS:
        msg = (
            f"too few training rows: {class_count_text(train)} after holding out the test / "
            f"dev splits; a classifier needs at least {MIN_TRAIN_PER_CLASS} rows of every class "
            "(give more rows, or a test file so none are held out of train)"
        )
        return [Problem(train_name, None, msg)]
    if min(counts) < FEW_TRAIN_PER_CLASS:
        msg = (
            f"few training rows: {class_count_text(train)}; with under {FEW_TRAIN_PER_CLASS} "
            "rows in a class the figures are mostly noise"
        )
        return [Problem(train_name, None, msg, level="warning")]
    return []


def split_problems(
    train: LabelledSet,
    test: LabelledSet,
    train_name: str,
    test_name: str,
    test_source: str,
    dropped: int = 0,
) -> list[Problem]:
    """Errors for a test split that is empty or lacks a class, or a train split lacking one or
    with too few rows of one; `dropped` test rows the teacher saw are named as the cause."""
    problems: list[Problem] = []
    names = train.label_names
    what = "test split" + (f" ({test_source})" if test_source.startswith("carved") else "")
    if dropped:
        what += f" (after dropping {dropped} row{'s' if dropped != 1 else ''} the teacher saw)"
    if len(test) == 0:
        hint = "; give a test file or more rows" if test_source.startswith("carved") else ""
        problems.append(Problem(test_name, None, f"{what} is empty{hint}"))
    elif missing := missing_classes(test, names):
        problems.append(
            Problem(
                test_name,
                None,
                f"{what} has no rows of class {', '.join(map(repr, missing))}: "
                "its scores would not cover every class",
            )
        )
    if missing := missing_classes(train, names):
        problems.append(
            Problem(
                train_name,
                None,
                f"train split has no rows of class {', '.join(map(repr, missing))} "
                f"after holding out the test / dev splits ({len(train)} rows left)",
            )
        )
    return problems + [p for p in too_few_rows(train, train_name) if p.level == "error"]


def drop_seen_test(
    test: LabelledSet, seen: list[bool], who: str
) -> tuple[LabelledSet, int, list[Problem]]:
    """The test set without the rows `seen` marks (texts `who` trained or early-stopped on),
    how many were dropped, and the warning saying so: scores on them would be optimistic."""
    n = sum(seen)
    if not n:
        return test, 0, []
    kept = test.subset([i for i, s in enumerate(seen) if not s])
    kept.warnings, kept.clipped = test.warnings, test.clipped
    msg = (
        f"{n} of {len(test)} test rows dropped: their texts are also in {who} "
        f"(scores on them would be optimistic); {len(kept)} test rows left"
    )
    return kept, n, [Problem(test.source, None, msg, level="warning")]


def overlap_warnings(train: LabelledSet, other: LabelledSet, what: str = "test") -> list[Problem]:
    """A warning when texts of `other` also occur in train: its scores would be optimistic."""
    train_texts = set(train.texts)
    n = sum(t in train_texts for t in other.texts)
    if not n:
        return []
    msg = f"{n} of {len(other)} {what} texts also occur in the training set (scores will be optimistic)"
    return [Problem(other.source, None, msg, level="warning")]


def drop_held_out(
    transfer: list[str], test: LabelledSet, dev: LabelledSet | None, name: str
) -> tuple[list[str], int, list[Problem]]:
    """Transfer texts deduplicated and without any equal to a test or dev text, how many were
    dropped for that, and the warning saying so: the students must not see held-out texts."""
    test_texts = set(test.texts)
    dev_texts = set(dev.texts) if dev is not None else set()
    unique = list(dict.fromkeys(transfer))
    kept = [t for t in unique if t not in test_texts and t not in dev_texts]
    dropped = len(unique) - len(kept)
    if not dropped:
        return kept, 0, []
    n_test = sum(t in test_texts for t in unique)
    n_dev = sum(t in dev_texts and t not in test_texts for t in unique)
    msg = (
        f"{dropped} transfer text{'s' if dropped != 1 else ''} dropped for equalling a test "
        f"or dev text ({n_test} test, {n_dev} dev): the students must not see held-out texts"
    )
    return kept, dropped, [Problem(name, None, msg, "warning")]
