"""Figures of evaluated models: accuracy / F1 bars, latency bars, confusion matrices, the
domain × model heat map and the Predict page's class probabilities. Plain plotly, no Streamlit."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from dashboard.chart_style import PALETTE, ROLE_COLORS, layout, log_ticks, model_label


def metric_bars(df: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "f1")) -> go.Figure:
    """Grouped bars of accuracy and F1 per model (df: result_tables.results_frame)."""
    labels = model_label(df)
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
    return layout(fig, "Accuracy and F1")


def latency_bars(df: pd.DataFrame) -> go.Figure:
    """Median (p50) latency per model with the p95 as error bar, log scale."""
    labels = model_label(df)
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
    # whole decades around the data, each labelled (0.1, 1, 10, 100 ms)
    low = float(p50[p50 > 0].min()) if (p50 > 0).any() else 0.1
    high = max(float(p95.max()) if p95.notna().any() else 0.0, float(p50.max()), low * 10)
    lo, hi = math.floor(math.log10(low)), math.ceil(math.log10(high))
    ticks = log_ticks(10.0**lo, 10.0**hi, steps=(1,))
    fig.update_yaxes(
        type="log",
        range=[lo, hi + 0.15],  # a little room above the top whisker's decade
        tickvals=ticks,
        ticktext=[f"{t:g}" for t in ticks],
        title="ms per sentence (bar p50, whisker p95)",
    )
    return layout(fig, "Latency per sentence (log scale)")


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
    return layout(fig, title, height=300)


def domain_model_heatmap(df: pd.DataFrame, title: str = "Accuracy per domain") -> go.Figure:
    """Rows are domains, columns models (`dashboard.result_tables.domain_matrix`), cells the accuracy
    on that domain's test rows (blank: the model was not scored there)."""
    z = df.to_numpy(dtype=float)
    text = [["" if v != v else f"{v:.3f}" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(c) for c in df.columns],
            y=[str(i) for i in df.index],
            colorscale="Viridis",
            text=text,
            texttemplate="%{text}",
            colorbar={"title": "accuracy"},
            hovertemplate="%{y} × %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return layout(fig, title, height=max(260, 70 * len(df.index) + 140))


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
    return layout(fig, "Class probabilities")
