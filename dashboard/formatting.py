"""Numbers as people read them (percentages, sizes, counts, durations, milliseconds): shared by the
tables, the report's sentences and the Pareto answer, so one figure reads the same everywhere."""

from __future__ import annotations

import math
from typing import Any


def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage ("87.5%"); "n/a" for a missing figure, never "nan%"."""
    return "n/a" if x is None or is_nan(x) else f"{100 * x:.{digits}f}%"


def human_bytes(n: float | None) -> str:
    """A size in B / KB / MB / GB (binary steps), as a model's size is read."""
    if n is None or is_nan(n):
        return "n/a"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def human_count(n: float | None) -> str:
    """A parameter count as "4.4M" or "310k"."""
    if n is None or is_nan(n):
        return "n/a"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}k"
    return f"{n:.0f}"


def fmt_seconds(s: float | None) -> str:
    """A duration as "42s", "3m 05s" or "1h 02m": run lengths and ETAs."""
    if s is None or is_nan(s):
        return "n/a"
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m {int(s % 60):02d}s"
    return f"{int(s // 3600)}h {int(s % 3600 // 60):02d}m"


def is_nan(x: Any) -> bool:
    """Whether `x` is a float NaN (pandas turns missing figures into NaN)."""
    return isinstance(x, float) and math.isnan(x)


def fmt_score(x: float | None) -> str:
    """An accuracy or F1 to three decimals ("0.874"); "n/a" when missing."""
    return "n/a" if x is None else f"{x:.3f}"


def fmt_ms(x: float | None) -> str:
    """Milliseconds with two decimals under 10 ms, one above: "0.42 ms", "18.3 ms"."""
    if x is None:
        return "n/a"
    return f"{x:.2f} ms" if x < 10 else f"{x:.1f} ms"


def fmt_times(x: float | None, what: str) -> str:
    """A ratio to the teacher in words, one decimal like the tables: "1.4x smaller"; "about the
    same size" / "about as fast" within 5% (never "1x smaller" beside a table's 1.4x)."""
    if x is None or is_nan(x):
        return "n/a"
    if 0.95 <= x < 1.05:
        return {"smaller": "about the same size", "faster": "about as fast"}.get(
            what, f"about as {what}"
        )
    return f"{x:.1f}x {what}"


def blank_missing(df: Any) -> Any:
    """A table for display with missing cells of its text columns shown as "—" (never
    "None"); number columns (and ones with nothing in them) are left to the table's own
    number formats."""
    from pandas.api import types

    out = df.copy()
    for c in out.columns:
        col = out[c]
        if types.is_numeric_dtype(col) or types.is_datetime64_any_dtype(col):
            continue
        if not all(isinstance(v, str) for v in col.dropna()):  # a number column of Nones
            continue
        out[c] = col.astype(object).where(col.notna(), "—")
    return out
