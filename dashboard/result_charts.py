"""Figures of evaluated models: accuracy / F1 bars, latency bars, confusion matrices, the
domain × model heat map and the Predict page's class probabilities. Plain plotly, no Streamlit."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from dashboard.chart_style import (
    PALETTE,
    ROLE_COLORS,
    layout,
    log_ticks,
    model_label,
    wrap_label,
    wrap_width,
)

BAR_TEXT_SIZE = 12  # px: a figure on a bar a stakeholder reads without zooming


def metric_bars(df: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "f1")) -> go.Figure:
    """Grouped bars of accuracy and F1 per model (df: result_tables.results_frame). The figures
    run up each bar (side by side they collided: "0.8380.837"), model names wrap onto lines
    (rotated, they were cut: "bilstm_ch..."), and the hover carries the full name."""
    names = model_label(df)
    labels = [wrap_label(n, wrap_width(len(names))) for n in names]
    fig = go.Figure()
    for i, m in enumerate(metrics):
        shown = "F1" if m == "f1" else m
        fig.add_trace(
            go.Bar(
                x=labels,
                y=df[m],
                name=shown,
                marker_color=PALETTE[i % len(PALETTE)],
                text=[f"{v:.3f}" if pd.notna(v) else "" for v in df[m]],
                textposition="auto",  # inside a bar; above a bar too short to hold it
                insidetextanchor="end",
                textangle=-90,
                insidetextfont={"size": BAR_TEXT_SIZE, "color": ink_on(PALETTE[i % len(PALETTE)])},
                outsidetextfont={"size": BAR_TEXT_SIZE},
                customdata=list(names),
                hovertemplate=f"%{{customdata}}<br>{shown} %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_yaxes(range=[0, 1.02], title="score on the test set")
    fig.update_xaxes(automargin=True)
    # never shrink the figures to fit a narrow bar: a bar too short shows its figure above it
    fig.update_layout(barmode="group", uniformtext={"minsize": BAR_TEXT_SIZE, "mode": "show"})
    return layout(fig, "Accuracy and F1", height=380)


def latency_bars(df: pd.DataFrame) -> go.Figure:
    """Median (p50) latency per model with the p95 as error bar, log scale. Each bar's figure
    sits at its foot in a readable size, clear of the whisker at its top."""
    names = model_label(df)
    p50 = df["latency p50 (ms)"]
    p95 = df["latency p95 (ms)"]
    fills = [ROLE_COLORS.get(r, "#0d6efd") for r in df["role"]]
    fig = go.Figure(
        go.Bar(
            x=[wrap_label(n, wrap_width(len(names))) for n in names],
            y=p50,
            marker_color=fills,
            error_y={"type": "data", "symmetric": False, "array": (p95 - p50).clip(lower=0)},
            text=[f"{v:.2f} ms" if pd.notna(v) else "" for v in p50],
            textposition="inside",
            insidetextanchor="start",
            textangle=0,
            insidetextfont={"size": BAR_TEXT_SIZE, "color": [ink_on(c) for c in fills]},
            customdata=list(names),
            hovertemplate="%{customdata}<br>p50 %{y:.3g} ms<extra></extra>",
            name="p50",
        )
    )
    fig.update_layout(uniformtext={"minsize": BAR_TEXT_SIZE, "mode": "show"})
    # whole decades around the data, each labelled (0.1, 1, 10, 100 ms)
    low = float(p50[p50 > 0].min()) if (p50 > 0).any() else 0.1
    high = max(float(p95.max()) if p95.notna().any() else 0.0, float(p50.max()), low * 10)
    lo, hi = math.floor(math.log10(low)), math.ceil(math.log10(high))
    ticks = log_ticks(10.0**lo, 10.0**hi, steps=(1,))
    fig.update_yaxes(
        type="log",
        # half a decade below the lowest one: every bar is tall enough to carry its figure;
        # a little room above the top whisker's decade
        range=[lo - 0.5, hi + 0.15],
        tickvals=ticks,
        ticktext=[f"{t:g}" for t in ticks],
        title="ms per sentence (bar p50, whisker p95)",
    )
    fig.update_xaxes(automargin=True)
    return layout(fig, "Latency per sentence (log scale)", height=380)


def ink_on(fill: str) -> str:
    """Black or white text, whichever reads on a bar of colour `fill` ("#rrggbb")."""
    r, g, b = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return "#212529" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "white"


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
