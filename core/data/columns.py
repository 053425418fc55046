"""Which column is which: header names, the text_a / text_b and domain columns, and the layout
of a headerless file (single texts or sentence pairs, label first or last).

Rows are (line number, cells) as `core.data.read.split_rows` gives them. Guessing lives here so
labelled and unlabelled loading read a file's columns by the same rules.
"""

from __future__ import annotations

import re
from collections import Counter

from core.data.problems import Problem

LABEL_HEADERS = {"label", "labels", "class", "category", "sentiment", "target", "y", "标签", "类别"}
TEXT_HEADERS = {
    "text",
    "sentence",
    "content",
    "review",
    "comment",
    "document",
    "x",
    "文本",
    "内容",
    "评论",
    "句子",
}

# sentence pairs: a header naming both sides (and a label) makes a file a pair task
PAIR_A_HEADERS = {"text_a", "sentence1", "question1", "premise", "query", "q1", "句子1", "文本1"}
PAIR_B_HEADERS = {"text_b", "sentence2", "question2", "hypothesis", "q2", "句子2", "文本2"}
# several domains in one file: a header naming a domain column beside label and text
DOMAIN_HEADERS = {"domain", "domains", "领域", "domain_name"}


def find_columns(header: list[str]) -> tuple[int, int] | None:
    """(label, text) column indexes when the row is a header naming both, in any order."""
    low = [h.strip().lower() for h in header]
    li = next((i for i, h in enumerate(low) if h in LABEL_HEADERS), None)
    ti = next((i for i, h in enumerate(low) if h in TEXT_HEADERS), None)
    if li is not None and ti is not None and li != ti:
        return li, ti
    return None


def domain_column(header: list[str], cols: tuple[int, int]) -> int | None:
    """The index of a header's domain column (not the label or text column), if it names one."""
    low = [h.strip().lower() for h in header]
    return next((i for i, h in enumerate(low) if h in DOMAIN_HEADERS and i not in cols), None)


_NAME_RE = re.compile(
    r"[^\W\d]\w*(?:[ .\-]\w+)*"
)  # "polarity", "review_text", "标签"  # "polarity", "review_text", "标签"
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")


def _accepted_names() -> str:
    return (
        f"label column: {', '.join(sorted(LABEL_HEADERS))}; "
        f"text column: {', '.join(sorted(TEXT_HEADERS))}"
    )


def first_row(rows: list[tuple[int, list[str]]]) -> int | None:
    """Index of the first non-blank row: the only one that may be a header."""
    return next((k for k, (_, cells) in enumerate(rows) if any(c.strip() for c in cells)), None)


def unrecognised_header(rows: list[tuple[int, list[str]]], k: int, name: str) -> Problem | None:
    """The first non-blank row `rows[k]`, when it is not a recognised header but looks like one.

    It looks like a header when it has two or more cells, each short and name-like (a letter
    first; only letters, digits, `_`, spaces, `.` or `-`), its would-be label occurs on no other
    row, and one of:
      * one of its cells is an accepted column name (`polarity<TAB>review`);
      * every other row has a numeric label (`polarity` above rows labelled 0 / 1);
      * the other rows have two or more labels, each on two or more rows, so this one would be
        a class with a single example (one that could never be in both train and test).
    """
    line, cells = rows[k]
    cand = [c.strip() for c in cells]
    if len(cand) < 2 or not all(len(c) <= 32 and _NAME_RE.fullmatch(c) for c in cand if c):
        return None
    rest = [c[0].strip() for _, c in rows[k + 1 :] if len(c) >= 2 and c[0].strip()]
    if not rest or cand[0] in rest:
        return None
    counts = Counter(rest)
    known = LABEL_HEADERS | TEXT_HEADERS
    if not (
        any(c.lower() in known for c in cand)
        or all(_NUMBER_RE.fullmatch(r) for r in rest)
        or (len(counts) >= 2 and min(counts.values()) >= 2)
    ):
        return None
    unknown = [c for c in cand if c and c.lower() not in known]
    if unknown:
        shown = ", ".join(repr(c) for c in unknown)
        verb = "is not a recognised column name" if len(unknown) == 1 else "are not recognised"
        what = f"{shown} {verb}"
    else:
        what = "it needs one label column and one text column"
    msg = (
        f"this looks like a header, but {what}; name the columns with accepted names "
        f"({_accepted_names()}), or remove the line"
    )
    return Problem(name, line, msg)


