"""The Train page's live view of runs: a card per active run (progress, stage, ETA, Cancel) that
refreshes every second, its loss curve every few seconds, the workers that take queued runs, and
the last finished runs with their outcome."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from core.runs.store import Store
from core.runs.submit import JobManager
from dashboard.formatting import fmt_seconds
from dashboard.labels import run_label
from dashboard.loss_chart import loss_curves
from dashboard.run_order import by_finish
from dashboard.run_tables import finished_text, loss_frame, overall_eta, worker_runs
from dashboard.widgets import engine_errors, manager, store

LIVE_LOSS_EVERY_S = 5.0  # the charts redraw less often than the progress: browser CPU is scarce


def run_card(s: Store, m: JobManager, run: dict[str, Any], key: str = "") -> None:
    """Progress bar, stage, step/total, ETA, last loss message, Cancel."""
    rid = run["id"]
    with st.container(border=True):
        head, button = st.columns([5, 1])
        head.markdown(f"**{run_label(run)}** · teacher `{run.get('teacher') or '…'}`")
        if run.get("cancel_requested"):
            button.caption("cancelling…")
        elif button.button("Cancel", key=f"cancel-{key}{rid}", icon=":material/stop_circle:"):
            with engine_errors(f"Cancelling run {rid}"):
                if m.cancel(rid) == "cancelled":
                    st.toast(f"Run {rid} cancelled before it started.")
                else:
                    st.toast(f"Cancel requested for run {rid}; it stops at the next step.")
        if run["status"] == "queued":
            pos = s.queue_position(rid)
            where = f"position {pos[0]} of {pos[1]} in the queue" if pos else "in the queue"
            st.progress(0.0, text=f"queued · {where}")
            return  # who takes it: the panel's one workers caption (not one per queued card)
        stage = run.get("stage") or "waiting to start"
        steps = f" · step {run.get('step') or 0}/{run.get('total')}" if run.get("total") else ""
        eta = f" · ETA {fmt_seconds(run['eta_s'])} for this stage" if run.get("eta_s") else ""
        progress = min(max(float(run.get("progress") or 0.0), 0.0), 1.0)
        st.progress(progress, text=f"{100 * progress:.0f}% · {stage}{steps}{eta}")
        elapsed = time.time() - run["started"] if run.get("started") else None
        msg = run.get("message") or ""
        left = overall_eta(progress, elapsed)
        whole = f" · about {fmt_seconds(left)} left for the whole run" if left else ""
        st.caption(f"running for {fmt_seconds(elapsed)}{whole}" + (f" · last {msg}" if msg else ""))


def queue_caption(s: Store) -> str:
    """Who will take the queued runs: the live workers, or that none is alive yet."""
    workers = s.live_workers()
    active = s.active_runs()
    if not workers:
        return "No worker is alive yet: the dashboard starts one (or run `python -m core worker`)."
    parts = []
    for w in workers:
        busy = ", ".join(f"#{r}" for r in worker_runs(w, active)) or "idle"
        slots = f"{w['slots']} slot" + ("" if w["slots"] == 1 else "s")
        parts.append(f"`{w['id']}` ({w['backend']}, {slots}: {busy})")
    return "Workers: " + "; ".join(parts)


def live_loss(s: Store, run: dict[str, Any], key: str = "") -> None:
    """An active run's loss curve (static, cheap to redraw); paused while it times its models."""
    rid = run["id"]
    if run["status"] == "queued":
        return
    if run.get("stage") == "evaluate":
        st.caption(
            f"#{rid}: timing the models; the live curve pauses so that redrawing it does not "
            "disturb the latency measurement."
        )
        return
    frame = loss_frame(s.metrics(rid), max_points=300)
    if frame.empty:
        st.caption(f"#{rid}: no loss logged yet.")
        return
    st.plotly_chart(
        loss_curves(frame, f"#{rid} live training loss"),
        key=f"live-loss-{key}{rid}",
        config={"staticPlot": True},  # cheaper to redraw, and nothing to hover on a moving plot
    )


@st.fragment(run_every=1.0)
def _active_runs_live(known: tuple[int, ...]) -> None:
    s, m = store(), manager()
    active = s.active_runs()
    if {r["id"] for r in active} != set(known):
        # A run finished or another started: redraw the whole page once (when none is left
        # active, the page draws no polling fragment, so the refreshing stops).
        st.rerun()
    for run in active:
        run_card(s, m, run, key="live-")


@st.fragment(run_every=LIVE_LOSS_EVERY_S)
def _active_loss_live(known: tuple[int, ...]) -> None:
    s = store()
    for run in s.active_runs():
        if run["id"] in known:
            live_loss(s, run, key="live-")


def active_runs_panel() -> None:
    """Active runs: progress refreshed every second, loss curves every few seconds."""
    with engine_errors("Reading the active runs"):
        active = store().active_runs()
        if not active:
            st.caption("No run is active right now.")
            return
        known = tuple(r["id"] for r in active)
        _active_runs_live(known)
        st.caption(queue_caption(store()))
        _active_loss_live(known)
        st.caption(f"Loss curves refresh every {LIVE_LOSS_EVERY_S:.0f} s.")


def recent_runs_panel(limit: int = 3) -> None:
    """The last runs to finish (by finish time, not id) with their outcome, errors in full."""
    with engine_errors("Reading the recent runs"):
        done = by_finish(store().runs())[:limit]  # the run just waited for comes first
        if not done:
            return
        st.markdown("**Recently finished**")
        for r in done:
            text = f"{run_label(r)}: {finished_text(r)}"
            if r["status"] == "done":
                st.success(text, icon=":material/check_circle:")
            elif r["status"] == "cancelled":
                st.warning(f"{text}. {r.get('error') or ''}", icon=":material/cancel:")
            else:
                st.error(f"{text}. {r.get('error') or ''}", icon=":material/error:")
