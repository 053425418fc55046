"""Parsing a labelled file's text into a LabelledSet: single texts or sentence pairs, checked
against the label set, clipped and deduplicated.

Every problem names the file and the line, and validation runs completely before anything is
returned, so a bad file never gets half-imported into a run.
"""

from __future__ import annotations

from core.data import pairs
from core.data.clip import clip_one, clip_warning, too_long
from core.data.columns import (
    domain_column,
    filled,
    find_columns,
    first_row,
    pair_columns,
    pair_layout,
    swapped_columns,
    task_of_rows,
    unrecognised_header,
)
from core.data.labelled import LabelledSet, label_key
from core.data.problems import DataError, Problem
from core.data.read import split_rows
from core.data.suspicious import LONG_FIELD_CHARS, label_spellings, long_fields, one_line_file


def parse_labelled(
    text: str,
    name: str,
    encoding: str = "utf-8",
    label_names: list[str] | None = None,
    require_two_classes: bool = True,
    max_chars: int | None = None,
    task: str | None = None,
) -> LabelledSet:
    """Parse `label<TAB>text` (or CSV / a label+text header in any order), or sentence pairs
    (`text_a<TAB>text_b<TAB>label`, or a header naming text_a, text_b and label in any order).

    `task` None detects single texts or pairs (see `task_of_rows`); a dev or test file is parsed
    with the training file's task, and a pair file where single texts are expected is an error.
    `label_names` fixes the label set (a test file must use the training labels); otherwise the
    set is built from this file: integer labels keep their numeric order, strings sort by name.

    A first line that looks like a header with unrecognised names (see `unrecognised_header`)
    and columns that look swapped (text first, label last; see `swapped_columns`) are errors,
    not data. Texts longer than `max_chars` are clipped (each side of a pair on its own), with
    one warning per file. A file that is one line of tabs or odd separators is an error, and
    label spellings of one class and very long texts are warnings (core.data.suspicious).
    """
    if bad := one_line_file(text, name, strict=label_names is None):
        raise DataError([bad])  # else misread as one row of "only one class"
    rows, fmt = split_rows(text, name)
    found = task_of_rows(rows)
    if task == "single" and found == "pair":
        raise DataError(
            [
                Problem(
                    name,
                    None,
                    "this file holds sentence pairs, but the run's data are single texts",
                )
            ]
        )
    task = task or found
    if task == "pair":
        raw, problems = _pair_rows(rows, name)
        return _labelled_set(
            raw, problems, name, encoding, label_names, require_two_classes, max_chars, "pair"
        )
    raw, domains, problems = _single_rows(rows, name, fmt)
    ds = _labelled_set(
        raw, problems, name, encoding, label_names, require_two_classes, max_chars, "single"
    )
    ds.domains = domains
    return ds


def _single_rows(
    rows: list[tuple[int, list[str]]], name: str, fmt: str
) -> tuple[list[tuple[int, str, str]], list[str] | None, list[Problem]]:
    """(line, label, text) per data row of a single-text file, each row's domain (None when
    the header names no domain column), and the problems found.

    With a header, the named columns are read; without one, the label is the first cell and
    the rest is the text (a tab inside a single text is whitespace). A first line that looks
    like an unrecognised header, or swapped columns, is raised at once: the rows below would
    all be misread.
    """
    problems: list[Problem] = []
    k = first_row(rows)
    cols = find_columns(rows[k][1]) if k is not None else None
    di = domain_column(rows[k][1], cols) if cols else None
    body = rows[k + 1 :] if cols else rows
    if not cols and k is not None:
        bad = unrecognised_header(rows, k, name) or swapped_columns(rows, name, fmt)
        if bad:
            raise DataError([bad])
    li, ti = cols if cols else (0, 1)
    raw: list[tuple[int, str, str]] = []
    domains: list[str] = []
    need = max(li, ti, di if di is not None else 0)
    for line, cells in body:
        if not any(c.strip() for c in cells):
            continue  # blank lines are harmless
        if len(cells) < 2:
            sep = "comma" if fmt == "csv" else "tab"
            problems.append(Problem(name, line, f"missing {sep} separator between label and text"))
            continue
        if cols:
            if need >= len(cells):
                problems.append(Problem(name, line, f"expected {need + 1} columns"))
                continue
            label, txt = cells[li].strip(), pairs.clean(cells[ti]).strip()
            if di is not None and not cells[di].strip():
                problems.append(Problem(name, line, "blank domain"))
                continue
        else:
            label = cells[0].strip()
            sep = "," if fmt == "csv" else " "  # a tab inside a single text is whitespace
            txt = pairs.clean(sep.join(cells[1:])).strip()
        if not label:
            problems.append(Problem(name, line, "blank label"))
            continue
        if not txt:
            problems.append(Problem(name, line, "empty text"))
            continue
        raw.append((line, label, txt))
        if di is not None:
            domains.append(cells[di].strip())
    return raw, (domains if di is not None else None), problems


