"""The chart of an autodistill answer: every trained trial's score (on the split the trials were
compared on) against its p50 as deployed, the Pareto front as a step line, the winner, the
teacher as a reference point and the latency budget. Plain plotly, no Streamlit."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from dashboard.chart_style import ROLE_COLORS, layout

FRONT_COLOR = "#1f77b4"
OTHER_COLOR = "#b0b0b0"
WINNER_COLOR = "#d62728"


def front_chart(answer: dict[str, Any]) -> go.Figure:
    """Score vs p50 (log x) of a search's trials (results.json of an autodistill run)."""
    split = answer.get("compared_on", "test")
    fig = go.Figure()
    done = [r for r in answer.get("trials", []) if r.get("score") is not None and r.get("p50_ms")]
    front = {r["trial"] for r in answer.get("front", [])}
    fig.add_trace(points([r for r in done if r["trial"] not in front], "other trials", OTHER_COLOR))
    line = sorted((r for r in done if r["trial"] in front), key=lambda r: r["p50_ms"])
    fig.add_trace(points(line, "Pareto front", FRONT_COLOR, mode="lines+markers"))
    fig.data[-1].line.shape = "hv"
    if w := answer.get("winner"):
        fig.add_trace(points([w], "winner", WINNER_COLOR, symbol="star", size=16))
    teacher = answer.get("teacher") or {}
    if teacher.get("p50_ms"):
        score = teacher.get("compared", teacher.get("score"))
        ref = {"description": "teacher (reference)", "score": score, "p50_ms": teacher["p50_ms"]}
        fig.add_trace(points([ref], "teacher", ROLE_COLORS["teacher"], symbol="diamond", size=12))
    fig.add_vline(
        x=answer["budget_ms"],
        line_dash="dash",
        annotation_text=f"budget {answer['budget_ms']:g} ms",
    )
    fig.update_xaxes(type="log", title="p50 as deployed (ms, log)")
    fig.update_yaxes(title=f"{split} score")
    return layout(fig, f"Trials: {split} score vs latency, and the Pareto front", height=420)


def points(
    rows: list[dict[str, Any]], name: str, color: str, mode: str = "markers", **marker: Any
) -> go.Scatter:
    """One trace of trials (or a reference point), each with its description on hover."""
    return go.Scatter(
        x=[r["p50_ms"] for r in rows],
        y=[r["score"] for r in rows],
        mode=mode,
        name=name,
        marker={"color": color, "size": marker.pop("size", 9), **marker},
        line={"color": color},
        text=[r["description"] for r in rows],
        hovertemplate="%{text}<br>%{y:.4f} at %{x:.3g} ms<extra></extra>",
    )
