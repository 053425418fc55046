"""Sanity flags on a run's figures, in plain words: what a reader should doubt before believing.

A teacher at chance level, a model that predicts one class for everything, a teacher beaten by a
student trained on the labels alone, or a difference smaller than the test set can resolve
would all be reported as ordinary numbers otherwise. Pure functions over the metrics the
pipeline stores (accuracy, confusion, n_test), so the Runs page, the Report and the CLI agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Z95 = 1.96


@dataclass(frozen=True)
class Flag:
    model: str  # "teacher", "bilstm_distilled", ... ("" for the run as a whole)
    check: str  # chance | one_class | teacher_beaten | within_noise
    text: str


def halfwidth(p: float, n: int, z: float = Z95) -> float:
    """Half-width of the normal-approximation binomial interval of a proportion p on n trials."""
    if n <= 0:
        return float("inf")
    return z * math.sqrt(p * (1 - p) / n)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def majority_share(confusion: list[list[int]]) -> float:
    """Accuracy of always answering the most common test class."""
    rows = [sum(r) for r in confusion]
    n = sum(rows)
    return max(rows) / n if n else 0.0


def model_flags(name: str, m: Mapping[str, Any]) -> list[Flag]:
    """Flags on one model's own figures: chance level, one predicted class."""
    conf = m.get("confusion")
    acc = m.get("accuracy")
    if not conf or acc is None:
        return []
    n = sum(sum(r) for r in conf)
    out = []
    base = majority_share(conf)
    if acc <= base + halfwidth(base, n):
        out.append(
            Flag(
                name,
                "chance",
                f"{name} is at or near chance level: {_pct(acc)} accuracy, against "
                f"{_pct(base)} for always answering the most common class (n = {n}).",
            )
        )
    predicted = [sum(r[c] for r in conf) for c in range(len(conf))]
    if sum(1 for x in predicted if x) == 1 and n > 1:
        labels = list((m.get("per_class") or {}).keys())
        c = next(i for i, x in enumerate(predicted) if x)
        label = labels[c] if c < len(labels) else str(c)
        out.append(
            Flag(name, "one_class", f"{name} predicts one class ('{label}') for all {n} texts.")
        )
    return out


def run_flags(models: Mapping[str, Mapping[str, Any]]) -> list[Flag]:
    """Every flag of one run's models ({name: metrics}, as in results.json)."""
    out: list[Flag] = []
    for name, m in models.items():
        out += model_flags(name, m)
    t = models.get("teacher")
    for name, m in models.items():
        if not name.endswith("_plain") or m.get("accuracy") is None:
            continue
        if t and t.get("accuracy") is not None and t["accuracy"] < m["accuracy"]:
            out.append(
                Flag(
                    "teacher",
                    "teacher_beaten",
                    f"The teacher ({_pct(t['accuracy'])}) is below {name} "
                    f"({_pct(m['accuracy'])}), a student trained on the labels alone: the "
                    "teacher is undertrained or the wrong model, so distilling from it "
                    "cannot be judged.",
                )
            )
        d = models.get(name.removesuffix("_plain") + "_distilled")
        if d and d.get("accuracy") is not None:
            out += _noise(name, m, d["accuracy"], name.removesuffix("_plain") + "_distilled")
    return _dedupe(out)


def _noise(plain: str, m: Mapping[str, Any], d_acc: float, distilled: str) -> list[Flag]:
    """A distilled-vs-plain difference inside the 95% interval of the difference of two
    proportions on this test set is not evidence either way."""
    n = m.get("n_test") or sum(sum(r) for r in m.get("confusion") or [])
    if not n:
        return []
    p_acc = m["accuracy"]
    se = math.sqrt((p_acc * (1 - p_acc) + d_acc * (1 - d_acc)) / n) or 1 / n
    diff = d_acc - p_acc
    if abs(diff) >= Z95 * se:
        return []
    return [
        Flag(
            distilled,
            "within_noise",
            f"{distilled} vs {plain}: {100 * diff:+.1f} points, inside the ±{100 * Z95 * se:.1f} "
            f"points a test set of {n} texts cannot tell apart (95%): more test texts or seeds "
            "are needed before calling either better.",
        )
    ]


def _dedupe(flags: list[Flag]) -> list[Flag]:
    seen, out = set(), []
    for f in flags:
        if (f.check, f.text) not in seen:
            seen.add((f.check, f.text))
            out.append(f)
    return out


def flags_from_results(results: list[Mapping[str, Any]]) -> dict[int, list[Flag]]:
    """{run id: flags} from store rows (each with `model` and its metrics in `detail`)."""
    by_run: dict[int, dict[str, Mapping[str, Any]]] = {}
    for r in results:
        detail = dict(r.get("detail") or {})
        for k in ("accuracy", "n_test"):
            if detail.get(k) is None and r.get(k) is not None:
                detail[k] = r[k]
        by_run.setdefault(r["run_id"], {})[r["model"]] = detail
    return {rid: run_flags(models) for rid, models in by_run.items()}