def _pair_rows(
    rows: list[tuple[int, list[str]]], name: str
) -> tuple[list[tuple[int, str, str]], list[Problem]]:
    """(line, label, `text_a<TAB>text_b`) per data row, and the problems found.

    The rule for real-world files (stray tabs, empty fields): with a header, the named columns
    are read and other cells ignored; without one, empty cells are skipped, the label is the
    last non-empty cell (the first in a label-first file) and exactly two non-empty texts must
    remain. One text is an empty side; three or more is a tab inside a sentence (ambiguous:
    which tab splits the pair?). Both are errors naming the line."""
    problems: list[Problem] = []
    out: list[tuple[int, str, str]] = []
    k = first_row(rows)
    if k is None:
        return out, [Problem(name, None, "no data rows")]
    cols = pair_columns(rows[k][1])
    body = rows[k + 1 :] if cols else rows
    layout = None if cols else (pair_layout(rows) or "last")
    for line, cells in body:
        if not any(c.strip() for c in cells):
            continue
        if cols:
            li, ai, bi = cols
            if max(cols) >= len(cells):
                problems.append(Problem(name, line, f"expected {max(cols) + 1} columns"))
                continue
            label, a, b = cells[li].strip(), cells[ai].strip(), cells[bi].strip()
            if not label:
                problems.append(Problem(name, line, "blank label"))
                continue
            empty = [side for side, t in (("text_a", a), ("text_b", b)) if not t]
            if empty:
                problems.append(Problem(name, line, f"empty {' and '.join(empty)}"))
                continue
        else:
            vals = filled(cells)
            label, texts = (vals[-1], vals[:-1]) if layout == "last" else (vals[0], vals[1:])
            if len(texts) < 2:
                what = "no text" if not texts else "one text"
                problems.append(
                    Problem(
                        name,
                        line,
                        f"{what} beside the label {label!r}: a pair needs text_a and text_b (an empty side?)",
                    )
                )
                continue
            if len(texts) > 2:
                problems.append(
                    Problem(
                        name,
                        line,
                        f"{len(texts)} texts beside the label, a pair has two: a tab inside a "
                        "sentence? (remove it, or use a headered CSV with quoted fields)",
                    )
                )
                continue
            a, b = texts
        out.append((line, label, pairs.join(a, b)))
    return out, problems


def _labelled_set(
    raw: list[tuple[int, str, str]],
    problems: list[Problem],
    name: str,
    encoding: str,
    label_names: list[str] | None,
    require_two_classes: bool,
    max_chars: int | None,
    task: str,
) -> LabelledSet:
    """Rows (line, label, text) checked against the label set, clipped, deduplicated."""
    if not raw and not problems:
        problems.append(Problem(name, None, "no data rows"))
    if label_names is not None:
        known = set(label_names)
        for line, label, _ in raw:
            if label not in known:
                problems.append(
                    Problem(
                        name, line, f"unknown label {label!r} (known: {', '.join(label_names)})"
                    )
                )
        names = list(label_names)
    else:
        names = sorted({lab for _, lab, _ in raw}, key=label_key)
        if require_two_classes and len(names) == 1 and not problems:
            problems.append(
                Problem(
                    name, None, f"only one class ({names[0]!r}); a classifier needs two or more"
                )
            )
    if any(p.level == "error" for p in problems):
        raise DataError(problems)
    warnings: list[Problem] = [] if label_names is not None else label_spellings(raw, name)
    if max_chars is None or max_chars > LONG_FIELD_CHARS:  # else the clip warning says it
        warnings += long_fields(raw, name)
    clipped = [line for line, _, txt in raw if max_chars is not None and too_long(txt, max_chars)]
    if clipped:
        raw = [(line, label, clip_one(txt, max_chars)) for line, label, txt in raw]
        warnings.append(clip_warning(name, len(clipped), max_chars, clipped[0]))
    seen: dict[tuple[str, str], int] = {}
    for line, label, txt in raw:
        key = (label, txt)
        if key in seen:
            warnings.append(Problem(name, line, f"duplicate of line {seen[key]}", level="warning"))
        else:
            seen[key] = line
    idx = {n: i for i, n in enumerate(names)}
    ds = LabelledSet(
        texts=[t for _, _, t in raw],
        labels=[idx[lab] for _, lab, _ in raw],
        label_names=names,
        source=name,
        encoding=encoding,
        warnings=warnings,
        clipped=len(clipped),
        task=task,
    )
    if encoding != "utf-8":
        ds.warnings.insert(0, Problem(name, None, f"decoded as {encoding}", level="warning"))
    return ds
