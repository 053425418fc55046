"""Train: launch teacher / augment / distill / whole-pipeline runs and follow the active ones."""

from __future__ import annotations

import streamlit as st

from dashboard import run_monitor, run_times, ui_state, widgets
from dashboard.autodistill_form import autodistill_tab
from dashboard.sweep_form import sweep_tab
from dashboard.train_tabs import FLASH, augment_tab, distill_tab, pipeline_tab, teacher_tab

st.title(":material/model_training: Train")
ui_state.restore_form_values()
choice = ui_state.data_choice()
# What comes and goes above the tabs (messages, run cards, the empty state) sits in one
# container: the tabs keep their place in the page, so a rerun redraws the forms in place instead
# of showing a second, stale set of them beside the new one until the rerun ends.
with st.container():
    st.info(f"Data: {choice['label']} (change it on the **Data** page).", icon=":material/dataset:")
    if rejected := ui_state.data_rejected():
        st.warning(
            f"The **Data** page did not accept {rejected}: runs started here use "
            f"{choice['label']}, the last data it accepted.",
            icon=":material/warning:",
        )
    if msg := st.session_state.pop(FLASH, None):
        st.success(msg, icon=":material/rocket_launch:")

    st.subheader("Active runs")
    run_monitor.active_runs_panel()
    run_monitor.recent_runs_panel()

    s = widgets.store()
    all_runs: list[dict] = []
    t_runs: list[dict] = []
    with widgets.engine_errors("Reading the runs"):
        all_runs = s.runs()
        t_runs = widgets.teacher_runs(s)
    promise = ""
    with widgets.engine_errors("Estimating the run time"):
        promise = run_times.time_promise(s)  # from this machine's finished runs, not a fixed guess
    if not all_runs:
        widgets.empty_state(
            "No runs yet. Start with **Whole pipeline** below: the defaults are small enough for a "
            f"2-core CPU. {promise}"
        )
    elif promise:
        st.caption(promise)

st.subheader("Start a run")
tabs = st.tabs(
    [
        ":material/bolt: Whole pipeline",
        ":material/school: Teacher only",
        ":material/auto_awesome: Augment + label",
        ":material/compress: Distil students",
        ":material/tune: Sweep",
        ":material/emoji_events: Find the best student",
    ]
)
with tabs[0]:
    pipeline_tab(choice)
with tabs[1]:
    teacher_tab(choice)
with tabs[2]:
    augment_tab(choice, t_runs)
with tabs[3]:
    distill_tab(choice, t_runs)
with tabs[4]:
    sweep_tab(choice, t_runs)
with tabs[5]:
    autodistill_tab(choice, t_runs)
ui_state.keep_form_values()  # the forms' values outlive a visit to another page
