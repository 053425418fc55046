"""Files that parse but are probably not what the user meant: label spellings of one class,
very long fields, and a file whose rows are not separated by line breaks.

Each finding names the file and the line(s), so the user can fix the file in one pass. Label
spellings and long fields are warnings (the file may be right); a file that is one line full of
tabs or odd separators is an error, because every reading of it is wrong (it would otherwise be
reported as "only one class", which sends the user looking at the labels).
"""

from __future__ import annotations

import math

from core.data import pairs
from core.data.problems import Problem
from core.data.read import split_lines

# A field this long is no sentence: a model reads only its first few hundred tokens (the teacher
# 64-512, the students 40-200), so the rest of it is silently ignored. 20,000 characters is far
# above any review or question (the longest texts of the shipped data sets are ~5,000).
LONG_FIELD_CHARS = 20_000

# Characters some tools write between records instead of a line break. The reader splits
# lines at "\n" (and "\r\n", "\r") only, on purpose (see core.data.read): these stay inside a
# line, so a file separated by them reads as one row.
ODD_SEPARATORS = {
    "\x0b": "vertical tab (\\x0b)",
    "\x0c": "form feed (\\x0c)",
    "\x1c": "file separator (\\x1c)",
    "\x1d": "group separator (\\x1d)",
    "\x1e": "record separator (\\x1e)",
    "\x85": "next line (U+0085)",
    "\u2028": "line separator (U+2028)",
    "\u2029": "paragraph separator (U+2029)",
}

# Spellings of the two classes of a binary task that files mix (a merged export, hand edits).
POSITIVE = {"1", "pos", "positive", "true", "yes", "+"}
NEGATIVE = {"0", "neg", "negative", "false", "no", "-"}


def label_class(label: str) -> str:
    """What a label means once spelling is set aside: case and inner whitespace ignored,
    numbers compared as numbers (1 = 1.0 = +1), and the common names of the two classes of a
    binary task (pos / positive / 1 / true, neg / negative / 0 / false) taken as one."""
    s = " ".join(label.split()).casefold()
    try:
        f = float(s)
    except ValueError:
        pass
    else:
        if math.isfinite(f):
            s = str(int(f)) if f.is_integer() else repr(f)
    if s in POSITIVE:
        return "positive"
    if s in NEGATIVE:
        return "negative"
    return s


def label_spellings(raw: list[tuple[int, str, str]], name: str) -> list[Problem]:
    """One warning per group of distinct labels that look like spellings of one class
    (`1`, `1.0` and `pos`): each is a class of its own, which is rarely meant."""
    first: dict[str, int] = {}
    for line, label, _ in raw:
        first.setdefault(label, line)
    groups: dict[str, list[str]] = {}
    for label in first:
        groups.setdefault(label_class(label), []).append(label)
    out = []
    for labels in groups.values():
        if len(labels) < 2:
            continue
        listed = [f"{lab!r} (first on line {first[lab]})" for lab in labels]
        shown = ", ".join(listed[:-1]) + f" and {listed[-1]}"
        msg = (
            f"labels {shown} look like spellings of one class, but are read as "
            f"{len(labels)} different classes: write each class one way"
        )
        out.append(Problem(name, None, msg, level="warning"))
    return out


def long_fields(
    raw: list[tuple[int, str, str]], name: str, limit: int = LONG_FIELD_CHARS
) -> list[Problem]:
    """One warning for the texts (either side of a pair) longer than `limit` characters, with
    the line of the first and the longest length: a model reads only their beginning."""
    lines, longest = [], 0
    for line, _, text in raw:
        n = max(len(side) for side in pairs.split(text)) if pairs.is_pair(text) else len(text)
        if n > limit:
            lines.append(line)
            longest = max(longest, n)
    if not lines:
        return []
    where = f"line {lines[0]}" if len(lines) == 1 else f"the first on line {lines[0]}"
    msg = (
        f"{len(lines)} text{'s' if len(lines) > 1 else ''} longer than {limit:,} characters "
        f"({where}, the longest {longest:,}): a model reads only the first few hundred tokens "
        "of a text and ignores the rest; is a quote left open, or are rows run together?"
    )
    return [Problem(name, lines[0], msg, level="warning")]


def one_line_file(text: str, name: str, strict: bool) -> Problem | None:
    """An error for a file that is one line holding many tabs or odd record separators: its
    rows are not separated by line breaks. `strict` (a file that must bring its own classes)
    also takes a single line with 3 or more tabs; a test file may hold one row with tabs."""
    lines = [ln for ln in split_lines(text) if ln.strip()]
    if len(lines) != 1:
        return None
    line = lines[0]
    tabs = line.count("\t")
    odd = {c: line.count(c) for c in ODD_SEPARATORS if c in line}
    if not odd and not (strict and tabs >= 3):
        return None
    what = f"the file is one line with {tabs:,} tab{'s' if tabs != 1 else ''}"
    if odd:
        sep, n = max(odd.items(), key=lambda kv: kv[1])
        what += f" and {n:,} {ODD_SEPARATORS[sep]} character{'s' if n != 1 else ''}"
        why = f"its rows may be separated by {ODD_SEPARATORS[sep]} instead of line breaks"
    else:
        why = "its rows may be separated by something other than line breaks"
    return Problem(name, 1, f"{what}: {why}; save it with one row per line (\\n line ends)")
