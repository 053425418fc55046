"""Runs: every run in one sortable table; compare several; delete one."""

from __future__ import annotations

import streamlit as st

from dashboard import widgets
from dashboard.labels import run_label
from dashboard.run_actions import FLASH, delete_expander, export_expander
from dashboard.run_details import run_details, runs_list
from dashboard.run_order import by_finish, showable

st.title(":material/table_view: Runs")
if msg := st.session_state.pop(FLASH, None):
    st.success(msg)

s = widgets.store()
runs: list[dict] = []
results: list[dict] = []
with widgets.engine_errors("Reading the runs"):
    runs = s.runs()
    results = s.results()

if not runs:
    widgets.empty_state(
        "No runs yet. Choose the data on **Data**, then start a run on **Train**; every run, "
        "active or finished, is listed here."
    )
    st.stop()

runs_list(runs, results)

by_id = {r["id"]: r for r in runs}
# the runs just waited for come first: done, with results, not a sweep trial, by finish time
with_results = {r["run_id"] for r in results}
finished = [r["id"] for r in by_finish(runs) if showable(r, with_results)]
# a link from elsewhere (the Sweeps page's best trial) names the run to open: ?run=ID; the
# picked runs live in the URL (?runs=3,5), so a reload or a shared link opens the same ones
linked = st.query_params.get("run")
linked_id = int(linked) if linked and linked.isdigit() and int(linked) in by_id else None
kept = [int(x) for x in st.query_params.get("runs", "").split(",") if x.strip().isdigit()]
kept = [i for i in kept if i in by_id]
picked = st.multiselect(
    "Runs to inspect / compare",
    list(by_id),
    default=[linked_id] if linked_id else (kept or finished[:2] or list(by_id)[:1]),
    format_func=lambda i: run_label(by_id[i]),
    key="runs-compare",
)
if st.query_params.get("runs", "") != ",".join(map(str, picked)):
    st.query_params["runs"] = ",".join(map(str, picked))
    st.query_params.pop("run", None)  # the link is followed: the list in the URL now rules

if not picked:
    widgets.empty_state("Pick one or more runs above to see their details side by side.")
else:
    sel = [by_id[i] for i in picked]
    sel_results = [r for r in results if r["run_id"] in picked]
    run_details(s, sel, sel_results)

st.divider()
export_expander(s, runs, results, by_id)
delete_expander(s, runs, by_id)
