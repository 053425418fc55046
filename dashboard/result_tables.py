"""Tables about a run's models: every result with its speed-up against its own teacher, the
teacher vs plain vs distilled summary, per-domain accuracy, per-student timings and the timing
threads. Plain functions on store result rows, so they unit-test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from core.evaluate.contention import why_contended
from dashboard.labels import ROLE_ORDER, arch_name, method_rank


def speed_figure(r: Mapping[str, Any], onnx: bool) -> tuple[float | None, str | None]:
    """A result's batch-1 median latency, as deployed (ONNX) or in PyTorch, and why it was
    measured under contention (None: a quiet machine, or a figure recorded before that)."""
    d = r.get("detail") or {}
    if onnx:
        return d.get("onnx_latency_ms_p50"), why_contended(d, "onnx_latency")
    return r.get("latency_ms_p50"), why_contended(d, "latency")


def speedup(teacher: Mapping[str, Any] | None, student: Mapping[str, Any]) -> dict[str, Any]:
    """The student's speed-up over its teacher, on the deployed (ONNX) figures when both have
    one, else on both PyTorch figures (never one of each). `basis` says which; `contended` says
    which input was measured on a busy machine and why (None: neither), so a ratio built on a
    contended figure is shown with that warning and never headlined."""
    out: dict[str, Any] = {"ratio": None, "basis": None, "contended": None, "t_ms": None}
    if teacher is None:
        return out
    onnx = bool(
        (teacher.get("detail") or {}).get("onnx_latency_ms_p50")
        and (student.get("detail") or {}).get("onnx_latency_ms_p50")
    )
    t_ms, t_why = speed_figure(teacher, onnx)
    s_ms, s_why = speed_figure(student, onnx)
    whys = [
        f"the {w} figure: {why}" for w, why in (("teacher's", t_why), ("student's", s_why)) if why
    ]
    out.update(
        basis="ONNX" if onnx else "PyTorch",
        contended="; ".join(whys) or None,
        t_ms=t_ms,
        s_ms=s_ms,
        ratio=t_ms / s_ms if t_ms and s_ms else None,
    )
    return out


def contention_note(r: Mapping[str, Any]) -> str:
    """ "" for a latency measured on a quiet machine; else which figure (PyTorch, ONNX) was
    measured under contention, and why: the Runs table's column."""
    d = r.get("detail") or {}
    notes = [
        f"{name}: {why}"
        for name, prefix in (("PyTorch", "latency"), ("ONNX", "onnx_latency"))
        if (why := why_contended(d, prefix))
    ]
    return "measured under contention (" + "; ".join(notes) + ")" if notes else ""


