"""Checks that keep a run's figures honest: a test split that covers every class, and no
held-out text seen in training (leakage between train, dev, test and transfer texts).
"""

from __future__ import annotations

from core.data.labelled import LabelledSet
from core.data.problems import Problem


def missing_classes(ds: LabelledSet, names: list[str]) -> list[str]:
    """The classes of `names` with no row in `ds`: a split without one cannot score it."""
    present = set(ds.labels)
    return [n for i, n in enumerate(names) if i not in present]


def split_problems(
    train: LabelledSet, test: LabelledSet, train_name: str, test_name: str, test_source: str
) -> list[Problem]:
    """Errors for a test split that is empty or lacks a class, or a train split lacking one."""
    problems: list[Problem] = []
    names = train.label_names
    what = "test split" + (f" ({test_source})" if test_source.startswith("carved") else "")
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
    return problems


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
