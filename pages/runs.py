"""Runs: every run in one sortable table; compare several; delete one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.evaluate.sanity import flags_from_results
from core.export import exporter as export
from core.runs.store import ACTIVE, RunActive
from dashboard import charts, widgets
from dashboard.tables import (
    config_diff,
    loss_frame,
    results_frame,
    run_label,
    runs_table,
    student_timings,
    threads_caption,
)

FLASH = "_runs_flash"
EXPORT_CHECK = 200  # test texts the page checks an export on (the CLI checks them all)

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

table = runs_table(runs, results)
st.dataframe(
    table,
    hide_index=True,
    key="runs-table",
    column_config={
        "id": st.column_config.NumberColumn("id", format="%d", width="small"),
        "teacher acc": st.column_config.NumberColumn(format="%.3f"),
        "best distilled acc": st.column_config.NumberColumn(format="%.3f"),
        "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "duration (s)": st.column_config.NumberColumn(format="%.0f s"),
        "progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
    },
)
st.caption("Click a column header to sort.")

by_id = {r["id"]: r for r in runs}
finished = [r["id"] for r in runs if r["status"] == "done"]
# a link from elsewhere (the Sweeps page's best trial) names the run to open: ?run=ID
linked = st.query_params.get("run")
linked_id = int(linked) if linked and linked.isdigit() and int(linked) in by_id else None
picked = st.multiselect(
    "Runs to inspect / compare",
    list(by_id),
    default=[linked_id] if linked_id else (finished[:2] or list(by_id)[:1]),
    format_func=lambda i: run_label(by_id[i]),
    key="runs-compare",
)

if not picked:
    widgets.empty_state("Pick one or more runs above to see their details side by side.")
else:
    sel = [by_id[i] for i in picked]
    sel_results = [r for r in results if r["run_id"] in picked]
    for r in sel:
        if r["status"] in ("failed", "interrupted") and r.get("error"):
            st.error(f"{run_label(r)}: {r['error']}")
        elif r["status"] == "cancelled":
            st.warning(f"{run_label(r)}: {r.get('error') or 'cancelled'}")
        elif r["status"] in ACTIVE:
            st.info(f"{run_label(r)} is {r['status']}: {r.get('stage') or 'starting'}…")
    for rid, flags in flags_from_results(sel_results).items():
        if flags:
            st.warning(
                f"**Check before trusting run #{rid}:**\n"
                + "\n".join(f"- {f.text}" for f in flags),
                icon=":material/report:",
            )

    st.subheader("Configuration")
    if len(sel) > 1:
        diff = config_diff({f"#{r['id']}": r["config"] for r in sel})
        if diff.empty:
            st.caption("The selected runs have identical configurations.")
        else:
            first = diff.columns[0]

            def _mark(row: pd.Series) -> list[str]:
                return [
                    "" if c == first or v == row[first] else "background-color: #fff3cd"
                    for c, v in row.items()
                ]

            st.caption(
                "Only the settings that differ (highlighted where they differ from the first run)."
            )
            st.dataframe(diff.style.apply(_mark, axis=1), key="config-diff")
    else:
        st.json(sel[0]["config"], expanded=False)

    st.subheader("Results")
    df = results_frame(sel_results)
    if df.empty:
        widgets.empty_state(
            "No evaluated models in the selected runs yet (they appear when a run finishes)."
        )
    else:
        st.dataframe(
            df,
            hide_index=True,
            key="results-table",
            column_config={
                "accuracy": st.column_config.NumberColumn(format="%.3f"),
                "f1": st.column_config.NumberColumn("F1", format="%.3f"),
                "params": st.column_config.NumberColumn(format="%d"),
                "size (MB)": st.column_config.NumberColumn(format="%.1f"),
                "latency p50 (ms)": st.column_config.NumberColumn(format="%.2f"),
                "latency p95 (ms)": st.column_config.NumberColumn(format="%.2f"),
                "ONNX p50 (ms)": st.column_config.NumberColumn(
                    format="%.3f",
                    help="Batch 1, text in, label out, as deployed: the ONNX export run by "
                    "ONNX Runtime through its own predict.py.",
                ),
                "ONNX tokenise p50 (ms)": st.column_config.NumberColumn(format="%.3f"),
                "throughput (/s)": st.column_config.NumberColumn(
                    format="%.0f",
                    help="Texts per second at batch 64, over 8 full batches (after a warm-up).",
                ),
                "speed-up vs teacher": st.column_config.NumberColumn(format="%.1fx"),
                "x smaller than teacher": st.column_config.NumberColumn(format="%.1fx"),
                "arch": None,  # the method column says it for people
            },
        )
        if (df["same model as"].fillna("") != "").any():
            st.caption(
                "Plain twins with a *same model as* entry are one model (the same student "
                "trained on the labels alone), trained once and reported under each name."
            )

    widgets.domain_heatmap(
        sel_results,
        "domain-heatmap",
        "Accuracy of each model on each domain's test rows. A target-domain run scores every "
        "model of a domain on that domain's rows only (`name@domain` rows of one run share a "
        "column).",
    )

    t_loss, t_acc, t_lat, t_conf, t_time = st.tabs(
        ["Loss curves", "Accuracy & F1", "Latency", "Confusion matrices", "Stage timings"]
    )
    with t_loss:
        with widgets.engine_errors("Reading the training curves"):
            frames = [loss_frame(s.metrics(r["id"]), f"#{r['id']}") for r in sel]
            frames = [f for f in frames if not f.empty]
            if not frames:
                widgets.empty_state("No loss was logged for these runs yet.")
            else:
                loss = pd.concat(frames, ignore_index=True)
                curves = list(dict.fromkeys(loss["curve"]))
                shown = st.multiselect("Curves", curves, default=curves, key="loss-curves")
                st.plotly_chart(
                    charts.loss_curves(loss[loss["curve"].isin(shown)]), key="loss-chart"
                )
    with t_acc:
        if df.empty:
            st.caption("No results yet.")
        else:
            st.plotly_chart(charts.metric_bars(df), key="acc-bars")
    with t_lat:
        if df.empty:
            st.caption("No results yet.")
        else:
            st.plotly_chart(charts.latency_bars(df), key="lat-bars")
            st.caption(
                "One sentence at a time, text in to logits out (tokenisation included), as "
                f"recorded with each result: {threads_caption(sel_results)}. The ONNX columns "
                "of the results table time the exported model the same way."
            )
    with t_conf:
        models = list(dict.fromkeys(r["model"] for r in sel_results))
        if not models:
            st.caption("No results yet.")
        else:
            model = st.selectbox("Model", models, key="conf-model")
            cols = st.columns(min(len(sel), 3))
            for i, r in enumerate(sel):
                row = next(
                    (x for x in sel_results if x["run_id"] == r["id"] and x["model"] == model), None
                )
                with cols[i % len(cols)]:
                    if row is None or not row["detail"].get("confusion"):
                        st.caption(f"#{r['id']}: no {model} in this run.")
                        continue
                    labels = (r.get("data") or {}).get("labels") or [
                        str(k) for k in range(len(row["detail"]["confusion"]))
                    ]
                    st.plotly_chart(
                        charts.confusion_heatmap(
                            row["detail"]["confusion"], labels, f"#{r['id']} {model}"
                        ),
                        key=f"conf-{r['id']}",
                    )
    with t_time:
        timing = pd.DataFrame({f"#{r['id']}": r.get("timings") or {} for r in sel})
        if timing.empty:
            st.caption("No stage timings recorded yet.")
        else:
            st.dataframe(timing.round(1), key="timings")
            st.caption("Seconds per stage.")
        per_student = student_timings(sel_results)
        if not per_student.empty:
            st.dataframe(per_student, hide_index=True, key="student-timings")
            st.caption(
                "Seconds per student, on the device it trained on (transformer students use a "
                "GPU when the run's device allows one); stages of multi-stage methods."
            )

    if len(sel) == 1:
        with st.expander("Artifacts"):
            with widgets.engine_errors("Reading the artifacts"):
                arts = s.artifacts(sel[0]["id"])
                if arts:
                    st.dataframe(pd.DataFrame(arts), hide_index=True, key="artifacts")
                else:
                    st.caption("No artifacts.")

st.divider()
with st.expander("Export a model", icon=":material/download:"):
    finished = [r["id"] for r in runs if r["status"] == "done"]
    if not finished:
        st.caption("Models of finished runs can be exported.")
    else:
        c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
        rid = c1.selectbox(
            "Run", finished, format_func=lambda i: run_label(by_id[i]), key="export-run"
        )
        names = ["teacher"] + sorted(r["model"] for r in results if r["run_id"] == rid)
        names = list(dict.fromkeys(names))
        model = c2.selectbox("Model", names, key="export-model")
        fmt = c3.selectbox("Format", list(export.FORMATS), key="export-format")
        int8 = c4.checkbox(
            "int8",
            key="export-int8",
            disabled=fmt != "onnx",
            help="Dynamic int8 quantisation by ONNX Runtime: smaller, usually faster for "
            "transformers; the check below says how many labels it changes.",
        )
        st.caption(
            "The folder holds the model, its tokeniser files, meta.json and a one-file "
            "`predict.py` (needs onnxruntime, plus jieba or tokenizers). The export is checked "
            f"against Distillery's own scoring on up to {EXPORT_CHECK} of the run's test texts."
        )
        if st.button("Export", key="export-go", icon=":material/package_2:"):
            with widgets.engine_errors(f"Exporting {model} of run {rid}"):
                out = export.export_dir(s, rid, model, fmt, int8 and fmt == "onnx")
                with st.spinner(f"Exporting {model} and checking it ..."):
                    rep = export.export_model(
                        s, rid, model, out, fmt=fmt, int8=int8 and fmt == "onnx",
                        check=EXPORT_CHECK,
                    )  # fmt: skip
                st.session_state["export-done"] = (rid, model, str(out), rep.n_checked,
                                                   rep.n_label_differs, rep.note)  # fmt: skip
        done = st.session_state.get("export-done")
        if done and Path(done[2]).is_dir():
            d_rid, d_model, folder, checked, differs, note = done
            if checked:
                st.success(
                    f"{d_model} of run #{d_rid} exported: on {checked} test texts, {differs} "
                    "label(s) differ from Distillery's own scoring."
                )
            elif note:
                st.warning(note)
            st.download_button(
                f"Download {Path(folder).name}.zip",
                export.zip_folder(folder),
                file_name=f"run{d_rid}-{Path(folder).name}.zip",
                mime="application/zip",
                key="export-download",
                icon=":material/download:",
            )
with st.expander("Delete a run", icon=":material/delete:"):
    deletable = [r["id"] for r in runs if r["status"] not in ACTIVE]
    if not deletable:
        st.caption("Only finished runs can be deleted; cancel an active run on **Train** first.")
    else:
        rid = st.selectbox(
            "Run", deletable, format_func=lambda i: run_label(by_id[i]), key="delete-run"
        )
        users = [r["id"] for r in runs if (r.get("config") or {}).get("teacher_run") == rid]
        if users:
            st.warning(
                f"Runs {', '.join(f'#{u}' for u in users)} reuse this run's teacher; the Predict "
                "page cannot load that teacher for them once it is deleted."
            )
        sure = st.checkbox(
            f"Yes, delete run #{rid} with its results, metrics and model files",
            key=f"delete-sure-{rid}",
        )
        if st.button("Delete run", type="primary", disabled=not sure, key="delete-go"):
            deleted = False
            with widgets.engine_errors(f"Deleting run {rid}"):
                try:
                    s.delete_run(rid)
                    deleted = True
                except RunActive as exc:  # the store has the last word on what is active
                    st.warning(f"Run #{rid} was not deleted: {exc}.", icon=":material/block:")
            if deleted:
                st.session_state[FLASH] = f"Run #{rid} deleted."
                st.rerun()
