"""Numbers as people read them (percentages, sizes, counts, durations, milliseconds): shared by the
tables, the report's sentences and the Pareto answer, so one figure reads the same everywhere."""

from __future__ import annotations

import math
from typing import Any


def pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or is_nan(x) else f"{100 * x:.{digits}f}%"


def human_bytes(n: float | None) -> str:
    if n is None or is_nan(n):
        return "n/a"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def human_count(n: float | None) -> str:
    if n is None or is_nan(n):
        return "n/a"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}k"
    return f"{n:.0f}"


def fmt_seconds(s: float | None) -> str:
    if s is None or is_nan(s):
        return "n/a"
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m {int(s % 60):02d}s"
    return f"{int(s // 3600)}h {int(s % 3600 // 60):02d}m"


def is_nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def fmt_score(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def fmt_ms(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.2f} ms" if x < 10 else f"{x:.1f} ms"
