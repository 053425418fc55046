"""The Train page's run forms, one function per tab (whole pipeline, teacher only, augment +
label, distil students), and the submit step they share: remember the form, check the data and
a reused teacher before a run exists, queue it, say where it is in the queue. The Sweep and
Find-the-best-student tabs submit through `submit_coordinator`, the same for both."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.config import to_dict
from core.runs.config import PipelineConfig, pipeline_from_dict
from core.runs.plans import preflight
from dashboard import ui_state, widgets
from dashboard.student_forms import students_picker, students_section
from dashboard.train_sections import (
    augment_section,
    common_section,
    data_section,
    domain_section,
    teacher_run_select,
    teacher_section,
)

FLASH = "_train_flash"  # the "Run N queued" message, shown once after the page reruns
NEEDS_TEACHER = (
    "This needs a finished run with a fine-tuned teacher: run **Teacher only** or "
    "**Whole pipeline** first."
)


def submit(kind: str, cfg: PipelineConfig, prefix: str, extra: dict | None = None) -> None:
    """Queue a run of `kind` from the form with key `prefix` (its values are kept for a reload
    or a new tab), after the same checks the CLI makes; engine errors show as an error box."""
    with widgets.engine_errors(f"Starting the {kind} run"):
        ui_state.remember_form_values(prefix)  # a reload or a new tab finds this form as it is
        # the data and a reused teacher are checked before a run exists (the CLI does the same)
        coordinator = kind in ("sweep", "autodistill")  # checked as the runs they queue
        checked = ("distill" if cfg.teacher_run else "pipeline") if coordinator else kind
        preflight(widgets.store(), checked, cfg)
        rid = widgets.manager().submit(kind, cfg, extra=extra)
        pos = widgets.store().queue_position(rid)
        where = f", position {pos[0]} of {pos[1]}" if pos else ""
        st.session_state[FLASH] = (
            f"Run {rid} ({kind}) queued{where}: a worker takes it; follow it under **Active runs**."
        )
        st.rerun()


def submit_coordinator(
    kind: str,
    prefix: str,
    settings: Any,
    cfg: PipelineConfig,
    common: tuple[str, int, str],
    reuse: int | None,
    t_runs: list[dict],
) -> None:
    """Queue a coordinating run (a sweep, an autodistill search) from the form `prefix`: `cfg`
    is what its trials share (no plain twin: they compare distilled students), with the form's
    (name, latency samples, device), reusing the earlier teacher run `reuse` and its data when
    one was chosen; its own `settings` go in the run's config under the key `kind`."""
    cfg.name, cfg.latency_samples, cfg.device = common
    cfg.plain_baseline = False
    if reuse is not None:
        cfg = with_teacher_run(cfg, next(r for r in t_runs if r["id"] == reuse), same=True)
    submit(kind, cfg, prefix, extra={kind: to_dict(settings)})


def with_teacher_run(base: PipelineConfig, run: dict, same: bool) -> PipelineConfig:
    """`base` reusing the teacher of the earlier `run` (and, with `same`, its data settings)."""
    base.teacher_run = int(run["id"])
    # The reused teacher's settings, not the form-less defaults (m3e-small, ...): the run's
    # config then tells which teacher it used, and Runs compares it honestly.
    base.teacher = pipeline_from_dict(run["config"]).teacher
    if same:
        base.data = pipeline_from_dict(run["config"]).data
    return base


