"""The Runs page's actions on a finished run: export one of its models (checked against
Distillery's own scoring, then offered as a zip) and delete the run with its files."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.export import exporter as export
from core.runs.store import ACTIVE, RunActive, Store
from dashboard import widgets
from dashboard.labels import run_label

FLASH = "_runs_flash"  # the "Run N deleted" message, shown once after the page reruns
EXPORT_CHECK = 200  # test texts the page checks an export on (the CLI checks them all)


def export_expander(s: Store, runs: list[dict], results: list[dict], by_id: dict) -> None:
    """Export a model of a finished run, then offer the checked export for download."""
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


def delete_expander(s: Store, runs: list[dict], by_id: dict) -> None:
    """Delete a finished run (a warning names the runs that reuse its teacher)."""
    with st.expander("Delete a run", icon=":material/delete:"):
        deletable = [r["id"] for r in runs if r["status"] not in ACTIVE]
        if not deletable:
            st.caption(
                "Only finished runs can be deleted; cancel an active run on **Train** first."
            )
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
