"""Training-loss curves: one panel per kind of loss, one colour per model, one line style per
run. Plain plotly, no Streamlit."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.chart_style import METHOD_COLORS, ROLE_COLORS, ema, layout, log_axis

RUN_DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
# what each kind of loss curve measures (the y axis of its panel)
LOSS_KINDS = {
    "teacher": "teacher: cross-entropy on the gold labels",
    "plain": "plain students: cross-entropy on the gold labels",
    "distilled": "distilled students: distillation loss (MSE on logits, soft CE or KD terms)",
    "other": "other losses",
}


def loss_kind(model: str) -> str:
    """Which panel a loss curve belongs in, from its model name."""
    if model == "teacher":
        return "teacher"
    if model.endswith("_plain"):
        return "plain"
    if model.endswith("_distilled"):
        return "distilled"
    return "other"


def split_curve(curve: str) -> tuple[str, str]:
    """ "#3 · bilstm_plain" -> ("#3", "bilstm_plain"); a curve without a run label -> ("", curve)."""
    run, sep, model = str(curve).partition(" · ")
    return (run, model) if sep else ("", run)


def loss_curves(
    frame: pd.DataFrame, title: str = "Training loss", smooth: bool = True
) -> go.Figure:
    """frame: curve, step, value (see run_tables.loss_frame). One panel per kind of loss (teacher
    CE, plain CE, distillation loss: different quantities, never one axis), each with its own
    step axis; one colour per model, one line style per run (solid, dashed, dotted ...), so two
    runs are told apart without relying on colour; the legend sits right of the panels.
    `smooth` draws each curve's moving average (1,600 raw steps read as noise); False, the raw
    steps."""
    from plotly.subplots import make_subplots

    parts = [
        (curve, *split_curve(curve), smoothed(part) if smooth else part)
        for curve, part in frame.groupby("curve", sort=False)
    ]
    kinds = [k for k in LOSS_KINDS if any(loss_kind(m) == k for _, _, m, _ in parts)]
    if not kinds:
        return layout(go.Figure(), f"{title}: nothing logged yet")
    fig = make_subplots(
        rows=len(kinds),
        cols=1,
        subplot_titles=[LOSS_KINDS[k] for k in kinds],
        vertical_spacing=0.12 if len(kinds) > 1 else 0.0,
    )
    runs = list(dict.fromkeys(r for _, r, _, _ in parts))
    what = "loss (smoothed)" if smooth else "loss"
    models = list(dict.fromkeys(m for _, _, m, _ in parts))
    for _, run, model, part in parts:
        row = kinds.index(loss_kind(model)) + 1
        fig.add_trace(
            go.Scatter(
                x=part["step"],
                y=part["value"],
                name=f"{run} {model}".strip(),
                mode="lines",
                line={
                    "color": METHOD_COLORS[models.index(model) % len(METHOD_COLORS)]
                    if model != "teacher"
                    else ROLE_COLORS["teacher"],
                    "dash": RUN_DASHES[runs.index(run) % len(RUN_DASHES)],
                    "width": 2,
                },
                hovertemplate=f"{run} {model}<br>step %{{x}}<br>{what} %{{y:.4g}}<extra></extra>",
            ),
            row=row,
            col=1,
        )
    for i, k in enumerate(kinds, start=1):
        values = pd.concat(
            [p["value"] for _, _, m, p in parts if loss_kind(m) == k], ignore_index=True
        )
        log = bool(len(values)) and (values > 0).all() and values.max() / values.min() > 50
        ticks = log_axis(float(values.min()), float(values.max())) if log else {}
        fig.update_yaxes(type="log" if log else "linear", title=f"{what} (log)" if log else what,
                         row=i, col=1, **ticks)  # fmt: skip
        fig.update_xaxes(title="training step (that model's own)", row=i, col=1)
    note = f" · line style = run ({', '.join(r for r in runs if r)})" if len(runs) > 1 else ""
    note += " · smoothed (moving average)" if smooth else " · raw steps"
    layout(fig, title + note, height=90 + 260 * len(kinds))
    fig.update_layout(legend={"orientation": "v", "yanchor": "top", "y": 1.0, "x": 1.02})
    return fig


def smoothed(part: pd.DataFrame) -> pd.DataFrame:
    """One curve's points in step order with their values replaced by the moving average."""
    part = part.sort_values("step", kind="stable")
    return part.assign(value=ema(part["value"].astype(float)))
