"""Accuracy against batch-1 latency: the Pareto front of a report's models and the most accurate
student under a latency budget. Plain functions on store result rows (no Streamlit), so they
unit-test cleanly; dashboard.pareto_chart draws them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from dashboard.formatting import fmt_ms, pct
from dashboard.labels import arch_name, method_rank

COLUMNS = [
    "run",
    "model",
    "role",
    "arch",
    "method",
    "family",
    "accuracy",
    "latency_ms",
    "twins",
    "label",
]
DEFAULT_BUDGET_MS = 5.0  # when there is no teacher to take half of


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def pareto_points(results: list[Mapping[str, Any]]) -> pd.DataFrame:
    """One point per distinct model with an accuracy and a median latency.

    A plain twin that is the same model as another one (`same_model_as` in its details: KD, PKD
    and Theseus share the teacher's bottom layers fine-tuned on the labels) is not drawn twice:
    its name is listed in the other point's `twins`.
    """
    rows = []
    for r in results:
        detail = r.get("detail") or {}
        rows.append(
            {
                "run": r.get("run_id"),
                "model": r.get("model"),
                "role": r.get("role"),
                "arch": r.get("arch"),
                "method": "teacher" if r.get("role") == "teacher" else arch_name(r.get("arch")),
                "family": detail.get("family")
                or ("transformer" if r.get("role") == "teacher" else None),
                "accuracy": _num(r.get("accuracy")),
                "latency_ms": _num(r.get("latency_ms_p50")),
                "twins": [],
                "same_as": detail.get("same_model_as"),
            }
        )
    present = {(p["run"], p["model"]) for p in rows}
    kept = []
    for p in rows:
        twin = p.pop("same_as")
        if twin and (p["run"], twin) in present:
            host = next(q for q in rows if q["run"] == p["run"] and q["model"] == twin)
            host["twins"].append(p["model"])
            continue
        if p["accuracy"] is None or p["latency_ms"] is None or p["latency_ms"] <= 0:
            continue
        kept.append(p)
    several = len({p["run"] for p in kept}) > 1
    for p in kept:
        name = "teacher" if p["role"] == "teacher" else f"{p['method']} ({p['role']})"
        p["label"] = f"#{p['run']} {name}" if several else name
    df = pd.DataFrame(kept, columns=COLUMNS)
    if not df.empty:
        df["_o"] = [
            (0 if role == "teacher" else 1, method_rank(arch), 0 if role == "plain" else 1)
            for role, arch in zip(df["role"], df["arch"], strict=True)
        ]
        df = df.sort_values(["run", "_o"], kind="stable").drop(columns="_o")
        df = df.reset_index(drop=True)
    return df


def pareto_front(points: pd.DataFrame) -> pd.DataFrame:
    """The points no other point beats on both axes (faster and at least as accurate, or as
    fast and more accurate), fastest first: each is more accurate than every faster one."""
    if points.empty:
        return points.copy()
    ordered = points.sort_values(["latency_ms", "accuracy"], ascending=[True, False], kind="stable")
    best = -math.inf
    keep = []
    for idx, acc in zip(ordered.index, ordered["accuracy"], strict=True):
        if acc > best:
            keep.append(idx)
            best = acc
    return ordered.loc[keep]


def on_front(points: pd.DataFrame) -> pd.Series:
    """A boolean per point: is it on the Pareto front."""
    front = set(pareto_front(points).index)
    return pd.Series([i in front for i in points.index], index=points.index, dtype=bool)


def best_under_budget(points: pd.DataFrame, budget_ms: float) -> pd.Series | None:
    """The most accurate student (not the teacher) whose median latency is within the budget;
    the faster one on a tie. None when no student fits."""
    if points.empty:
        return None
    fits = points[(points["role"] != "teacher") & (points["latency_ms"] <= budget_ms)]
    if fits.empty:
        return None
    fits = fits.sort_values(["accuracy", "latency_ms"], ascending=[False, True], kind="stable")
    return fits.iloc[0]


def teacher_point(points: pd.DataFrame, run: Any = None) -> pd.Series | None:
    """The teacher of `run` (else the first teacher among the points)."""
    if points.empty:
        return None
    teachers = points[points["role"] == "teacher"]
    if run is not None and (teachers["run"] == run).any():
        return teachers[teachers["run"] == run].iloc[0]
    return teachers.iloc[0] if not teachers.empty else None


def default_budget(points: pd.DataFrame) -> float:
    """Half the (first) teacher's median latency, to two significant digits; 5 ms without one."""
    t = teacher_point(points)
    if t is None or not t["latency_ms"]:
        return DEFAULT_BUDGET_MS
    half = float(t["latency_ms"]) / 2
    digits = 1 - math.floor(math.log10(half))
    return max(0.01, round(half, max(digits, 0)))


def budget_ms_text(ms: float) -> str:
    """A budget as people type it: 5 ms, 0.42 ms, 12.5 ms."""
    return f"{ms:g} ms" if ms >= 0.01 else f"{ms:.2g} ms"


def _who(p: pd.Series, several_runs: bool) -> str:
    where = f", run #{p['run']}" if several_runs else ""
    return f"{p['method']} ({p['role']}{where})"


def budget_sentence(points: pd.DataFrame, budget_ms: float) -> str:
    """The answer to "what is the most accurate student I can afford?" in one sentence."""
    budget = budget_ms_text(budget_ms)
    students = points[points["role"] != "teacher"] if not points.empty else points
    if students.empty:
        return "These runs have no evaluated students to weigh against a latency budget."
    several = points["run"].nunique() > 1
    best = best_under_budget(points, budget_ms)
    if best is not None:
        t = teacher_point(points, best["run"])
        teacher = (
            f" (teacher: {pct(t['accuracy'])} at {fmt_ms(t['latency_ms'])})"
            if t is not None
            else ""
        )
        return (
            f"The most accurate student under {budget} is {_who(best, several)} at "
            f"{pct(best['accuracy'])} accuracy, {fmt_ms(best['latency_ms'])}{teacher}."
        )
    fastest = students.sort_values(["latency_ms", "accuracy"], ascending=[True, False]).iloc[0]
    t = teacher_point(points, fastest["run"])
    teacher = (
        f"; the teacher takes {fmt_ms(t['latency_ms'])} at {pct(t['accuracy'])}"
        if t is not None
        else ""
    )
    return (
        f"No student answers within {budget}: the fastest is {_who(fastest, several)} at "
        f"{fmt_ms(fastest['latency_ms'])} with {pct(fastest['accuracy'])} accuracy{teacher}."
    )
