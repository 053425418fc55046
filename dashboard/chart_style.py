"""The look every figure shares: colours per role and per method, marker shapes, the common
layout and decade / 1-2-5 ticks for log axes. Plain plotly, no Streamlit."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

ROLE_COLORS = {
    "teacher": "#6f42c1",
    "meta_teacher": "#9b6fe0",
    "joint_teacher": "#b197fc",
    "plain": "#adb5bd",
    "distilled": "#fd7e14",
    "meta_distilled": "#20c997",
}
PALETTE = ["#6f42c1", "#fd7e14", "#20c997", "#0d6efd", "#d63384", "#6c757d", "#198754"]
# one colour per student method (registry order), none of them the teacher's purple
METHOD_COLORS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#7f7f7f",
]
ROLE_SYMBOLS = {
    "teacher": "star",
    "meta_teacher": "star-open",
    "joint_teacher": "star-diamond",
    "plain": "circle-open",
    "distilled": "circle",
    "meta_distilled": "square",
}


def layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    """Title, height, margins, a horizontal legend above the plot and the white template: the frame every figure shares."""
    fig.update_layout(
        title=title,
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        template="plotly_white",
    )
    return fig


def model_label(df: pd.DataFrame) -> pd.Series:
    """Model names for an axis, prefixed with the run (#3) when the frame holds several runs."""
    if df["run"].nunique() > 1:
        return "#" + df["run"].astype(str) + " " + df["model"]
    return df["model"]


def log_ticks(lo: float, hi: float, steps: tuple[int, ...] = (1, 2, 5)) -> list[float]:
    """1-2-5 tick values from lo to hi (a log axis' own ticks label only the decades, and
    sometimes drop the 0.1 or 100); `steps=(1,)` gives the decades alone: 0.1, 1, 10, 100."""
    out: list[float] = []
    if not (lo > 0 and hi > lo):
        return out
    decade = 10.0 ** math.floor(math.log10(lo))
    while decade <= hi:
        for m in steps:
            v = float(f"{m * decade:.6g}")
            if lo <= v <= hi:
                out.append(v)
        decade *= 10
    return out


def log_axis(lo: float, hi: float) -> dict[str, list]:
    """Tick values and their plain labels for a log axis from lo to hi: 1-2-5 steps over three
    decades or less, the decades alone beyond (plotly's own minor labels read "2, 1, 5, 2")."""
    steps = (1, 2, 5) if hi / lo <= 1000 else (1,)
    ticks = log_ticks(lo, hi, steps)
    if len(ticks) < 2:  # a narrow range: a few more steps so the axis still reads
        ticks = log_ticks(lo, hi, (1, 1.5, 2, 3, 5, 7))
    return {"tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks]}


def pct_axis(lo: float, hi: float, n: int = 5) -> dict[str, float | str]:
    """A fraction axis from lo to hi as percentages with about `n` ticks at a 1-2-5 step, and
    just enough decimals that neighbouring ticks differ ("77.5%, 78.0%", never "78%, 78%")."""
    span = max(hi - lo, 1e-6)
    raw = span / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= 0.7 * raw)
    digits = max(0, -math.floor(math.log10(step * 100) + 1e-9))
    return {"dtick": step, "tickformat": f".{digits}%"}


def wrap_width(n: int) -> int:
    """Characters per line of a category label when `n` categories share the axis."""
    return 14 if n <= 6 else 10 if n <= 10 else 8


def wrap_label(name: str, width: int = 14) -> str:
    """An axis label broken into lines of about `width` characters at spaces and underscores
    (kept), so "#3 bilstm_char_distilled" shows whole instead of rotated and cut."""
    parts = [p for p in _split_keep(str(name)) if p]
    lines: list[str] = []
    line = ""
    for p in parts:
        if line and len(line) + len(p) > width:
            lines.append(line.rstrip())
            line = p.lstrip()
        else:
            line += p
    lines.append(line.rstrip())
    return "<br>".join(x for x in lines if x)


def _split_keep(s: str) -> list[str]:
    """s cut after each space or underscore, the separators kept with the piece before."""
    out, cur = [], ""
    for ch in s:
        cur += ch
        if ch in " _":
            out.append(cur)
            cur = ""
    out.append(cur)
    return out


# a sequential colour scale whose lightest end still shows on a white page (Viridis without its
# last, pale-yellow sixth); optuna's default "Blues" draws its worst trial near-white
VISIBLE_SCALE = [
    [0.0, "#440154"],
    [0.25, "#3b528b"],
    [0.5, "#21918c"],
    [0.75, "#5ec962"],
    [1.0, "#7ad151"],
]


def ema(values: pd.Series, span: float | None = None) -> pd.Series:
    """An exponential moving average (bias-corrected, like TensorBoard's smoothing) over a
    curve's points; the span grows with the curve (1,600 steps: 64) so the trend shows."""
    span = span or max(1.0, len(values) / 25)
    return values.ewm(span=span, adjust=True).mean()


def visible_parallel(fig: go.Figure) -> go.Figure:
    """Optuna's parallel-coordinates figure recoloured with VISIBLE_SCALE: each trial's line
    by its objective (the first axis, already scaled 0..1), opaque and 2 px wide, and the
    colour bar to match."""
    from plotly.colors import sample_colorscale

    reverse = any(
        getattr(t, "marker", None) is not None and t.marker.colorscale and t.marker.reversescale
        for t in fig.data
    )
    for t in fig.data:
        if t.type != "scatter":
            continue
        if t.mode == "lines" and t.y is not None and len(t.y):
            v = min(max(float(t.y[0]), 0.0), 1.0)
            t.line.color = sample_colorscale(VISIBLE_SCALE, [1.0 - v if reverse else v])[0]
            t.line.width = 2
            t.opacity = 1.0
        elif t.marker is not None and t.marker.colorscale:
            t.marker.colorscale = VISIBLE_SCALE
    return fig