def pipeline_tab(choice: dict[str, Any]) -> None:
    """Whole pipeline: teacher, augmentation, students and domains in one run."""
    st.caption(
        "Fine-tune the teacher, augment, let the teacher label the transfer set, distil the "
        "students (and plain baselines), then evaluate everything on the test set."
    )
    picked = students_picker("pipe")
    with st.container(border=True, key="form-pipeline"):
        st.markdown("**Data**")
        data = data_section("pipe", choice)
        st.markdown("**Teacher**")
        teacher = teacher_section("pipe", data.seed)
        st.markdown("**Augmentation**")
        aug, use_aug = augment_section("pipe", data.seed)
        st.markdown("**Students**")
        students, plain = students_section("pipe", data.seed, picked)
        st.markdown("**Domains**")
        domains = domain_section("pipe", choice)
        name, latency, device = common_section("pipe")
        if st.button("Run the whole pipeline", type="primary", key="go-pipeline"):
            if not students:
                st.error("Pick at least one student architecture.")
            elif domains.meta_teacher and not domains.targets():
                st.error("The meta-teacher distils for target domains: pick at least one.")
            else:
                submit(
                    "pipeline",
                    PipelineConfig(
                        data=data,
                        teacher=teacher,
                        augment=aug,
                        domains=domains,
                        students=students,
                        plain_baseline=plain,
                        use_augmentation=use_aug,
                        latency_samples=latency,
                        name=name,
                        device=device,
                    ),
                    "pipe",
                )


def teacher_tab(choice: dict[str, Any]) -> None:
    """Teacher only: fine-tune and evaluate the teacher, for later runs to reuse."""
    st.caption("Fine-tune and evaluate only the teacher; later runs can reuse it.")
    with st.container(border=True, key="form-teacher"):
        data = data_section("teach", choice)
        teacher = teacher_section("teach", data.seed)
        name, latency, device = common_section("teach")
        if st.button("Fine-tune the teacher", type="primary", key="go-teacher"):
            submit(
                "teacher",
                PipelineConfig(
                    data=data,
                    teacher=teacher,
                    students=[],
                    latency_samples=latency,
                    name=name,
                    device=device,
                ),
                "teach",
            )


def augment_tab(choice: dict[str, Any], t_runs: list[dict]) -> None:
    """Augment + label: an earlier run's teacher labels the augmented and transfer texts."""
    st.caption(
        "Augment the training texts and let an earlier run's teacher label them with the "
        "transfer set; the logits are cached, so a later distillation on the same data is quick."
    )
    if not t_runs:
        widgets.empty_state(NEEDS_TEACHER)
        return
    with st.container(border=True, key="form-augment"):
        run, same = teacher_run_select("aug", t_runs)
        data = data_section("aug", choice)
        aug, use_aug = augment_section("aug", data.seed)
        name, latency, device = common_section("aug")
        if st.button("Augment and label", type="primary", key="go-augment"):
            cfg = PipelineConfig(
                data=data,
                augment=aug,
                students=[],
                use_augmentation=use_aug,
                latency_samples=latency,
                name=name,
                device=device,
            )
            submit("augment", with_teacher_run(cfg, run, same), "aug")


def distill_tab(choice: dict[str, Any], t_runs: list[dict]) -> None:
    """Distil students: students from an earlier run's fine-tuned teacher."""
    st.caption(
        "Distil students (word students, smaller transformers) from an earlier run's "
        "fine-tuned teacher."
    )
    if not t_runs:
        widgets.empty_state(NEEDS_TEACHER)
        return
    picked = students_picker("dist")
    with st.container(border=True, key="form-distill"):
        run, same = teacher_run_select("dist", t_runs)
        data = data_section("dist", choice)
        st.markdown("**Augmentation**")
        aug, use_aug = augment_section("dist", data.seed)
        st.markdown("**Students**")
        students, plain = students_section("dist", data.seed, picked)
        name, latency, device = common_section("dist")
        if st.button("Distil the students", type="primary", key="go-distill"):
            if not students:
                st.error("Pick at least one student architecture.")
            else:
                cfg = PipelineConfig(
                    data=data,
                    augment=aug,
                    students=students,
                    plain_baseline=plain,
                    use_augmentation=use_aug,
                    latency_samples=latency,
                    name=name,
                    device=device,
                )
                submit("distill", with_teacher_run(cfg, run, same), "dist")
