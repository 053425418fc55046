"""Readable charts: loss kinds in panels of their own, runs told apart by line style, log axes
with labelled 0.1 / 1 / 10 / 100 ticks."""

from __future__ import annotations

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
