"""Reading a data file into text, lines and cells: size check, encoding, line ends, CSV or TSV.

Kept apart from what the columns mean, so every loader (labelled, unlabelled, domain folders,
the embedded default) decodes and splits a file the same way.

Lines end at `\n` or `\r\n` only (a file with no `\n` at all but `\r` line ends, as old Mac
editors wrote, is split at `\r`); form feeds, `\x1c`-`\x1e`, NEL, U+2028 and U+2029 stay inside a
text, unlike `str.splitlines()`.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from pathlib import Path

from core.data.problems import DataError, Problem

log = logging.getLogger(__name__)

DEFAULT_MAX_MB = float(os.environ.get("DISTILLERY_MAX_FILE_MB", "50"))


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


def split_rows(text: str, name: str) -> tuple[list[tuple[int, list[str]]], str]:
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
