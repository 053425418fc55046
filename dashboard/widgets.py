"""Streamlit pieces every page shares: the store and job manager of this server, engine errors
shown as error boxes (never a traceback), empty states, the per-domain heat map and the model
folders of a run."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import streamlit as st

from core.data.problems import DataError, Problem
from core.runs.stages import teacher_dir
from core.runs.store import Store, default_home
from core.runs.submit import JobManager
from dashboard.result_charts import domain_model_heatmap
from dashboard.result_tables import domain_matrix

log = logging.getLogger(__name__)


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
    st.plotly_chart(domain_model_heatmap(by_domain), key=key)
    st.caption(caption)


def empty_state(message: str) -> None:
    st.info(message, icon=":material/lightbulb:")


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