def results_frame(results: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Results with each model's speed-up / size ratio against its own run's teacher."""
    teachers = {(r["run_id"], target_of(r)): r for r in results if r.get("role") == "teacher"}
    rows = []
    for r in results:
        t = teachers.get((r["run_id"], target_of(r)))
        lat, size = r.get("latency_ms_p50"), r.get("size_bytes")
        fast = speedup(t, r) if r.get("role") != "teacher" else {"ratio": 1.0, "basis": None}
        smaller = (
            t["size_bytes"] / size
            if t and size and t.get("size_bytes") and r.get("role") != "teacher"
            else (1.0 if r.get("role") == "teacher" else None)
        )
        detail = r.get("detail") or {}
        rows.append(
            {
                "run": r["run_id"],
                "model": r["model"],
                "role": r.get("role"),
                "arch": r.get("arch"),
                "method": arch_name(r.get("arch")),
                "family": detail.get("family")
                or ("transformer" if r.get("role") == "teacher" else None),
                "accuracy": r.get("accuracy"),
                "f1": r.get("f1"),
                # the dev metric its best epoch was picked on (what `auto` resolved to)
                "selected on": detail.get("select_metric") or "",
                "params": r.get("params"),
                "size (MB)": size / 2**20 if size else None,
                "latency p50 (ms)": lat,
                "latency p95 (ms)": r.get("latency_ms_p95"),
                # the deployed path: the ONNX export run by its own predict.py
                "ONNX p50 (ms)": detail.get("onnx_latency_ms_p50"),
                "ONNX tokenise p50 (ms)": detail.get("onnx_tokenize_ms_p50"),
                "throughput (/s)": r.get("throughput"),
                "speed-up vs teacher": fast["ratio"],
                "latency used": fast["basis"] or "",  # ONNX (as deployed) or PyTorch
                "measured under contention": contention_note(r),  # blank: a quiet machine
                "x smaller than teacher": smaller,
                "train device": detail.get("train_device") or "",
                "same model as": detail.get("same_model_as") or "",  # blank, never "None"
            }
        )
    df = pd.DataFrame(rows)
    if not df.empty:
        # per run: the teacher, then each method (registry order) with its plain and distilled
        # (a target-domain run: per target domain, in the order the run reported them)
        first_seen = {d: i for i, d in enumerate(dict.fromkeys(map(target_of, results)))}
        df["_o"] = [
            (
                first_seen[target_of(r)],
                0 if role in ("teacher", "meta_teacher") else 1,
                method_rank(arch),
                ROLE_ORDER.get(role, 9),
            )
            for r, role, arch in zip(results, df["role"], df["arch"], strict=True)
        ]
        df = df.sort_values(["run", "_o"], kind="stable").drop(columns="_o")
        df = df.reset_index(drop=True)
    return df


def domain_matrix(results: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Accuracy per (domain, model): rows are the test set's domains, columns the models
    (a target-domain run's `name@domain` rows fold into one `name` column), in result order.
    Empty when no result carries per-domain figures."""
    cells: dict[str, dict[str, float]] = {}
    cols: list[str] = []
    several_runs = len({x["run_id"] for x in results}) > 1
    for r in results:
        per = (r.get("detail") or {}).get("domains") or r.get("domains")
        if not per:
            continue
        col = str(r["model"]).split("@", 1)[0]
        if several_runs:
            col = f"{col} (run {r['run_id']})"
        if col not in cols:
            cols.append(col)
        for d, m in per.items():
            cells.setdefault(d, {})[col] = m.get("accuracy")
    if not cells:
        return pd.DataFrame()
    return pd.DataFrame.from_dict(cells, orient="index")[cols].sort_index()


def student_timings(results: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Per student: where it trained, its training seconds and, for the transformer methods
    with several stages (TinyBERT's intermediate + prediction, Theseus' replace + successor),
    the seconds of each stage."""
    rows = []
    for r in results:
        d = r.get("detail") or {}
        if r.get("role") == "teacher" or "train_s" not in d:
            continue
        stages = d.get("stage_s") or {}
        rows.append(
            {
                "run": r["run_id"],
                "model": r["model"],
                "method": arch_name(r.get("arch")),
                "train device": d.get("train_device"),
                "train (s)": d.get("train_s"),
                "stages": ", ".join(f"{k} {v:.1f}s" for k, v in stages.items()),
                "same model as": d.get("same_model_as") or "",
            }
        )
    cols = ["run", "model", "method", "train device", "train (s)", "stages", "same model as"]
    return pd.DataFrame(rows, columns=cols)


def gap_closed(teacher: float | None, plain: float | None, distilled: float | None) -> float | None:
    """(distilled - plain) / (teacher - plain): the share of the teacher's lead the distillation
    recovered; None when the plain student is already level with or ahead of the teacher."""
    if teacher is None or plain is None or distilled is None:
        return None
    gap = teacher - plain
    if gap <= 1e-9:
        return None
    return (distilled - plain) / gap


def summary_rows(results: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Per run and student architecture: teacher vs plain vs distilled, the report's table."""
    return pd.DataFrame(summary_records(results))


def summary_records(results: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """summary_rows as plain dicts (missing values stay None, not NaN)."""
    by_run: dict[tuple[int, str], list[Mapping[str, Any]]] = {}
    for r in results:  # a target-domain run: one group per target domain
        by_run.setdefault((r["run_id"], target_of(r)), []).append(r)
    rows = []
    for (run_id, domain), rs in by_run.items():
        t = next((r for r in rs if r.get("role") == "teacher"), None)
        archs = list(
            dict.fromkeys(
                r.get("arch")
                for r in rs
                if r.get("role") in ("plain", "distilled", "meta_distilled")
            )
        )
        for arch in sorted(archs, key=method_rank):
            meta = next(
                (r for r in rs if r.get("arch") == arch and r.get("role") == "meta_distilled"),
                None,
            )
            extra: dict[str, Any] = {}
            if meta is not None:
                extra["meta-distilled acc"] = meta.get("accuracy")
            p = next((r for r in rs if r.get("arch") == arch and r.get("role") == "plain"), None)
            d = next(
                (r for r in rs if r.get("arch") == arch and r.get("role") == "distilled"), None
            )
            fast = speedup(t, d) if d else speedup(None, {})
            t_lat, d_lat = fast["t_ms"], fast.get("s_ms")
            t_size = t.get("size_bytes") if t else None
            d_size = d.get("size_bytes") if d else None
            family = ((d or p or {}).get("detail") or {}).get("family")
            rows.append(
                {
                    "run": run_id,
                    **({"domain": domain} if domain else {}),
                    "student": arch_name(arch),
                    "family": family,
                    "teacher acc": t.get("accuracy") if t else None,
                    "plain acc": p.get("accuracy") if p else None,
                    "distilled acc": d.get("accuracy") if d else None,
                    "teacher F1": t.get("f1") if t else None,
                    "plain F1": p.get("f1") if p else None,
                    "distilled F1": d.get("f1") if d else None,
                    "gap closed": gap_closed(
                        t.get("accuracy") if t else None,
                        p.get("accuracy") if p else None,
                        d.get("accuracy") if d else None,
                    ),
                    "speed-up vs teacher": fast["ratio"],
                    "latency used": fast["basis"],
                    "latency contended": fast["contended"],
                    "x smaller than teacher": t_size / d_size if t_size and d_size else None,
                    "distilled latency p50 (ms)": d_lat,
                    "teacher latency p50 (ms)": t_lat,
                    **extra,
                }
            )
    return rows


def target_of(r: Mapping[str, Any]) -> str:
    """The target domain of a result row: `name@domain`, or a one-target run's `domain`
    figure; "" for runs without target domains."""
    model = str(r.get("model", ""))
    if "@" in model:
        return model.split("@", 1)[1]
    return str((r.get("detail") or {}).get("domain") or "")


def plain_twins(results: list[Mapping[str, Any]]) -> dict[tuple[Any, str], list[str]]:
    """(run, model) -> the plain twins that are the same model as it (trained once)."""
    out: dict[tuple[Any, str], list[str]] = {}
    for r in results:
        twin = (r.get("detail") or {}).get("same_model_as")
        if twin:
            out.setdefault((r["run_id"], twin), []).append(r["model"])
    return out


def threads_caption(results: list[Mapping[str, Any]]) -> str:
    """How many CPU threads each kind of model was timed on, from what each result recorded
    ("the teacher and transformer students on 2 threads; word students on 1 thread")."""
    groups: dict[Any, list[str]] = {}
    for r in results:
        d = r.get("detail") or {}
        who = (
            "the teacher"
            if r.get("role") == "teacher"
            else f"{d.get('family') or 'other'} students"
        )
        groups.setdefault(d.get("threads"), [])
        if who not in groups[d.get("threads")]:
            groups[d.get("threads")].append(who)
    parts = []
    for t, who in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        names = " and ".join(who) if len(who) < 3 else ", ".join(who[:-1]) + " and " + who[-1]
        n = "an unrecorded number of" if t is None else str(t)
        parts.append(f"{names} on {n} thread{'' if t == 1 else 's'}")
    return "; ".join(parts)
