"""The Predict page's models: a finished run's teacher and students loaded once per server
(cached per folder and file time), and one sentence scored by each with its timing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import torch

from core.data import pairs
from core.evaluate.metrics import percentile
from core.evaluate.sanity import Flag
from core.methods import load_student
from core.runs.store import Store
from core.teacher.model import load_teacher
from dashboard import widgets
from dashboard.labels import ROLE_ORDER, arch_name, method_rank
from dashboard.result_charts import probability_bars

Model = tuple[str, str, str, Callable[[str], Any]]  # (model, role, arch, predict_fn)


@st.cache_resource(show_spinner="Loading the teacher…", max_entries=4)
def cached_teacher(path: str, mtime: float):
    """A run's fine-tuned teacher on the CPU, loaded once per folder and file time."""
    return load_teacher(path, device="cpu")


@st.cache_resource(show_spinner="Loading a student…", max_entries=32)
def cached_student(path: str, mtime: float):
    """Any saved student (word or transformer): its student.json names its method."""
    return load_student(path)


def file_mtime(p: Path, name: str) -> float:
    """The modification time of `p / name` (0 when missing): part of the cache keys."""
    f = p / name
    return f.stat().st_mtime if f.exists() else 0.0


REPEATS = 15  # timed calls per model and sentence (after one warm-up call)


def score_fn(fn, text: str, repeats: int = REPEATS) -> tuple[torch.Tensor, float, float, float]:
    """Logits, then the median, 10th and 90th percentile milliseconds of `repeats` calls after
    a warm-up call: one call on a busy machine can be 100x its median."""
    logits = fn(text)  # warm-up: the first call of a fresh model pays one-off costs
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(text)
        times.append((time.perf_counter() - t0) * 1000)
    return (
        logits,
        percentile(times, 0.5),
        percentile(times, 0.1),
        percentile(times, 0.9),
    )


def load_models(
    s: Store, run: dict, results: dict[str, dict], labels: list[str]
) -> tuple[list[Model], list[str]]:
    """The run's teacher, then its students (each method in the registry's order, its plain
    twin first); a model that fails to load is an error box. Returns the models and the label
    names (the run's, else the first model's)."""
    roles = {m: r.get("role") for m, r in results.items()}
    models: list[Model] = []
    with widgets.engine_errors("Loading the teacher"):
        tpath = widgets.run_teacher_path(s, run)
        if tpath is not None:
            t = cached_teacher(str(tpath), file_mtime(tpath, "model.safetensors"))
            models.append(("teacher", "teacher", "bert", t.predict_one))
            labels = labels or t.label_names

    def arch_of(name: str) -> str:
        """A student's method: its result row's, else its folder name without the role."""
        return (results.get(name) or {}).get("arch") or name.rsplit("_", 1)[0]

    student_dirs = sorted(  # each method in the registry's order, its plain twin first
        widgets.run_student_dirs(s, run).items(),
        key=lambda kv: (
            method_rank(arch_of(kv[0])),
            ROLE_ORDER.get(roles.get(kv[0], ""), 9),
            kv[0],
        ),
    )
    for name, folder in student_dirs:
        with widgets.engine_errors(f"Loading student {name}"):
            stu = cached_student(str(folder), file_mtime(folder, "model.safetensors"))
            role = roles.get(name) or name.rsplit("_", 1)[-1]
            models.append((name, role, arch_of(name), stu.predict_logits))
            labels = labels or stu.label_names
    return models, labels


def score_models(
    models: list[Model], text: str, labels: list[str], results: dict[str, dict]
) -> tuple[list[dict], list[dict]]:
    """Each model's label, confidence and timing for `text` (table rows), and every class
    probability (for the bars)."""
    rows, probs = [], []
    for name, role, arch, fn in models:
        with widgets.engine_errors(f"Scoring with {name}"):
            logits, ms, lo, hi = score_fn(fn, text.strip())
            p = torch.softmax(logits.float(), dim=-1).tolist()
            names = labels or [str(i) for i in range(len(p))]
            best = max(range(len(p)), key=p.__getitem__)
            detail = (results.get(name) or {}).get("detail") or {}
            rows.append(
                {
                    "model": name,
                    "role": role,
                    "architecture": arch_name(arch),
                    "family": "transformer" if role == "teacher" else detail.get("family", ""),
                    "label": names[best],
                    "confidence": p[best],
                    "ms": ms,
                    "spread (ms)": f"{lo:.2f}–{hi:.2f}",
                }
            )
            probs += [
                {"model": name, "class": c, "probability": v}
                for c, v in zip(names, p, strict=False)
            ]
    return rows, probs


def scores_section(
    text: str,
    is_pairs: bool,
    rows: list[dict],
    probs: list[dict],
    flags: list[Flag],
    busy: list[dict],
    any_model: bool,
) -> None:
    """What the models make of `text`: the sentence, the run's sanity flags next to the
    predictions (a one-class model's label says nothing about this sentence), each model's
    label, confidence and timing, and the class probabilities."""
    if is_pairs:
        a, b = pairs.split(text)
        st.markdown(f"Scores for the pair: *{a.strip()}* ‖ *{b.strip()}*")
    else:
        st.markdown(f"Scores for: *{text.strip()}*")
    if not rows:
        if not any_model:
            st.error("This run has no model files left to load.")
        return
    by_model: dict[str, list[str]] = {}
    for f in flags:
        by_model.setdefault(f.model, []).append(f.text)
    if flags:
        st.warning(
            "Check before trusting these predictions (the run's own test figures say):\n\n"
            + "\n".join(f"- {f.text}" for f in flags),
            icon=":material/report:",
        )
    for row in rows:  # the flag beside the label it qualifies
        row["run flag"] = "; ".join(by_model.get(row["model"], []))
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="pred-table",
        column_config={
            "confidence": st.column_config.ProgressColumn(
                min_value=0.0, max_value=1.0, format="percent"
            ),
            "ms": st.column_config.NumberColumn("p50 ms (this sentence)", format="%.2f"),
            "spread (ms)": st.column_config.TextColumn(
                "p10–p90 ms", help=f"10th to 90th percentile of the {REPEATS} timed calls"
            ),
            "run flag": st.column_config.TextColumn(
                help="The run's sanity flag on this model (from its test figures)"
            ),
        },
    )
    st.plotly_chart(probability_bars(pd.DataFrame(probs)), key="pred-probs")
    st.caption(
        f"Milliseconds: median (p50) of {REPEATS} calls for this sentence on the dashboard's "
        "CPU, text in to logits out, after a warm-up call, with the 10th-90th percentile "
        "spread; the run's latency figures (Runs) are the careful measurement."
    )
    if busy:
        st.warning(
            f"{len(busy)} run(s) are executing on this machine right now (#"
            + ", #".join(str(r["id"]) for r in busy)
            + "): they compete for the CPU, so these milliseconds are higher and noisier "
            "than on a quiet machine.",
            icon=":material/speed:",
        )
