"""The Train page's "Find the best student" tab: a latency budget, a trial or time budget and
the methods to search; one autodistill run goes to the queue (its trials follow as distill runs),
and a finished search shows its answer (a sentence, the Pareto front) and exports its winner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from core import methods
from core.cli.fields import help_of, widget_kwargs
from core.runs.auto_config import METRICS, AutoConfig
from core.runs.auto_export import export_winner
from core.runs.auto_space import SEARCHED
from core.runs.config import PipelineConfig
from dashboard import widgets
from dashboard.autodistill_chart import front_chart
from dashboard.labels import run_label
from dashboard.train_sections import (
    common_section,
    data_section,
    new_teacher_section,
    teacher_choice,
)
from dashboard.train_tabs import submit_coordinator


def auto_settings() -> AutoConfig:
    """Budget, trials, minutes, metric, parallel trials, seeds and methods."""
    c1, c2, c3, c4 = st.columns(4)
    budget = c1.number_input(
        "latency budget (ms, p50)", **widget_kwargs(AutoConfig, "budget_ms"), key="auto-budget"
    )
    trials = c2.number_input("trials", **widget_kwargs(AutoConfig, "trials"), key="auto-trials")
    minutes = c3.number_input(
        "minutes (0: no limit)",
        min_value=0.0,
        max_value=10_000.0,
        value=0.0,
        step=5.0,
        help=help_of(AutoConfig, "minutes"),
        key="auto-minutes",
    )
    metric = c4.selectbox(
        "score", list(METRICS), help=help_of(AutoConfig, "metric"), key="auto-metric"
    )
    c1, c2 = st.columns(2)
    parallel = c1.number_input(
        "in parallel", **widget_kwargs(AutoConfig, "parallel"), key="auto-parallel"
    )
    seeds = c2.number_input(
        "seeds for the winner", **widget_kwargs(AutoConfig, "seeds"), key="auto-seeds"
    )
    picked = st.multiselect(
        "methods to search",
        list(SEARCHED),
        default=list(SEARCHED),
        format_func=methods.title,
        help=help_of(AutoConfig, "methods"),
        key="auto-methods",
    )
    return AutoConfig(
        budget_ms=float(budget),
        trials=int(trials),
        minutes=float(minutes) or None,
        metric=metric,
        parallel=int(parallel),
        seeds=int(seeds),
        methods=list(picked),
    )


def autodistill_tab(choice: dict[str, Any], t_runs: list[dict]) -> None:
    st.caption(
        "Which student, by which method, is best for these data at your latency budget? One "
        "teacher, then Optuna trials across methods and their settings (accuracy vs batch-1 "
        "p50 as deployed: ONNX on this machine's CPU); students that cannot meet the budget "
        "are pruned before they train, and the winner is re-trained with more seeds."
    )
    reuse = teacher_choice("auto", t_runs)
    with st.form("form-auto"):
        data = data_section("auto", choice)
        teacher = new_teacher_section("auto", reuse, data.seed, "The search")
        auto = auto_settings()
        common = common_section("auto")
        if st.form_submit_button("Find the best student", type="primary", key="go-auto"):
            if not auto.methods:
                st.error("Pick at least one method to search.")
                return
            cfg = PipelineConfig(data=data, teacher=teacher)
            submit_coordinator("autodistill", "auto", auto, cfg, common, reuse, t_runs)
    answers_section()


def answers_section() -> None:
    """A finished search's answer: its sentence, its front, and the winner's export."""
    s = widgets.store()
    done = [r for r in s.runs(kind="autodistill") if r["status"] == "done"]
    if not done:
        return
    st.markdown("**Answers of finished searches**")
    by_id = {r["id"]: r for r in done}
    rid = st.selectbox(
        "search", list(by_id), format_func=lambda i: run_label(by_id[i]), key="auto-pick"
    )
    path = s.run_dir(rid, create=False) / "results.json"
    if not path.is_file():
        return
    answer = json.loads(path.read_text())
    if answer.get("sentence"):
        st.success(answer["sentence"], icon=":material/emoji_events:")
    split = answer.get("compared_on", "test")
    rows = [
        {
            "student": r["description"],
            f"{split} score": round(r["score"], 4),
            "test score": round(r.get("test_score", r["score"]), 4),
            "p50 ms": round(r["p50_ms"], 3),
            "run": r["run"],
        }
        for r in answer.get("front", [])
    ]
    if teacher := answer.get("teacher"):
        compared = teacher.get("compared")
        rows.append(
            {
                "student": "teacher (reference)",
                f"{split} score": None if compared is None else round(compared, 4),
                "test score": round(teacher["score"], 4),
                "p50 ms": round(teacher["p50_ms"], 3),
                "run": teacher["run"],
            }
        )
    if plain := answer.get("plain"):
        rows.append(
            {
                "student": "plain twin of the winner (reference)",
                f"{split} score": None,
                "test score": round(plain["score"], 4),
                "p50 ms": None,
                "run": None,
            }
        )
    st.caption(
        f"Pareto front, {split} score vs p50 as deployed (budget {answer['budget_ms']:g} ms). "
        + front_note(answer)
    )
    st.plotly_chart(front_chart(answer), key="auto-front-chart")
    st.dataframe(rows, hide_index=True, key="auto-front")
    if not answer.get("winner"):
        return
    default = str(Path(s.home) / "exports" / f"autodistill-{rid}")
    out = st.text_input("export the winner to this folder", default, key="auto-export-dir")
    if st.button("Export the winner (ONNX + predict.py)", key="auto-export"):
        with widgets.engine_errors("Exporting the winner"):
            if Path(out).exists() and any(Path(out).iterdir()):
                st.error(f"{out} is a folder that is not empty: give an empty or new one.")
                return
            rep = export_winner(s, rid, out)
            st.success(
                f"Exported to {rep.folder}: try `python {Path(rep.folder) / 'predict.py'} "
                '"some text"`',
                icon=":material/download:",
            )


def front_note(answer: dict[str, Any]) -> str:
    """Which rows chose among the trials, and what the announced figure is."""
    if answer.get("compared_on") == "dev":
        rows = answer.get("dev_rows")
        return (
            f"Trials were compared on the dev set{f' ({rows} rows)' if rows else ''}; the "
            "winner's figures in the sentence are test scores (its seeds' mean)."
        )
    return (
        "The data had no dev set, so trials were compared on the test set: the choice has "
        "seen the test rows (give a dev file or a dev fraction)."
    )
