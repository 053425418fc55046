"""Sweeps: an Optuna sweep's trials, its parallel-coordinates plot, the parameters' importances
and the best trial, with a link to that trial's run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from core.runs.sweep import OBJECTIVES, study_from_store, sweep_of, trials_table
from dashboard import widgets
from dashboard.chart_style import visible_parallel
from dashboard.labels import OBJECTIVE_LABELS, arch_name, run_label, sweep_label

st.title(":material/tune: Sweeps")
s = widgets.store()
sweeps: list[dict] = []
with widgets.engine_errors("Reading the sweeps"):
    sweeps = s.runs(kind="sweep")
if not sweeps:
    widgets.empty_state(
        "No sweep yet. Start one on **Train → Sweep**, or from a terminal: "
        "`python -m core sweep --trials 8 --space alpha=0:1 hidden=32:256 ...`"
    )
    st.stop()

by_id = {r["id"]: r for r in sweeps}
rid = st.selectbox(
    "Sweep", list(by_id), format_func=lambda i: sweep_label(by_id[i]), key="sweep-pick"
)
run = by_id[rid]
sweep = sweep_of(run)
c1, c2, c3, c4 = st.columns(4)
c1.metric("student", arch_name(sweep.student))
c2.metric("trials", f"{sweep.trials}")
c3.metric("status", run["status"])
c4.metric("in parallel", sweep.parallel)
st.caption(
    f"Space: `{' '.join(sweep.space)}` · the sweep optimised **{OBJECTIVE_LABELS[sweep.objective]}**"
    + (
        f" (p50 budget {sweep.latency_budget_ms:g} ms)"
        if sweep.objective == "accuracy_under_latency"
        else ""
    )
    + (f" · {run['message']}" if run.get("message") else "")
)
if run["status"] in ("failed", "interrupted", "cancelled") and run.get("error"):
    st.error(f"{run_label(run)}: {run['error']}")

# The trials are scored again here, by whichever objective the reader picks: the results of
# every trial are in the store, so the plots can answer "and by F1?" without a new sweep.
o1, o2 = st.columns([2, 1])
objective = o1.selectbox(
    "Score the trials by",
    list(OBJECTIVES),
    index=list(OBJECTIVES).index(sweep.objective),
    format_func=OBJECTIVE_LABELS.get,
    key="sweep-objective",
)
budget = sweep.latency_budget_ms
if objective == "accuracy_under_latency":
    budget = o2.number_input(
        "p50 budget (ms)", min_value=0.01, value=float(budget), key="sweep-budget"
    )
view = dict(run, config={**run["config"], "sweep": dataclasses.asdict(sweep)})
view["config"]["sweep"].update(objective=objective, latency_budget_ms=budget)

rows = trials_table(s, view)
if not rows:
    st.info("No trial has been queued yet: the sweep is fine-tuning its teacher.")
    st.stop()
frame = pd.DataFrame(rows)
st.dataframe(
    frame,
    hide_index=True,
    key="sweep-trials",
    column_config={
        "value": st.column_config.NumberColumn(
            f"objective ({OBJECTIVE_LABELS[objective]})", format="%.4f"
        ),
        "accuracy": st.column_config.NumberColumn(format="%.4f"),
        "f1": st.column_config.NumberColumn("F1", format="%.4f"),
        "latency_ms_p50": st.column_config.NumberColumn("p50 ms", format="%.3f"),
    },
)
done = [r for r in rows if "value" in r]
if not done:
    st.info("No trial has finished yet; the plots appear with the first finished trial.")
    st.stop()

best = max(done, key=lambda r: r["value"])
params = ", ".join(
    f"{k} = {best[k]:.4g}" if isinstance(best[k], float) else f"{k} = {best[k]}"
    for k in (x.split("=")[0] for x in sweep.space)
)
with st.container(border=True):
    b1, b2 = st.columns([3, 1])
    b1.markdown(
        f"**Best trial: #{best['trial']}** (run #{best['run']}): "
        f"objective ({OBJECTIVE_LABELS[objective]}) **{best['value']:.4f}** · accuracy "
        f"{best['accuracy']:.4f}"
        f" · F1 {best['f1']:.4f} · p50 {best['latency_ms_p50']:.3f} ms  \n{params}"
    )
    with b2:
        try:  # inside the app (st.navigation knows the Runs page)
            st.page_link(
                Path(__file__).resolve().parent / "runs.py",
                label=f"Open run #{best['run']}",
                icon=":material/table_view:",
                query_params={"run": str(best["run"])},
            )
        except StreamlitPageNotFoundError:  # this page run on its own: a plain link
            st.markdown(f"[Open run #{best['run']}](runs?run={best['run']})")

with widgets.engine_errors("Drawing the sweep's plots"):
    import optuna

    study = study_from_store(s, view)
    left, right = st.columns(2)
    with left:
        st.markdown("**Parallel coordinates**: every trial, one line through its parameters")
        # recoloured: optuna's "Blues" draws the lowest trial near-white on the white page
        fig = visible_parallel(optuna.visualization.plot_parallel_coordinate(study))
        fig.update_layout(title=None, margin=dict(l=40, r=40, t=30, b=30))
        st.plotly_chart(fig, key="sweep-parallel")
    with right:
        st.markdown("**Parameter importances** (fANOVA over the finished trials)")
        if len(done) < 2:
            st.info("Importances need at least two finished trials.")
        else:
            try:
                fig = optuna.visualization.plot_param_importances(study)
            except (RuntimeError, ValueError) as exc:  # e.g. every trial scored the same
                st.info(f"Optuna cannot rank the parameters yet: {exc}")
            else:
                fig.update_layout(title=None, margin=dict(l=40, r=20, t=30, b=30))
                st.plotly_chart(fig, key="sweep-importances")
    st.caption(
        f"{len(done)} finished trial(s) of {len(rows)}; a trial's figures are its distilled "
        f"{sweep.student} on the test set. Importances from few trials are rough."
    )
