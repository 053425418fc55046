"""An autodistill search's trials read back from the store: one row per trial (trained as a
child distill run, or pruned before training), its score and deployed p50, and the dev
curves the early-pruning rule compares. The store is the truth; nothing here writes.

A row's `score` is on the split the search compares trials on (`compared_on`): the dev rows
whenever the data have a dev set, so choosing among trials never looks at the test rows; the
test score is kept beside it (`test_score`) for the figures the search announces."""

from __future__ import annotations

from typing import Any

from core.runs import auto_answer, auto_space
from core.runs.auto_config import auto_of

COMPARED_ON = "autodistill_compared_on"  # the search run's config key: "dev" or "test"


def student_row(store, run_id: int, method: str, role: str = "distilled") -> dict | None:
    for r in store.results(run_id):
        if r["model"] == f"{method}_{role}":
            return r
    return None


def score_of(row: dict[str, Any], metric: str) -> float:
    """A result row's test score in `metric`."""
    return float(row["f1"] if metric == "f1" else row["accuracy"])


def dev_score_of(row: dict[str, Any], metric: str) -> float | None:
    """A result row's dev score in `metric` (core.runs.scoring records it); None without one."""
    value = (row.get("detail") or {}).get("dev_f1" if metric == "f1" else "dev_accuracy")
    return None if value is None else float(value)


def compared_on(search: dict[str, Any]) -> str:
    """The split a search's trials compete on: "dev", or "test" for a search whose data have
    no dev set (and for one recorded before the split was)."""
    return search["config"].get(COMPARED_ON, "test")


def compared_score(row: dict[str, Any], metric: str, split: str) -> float | None:
    """A result row's score on `split` ("dev" or "test")."""
    return dev_score_of(row, metric) if split == "dev" else score_of(row, metric)


def trial_rows(store, search: dict[str, Any]) -> list[dict[str, Any]]:
    """Every trial of a search, by number: trained ones (a child run), pruned ones (before
    training: no run), with score (on `compared_on`'s split), test score, deployed p50, probe
    p50 and status. A trained trial with no score on that split has no `score`."""
    auto = auto_of(search)
    split = compared_on(search)
    rows = []
    for child in store.runs(parent=search["id"]):
        info = child["config"].get("auto_trial")
        if not info or info.get("role") != "trial":
            continue
        params = info["params"]
        row: dict[str, Any] = {
            "trial": info["number"],
            "run": child["id"],
            "status": child["status"],
            "method": params["method"],
            "description": auto_space.describe(params),
            "params": params,
            "probe_ms": info.get("probe_ms"),
            "probe_deployed_ms": info.get("probe_deployed_ms"),
            "pruned": None,
        }
        if child["status"] == "cancelled" and info["number"] in curve_pruned(search):
            row["pruned"] = "dev curve"
        res = (
            student_row(store, child["id"], params["method"]) if child["status"] == "done" else None
        )
        if res is not None:
            score = compared_score(res, auto.metric, split)
            if score is not None:
                row["score"] = score
            row["test_score"] = score_of(res, auto.metric)
            row["dev_score"] = dev_score_of(res, auto.metric)
            row["accuracy"] = res["accuracy"]
            row["f1"] = res["f1"]
            row["p50_ms"] = auto_answer.deployed_p50(res)
            row["torch_p50_ms"] = res["latency_ms_p50"]
        rows.append(row)
    for p in search["config"].get("autodistill_pruned", []):
        rows.append(
            {
                "trial": p["number"],
                "run": None,
                "status": "pruned",
                "method": p["params"]["method"],
                "description": auto_space.describe(p["params"]),
                "params": p["params"],
                "probe_ms": p["probe_ms"],
                "probe_deployed_ms": p.get("probe_deployed_ms"),
                "pruned": "over budget before training",
            }
        )
    return sorted(rows, key=lambda r: r["trial"])


def curve_pruned(search: dict[str, Any]) -> set[int]:
    return set(search["config"].get("autodistill_curve_pruned", []))


def dev_curve(store, run_id: int) -> list[float]:
    """The trial's dev checks in order (the training loop logs `<series>/dev_<metric>`)."""
    pts = [m for m in store.metrics(run_id) if "/dev_" in m["series"]]
    return [m["value"] for m in sorted(pts, key=lambda m: (m["t"], m["step"]))]


def curve_verdict(
    mine: list[float], probe_ms: float, rivals: list[tuple[float, list[float]]]
) -> tuple[int, float, float] | None:
    """(dev check number, this trial's value, the best rival's) when this trial's latest dev
    check is below that of a finished trial at least as fast (probe p50) at the same check;
    None while it is not (or has no dev check yet)."""
    if not mine:
        return None
    i = len(mine) - 1
    same = [curve[i] for p, curve in rivals if p <= probe_ms and len(curve) > i]
    if same and mine[i] < max(same):
        return i + 1, mine[i], max(same)
    return None
