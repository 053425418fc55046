"""Plotly figures the pages and the HTML report share (plain functions, no Streamlit)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

ROLE_COLORS = {"teacher": "#6f42c1", "plain": "#adb5bd", "distilled": "#fd7e14"}
PALETTE = ["#6f42c1", "#fd7e14", "#20c997", "#0d6efd", "#d63384", "#6c757d", "#198754"]


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
