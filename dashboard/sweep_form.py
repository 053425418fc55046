"""The Train page's Sweep tab: an Optuna sweep's student method, teacher (new or an earlier
run's), trials, objective and search space; one sweep run goes to the queue and its trials follow
as distill runs (the Sweeps page shows them)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import methods
from core.cli.fields import help_of, widget_kwargs
from core.runs.config import PipelineConfig
from core.runs.sweep import OBJECTIVES, SweepConfig, parse_space
from dashboard.labels import OBJECTIVE_LABELS
from dashboard.train_sections import (
    common_section,
    data_section,
    new_teacher_section,
    teacher_choice,
)
from dashboard.train_tabs import submit_coordinator


def sweep_settings(sw: SweepConfig) -> dict[str, Any]:
    """Trials, objective, latency budget, parallel trials and the search space (one row of
    numbers, then the space as text); returns the raw widget values by SweepConfig field."""
    c1, c2, c3, c4 = st.columns(4)
    trials = c1.number_input("trials", **widget_kwargs(SweepConfig, "trials"), key="sweep-n")
    objective = c2.selectbox(
        "objective",
        list(OBJECTIVES),
        format_func=lambda o: OBJECTIVE_LABELS.get(o, o),
        help=help_of(SweepConfig, "objective"),
        key="sweep-objective-in",
    )
    budget = c3.number_input(
        "latency budget (ms)",
        **widget_kwargs(SweepConfig, "latency_budget_ms"),
        key="sweep-budget-in",
    )
    parallel = c4.number_input(
        "in parallel", **widget_kwargs(SweepConfig, "parallel"), key="sweep-parallel-in"
    )
    space = st.text_area(
        "search space (one parameter per line)",
        "\n".join(sw.space),
        help=help_of(SweepConfig, "space"),
        key="sweep-space",
    )
    return {
        "trials": trials,
        "objective": objective,
        "latency_budget_ms": budget,
        "parallel": parallel,
        "space": space,
    }


def sweep_tab(choice: dict[str, Any], t_runs: list[dict]) -> None:
    """The Sweep tab: the student method outside the form (the space is checked against it),
    then the sweep's form; a bad search space is an error box, not a run."""
    st.caption(
        "An Optuna sweep: one teacher (fine-tuned once, or an earlier run's), then one distill "
        "run per trial through the queue, all sharing the teacher's label cache. Follow it on "
        "the **Sweeps** page."
    )
    sw = SweepConfig()
    student = st.selectbox(
        "student method",
        methods.names(),
        index=methods.names().index(sw.student),
        format_func=methods.title,  # "BiLSTM", never the internal name "bilstm"
        help=help_of(SweepConfig, "student"),
        key="sweep-student",
    )
    reuse = teacher_choice("sweep", t_runs)
    with st.form("form-sweep"):
        data = data_section("sweep", choice)
        teacher = new_teacher_section("sweep", reuse, data.seed, "The sweep")
        raw = sweep_settings(sw)
        common = common_section("sweep")
        if st.form_submit_button("Start the sweep", type="primary", key="go-sweep"):
            items = [x.strip() for x in raw["space"].splitlines() if x.strip()]
            try:
                parse_space(items, student)
            except ValueError as exc:
                st.error(f"The search space: {exc}")
                return
            sweep_cfg = SweepConfig(
                trials=int(raw["trials"]),
                space=items,
                student=student,
                objective=raw["objective"],
                latency_budget_ms=float(raw["latency_budget_ms"]),
                parallel=int(raw["parallel"]),
            )
            cfg = PipelineConfig(
                data=data, teacher=teacher, students=[methods.get(student).config(method=student)]
            )
            submit_coordinator("sweep", "sweep", sweep_cfg, cfg, common, reuse, t_runs)
