"""Report: the stakeholder view of finished runs, with HTML and CSV downloads."""

from __future__ import annotations

import time

import streamlit as st

from dashboard import widgets
from dashboard.formatting import blank_missing
from dashboard.labels import run_label
from dashboard.pareto import budget_sentence, default_budget, pareto_points
from dashboard.pareto_chart import pareto_chart
from dashboard.report import build_report_html, report_csv
from dashboard.report_text import report_sentences
from dashboard.result_charts import latency_bars, metric_bars
from dashboard.result_tables import results_frame, summary_rows
from dashboard.run_details import contention_warning
from dashboard.run_order import latest_showable

st.title(":material/summarize: Report")
s = widgets.store()
runs: list[dict] = []
results: list[dict] = []
with_results: set[int] = set()
with widgets.engine_errors("Reading the results"):
    results = s.results()
    with_results = {r["run_id"] for r in results}
    runs = [r for r in s.runs(status="done") if r["id"] in with_results]

if not runs:
    widgets.empty_state(
        "No finished run with results yet. Run the **whole pipeline** on **Train**; once it "
        "is done, this page tells how the distilled students compare with the teacher."
    )
    st.stop()

by_id = {r["id"]: r for r in runs}
picked = st.multiselect(
    "Runs in the report",
    list(by_id),
    default=[latest_showable(runs, with_results) or runs[0]["id"]],  # the run just finished
    format_func=lambda i: run_label(by_id[i]),
    key="report-runs",
)
if not picked:
    widgets.empty_state("Pick at least one finished run.")
    st.stop()

sel = [by_id[i] for i in picked]
sel_results = [r for r in results if r["run_id"] in picked]

for run in sel:
    st.subheader(run_label(run))
    st.markdown("\n".join(f"- {line}" for line in report_sentences(run, sel_results)))

summary = summary_rows(sel_results)
df = results_frame(sel_results)
st.subheader("Teacher vs plain vs distilled")
if summary.empty:
    st.caption("These runs have no students (teacher-only runs).")
else:
    pct = st.column_config.NumberColumn(format="%.3f")
    shown = blank_missing(summary.assign(**{"gap closed": summary["gap closed"] * 100}))
    st.dataframe(
        shown,
        hide_index=True,
        key="report-summary",
        column_config={
            **{c: pct for c in summary.columns if c.endswith(("acc", "F1"))},
            "gap closed": st.column_config.NumberColumn(
                format="%.0f%%", help="(distilled - plain) / (teacher - plain)"
            ),
            "speed-up vs teacher": st.column_config.NumberColumn(
                format="%.1fx",
                help="Teacher latency / student latency, on the deployed (ONNX) figures when "
                "both have one (see 'latency used'); not headlined when either was measured "
                "under contention.",
            ),
            "x smaller than teacher": st.column_config.NumberColumn(format="%.1fx"),
            "distilled latency p50 (ms)": st.column_config.NumberColumn(format="%.2f"),
            "teacher latency p50 (ms)": st.column_config.NumberColumn(format="%.2f"),
        },
    )

    contention_warning(df)
    st.caption(
        "gap closed = (distilled - plain) / (teacher - plain); empty where the plain student "
        "already matches or beats the teacher, so there is no gap."
    )

st.subheader("Accuracy vs latency")
points = pareto_points(sel_results)
budget = st.number_input(
    "latency budget (ms)",
    min_value=0.01,
    max_value=100_000.0,
    value=float(default_budget(points)),
    step=0.1,
    format="%.2f",
    key="report-budget",
    help="The most a prediction may take: one sentence at a time (batch 1), median, on the "
    "CPU the runs measured on. Starts at half the teacher's median latency.",
)
st.markdown(budget_sentence(points, budget))
st.plotly_chart(pareto_chart(points, budget), key="report-pareto")
st.caption(
    "Every model of the chosen runs: colour is the method, shape the role (star: teacher, "
    "filled: distilled, hollow: plain). The dotted step line is the Pareto front: the models no "
    "other one beats on both accuracy and speed. Hover a point for its figures; plain twins "
    "that are one model are drawn once."
)

widgets.domain_heatmap(
    sel_results,
    "report-domain-heatmap",
    "Accuracy of each model on each domain's test rows: where a student is strong or weak, and "
    "whether distilling from the meta-teacher helped the small domains.",
)

c1, c2 = st.columns(2)
c1.plotly_chart(metric_bars(df), key="report-acc")
c2.plotly_chart(latency_bars(df), key="report-latency")

st.subheader("Download")
stamp = time.strftime("%Y%m%d-%H%M")
ids = "-".join(str(i) for i in picked)
d1, d2 = st.columns(2)
d1.download_button(
    "Report (HTML, opens offline)",
    data=lambda: build_report_html(sel, sel_results, budget_ms=budget),
    file_name=f"distillery-report-runs-{ids}-{stamp}.html",
    mime="text/html",
    icon=":material/download:",
    key="dl-html",
)
d2.download_button(
    "Table (CSV)",
    data=report_csv(sel_results),
    file_name=f"distillery-results-runs-{ids}-{stamp}.csv",
    mime="text/csv",
    icon=":material/table:",
    key="dl-csv",
)