def swapped_columns(rows: list[tuple[int, list[str]]], name: str, fmt: str) -> Problem | None:
    """Text first and label last with no header, e.g. `很好吃<TAB>1`.

    Detected when the first column is nearly all distinct (at least 80% of three or more rows),
    the last column has at most half as many distinct values as rows, all short (32 characters
    or fewer), and the first column's values are on average more than twice as long. A real
    label column repeats a few values, far from 80% distinct, so `label<TAB>text` files pass.
    """
    data = [[c.strip() for c in cells] for _, cells in rows if any(c.strip() for c in cells)]
    data = [c for c in data if len(c) >= 2]
    n = len(data)
    if n < 3:
        return None
    firsts = [c[0] for c in data]
    lasts = [c[-1] for c in data]
    d_first, d_last = len(set(firsts)), len(set(lasts))
    mean = lambda xs: sum(map(len, xs)) / len(xs)  # noqa: E731
    if (
        d_first >= 0.8 * n
        and d_last * 2 <= n
        and max(map(len, lasts)) <= 32
        and mean(firsts) > 2 * mean(lasts)
    ):
        sep = "," if fmt == "csv" else "<TAB>"
        msg = (
            f"the columns look swapped: the first column has {d_first} distinct values in "
            f"{n} rows (texts?) and the last only {d_last} short ones (labels?); write "
            f"`label{sep}text`, or add a header line naming the columns ({_accepted_names()})"
        )
        return Problem(name, None, msg)
    return None


# -- sentence pairs ------------------------------------------------------------------------------
def side_columns(header: list[str]) -> tuple[int, int] | None:
    """(text_a, text_b) column indexes when the header names both sides of a pair."""
    low = [h.strip().lower() for h in header]
    ai = next((i for i, h in enumerate(low) if h in PAIR_A_HEADERS), None)
    bi = next((i for i, h in enumerate(low) if h in PAIR_B_HEADERS), None)
    return None if ai is None or bi is None else (ai, bi)


def pair_columns(header: list[str]) -> tuple[int, int, int] | None:
    """(label, text_a, text_b) column indexes when the header names all three."""
    sides = side_columns(header)
    li = next((i for i, h in enumerate(header) if h.strip().lower() in LABEL_HEADERS), None)
    return None if sides is None or li is None else (li, *sides)


def filled(cells: list[str]) -> list[str]:
    """The non-empty cells, stripped: headerless pair files may hold stray empty fields."""
    return [c.strip() for c in cells if c.strip()]


def _label_like(values: list[str]) -> bool:
    """A label column: a few distinct short values, each on several rows."""
    distinct = set(values)
    return (
        bool(values)
        and len(distinct) <= 20
        and len(distinct) * 2 <= len(values)
        and max(map(len, distinct)) <= 32
    )


def pair_layout(rows: list[tuple[int, list[str]]]) -> str | None:
    """Where a headerless pair file keeps its label: "last" (`text_a<TAB>text_b<TAB>label`, the
    LCQMC / AFQMC layout), "first", or None when the file is not pairs.

    Pairs when at least 80% of the non-blank rows (and at least 3) have exactly three non-empty
    cells, one end of them is label-like (see `_label_like`) and the first text column is not
    (a `label<TAB>text` file whose texts hold a stray tab fails the 80%)."""
    data = [filled(c) for _, c in rows]
    data = [c for c in data if c]
    three = [c for c in data if len(c) == 3]
    if len(three) < 3 or len(three) < 0.8 * len(data):
        return None
    if _label_like([c[2] for c in three]) and not _label_like([c[0] for c in three]):
        return "last"
    if _label_like([c[0] for c in three]) and not _label_like([c[1] for c in three]):
        return "first"
    return None


def task_of_rows(rows: list[tuple[int, list[str]]]) -> str:
    """ "pair" for a sentence-pair file (a text_a / text_b header, or three columns with the
    label at one end), else "single"."""
    k = first_row(rows)
    if k is None:
        return "single"
    if pair_columns(rows[k][1]):
        return "pair"
    if find_columns(rows[k][1]):
        return "single"
    return "pair" if pair_layout(rows) else "single"
