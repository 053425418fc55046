"""Sanity flags, against hand-computed cases, and on the pages for a real run."""

from __future__ import annotations

import math

from core.evaluate.sanity import (
    flags_from_results,
    halfwidth,
    majority_share,
    model_flags,
    run_flags,
)


def _m(conf: list[list[int]]) -> dict:
    n = sum(map(sum, conf))
    return {
        "confusion": conf,
        "accuracy": sum(conf[i][i] for i in range(len(conf))) / n,
        "n_test": n,
        "per_class": {"neg": {}, "pos": {}},
    }


def test_halfwidth_is_the_binomial_interval():
    assert math.isclose(halfwidth(0.5, 100), 1.96 * 0.05)
    assert majority_share([[30, 20], [10, 40]]) == 0.5


def test_a_teacher_at_chance_predicting_one_class_is_flagged():
    # the case: 50 + 50 test texts, 49 of the class-0 texts predicted as 1
    teacher = _m([[1, 49], [0, 50]])  # accuracy 0.51 against 0.50 for the majority class
    checks = {f.check for f in model_flags("teacher", teacher)}
    assert checks == {"chance"}
    only_pos = _m([[0, 50], [0, 50]])
    flags = model_flags("teacher", only_pos)
    assert {f.check for f in flags} == {"chance", "one_class"}
    assert "predicts one class ('pos') for all 100 texts" in flags[1].text
    good = _m([[45, 5], [6, 44]])
    assert model_flags("teacher", good) == []


def test_teacher_beaten_and_differences_within_noise():
    models = {
        "teacher": _m([[40, 10], [10, 40]]),  # 0.80
        "textcnn_plain": _m([[42, 8], [8, 42]]),  # 0.84
        "textcnn_distilled": _m([[43, 7], [8, 42]]),  # 0.85: +1 point on 100 texts
    }
    flags = run_flags(models)
    checks = [f.check for f in flags]
    assert "teacher_beaten" in checks and "within_noise" in checks
    noise = next(f for f in flags if f.check == "within_noise")
    # se = sqrt((0.84*0.16 + 0.85*0.15) / 100) = 0.0511; 95% half-width 10.0 points
    assert "+1.0 points" in noise.text and "±10.0 points" in noise.text
    # a clear difference on a large test set is not flagged
    big = {
        "teacher": _m([[450, 50], [50, 450]]),
        "textcnn_plain": _m([[380, 120], [120, 380]]),
        "textcnn_distilled": _m([[440, 60], [60, 440]]),
    }
    assert run_flags(big) == []


def test_flags_from_store_rows():
    rows = [
        {"run_id": 3, "model": name, "accuracy": m["accuracy"], "detail": m}
        for name, m in {
            "teacher": _m([[1, 49], [0, 50]]),
            "bilstm_plain": _m([[40, 10], [10, 40]]),
        }.items()
    ]
    flags = flags_from_results(rows)[3]
    assert {f.check for f in flags} == {"chance", "teacher_beaten"}
