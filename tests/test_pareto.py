"""The Report page's accuracy-vs-latency arithmetic: the Pareto front, the most accurate student
under a latency budget and its sentence, and the chart drawn from them (plain functions)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dashboard.chart_style import log_ticks
from dashboard.labels import arch_name
from dashboard.pareto import (
    best_under_budget,
    budget_sentence,
    default_budget,
    on_front,
    pareto_front,
    pareto_points,
)
from dashboard.pareto_chart import pareto_chart
from dashboard.report import build_report_html
from dashboard.result_tables import results_frame, student_timings, summary_rows


def _row(run_id, model, role, arch, acc, lat, **detail):
    return {
        "run_id": run_id,
        "model": model,
        "role": role,
        "arch": arch,
        "accuracy": acc,
        "f1": None if acc is None else acc - 0.01,
        "params": 1000,
        "size_bytes": 4000,
        "latency_ms_p50": lat,
        "latency_ms_p95": lat * 1.5,
        "throughput": 1000 / lat,
        "detail": detail,
    }


# teacher 10 ms / 90%; the plain transformer twins are one model (same_model_as)
RESULTS = [
    _row(1, "teacher", "teacher", "bert", 0.90, 10.0),
    _row(1, "bilstm_plain", "plain", "bilstm", 0.80, 2.0, family="word"),
    _row(1, "bilstm_distilled", "distilled", "bilstm", 0.84, 2.1, family="word"),
    _row(1, "textcnn_plain", "plain", "textcnn", 0.78, 0.5, family="word"),
    _row(1, "textcnn_distilled", "distilled", "textcnn", 0.83, 0.6, family="word"),
    _row(1, "kd_plain", "plain", "kd", 0.85, 5.0, family="transformer", train_device="cuda"),
    _row(1, "kd_distilled", "distilled", "kd", 0.88, 5.2, family="transformer"),
    _row(
        1,
        "pkd_skip_plain",
        "plain",
        "pkd_skip",
        0.85,
        5.0,
        family="transformer",
        same_model_as="kd_plain",
    ),  # fmt: skip
    _row(1, "pkd_skip_distilled", "distilled", "pkd_skip", 0.87, 5.1, family="transformer"),
    _row(
        1,
        "tinybert_distilled",
        "distilled",
        "tinybert",
        0.86,
        1.5,
        family="transformer",
        stage_s={"intermediate": 3.0, "prediction": 2.0},
        train_s=5.5,
    ),  # fmt: skip
]


def points():
    return pareto_points(RESULTS)


def test_points_draw_plain_twins_once():
    p = points()
    assert "pkd_skip_plain" not in set(p["model"])
    kd = p[p["model"] == "kd_plain"].iloc[0]
    assert kd["twins"] == ["pkd_skip_plain"]
    assert len(p) == len(RESULTS) - 1
    assert p.iloc[0]["role"] == "teacher"  # teacher first, then methods in registry order
    assert list(p["model"])[1:3] == ["bilstm_plain", "bilstm_distilled"]
    assert p.set_index("model").loc["kd_distilled", "label"] == "Vanilla KD (distilled)"
    assert p.set_index("model").loc["teacher", "family"] == "transformer"


def test_points_skip_models_without_figures():
    rows = [*RESULTS, _row(1, "broken_distilled", "distilled", "bilstm", None, 1.0)]
    rows.append(_row(1, "nolat_distilled", "distilled", "bilstm", 0.9, float("nan")))
    assert set(pareto_points(rows)["model"]) == set(points()["model"])
    assert pareto_points([]).empty


def test_front_is_the_non_dominated_staircase():
    front = pareto_front(points())
    # fastest first, each more accurate than every faster one
    assert list(front["model"]) == [
        "textcnn_plain",  # 0.5 ms 78%
        "textcnn_distilled",  # 0.6 ms 83%
        "tinybert_distilled",  # 1.5 ms 86%
        "pkd_skip_distilled",  # 5.1 ms 87%
        "kd_distilled",  # 5.2 ms 88%
        "teacher",  # 10 ms 90%
    ]
    assert list(front["latency_ms"]) == sorted(front["latency_ms"])
    assert list(front["accuracy"]) == sorted(front["accuracy"])
    mask = on_front(points())
    assert mask.sum() == 6 and not mask[points()["model"] == "bilstm_distilled"].any()


def test_front_ties_keep_one_point():
    p = pd.DataFrame(
        {
            "model": ["a", "b", "c", "d"],
            "role": ["distilled"] * 4,
            "accuracy": [0.8, 0.8, 0.8, 0.7],
            "latency_ms": [1.0, 1.0, 2.0, 1.0],
        }
    )
    assert list(pareto_front(p)["model"]) == ["a"]  # as fast and as accurate: one is enough
    assert pareto_front(p.iloc[:0]).empty


def test_best_under_budget():
    p = points()
    assert best_under_budget(p, 100)["model"] == "kd_distilled"  # never the teacher
    assert best_under_budget(p, 5.1)["model"] == "pkd_skip_distilled"  # the budget is inclusive
    assert best_under_budget(p, 2.0)["model"] == "tinybert_distilled"
    assert best_under_budget(p, 0.55)["model"] == "textcnn_plain"
    assert best_under_budget(p, 0.1) is None
    tie = pareto_points(
        [
            _row(1, "teacher", "teacher", "bert", 0.9, 10.0),
            _row(1, "bilstm_distilled", "distilled", "bilstm", 0.8, 3.0),
            _row(1, "textcnn_distilled", "distilled", "textcnn", 0.8, 1.0),
        ]
    )
    assert best_under_budget(tie, 5)["model"] == "textcnn_distilled"  # faster on a tie


def test_budget_sentences():
    p = points()
    assert budget_sentence(p, 2) == (
        "The most accurate student under 2 ms is TinyBERT (distilled) at 86.0% accuracy, "
        "1.50 ms (teacher: 90.0% at 10.0 ms)."
    )
    none = budget_sentence(p, 0.25)
    assert none.startswith("No student answers within 0.25 ms: the fastest is TextCNN (plain)")
    assert "0.50 ms with 78.0% accuracy" in none and "teacher takes 10.0 ms at 90.0%" in none
    teacher_only = pareto_points(RESULTS[:1])
    assert "no evaluated students" in budget_sentence(teacher_only, 5)


def test_budget_sentence_names_the_run_when_several():
    two = RESULTS + [
        {**_row(2, "teacher", "teacher", "bert", 0.95, 20.0)},
        {**_row(2, "kd_distilled", "distilled", "kd", 0.93, 4.0, family="transformer")},
    ]
    p = pareto_points(two)
    assert set(p["label"]) >= {"#1 teacher", "#2 Vanilla KD (distilled)"}
    s = budget_sentence(p, 5)
    assert "Vanilla KD (distilled, run #2) at 93.0% accuracy" in s
    assert "(teacher: 95.0% at 20.0 ms)" in s  # that student's own run's teacher


def test_default_budget():
    assert default_budget(points()) == 5.0  # half the teacher's 10 ms
    odd = pareto_points([_row(1, "teacher", "teacher", "bert", 0.9, 0.8499)])
    assert default_budget(odd) == pytest.approx(0.42)
    assert default_budget(pareto_points(RESULTS[1:])) == 5.0  # no teacher: 5 ms


def test_pareto_chart():
    fig = pareto_chart(points(), budget_ms=3.0)
    names = [t.name for t in fig.data]
    assert "Pareto front" in names and "budget 3 ms" in names
    front = next(t for t in fig.data if t.name == "Pareto front")
    assert front.line.shape == "hv" and list(front.x) == [0.5, 0.6, 1.5, 5.1, 5.2, 10.0]
    assert fig.layout.xaxis.type == "log"
    drawn = [t for t in fig.data if t.x is not None and t.x[0] is not None and t.mode != "lines"]
    assert {t.name for t in drawn} == {
        "teacher",
        "BiLSTM",
        "TextCNN",
        "Vanilla KD",
        "PKD-Skip",
        "TinyBERT",
    }
    kd = next(t for t in drawn if t.name == "Vanilla KD")
    assert list(kd.marker.symbol) == ["circle-open", "circle"]  # plain hollow, distilled filled
    assert "pkd_skip_plain" in " ".join(kd.hovertext)  # the twin drawn once, named in its tooltip
    colours = {t.marker.color for t in drawn}
    assert len(colours) == len(drawn)  # one colour per method
    # the budget line lies within the x range (log10 bounds)
    lo, hi = fig.layout.xaxis.range
    assert lo < math.log10(0.5) and hi > math.log10(10.0)
    assert all(lo <= math.log10(v) <= hi for v in fig.layout.xaxis.tickvals)
    assert pareto_chart(pareto_points([])).data == ()


def test_log_ticks():
    assert log_ticks(0.15, 12) == [0.2, 0.5, 1, 2, 5, 10]
    assert log_ticks(0, 1) == []


def test_tables_name_and_order_every_method():
    assert arch_name("pkd_skip") == "PKD-Skip"
    assert arch_name("bert") == "BERT"
    assert arch_name("mystery") == "mystery"  # unknown methods keep their key
    df = results_frame(RESULTS)
    assert list(df["model"])[:3] == ["teacher", "bilstm_plain", "bilstm_distilled"]
    kd = df.set_index("model").loc["kd_plain"]
    assert kd["method"] == "Vanilla KD" and kd["family"] == "transformer"
    assert kd["train device"] == "cuda"
    assert df.set_index("model").loc["pkd_skip_plain", "same model as"] == "kd_plain"
    summary = summary_rows(RESULTS)
    assert list(summary["student"]) == ["BiLSTM", "TextCNN", "Vanilla KD", "PKD-Skip", "TinyBERT"]
    assert summary.set_index("student").loc["TinyBERT", "family"] == "transformer"
    timings = student_timings(RESULTS)
    assert list(timings["model"]) == ["tinybert_distilled"]
    assert timings.iloc[0]["stages"] == "intermediate 3.0s, prediction 2.0s"


def test_html_report_has_the_pareto_chart_and_the_budget():
    run = {"id": 1, "kind": "pipeline", "status": "done", "data": {}}
    html = build_report_html([run], RESULTS, budget_ms=2.0)
    assert "The most accurate student under 2 ms is TinyBERT (distilled)" in html
    assert "the Pareto front" in html
    assert "The plain PKD-Skip is the same model as the plain Vanilla KD" in html
