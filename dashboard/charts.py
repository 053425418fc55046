"""Plotly figures the pages and the HTML report share (plain functions, no Streamlit)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from .pareto import budget_ms_text, on_front
from .tables import method_rank

ROLE_COLORS = {"teacher": "#6f42c1", "plain": "#adb5bd", "distilled": "#fd7e14"}
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
ROLE_SYMBOLS = {"teacher": "star", "plain": "circle-open", "distilled": "circle"}


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(
        title=title,
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        template="plotly_white",
    )
    return fig


def _model_label(df: pd.DataFrame) -> pd.Series:
    if df["run"].nunique() > 1:
        return "#" + df["run"].astype(str) + " " + df["model"]
    return df["model"]


def loss_curves(frame: pd.DataFrame, title: str = "Training loss") -> go.Figure:
    """frame: curve, step, value (see tables.loss_frame); one line per curve."""
    fig = go.Figure()
    for i, (curve, part) in enumerate(frame.groupby("curve", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=part["step"],
                y=part["value"],
                name=str(curve),
                mode="lines",
                line={"color": PALETTE[i % len(PALETTE)]},
            )
        )
    fig.update_xaxes(title="step")
    values = frame["value"]
    if len(values) and (values > 0).all() and values.max() / values.min() > 50:
        # MSE on logits and cross-entropy differ by orders of magnitude: log keeps both visible
        fig.update_yaxes(type="log", title="loss (log scale)")
    else:
        fig.update_yaxes(title="loss")
    return _layout(fig, title)


def metric_bars(df: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "f1")) -> go.Figure:
    """Grouped bars of accuracy and F1 per model (df: tables.results_frame)."""
    labels = _model_label(df)
    fig = go.Figure()
    for i, m in enumerate(metrics):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=df[m],
                name="F1" if m == "f1" else m,
                marker_color=PALETTE[i % len(PALETTE)],
                text=[f"{v:.3f}" if pd.notna(v) else "" for v in df[m]],
                textposition="outside",
            )
        )
    fig.update_yaxes(range=[0, 1.08], title="score on the test set")
    fig.update_layout(barmode="group")
    return _layout(fig, "Accuracy and F1")


def latency_bars(df: pd.DataFrame) -> go.Figure:
    """Median (p50) latency per model with the p95 as error bar, log scale."""
    labels = _model_label(df)
    p50 = df["latency p50 (ms)"]
    p95 = df["latency p95 (ms)"]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=p50,
            marker_color=[ROLE_COLORS.get(r, "#0d6efd") for r in df["role"]],
            error_y={"type": "data", "symmetric": False, "array": (p95 - p50).clip(lower=0)},
            text=[f"{v:.2f} ms" if pd.notna(v) else "" for v in p50],
            textposition="inside",
            insidetextanchor="end",
            name="p50",
        )
    )
    fig.update_yaxes(type="log", dtick=1, title="ms per sentence (bar p50, whisker p95)")
    return _layout(fig, "Latency per sentence (log scale)")


def confusion_heatmap(
    matrix: Sequence[Sequence[float]], labels: Sequence[str], title: str
) -> go.Figure:
    """Rows are the gold labels, columns the predictions."""
    z = [list(map(float, row)) for row in matrix]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"pred {x}" for x in labels],
            y=[f"gold {y}" for y in labels],
            colorscale="Purples",
            text=[[f"{int(v)}" for v in row] for row in z],
            texttemplate="%{text}",
            showscale=False,
        )
    )
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=300)


def accuracy_latency_scatter(df: pd.DataFrame) -> go.Figure:
    """Accuracy against median latency (log x): up and to the left is better."""
    fig = go.Figure()
    labels = _model_label(df)
    for role, part in df.assign(_label=labels).groupby("role", sort=False):
        fig.add_trace(
            go.Scatter(
                x=part["latency p50 (ms)"],
                y=part["accuracy"],
                mode="markers+text",
                text=part["_label"],
                textposition="top center",
                name=str(role),
                marker={"size": 13, "color": ROLE_COLORS.get(str(role), "#0d6efd")},
            )
        )
    lat = df["latency p50 (ms)"].dropna()
    lat = lat[lat > 0]
    if not lat.empty:  # room for the labels at both ends (a log axis takes log10 bounds)
        lo, hi = math.log10(lat.min()), math.log10(lat.max())
        pad = max(0.25, 0.15 * (hi - lo))
        fig.update_xaxes(range=[lo - pad, hi + pad])
    acc = df["accuracy"].dropna()
    if not acc.empty:
        span = max(0.02, float(acc.max() - acc.min()))
        fig.update_yaxes(range=[float(acc.min()) - 0.15 * span, float(acc.max()) + 0.2 * span])
    fig.update_xaxes(type="log", title="median latency per sentence, ms (log scale)")
    fig.update_yaxes(title="accuracy")
    return _layout(fig, "Accuracy vs latency", height=420)


def pareto_chart(points: pd.DataFrame, budget_ms: float | None = None) -> go.Figure:
    """Accuracy against batch-1 median latency (log x) of every model of the chosen runs
    (points: pareto.pareto_points): colour by method, shape by role (star teacher, filled
    distilled, hollow plain), the Pareto front as a step line (up and to the left is better),
    and the latency budget as a dashed vertical line."""
    fig = go.Figure()
    if points.empty:
        return _layout(fig, "Accuracy vs latency: no model with both figures yet", height=480)
    front_mask = on_front(points)
    pts = points.assign(_front=front_mask)
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
        hover = [
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
                hovertext=hover,
                hoverinfo="text",
                marker={
                    "size": [16 if r == "teacher" else 12 for r in part["role"]],
                    "color": color,
                    "symbol": [ROLE_SYMBOLS.get(r, "diamond") for r in part["role"]],
                    "line": {"width": 2, "color": color},
                },
            )
        )
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
    fig.update_yaxes(range=[y0, y1], title="accuracy on the test set", tickformat=".0%")
    _layout(fig, "Accuracy vs latency: the Pareto front", height=500)
    # many methods: the legend goes to the right, where it cannot cover the title
    fig.update_layout(legend={"orientation": "v", "yanchor": "top", "y": 1.0, "x": 1.02})
    return fig


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 tick values from lo to hi (a log axis' own ticks label only the decades)."""
    out: list[float] = []
    if not (lo > 0 and hi > lo):
        return out
    decade = 10.0 ** math.floor(math.log10(lo))
    while decade <= hi:
        for m in (1, 2, 5):
            v = float(f"{m * decade:.6g}")
            if lo <= v <= hi:
                out.append(v)
        decade *= 10
    return out


