"""Parsing unlabelled texts (a transfer set): one text or pair per line, or a labelled file
whose labels are ignored.
"""

from __future__ import annotations

from core.data import pairs
from core.data.columns import (
    filled,
    find_columns,
    first_row,
    pair_layout,
    side_columns,
    unrecognised_header,
)
from core.data.problems import DataError, Problem
from core.data.read import split_rows


def _unlabelled_pairs(text: str, name: str) -> list[str]:
    """`text_a<TAB>text_b` per line, a headered file naming text_a and text_b, or a labelled
    pair file whose labels are ignored. Empty cells are skipped as in labelled pair files."""
    rows, _ = split_rows(text, name)
    k = first_row(rows)
    if k is None:
        return []
    sides = side_columns(rows[k][1])  # a header (with or without a label column)
    if sides:
        ai, bi = sides
        return [
            pairs.join(c[ai].strip(), c[bi].strip())
            for _, c in rows[k + 1 :]
            if len(c) > max(ai, bi) and c[ai].strip() and c[bi].strip()
        ]
    layout = pair_layout(rows)
    out: list[str] = []
    problems: list[Problem] = []
    for line, cells in rows:
        vals = filled(cells)
        if not vals:
            continue
        if len(vals) == 3 and layout:
            vals = vals[:2] if layout == "last" else vals[1:]
        if len(vals) != 2:
            problems.append(
                Problem(
                    name,
                    line,
                    f"{len(vals)} non-empty fields: an unlabelled pair is text_a<TAB>text_b",
                )  # fmt: skip
            )
            continue
        out.append(pairs.join(*vals))
    if problems:
        raise DataError(problems)
    return out


def parse_unlabelled(text: str, name: str, task: str = "single") -> list[str]:
    """One text per line, or a labelled file whose labels are ignored (both are common); for a
    pair task, one pair per line (see `_unlabelled_pairs`).

    A first line that looks like a header with unrecognised names is an error, as for
    labelled files.
    """
    if task == "pair":
        return _unlabelled_pairs(text, name)
    rows, fmt = split_rows(text, name)
    k = first_row(rows)
    cols = find_columns(rows[k][1]) if k is not None else None
    if cols:
        ti = cols[1]
        return [c[ti].strip() for _, c in rows[k + 1 :] if len(c) > ti and c[ti].strip()]
    bad = unrecognised_header(rows, k, name) if k is not None else None
    if bad:
        raise DataError([bad])
    lines = [c for _, c in rows if any(x.strip() for x in c)]
    if fmt == "tsv" and lines and all(len(c) >= 2 for c in lines):
        firsts = {c[0].strip() for c in lines}
        if len(firsts) <= 20:  # a short label column, not free text containing tabs
            return [" ".join(c[1:]).strip() for c in lines if " ".join(c[1:]).strip()]
    if fmt == "csv":
        return [pairs.clean(",".join(c)).strip() for c in lines]
    return [" ".join(c).strip() for c in lines]
