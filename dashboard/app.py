"""Distillery dashboard entry point: `python -m dashboard` or `streamlit run dashboard/app.py`."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st
from streamlit import config as st_config

from dashboard import ui_state, widgets
from dashboard.__main__ import launch_problems

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "pages"

st.set_page_config(page_title="Distillery", page_icon="⚗️", layout="wide")

# Safe whatever the launch command: serve nothing beyond loopback unless DISTILLERY_ALLOW_REMOTE=1.
# `st_config.get_option` (looked up per call, so AppTest's option patches reach it) reads the same
# values as `st.get_option`. Under AppTest an unset address means there is no server at all.
_address = st_config.get_option("server.address")
if _address is not None or not st_config.get_option("global.appTest"):
    _refusal, _warning = launch_problems(_address, st_config.get_option("server.maxUploadSize"))
    if _refusal:
        st.error(_refusal, icon=":material/lock:")
        st.stop()
    if _warning:
        st.warning(_warning, icon=":material/upload_file:")

pages = {
    "Build": [
        st.Page(PAGES / "data.py", title="Data", icon=":material/dataset:", default=True),
        st.Page(PAGES / "train.py", title="Train", icon=":material/model_training:"),
    ],
    "Inspect": [
        st.Page(PAGES / "runs.py", title="Runs", icon=":material/table_view:"),
        st.Page(PAGES / "sweeps.py", title="Sweeps", icon=":material/tune:"),
        st.Page(PAGES / "predict.py", title="Predict", icon=":material/chat:"),
        st.Page(PAGES / "report.py", title="Report", icon=":material/summarize:"),
    ],
}
page = st.navigation(pages)

with st.sidebar:
    st.markdown("### :material/science: Distillery")
    st.caption(
        "Distil a fine-tuned BERT teacher into small, fast students: word models (BiLSTM, "
        "TextCNN) and smaller transformers."
    )
    with widgets.engine_errors("Opening the run store"):
        widgets.manager()  # the job manager of this server (created once)
        widgets.store().mark_interrupted()  # each render: stale or orphaned runs -> interrupted
        active = widgets.store().active_runs()
        if active:
            st.caption(f":material/pending: {len(active)} run(s) active (see **Train**)")
        st.caption(f"Home: `{widgets.home()}`")

# Before any page runs: the Train forms' last values into our own key. A page switch (or a
# new change) can stop the Train page's run before its end, and Streamlit then drops the
# widgets' state; this copy is what the form comes back with.
ui_state.keep_form_values()
try:
    page.run()
except Exception as exc:  # noqa: BLE001 - last line of defence: an error box, never a traceback
    logging.getLogger("dashboard").exception("page %s failed", page.title)
    st.error(f"This page failed: {type(exc).__name__}: {exc}")
