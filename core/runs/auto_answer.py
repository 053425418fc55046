"""The answer of `autodistill`: the Pareto front, the winner under the budget, and a sentence.

Pure functions of the trial rows (core.runs.autodistill builds them from the store), so the CLI,
the Train page and the benchmark say the same thing.
"""

from __future__ import annotations

import statistics
from typing import Any


def deployed_p50(result: dict[str, Any]) -> float | None:
    """The batch-1 p50 as deployed: ONNX Runtime's through the export's predict.py when the
    run measured it, else PyTorch's."""
    for key in ("onnx_latency_ms_p50", "latency_ms_p50"):
        detail = result.get("detail") or {}
        value = result.get(key, detail.get(key))
        if value is not None:
            return float(value)
    return None


def pareto_front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows no other row dominates (a score at least as high and a p50 at least as low,
    one strictly), by p50 ascending."""
    pts = [r for r in rows if r.get("score") is not None and r.get("p50_ms") is not None]
    front = []
    for r in pts:
        dominated = any(
            o["score"] >= r["score"]
            and o["p50_ms"] <= r["p50_ms"]
            and (o["score"] > r["score"] or o["p50_ms"] < r["p50_ms"])
            for o in pts
        )
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: (r["p50_ms"], -r["score"]))


def winner_under(rows: list[dict[str, Any]], budget_ms: float) -> dict[str, Any] | None:
    """The best-scoring trained trial whose deployed p50 meets the budget (ties: the faster)."""
    ok = [r for r in rows if r.get("score") is not None and r["p50_ms"] <= budget_ms]
    return max(ok, key=lambda r: (r["score"], -r["p50_ms"])) if ok else None


def seed_stats(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 with one value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def within_noise(
    front: list[dict[str, Any]], winner: dict[str, Any], mean: float, sd: float, budget_ms: float
) -> list[dict[str, Any]]:
    """Other front points under the budget whose (single-seed) score is within two of the
    winner's seed standard deviations (at least one point of accuracy) of its mean, all on the
    split the trials were compared on."""
    tol = max(2 * sd, 0.01)
    return [
        r
        for r in front
        if r["trial"] != winner["trial"] and r["p50_ms"] <= budget_ms and r["score"] >= mean - tol
    ]


def split_note(answer: dict[str, Any]) -> str:
    """Which rows the trials were compared on, in words (the front's caption says it too)."""
    if answer.get("compared_on") == "dev":
        rows = answer.get("dev_rows")
        return f"picked on the dev set{f' ({rows} rows)' if rows else ''}"
    return "picked on the test set: the data have no dev set, so the figure is optimistic"


def sentence(answer: dict[str, Any]) -> str:
    """ "TextCNN on characters, 64 filters: test accuracy 0.905 at 0.14 ms, 99.6% of the
    teacher, 120x faster (3 seeds: 0.905 ± 0.004; picked on the dev set (200 rows))"; and
    whether a rival is within the noise (on the compared split)."""
    w = answer["winner"]
    metric = "accuracy" if answer["metric"] == "accuracy" else "macro-F1"
    split = answer.get("compared_on", "test")
    text = f"{w['description']}: test {metric} {w['mean']:.3f} at {w['p50_ms']:.2f} ms"
    teacher = answer.get("teacher") or {}
    if teacher.get("score"):
        text += f", {100 * w['mean'] / teacher['score']:.1f}% of the teacher"
    if teacher.get("p50_ms") and w["p50_ms"] > 0:
        text += f", {teacher['p50_ms'] / w['p50_ms']:.0f}x faster"
    text += f" ({len(w['seeds'])} seed{'s' if len(w['seeds']) > 1 else ''}: "
    text += f"{w['mean']:.3f} ± {w['sd']:.3f}; {split_note(answer)})"
    rivals = answer.get("within_noise") or []
    if rivals:
        names = "; ".join(
            f"{r['description']} ({split} {r['score']:.3f} at {r['p50_ms']:.2f} ms)" for r in rivals
        )
        text += f". Within the noise of it: {names}"
    return text + "."
