"""Readable charts: loss kinds in panels of their own, runs told apart by line style, log axes
with labelled 0.1 / 1 / 10 / 100 ticks."""

from __future__ import annotations

import math

import pandas as pd

from dashboard.loss_chart import LOSS_KINDS, loss_curves
from dashboard.result_charts import latency_bars


def _loss() -> pd.DataFrame:
    rows = []
    for run in ("#1", "#2"):
        for model in ("teacher", "bilstm_plain", "bilstm_distilled", "textcnn_distilled"):
            for step in range(1, 6):
                rows.append({"curve": f"{run} · {model}", "step": step, "value": 1.0 / step})
    return pd.DataFrame(rows)


def test_loss_kinds_get_panels_and_runs_get_line_styles():
    fig = loss_curves(_loss())
    titles = [a.text for a in fig.layout.annotations]
    assert titles == [LOSS_KINDS[k] for k in ("teacher", "plain", "distilled")]
    by_name = {t.name: t for t in fig.data}
    assert by_name["#1 teacher"].line.dash == "solid" and by_name["#2 teacher"].line.dash == "dash"
    # one colour per model whatever the run; different models, different colours
    assert by_name["#1 bilstm_distilled"].line.color == by_name["#2 bilstm_distilled"].line.color
    assert by_name["#1 bilstm_distilled"].line.color != by_name["#1 textcnn_distilled"].line.color
    # each kind on its own axes: the teacher in the first panel, distillation in the third
    assert by_name["#1 teacher"].yaxis == "y" and by_name["#1 bilstm_distilled"].yaxis == "y3"
    assert fig.layout.legend.x > 1  # right of the panels, clear of every title


def test_latency_axis_labels_every_decade():
    df = pd.DataFrame(
        {
            "run": [1, 1, 1],
            "model": ["teacher", "textcnn_distilled", "bilstm_distilled"],
            "role": ["teacher", "distilled", "distilled"],
            "latency p50 (ms)": [20.0, 0.3, 0.7],
            "latency p95 (ms)": [30.0, 0.5, 1.0],
        }
    )
    fig = latency_bars(df)
    assert list(fig.layout.yaxis.tickvals) == [0.1, 1, 10, 100]
    assert list(fig.layout.yaxis.ticktext) == ["0.1", "1", "10", "100"]


# -- issue 20 point 6: charts a stakeholder can read -----------------------------------------
def _models() -> pd.DataFrame:
    models = ["teacher", "bilstm_plain", "bilstm_char_distilled", "textcnn_distilled"]
    return pd.DataFrame(
        {
            "run": [3, 3, 3, 3],
            "model": models,
            "role": ["teacher", "plain", "distilled", "distilled"],
            "accuracy": [0.838, 0.79, 0.837, 0.83],
            "f1": [0.837, 0.785, 0.836, 0.829],
            "latency p50 (ms)": [59.0, 0.31, 0.9, 0.12],
            "latency p95 (ms)": [80.0, 0.5, 1.4, 0.2],
        }
    )


def test_pareto_percent_ticks_get_decimals_from_the_range():
    from dashboard.chart_style import pct_axis
    from dashboard.pareto_chart import pareto_chart

    assert pct_axis(0.767, 0.793) == {"dtick": 0.005, "tickformat": ".1%"}  # 77.0%, 77.5% ...
    assert pct_axis(0.5, 0.95)["tickformat"] == ".0%"  # a wide range: whole percents
    points = pd.DataFrame(
        {
            "label": ["teacher", "BiLSTM (distilled)", "TextCNN (distilled)"],
            "model": ["teacher", "bilstm_distilled", "textcnn_distilled"],
            "twins": [[], [], []],
            "accuracy": [0.776, 0.7785, 0.7765],
            "latency_ms": [59.0, 0.33, 0.12],
            "family": ["", "word", "word"],
            "role": ["teacher", "distilled", "distilled"],
            "method": ["teacher", "BiLSTM", "TextCNN"],
            "arch": ["bert", "bilstm", "textcnn"],
        }
    )
    y = pareto_chart(points).layout.yaxis
    lo, hi = y.range
    ticks = [lo + i * y.dtick for i in range(int((hi - lo) / y.dtick) + 1)]
    shown = [f"{t:{y.tickformat}}" for t in ticks]
    assert len(set(shown)) == len(shown) >= 3, shown  # never "78%, 78%"


def test_log_loss_axis_has_plain_labels():
    steps = range(1, 201)
    frame = pd.DataFrame(
        {"curve": "bilstm_distilled", "step": list(steps), "value": [2.3 / s for s in steps]}
    )
    y = loss_curves(frame, smooth=False).layout.yaxis
    assert y.type == "log"
    assert list(y.ticktext) == [f"{v:g}" for v in y.tickvals]
    assert list(y.tickvals) == [0.02, 0.05, 0.1, 0.2, 0.5, 1, 2]  # 1-2-5 steps, not "2, 1, 5"


def test_loss_is_smoothed_by_default_and_raw_on_demand():
    import numpy as np

    noisy = 1.0 + 0.5 * np.random.default_rng(0).standard_normal(1600)
    frame = pd.DataFrame({"curve": "teacher", "step": range(1600), "value": noisy})
    smooth = np.asarray(loss_curves(frame).data[0].y, dtype=float)
    raw = np.asarray(loss_curves(frame, smooth=False).data[0].y, dtype=float)
    assert np.allclose(raw, noisy)
    assert np.std(np.diff(smooth)) < np.std(np.diff(raw)) / 10  # the noise is gone
    assert abs(smooth[-200:].mean() - 1.0) < 0.1  # the level is kept
    assert "smoothed" in loss_curves(frame).layout.title.text
    assert "raw" in loss_curves(frame, smooth=False).layout.title.text


def test_latency_labels_are_readable_and_clear_of_the_whiskers():
    bar = latency_bars(_models()).data[0]
    assert bar.insidetextfont.size >= 11  # not the ~5 px plotly shrinks them to
    assert bar.textposition == "inside" and bar.insidetextanchor == "start"  # at the foot
    fig = latency_bars(_models())
    assert fig.layout.uniformtext.mode == "show" and fig.layout.uniformtext.minsize >= 11
    # every bar reaches at least half a decade above the axis' foot: room for its figure
    lo = fig.layout.yaxis.range[0]
    assert all(math.log10(v) - lo >= 0.5 for v in _models()["latency p50 (ms)"])


def test_bar_labels_never_collide_and_names_wrap_with_the_full_name_in_hover():
    from dashboard.result_charts import metric_bars

    fig = metric_bars(_models())
    for bar in fig.data:
        assert bar.textangle == -90  # up the bar: side by side they read "0.8380.837"
        assert "…" not in "".join(bar.x) and "bilstm_char_<br>distilled" in bar.x
        assert list(bar.customdata) == list(_models()["model"])
        assert "%{customdata}" in bar.hovertemplate


def test_sweep_parallel_coordinates_stay_visible_on_white():
    import optuna
    from plotly.colors import unlabel_rgb

    from dashboard.chart_style import VISIBLE_SCALE, visible_parallel

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: t.suggest_float("alpha", 0, 1), n_trials=6)
    fig = visible_parallel(optuna.visualization.plot_parallel_coordinate(study))
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 6
    for t in lines:
        r, g, b = unlabel_rgb(t.line.color)
        assert 0.299 * r + 0.587 * g + 0.114 * b < 200, t.line.color  # never near-white
        assert t.opacity == 1.0
    assert any(t.marker.colorscale == tuple(map(tuple, VISIBLE_SCALE)) for t in fig.data)
