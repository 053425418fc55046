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
