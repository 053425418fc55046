"""Plotly figures the pages and the HTML report share (plain functions, no Streamlit)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from .pareto import budget_ms_text, on_front
from .tables import method_rank

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


RUN_DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
# what each kind of loss curve measures (the y axis of its panel)
LOSS_KINDS = {
    "teacher": "teacher: cross-entropy on the gold labels",
    "plain": "plain students: cross-entropy on the gold labels",
    "distilled": "distilled students: distillation loss (MSE on logits, soft CE or KD terms)",
    "other": "other losses",
}


def loss_kind(model: str) -> str:
    if model == "teacher":
        return "teacher"
    if model.endswith("_plain"):
        return "plain"
    if model.endswith("_distilled"):
        return "distilled"
    return "other"


def _split_curve(curve: str) -> tuple[str, str]:
    """ "#3 · bilstm_plain" -> ("#3", "bilstm_plain"); a curve without a run label -> ("", curve)."""
    run, sep, model = str(curve).partition(" · ")
    return (run, model) if sep else ("", run)


def loss_curves(frame: pd.DataFrame, title: str = "Training loss") -> go.Figure:
    """frame: curve, step, value (see tables.loss_frame). One panel per kind of loss (teacher
    CE, plain CE, distillation loss: different quantities, never one axis), each with its own
    step axis; one colour per model, one line style per run (solid, dashed, dotted ...), so two
    runs are told apart without relying on colour; the legend sits right of the panels."""
    from plotly.subplots import make_subplots

    parts = [
        (curve, *_split_curve(curve), part) for curve, part in frame.groupby("curve", sort=False)
    ]
    kinds = [k for k in LOSS_KINDS if any(loss_kind(m) == k for _, _, m, _ in parts)]
    if not kinds:
        return _layout(go.Figure(), f"{title}: nothing logged yet")
    fig = make_subplots(
        rows=len(kinds),
        cols=1,
        subplot_titles=[LOSS_KINDS[k] for k in kinds],
        vertical_spacing=0.12 if len(kinds) > 1 else 0.0,
    )
    runs = list(dict.fromkeys(r for _, r, _, _ in parts))
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
                hovertemplate=f"{run} {model}<br>step %{{x}}<br>loss %{{y:.4g}}<extra></extra>",
            ),
            row=row,
            col=1,
        )
    for i, k in enumerate(kinds, start=1):
        values = pd.concat(
            [p["value"] for _, _, m, p in parts if loss_kind(m) == k], ignore_index=True
        )
        log = bool(len(values)) and (values > 0).all() and values.max() / values.min() > 50
        fig.update_yaxes(type="log" if log else "linear", title="loss (log)" if log else "loss",
                         row=i, col=1)  # fmt: skip
        fig.update_xaxes(title="training step (that model's own)", row=i, col=1)
    note = f" · line style = run ({', '.join(r for r in runs if r)})" if len(runs) > 1 else ""
    _layout(fig, title + note, height=90 + 260 * len(kinds))
    fig.update_layout(legend={"orientation": "v", "yanchor": "top", "y": 1.0, "x": 1.02})
    return fig


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
    # labels only where they cannot pile up: the teacher and the models no other model beats
    # on both axes; every point names itself on hover
    best = _undominated(df["latency p50 (ms)"].tolist(), df["accuracy"].tolist())
    for role, part in df.assign(_label=labels, _best=best).groupby("role", sort=False):
        fig.add_trace(
            go.Scatter(
                x=part["latency p50 (ms)"],
                y=part["accuracy"],
                mode="markers+text",
                text=[
                    lab if (b or role == "teacher") else ""
                    for lab, b in zip(part["_label"], part["_best"], strict=True)
                ],
                hovertext=[
                    f"{lab}<br>accuracy {a:.1%}<br>p50 {ms:.3g} ms"
                    for lab, a, ms in zip(
                        part["_label"], part["accuracy"], part["latency p50 (ms)"], strict=True
                    )
                ],
                hoverinfo="text",
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
    if not lat.empty:
        ticks = log_ticks(10 ** (lo - pad), 10 ** (hi + pad))
        fig.update_xaxes(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    fig.update_xaxes(type="log", title="median latency per sentence, ms (log scale)")
    fig.update_yaxes(title="accuracy", tickformat=".0%")
    return _layout(fig, "Accuracy vs latency", height=420)


def _undominated(lat: list, acc: list) -> list[bool]:
    """For each point: no other point is at least as fast and strictly more accurate (or
    strictly faster and at least as accurate). Missing figures are never on the front."""

    def ok(v) -> bool:
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    out = []
    for i, (li, ai) in enumerate(zip(lat, acc, strict=True)):
        if not (ok(li) and ok(ai)):
            out.append(False)
            continue
        out.append(
            not any(
                ok(lj) and ok(aj) and lj <= li and aj >= ai and (lj < li or aj > ai)
                for j, (lj, aj) in enumerate(zip(lat, acc, strict=True))
                if j != i
            )
        )
    return out


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
    return _layout(fig, title, height=320)


def domain_model_heatmap(df: pd.DataFrame, title: str = "Accuracy per domain") -> go.Figure:
    """Rows are domains, columns models (`dashboard.tables.domain_matrix`), cells the accuracy
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
    return _layout(fig, title, height=max(260, 70 * len(df.index) + 140))


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
