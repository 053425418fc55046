"""The Runs page's views of runs: the sortable list of every run, and for the picked ones their
notices, configuration (a diff when several), results, per-domain heat map, charts (loss,
accuracy, latency, confusion), stage timings and artifacts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.evaluate.sanity import flags_from_results
from core.runs.store import ACTIVE, Store
from dashboard import widgets
from dashboard.formatting import blank_missing
from dashboard.labels import run_label
from dashboard.loss_chart import loss_curves
from dashboard.result_charts import confusion_heatmap, latency_bars, metric_bars
from dashboard.result_tables import results_frame, student_timings, threads_caption
from dashboard.run_tables import config_diff, loss_frame, runs_table


def runs_list(runs: list[dict], results: list[dict]) -> None:
    """Every run in one sortable table."""
    table = blank_missing(runs_table(runs, results))
    st.dataframe(
        table,
        hide_index=True,
        key="runs-table",
        width="stretch",  # the page's width: the last columns were cut off on the right
        column_config={
            "id": st.column_config.NumberColumn("id", format="%d", width="small"),
            "name": st.column_config.TextColumn(width="small"),
            "data": st.column_config.TextColumn(width="medium"),
            "teacher": st.column_config.TextColumn(
                width="medium", help="The teacher checkpoint (its folder or hub name)."
            ),
            "status": st.column_config.TextColumn(width="small"),
            "kind": st.column_config.TextColumn(width="small"),
            "teacher acc": st.column_config.NumberColumn(format="%.3f", width="small"),
            "best distilled acc": st.column_config.NumberColumn(format="%.3f"),
            "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "duration (s)": st.column_config.NumberColumn(format="%.0f s"),
            "progress": st.column_config.ProgressColumn(
                min_value=0.0, max_value=1.0, format="percent"
            ),
        },
    )
    st.caption("Click a column header to sort.")


def run_notices(sel: list[dict], sel_results: list[dict]) -> None:
    """Failures, cancellations and active states of the picked runs, then their sanity flags."""
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


def config_section(sel: list[dict]) -> None:
    """One run's config, or only the settings that differ between several."""
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


def contention_warning(df: pd.DataFrame) -> None:
    """Say which models' latency was measured under contention (the Runs and Report pages): a
    figure taken while other work ran is the machine's, not the model's."""
    busy = df[df["measured under contention"].fillna("") != ""] if not df.empty else df
    if busy.empty:
        return
    st.warning(
        "Latency measured under contention (other work competed for the CPU while these were "
        "timed, so their milliseconds and speed-ups are not the models' own):\n\n"
        + "\n".join(
            f"- #{r['run']} {r['model']}: {r['measured under contention']}"
            for _, r in busy.iterrows()
        ),
        icon=":material/speed:",
    )


