"""Figures of a data set before any training: class balance, class balance per domain and text
lengths (the Data page). Plain plotly, no Streamlit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from dashboard.chart_style import PALETTE, layout


def class_balance(counts: Mapping[str, int], title: str = "Class balance") -> go.Figure:
    """Texts per class: a lopsided set shows at a glance."""
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
    return layout(fig, title, height=320)


def domain_balance(
    counts: Mapping[str, Mapping[str, int]], title: str = "Class balance per domain"
) -> go.Figure:
    """One bar per domain, stacked by class ({domain: {class: rows}}): a small or lopsided
    domain shows at a glance."""
    classes = list(next(iter(counts.values()), {}).keys())
    fig = go.Figure(
        [
            go.Bar(
                name=str(c),
                x=list(counts.keys()),
                y=[counts[d].get(c, 0) for d in counts],
                marker_color=PALETTE[i % len(PALETTE)],
            )
            for i, c in enumerate(classes)
        ]
    )
    fig.update_layout(barmode="stack", legend_title_text="class")
    fig.update_yaxes(title="texts")
    return layout(fig, title, height=320)


def length_histogram(lengths: Sequence[int], title: str = "Text length (characters)") -> go.Figure:
    """Text lengths in characters, the axis cut at the 99th percentile for long tails."""
    values = sorted(lengths)
    fig = go.Figure(go.Histogram(x=values, nbinsx=40, marker_color=PALETTE[0]))
    if len(values) >= 100:  # a long tail would squash the bulk into one bar: show up to p99
        p99 = values[int(0.99 * (len(values) - 1))]
        fig.update_xaxes(range=[0, p99 * 1.05])
        title += f" · axis cut at the 99th percentile ({p99})"
    fig.update_xaxes(title="characters")
    fig.update_yaxes(title="texts")
    return layout(fig, title, height=320)
