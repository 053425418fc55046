"""Clipping texts to `max_chars`: each side of a sentence pair on its own, one warning per file.

Shared by parsing (files) and bundling (the embedded default, transfer texts), so a text is
clipped the same way wherever it came from.
"""

from __future__ import annotations

from core.data import pairs
from core.data.labelled import LabelledSet
from core.data.problems import Problem


def clip_one(text: str, max_chars: int) -> str:
    """A text clipped to max_chars; a pair clipped side by side (text_b must survive)."""
    if pairs.is_pair(text):
        a, b = pairs.split(text)
        return pairs.join(a[:max_chars], b[:max_chars])
    return text[:max_chars]


def too_long(text: str, max_chars: int) -> bool:
    """Whether clipping would change the text (a pair: either side over the limit)."""
    return (
        any(len(side) > max_chars for side in pairs.split(text))
        if pairs.is_pair(text)
        else (len(text) > max_chars)
    )


def clip_warning(name: str, n: int, max_chars: int, first_line: int | None = None) -> Problem:
    """The one warning per file for its clipped texts (not one per text: a file may hold many)."""
    where = f" (the first on line {first_line})" if first_line else ""
    msg = f"{n} text{'s' if n != 1 else ''} longer than {max_chars} characters clipped{where}"
    return Problem(name, None, msg, level="warning")


def clip_texts(texts: list[str], max_chars: int | None) -> tuple[list[str], int]:
    """Texts cut to `max_chars` characters (each side of a pair), and how many were longer."""
    if max_chars is None:
        return texts, 0
    n = sum(too_long(t, max_chars) for t in texts)
    return ([clip_one(t, max_chars) for t in texts] if n else texts), n


def clip_set(
    ds: LabelledSet, max_chars: int | None, name: str
) -> tuple[LabelledSet, list[Problem]]:
    """A set already loaded (the embedded default) clipped as a file would be while parsing,
    with its one warning; the set itself when nothing was longer."""
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
