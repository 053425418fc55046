"""The plain pipeline: data, teacher, augment, label, tokenise, students, evaluate.

A run kind picks a prefix of it: `teacher` stops after fine-tuning and scoring the teacher,
`augment` after the teacher has labelled the transfer + augmented set (cached for later runs),
`distill` reuses an earlier run's teacher, `pipeline` does everything.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from core.runs.config import PipelineConfig
from core.runs.eta import plan_for
from core.runs.scoring import evaluate_models
from core.runs.stages import (
    augment_stage,
    data_stage,
    devices_record,
    int8_decision,
    shared_inputs,
    student_jobs,
    teacher_stage,
    tokenize_stage,
    train_students,
    write_summary,
)
from core.teacher.logits import teacher_logits

log = logging.getLogger(__name__)


def run_pipeline(kind: str, cfg: PipelineConfig, ctx) -> dict:
    """The plain plan (see the module docstring); its summary, also written to results.json."""
    store, run_id = ctx.store, ctx.run_id
    students = cfg.students if kind in ("pipeline", "distill") else []
    ctx.plan(plan_for(kind, cfg))  # the stage weights (core.runs.eta: progress and the ETA)

    bundle, data_desc = data_stage(cfg, ctx)
    teacher = teacher_stage(kind, cfg, bundle, ctx)
    if cfg.teacher_run is not None:
        store.update_run(run_id, teacher=f"run {cfg.teacher_run} ({Path(teacher.path).name})")
    results: dict[str, dict] = {}
    int8, int8_check = cfg.label_int8, None  # int8 labels: asked for, then checked

    if kind != "teacher":
        aug_kept, dropped = augment_stage(bundle, cfg, teacher, ctx)
        data_desc["augmented"] = len(aug_kept)
        data_desc["augmented_dropped_overlap"] = dropped
        store.update_run(run_id, data=data_desc)
        transfer = list(dict.fromkeys(bundle.transfer + aug_kept))
        texts = bundle.train.texts + transfer
        labels = bundle.train.labels + [-1] * len(transfer)
        int8, int8_check = int8_decision(teacher, texts, cfg, ctx)
        t_logits, cached = teacher_logits(teacher, texts, store.home, ctx, int8=int8)
        store.update_run(run_id, message=f"teacher logits for {len(texts)} texts (cache: {cached})")

        if students:
            shared = shared_inputs(bundle, texts, labels, t_logits, teacher, cfg, store.home)
            jobs = student_jobs(students, cfg.plain_baseline)
            tokenize_stage(jobs, shared, ctx)
            results.update(train_students(jobs, shared, cfg, ctx))

    ctx.stage("evaluate", 1 + len(results))
    with ctx.alone() as isolation:  # no other run of this worker executes while we time
        out = evaluate_models(
            {"teacher": (teacher, "teacher")}, results, bundle, cfg, ctx, isolation
        )
    summary = {
        "run_id": run_id,
        "kind": kind,
        "data": data_desc,
        "timings": ctx.finish(),
        "threads": torch.get_num_threads(),
        "devices": devices_record(cfg, teacher, int8, int8_check),
        "models": out,
    }
    return write_summary(ctx, summary)