def results_section(sel_results: list[dict]) -> pd.DataFrame:
    """Every model of the picked runs in one table; returns that table (empty: none yet)."""
    st.subheader("Results")
    df = results_frame(sel_results)
    if df.empty:
        widgets.empty_state(
            "No evaluated models in the selected runs yet (they appear when a run finishes)."
        )
    else:
        st.dataframe(
            blank_missing(df),
            hide_index=True,
            key="results-table",
            column_config={
                "accuracy": st.column_config.NumberColumn(format="%.3f"),
                "f1": st.column_config.NumberColumn("F1", format="%.3f"),
                # 23,954,946 (a raw 23954946 is unreadable)
                "params": st.column_config.NumberColumn(format="localized"),
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
        contention_warning(df)
        if (df["same model as"].fillna("") != "").any():
            st.caption(
                "Plain twins with a *same model as* entry are one model (the same student "
                "trained on the labels alone), trained once and reported under each name."
            )

    return df


def loss_tab(s: Store, sel: list[dict]) -> None:
    """The picked runs' loss curves, every curve of each compared run shown at first (the key
    follows the runs, so adding a run to the compare adds its curves), smoothed unless the
    user asks for the raw steps."""
    with widgets.engine_errors("Reading the training curves"):
        frames = [loss_frame(s.metrics(r["id"]), f"#{r['id']}") for r in sel]
        frames = [f for f in frames if not f.empty]
        if not frames:
            widgets.empty_state("No loss was logged for these runs yet.")
        else:
            loss = pd.concat(frames, ignore_index=True)
            curves = list(dict.fromkeys(loss["curve"]))
            ids = "-".join(str(r["id"]) for r in sel)
            c1, c2 = st.columns([4, 1])
            shown = c1.multiselect("Curves", curves, default=curves, key=f"loss-curves-{ids}")
            raw = c2.toggle(
                "raw steps",
                key="loss-raw",
                help="Every logged step as it came (noisy); off: a moving average of them.",
            )
            st.plotly_chart(
                loss_curves(loss[loss["curve"].isin(shown)], smooth=not raw), key="loss-chart"
            )


def confusion_tab(sel: list[dict], sel_results: list[dict]) -> None:
    """One model's confusion matrix in each picked run, side by side."""
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
                    confusion_heatmap(row["detail"]["confusion"], labels, f"#{r['id']} {model}"),
                    key=f"conf-{r['id']}",
                )


def timings_tab(sel: list[dict], sel_results: list[dict]) -> None:
    """Seconds per stage of each picked run, and per student."""
    timing = pd.DataFrame({f"#{r['id']}": r.get("timings") or {} for r in sel})
    if timing.empty:
        st.caption("No stage timings recorded yet.")
    else:
        st.dataframe(timing.round(1), key="timings")
        st.caption("Seconds per stage.")
    per_student = student_timings(sel_results)
    if not per_student.empty:
        st.dataframe(blank_missing(per_student), hide_index=True, key="student-timings")
        st.caption(
            "Seconds per student, on the device it trained on (transformer students use a "
            "GPU when the run's device allows one); stages of multi-stage methods."
        )


def charts_tabs(s: Store, sel: list[dict], sel_results: list[dict], df: pd.DataFrame) -> None:
    """Loss curves, accuracy and F1, latency, confusion matrices and stage timings, a tab each."""
    t_loss, t_acc, t_lat, t_conf, t_time = st.tabs(
        ["Loss curves", "Accuracy & F1", "Latency", "Confusion matrices", "Stage timings"]
    )
    with t_loss:
        loss_tab(s, sel)
    with t_acc:
        if df.empty:
            st.caption("No results yet.")
        else:
            st.plotly_chart(metric_bars(df), key="acc-bars")
    with t_lat:
        if df.empty:
            st.caption("No results yet.")
        else:
            st.plotly_chart(latency_bars(df), key="lat-bars")
            st.caption(
                "One sentence at a time, text in to logits out (tokenisation included), as "
                f"recorded with each result: {threads_caption(sel_results)}. The ONNX columns "
                "of the results table time the exported model the same way."
            )
    with t_conf:
        confusion_tab(sel, sel_results)
    with t_time:
        timings_tab(sel, sel_results)


def run_details(s: Store, sel: list[dict], sel_results: list[dict]) -> None:
    """Everything about the picked runs, in the page's order."""
    run_notices(sel, sel_results)
    config_section(sel)
    df = results_section(sel_results)
    widgets.domain_heatmap(
        sel_results,
        "domain-heatmap",
        "Accuracy of each model on each domain's test rows. A target-domain run scores every "
        "model of a domain on that domain's rows only (`name@domain` rows of one run share a "
        "column).",
    )

    charts_tabs(s, sel, sel_results, df)
    if len(sel) == 1:
        with st.expander("Artifacts"):
            with widgets.engine_errors("Reading the artifacts"):
                arts = s.artifacts(sel[0]["id"])
                if arts:
                    st.dataframe(pd.DataFrame(arts), hide_index=True, key="artifacts")
                else:
                    st.caption("No artifacts.")
