"""The accuracy vs batch-1 latency chart with its Pareto front and latency budget (the Report
page and the HTML report; the points come from dashboard.pareto). Plain plotly, no Streamlit."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from dashboard.chart_style import (
    METHOD_COLORS,
    ROLE_COLORS,
    ROLE_SYMBOLS,
    layout,
    log_ticks,
    pct_axis,
)
from dashboard.labels import method_rank
from dashboard.pareto import budget_ms_text, on_front


def pareto_chart(points: pd.DataFrame, budget_ms: float | None = None) -> go.Figure:
    """Accuracy against batch-1 median latency (log x) of every model of the chosen runs
    (points: pareto.pareto_points): colour by method, shape by role (star teacher, filled
    distilled, hollow plain), the Pareto front as a step line (up and to the left is better),
    and the latency budget as a dashed vertical line."""
    fig = go.Figure()
    if points.empty:
        return layout(fig, "Accuracy vs latency: no model with both figures yet", height=480)
    pts = points.assign(_front=on_front(points))
    ranks = sorted({method_rank(a) for a in pts.loc[pts["role"] != "teacher", "arch"]})
    color_of = {r: METHOD_COLORS[i % len(METHOD_COLORS)] for i, r in enumerate(ranks)}
    groups = [("teacher", pts[pts["role"] == "teacher"])]
    students = pts[pts["role"] != "teacher"]
    for method, part in students.groupby("method", sort=False):
        groups.append((str(method), part))
    for method, part in groups:
        if part.empty:
            continue
        if method == "teacher":
            color = ROLE_COLORS["teacher"]
        else:
            color = color_of[method_rank(part["arch"].iloc[0])]
        add_method_traces(fig, method, part, color)
    add_front_and_shape_key(fig, pts)
    budget_axes(fig, pts, budget_ms)
    layout(fig, "Accuracy vs latency: the Pareto front", height=500)
    # many methods: the legend goes to the right, where it cannot cover the title
    fig.update_layout(legend={"orientation": "v", "yanchor": "top", "y": 1.0, "x": 1.02})
    return fig


def point_hover(part: pd.DataFrame) -> list[str]:
    """Each point's tooltip: every model it stands for, its figures, and whether it is on the
    front (the chart labels only the front and the teacher, so the rest live here)."""
    return [
        f"<b>{lab}</b><br>{model}"
        + (f" (= {', '.join(tw)})" if tw else "")
        + f"<br>accuracy {acc:.1%}<br>median latency {lat:.3g} ms"
        + (f"<br>{fam} student" if fam and role != "teacher" else "")
        + ("<br>on the Pareto front" if front else "")
        for lab, model, tw, acc, lat, fam, role, front in zip(
            part["label"],
            part["model"],
            part["twins"],
            part["accuracy"],
            part["latency_ms"],
            part["family"],
            part["role"],
            part["_front"],
            strict=True,
        )
    ]


def add_method_traces(fig: go.Figure, method: str, part: pd.DataFrame, color: str) -> None:
    """One method's points (shape by role) and its legend entry (one square per method)."""
    fig.add_trace(  # the legend's colour key: one square per method
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name=method,
            legendgroup=method,
            marker={"symbol": "star" if method == "teacher" else "square", "color": color},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=part["latency_ms"],
            y=part["accuracy"],
            mode="markers+text",
            name=method,
            legendgroup=method,
            showlegend=False,
            # labels on the front and the teacher only: the rest are in the tooltips
            text=[
                lab if (front or role == "teacher") else ""
                for lab, front, role in zip(
                    part["label"], part["_front"], part["role"], strict=True
                )
            ],
            textposition="top center",
            textfont={"size": 11},
            hovertext=point_hover(part),
            hoverinfo="text",
            marker={
                "size": [16 if r == "teacher" else 12 for r in part["role"]],
                "color": color,
                "symbol": [ROLE_SYMBOLS.get(r, "diamond") for r in part["role"]],
                "line": {"width": 2, "color": color},
            },
        )
    )


def add_front_and_shape_key(fig: go.Figure, pts: pd.DataFrame) -> None:
    """The front as a dotted step line, then the legend's shape key (colours are methods)."""
    front = pts[pts["_front"]].sort_values("latency_ms")
    fig.add_trace(
        go.Scatter(
            x=front["latency_ms"],
            y=front["accuracy"],
            mode="lines",
            line={"shape": "hv", "color": "#495057", "dash": "dot", "width": 1.5},
            name="Pareto front",
            hoverinfo="skip",
        )
    )
    for role in ("plain", "distilled"):  # the shape key (colours are the methods)
        if (pts["role"] == role).any():
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=role,
                    marker={
                        "symbol": ROLE_SYMBOLS[role],
                        "color": "#6c757d",
                        "size": 11,
                        "line": {"width": 2, "color": "#6c757d"},
                    },
                    legendgroup="shapes",
                    legendgrouptitle={"text": "shape"},
                )
            )


def budget_axes(fig: go.Figure, pts: pd.DataFrame, budget_ms: float | None) -> None:
    """Log latency axis with room around the points (and the budget), the accuracy axis, and
    the budget as a dashed red line."""
    lat = pts["latency_ms"]
    lo, hi = math.log10(lat.min()), math.log10(lat.max())
    if budget_ms and budget_ms > 0:
        lo, hi = min(lo, math.log10(budget_ms)), max(hi, math.log10(budget_ms))
    pad = max(0.25, 0.15 * (hi - lo))
    acc = pts["accuracy"]
    span = max(0.02, float(acc.max() - acc.min()))
    y0, y1 = float(acc.min()) - 0.15 * span, float(acc.max()) + 0.2 * span
    if budget_ms and budget_ms > 0:
        fig.add_trace(
            go.Scatter(
                x=[budget_ms, budget_ms],
                y=[y0, y1],
                mode="lines",
                line={"color": "#dc3545", "dash": "dash", "width": 1.5},
                name=f"budget {budget_ms_text(budget_ms)}",
                hoverinfo="name",
            )
        )
    ticks = log_ticks(10 ** (lo - pad), 10 ** (hi + pad))
    fig.update_xaxes(
        type="log",
        range=[lo - pad, hi + pad],
        tickvals=ticks,
        ticktext=[f"{t:g}" for t in ticks],
        title="median latency per sentence, batch 1, ms (log scale)",
    )
    # decimals from the range: a 2-point spread reads "77.5%, 78.0%", not "78%, 78%"
    fig.update_yaxes(range=[y0, y1], title="accuracy on the test set", **pct_axis(y0, y1))
