"""Tables about runs (not their models): the Runs page's run list, the config diff of several
runs, loss series. Plain functions on store rows, so they unit-test."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from dashboard.formatting import fmt_seconds
from dashboard.labels import data_source


def run_duration(run: Mapping[str, Any], now: float | None = None) -> float | None:
    """Seconds a run took, or has taken so far; None before it starts."""
    start = run.get("started")
    if not start:
        return None
    end = run.get("finished") or (now if now is not None else time.time())
    return max(0.0, end - start)


def best_distilled(results: Iterable[Mapping[str, Any]]) -> dict[int, float]:
    """Per run: its best distilled student's accuracy."""
    best: dict[int, float] = {}
    for r in results:
        if r.get("role") == "distilled" and r.get("accuracy") is not None:
            best[r["run_id"]] = max(best.get(r["run_id"], -1.0), float(r["accuracy"]))
    return best


def runs_table(
    runs: list[Mapping[str, Any]],
    results: list[Mapping[str, Any]],
    now: float | None = None,
) -> pd.DataFrame:
    """One row per run: what the Runs page lists (sortable)."""
    best = best_distilled(results)
    teacher_acc = {r["run_id"]: r.get("accuracy") for r in results if r.get("role") == "teacher"}
    rows = []
    for r in runs:
        rows.append(
            {
                "id": r["id"],
                "name": r.get("name") or "",
                "status": r.get("status"),
                "kind": r.get("kind"),
                "data": data_source(r),
                "teacher": short_path(
                    r.get("teacher") or (r.get("config") or {}).get("teacher", {}).get("model")
                ),
                "teacher acc": teacher_acc.get(r["id"]),
                "best distilled acc": best.get(r["id"]),
                "created": datetime.fromtimestamp(r["created"]) if r.get("created") else None,
                "duration (s)": run_duration(r, now),
                "progress": r.get("progress") or 0.0,
            }
        )
    cols = [
        "id",
        "name",
        "status",
        "kind",
        "data",
        "teacher",
        "teacher acc",
        "best distilled acc",
        "created",
        "duration (s)",
        "progress",
    ]
    return pd.DataFrame(rows, columns=cols)


# -- configs ---------------------------------------------------------------------------------
def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts / lists to dotted keys: {"students": [{"arch": "x"}]} -> students[0].arch."""
    out: dict[str, Any] = {}
    if isinstance(d, Mapping):
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, list) and any(isinstance(x, Mapping) for x in d):
        for i, v in enumerate(d):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = tuple(d) if isinstance(d, list) else d
    return out


def config_diff(configs: Mapping[Any, Mapping[str, Any]]) -> pd.DataFrame:
    """Only the config keys whose values differ between the given runs (rows = keys).

    A key missing from some run counts as a difference (shown as "—").
    """
    flat = {label: flatten(cfg) for label, cfg in configs.items()}
    keys: list[str] = []
    for f in flat.values():
        keys += [k for k in f if k not in keys]
    missing = object()
    rows = {}
    for k in keys:
        vals = [f.get(k, missing) for f in flat.values()]
        norm = {
            json.dumps(v, default=str, sort_keys=True) if v is not missing else "\0" for v in vals
        }
        if len(norm) > 1:
            rows[k] = ["—" if v is missing else _show(v) for v in vals]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[str(c) for c in flat])


def _show(v: Any) -> str:
    if v is None:
        return "unset"
    if isinstance(v, tuple):
        return ", ".join(str(x) for x in v)
    return str(v)


def loss_frame(
    metrics: list[Mapping[str, Any]], run_label: str | None = None, max_points: int | None = None
) -> pd.DataFrame:
    """Loss series (name ends in /loss) as a long frame: curve, step, value.

    `max_points` thins each curve to about that many evenly spaced points (the last one kept).
    """
    rows = []
    for m in metrics:
        series = str(m.get("series", ""))
        if not series.endswith("/loss"):
            continue
        name = series[: -len("/loss")]
        rows.append(
            {
                "curve": f"{run_label} · {name}" if run_label else name,
                "step": m["step"],
                "value": m["value"],
            }
        )
    df = pd.DataFrame(rows, columns=["curve", "step", "value"])
    if max_points and len(df) > max_points:
        parts = []
        for _, part in df.groupby("curve", sort=False):
            if len(part) > max_points:
                stride = -(-len(part) // max_points)
                keep = list(range(0, len(part), stride))
                if keep[-1] != len(part) - 1:
                    keep.append(len(part) - 1)
                part = part.iloc[keep]
            parts.append(part)
        df = pd.concat(parts, ignore_index=True)
    return df


def finished_text(run: Mapping[str, Any]) -> str:
    """How a run that is no longer active ended, for the Recently finished list: "finished in
    3m 05s", or "never started" for one cancelled in the queue (not "finished in 0s")."""
    if not run.get("started"):
        return "never started"
    return f"finished in {fmt_seconds((run.get('finished') or run['started']) - run['started'])}"


def worker_runs(worker: Mapping[str, Any], active: Iterable[Mapping[str, Any]]) -> list[int]:
    """The runs a worker is on: those of its last heartbeat and the active runs that name it
    (a run claimed since its last beat would otherwise list a busy worker as idle)."""
    ids = set(worker.get("runs") or [])
    ids |= {r["id"] for r in active if r.get("worker") == worker.get("id") and r.get("started")}
    return sorted(ids)


def short_path(p: str | None) -> str | None:
    """A checkpoint as a table shows it: its folder's name ("/data/ckpt/m3e-small" ->
    "m3e-small"), so a long path does not push the Runs table's columns off the page."""
    if not p:
        return None
    if str(p).startswith(ENSEMBLE):  # "ensemble: a + b" (core.runs.stages.teacher_name)
        return ENSEMBLE + " + ".join(
            short_path(m) or m for m in str(p)[len(ENSEMBLE) :].split(" + ")
        )
    return str(p).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or str(p)


ENSEMBLE = "ensemble: "