def class_balance(counts: Mapping[str, int], title: str = "Class balance") -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=list(counts.keys()),
            y=list(counts.values()),
            marker_color=PALETTE[: len(counts)] or None,
            text=list(counts.values()),
            textposition="outside",
        )
    )
    fig.update_yaxes(title="texts")
    return _layout(fig, title, height=320)


def length_histogram(lengths: Sequence[int], title: str = "Text length (characters)") -> go.Figure:
    values = sorted(lengths)
    fig = go.Figure(go.Histogram(x=values, nbinsx=40, marker_color=PALETTE[0]))
    if len(values) >= 100:  # a long tail would squash the bulk into one bar: show up to p99
        p99 = values[int(0.99 * (len(values) - 1))]
        fig.update_xaxes(range=[0, p99 * 1.05])
        title += f" · axis cut at the 99th percentile ({p99})"
    fig.update_xaxes(title="characters")
    fig.update_yaxes(title="texts")
    return _layout(fig, title, height=320)


def probability_bars(probs: pd.DataFrame) -> go.Figure:
    """probs: model, class, probability; grouped bars per class."""
    fig = go.Figure()
    for i, (model, part) in enumerate(probs.groupby("model", sort=False)):
        fig.add_trace(
            go.Bar(
                x=part["class"],
                y=part["probability"],
                name=str(model),
                marker_color=PALETTE[i % len(PALETTE)],
            )
        )
    fig.update_yaxes(range=[0, 1], title="probability")
    fig.update_layout(barmode="group")
    return _layout(fig, "Class probabilities")
