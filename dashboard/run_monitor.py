"""The Train page's live view of runs: a card per active run (progress, stage, ETA, Cancel) that
refreshes every second, its loss curve every few seconds, the workers that take queued runs, and
the last finished runs with their outcome."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from core.runs.eta import queue_starts
from core.runs.queue import set_wanted_slots, wanted_slots
from core.runs.store import Store
from core.runs.submit import JobManager
from dashboard.formatting import fmt_seconds
from dashboard.labels import run_label
from dashboard.loss_chart import loss_curves
from dashboard.run_order import by_finish
from dashboard.run_tables import finished_text, loss_frame, worker_runs
from dashboard.run_times import eta_text, slots_text, start_text
from dashboard.widgets import engine_errors, manager, store

LIVE_LOSS_EVERY_S = 5.0  # the charts redraw less often than the progress: browser CPU is scarce


def run_card(
    s: Store,
    m: JobManager,
    run: dict[str, Any],
    key: str = "",
    starts: dict[int, float | None] | None = None,
) -> None:
    """Progress bar, stage, step/total, the whole-run ETA, last loss message, Cancel; a queued
    run's place and when it likely starts (`starts`: core.runs.eta.queue_starts)."""
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
            when = start_text(rid, starts or {})
            st.progress(0.0, text=f"queued · {where}" + (f" · {when}" if when else ""))
            return  # who takes it: the panel's one workers caption (not one per queued card)
        stage = run.get("stage") or "waiting to start"
        steps = f" · step {run.get('step') or 0}/{run.get('total')}" if run.get("total") else ""
        progress = min(max(float(run.get("progress") or 0.0), 0.0), 1.0)
        st.progress(progress, text=f"{100 * progress:.0f}% · {stage}{steps}")
        elapsed = time.time() - run["started"] if run.get("started") else None
        msg = run.get("message") or ""  # the last loss; other work slowing the machine
        st.caption(
            f"running for {fmt_seconds(elapsed)} · {eta_text(run)}" + (f" · {msg}" if msg else "")
        )


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
    starts = queue_starts(s) if any(r["status"] == "queued" for r in active) else {}
    for run in active:
        run_card(s, m, run, key="live-", starts=starts)


@st.fragment(run_every=LIVE_LOSS_EVERY_S)
def _active_loss_live(known: tuple[int, ...]) -> None:
    s = store()
    for run in s.active_runs():
        if run["id"] in known:
            live_loss(s, run, key="live-")


def slots_panel(s: Store) -> None:
    """Offer a second worker slot where the machine has the cores, saying plainly what it does
    to the latency figures (core.runs.gate: runs of one worker time their models alone)."""
    slots = wanted_slots(s) or max([int(w.get("slots") or 1) for w in s.live_workers()] or [1])
    text = slots_text(slots)
    if text is None:
        return
    st.caption(text)
    if slots < 2 and st.button("Run two at a time", key="second-slot", icon=":material/add:"):
        with engine_errors("Adding a worker slot"):
            set_wanted_slots(s, 2)
            st.toast("Workers of this store now take two runs at a time.")
    elif slots >= 2 and st.button("Back to one at a time", key="one-slot"):
        with engine_errors("Removing a worker slot"):
            set_wanted_slots(s, 1)
            st.toast("Workers of this store take one run at a time from their next run.")


def active_runs_panel() -> None:
    """Active runs: progress refreshed every second, loss curves every few seconds."""
    with engine_errors("Reading the active runs"):
        active = store().active_runs()
        slots_panel(store())
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
