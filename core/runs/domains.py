"""Target-domain runs: one set of students per target domain, and MetaKD's meta-teacher.

For each target domain the run fine-tunes a single-domain teacher on that domain's rows alone,
augments and labels that domain's texts, and distils the chosen students from it
(`<method>_plain`, `<method>_distilled`), every model scored on that domain's test rows. With
`meta_teacher` it first fine-tunes one meta-teacher on every domain (core.metakd) and distils
each word / character student a second time from it, weighted by its domain expertise, in two
stages (`<method>_meta_distilled`). With one target the rows are named as above; with several,
each name ends in `@<domain>`.
"""

from __future__ import annotations

import dataclasses
import logging

import torch

from core import methods
from core.data.bundle import DataBundle
from core.data.problems import DataError, Problem
from core.methods._base import Shared, StudentJob
from core.runs.config import PipelineConfig
from core.runs.scoring import evaluate_models
from core.runs.stages import (
    augment_stage,
    data_stage,
    devices_record,
    fine_tune_stage,
    resolved_teacher,
    shared_inputs,
    student_jobs,
    train_students,
    write_summary,
)
from core.teacher.hf import resolve_source
from core.teacher.logits import teacher_logits
from core.teacher.metakd import (
    DomainCorruption,
    cls_vectors,
    expertise_weights,
    prototype_scores,
    teacher_features,
)

log = logging.getLogger(__name__)


def _meta_ok(arch: str) -> bool:
    """Whether MetaKD can distil this method (two stages, weighted): its Method says so."""
    return methods.get(arch).meta_distil


def check_targets(bundle: DataBundle, targets: list[str]) -> None:
    """Target domains must be domains of both train and test (a DataError naming them)."""
    where = bundle.train.source
    if not bundle.domains:
        msg = (
            "--target-domain needs data with domains: a header naming a `domain` column "
            "(domain<TAB>label<TAB>text, any order) or a folder with one sub-folder per domain"
        )
        raise DataError([Problem(where, None, msg)])
    if bundle.task != "single":
        raise DataError([Problem(where, None, "target domains take single texts, not pairs")])
    tests = set(bundle.test.domains or [])
    problems = []
    for d in targets:
        if d not in bundle.domains:
            known = ", ".join(bundle.domains)
            problems.append(Problem(where, None, f"no domain {d!r} in the data (domains: {known})"))
        elif d not in tests:
            problems.append(Problem(where, None, f"the test set has no rows of domain {d!r}"))
    if problems:
        raise DataError(problems)


def _suffix(d: str, targets: list[str]) -> str:
    return "" if len(targets) == 1 else f"@{d}"


def _meta_teacher(cfg: PipelineConfig, bundle: DataBundle, ctx, teacher_cfg):
    """Prototype scores, then the meta-teacher fine-tuned on every domain."""
    store = ctx.store
    train = bundle.train
    ctx.stage("prototypes", 1)
    vecs = cls_vectors(
        teacher_cfg.model,
        train.texts,
        store.home,
        teacher_cfg.max_length,
        cfg.device,
        requested=cfg.precision,
    )
    proto = prototype_scores(vecs, train.labels, train.domains)
    ctx.step()
    names = bundle.domains
    aux = None
    if cfg.domains.domain_loss_weight > 0:
        from transformers import AutoConfig  # lazily: the hub client reads its settings on import

        hidden = AutoConfig.from_pretrained(resolve_source(teacher_cfg.model, store.home))
        aux = DomainCorruption(
            [names.index(d) for d in train.domains],
            len(names),
            hidden.hidden_size,
            cfg.domains.domain_loss_weight,
            teacher_cfg.seed,
        )
    meta = fine_tune_stage(
        teacher_cfg, bundle, cfg, ctx, "meta_teacher", sample_weights=proto, aux=aux
    )
    return meta, proto


def run_targets(kind: str, cfg: PipelineConfig, ctx) -> dict:
    """A pipeline run over `cfg.domains.targets()` (see the module docstring)."""
    if kind != "pipeline" or cfg.teacher_run is not None:
        raise ValueError("target domains need a pipeline run that fine-tunes its own teachers")
    store, run_id = ctx.store, ctx.run_id
    targets = cfg.domains.targets()
    students = cfg.students
    plan = {"data": 1, "prototypes": 2, "meta_teacher": 40 if cfg.domains.meta_teacher else 0}
    for d in targets:
        tag = _suffix(d, targets)
        plan |= {f"teacher{tag}": 15, f"augment{tag}": 2, f"label{tag}": 5, f"students{tag}": 20}
        plan |= {f"meta_students{tag}": 10 if cfg.domains.meta_teacher else 0, f"evaluate{tag}": 5}
    ctx.plan(plan)

    bundle, desc = data_stage(cfg, ctx, targets=targets, meta_teacher=cfg.domains.meta_teacher)
    check_targets(bundle, targets)
    tcfg = resolved_teacher(cfg, bundle)

    meta, proto = (None, None)
    if cfg.domains.meta_teacher:
        meta, proto = _meta_teacher(cfg, bundle, ctx, tcfg)

    models: dict[str, dict] = {}
    per_target: dict[str, dict] = {}
    for d in targets:
        tag = _suffix(d, targets)
        sub = bundle.of_domain(d)
        teacher = fine_tune_stage(tcfg, sub, cfg, ctx, f"teacher{tag}")
        transfer, _ = augment_stage(sub, cfg, teacher, ctx, tag)
        gold = set(sub.train.texts)
        texts = sub.train.texts + [t for t in dict.fromkeys(transfer) if t not in gold]
        labels = sub.train.labels + [-1] * (len(texts) - len(sub.train))
        ctx.stage(f"label{tag}", 1)
        t_logits, _ = teacher_logits(teacher, texts, store.home)
        per_target[d] = {
            "train": len(sub.train),
            "dev": len(sub.dev) if sub.dev else 0,
            "test": len(sub.test),
            "augmented": len(texts) - len(sub.train),
        }
        results: dict[str, dict] = {}
        if students:
            shared = shared_inputs(sub, texts, labels, t_logits, teacher, cfg, store.home)
            jobs = [
                dataclasses.replace(j, name=j.name + tag)
                for j in student_jobs(students, cfg.plain_baseline)
            ]
            results.update(train_students(jobs, shared, cfg, ctx, stage=f"students{tag}"))
            if meta is not None:
                results.update(_meta_students(cfg, ctx, shared, meta, proto, bundle, d, tag))
        ctx.stage(f"evaluate{tag}", 2 + len(results))
        teachers = {f"teacher{tag}": (teacher, "teacher")}
        if meta is not None:
            teachers[f"meta_teacher{tag}"] = (meta, "meta_teacher")
        with ctx.alone() as isolation:  # every row saved with its target domain
            extra = isolation | {"domain": d}
            models.update(evaluate_models(teachers, results, sub, cfg, ctx, extra))
        del teacher
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    summary = {
        "run_id": run_id,
        "kind": kind,
        "data": desc,
        "targets": per_target,
        "timings": ctx.finish(),
        "threads": torch.get_num_threads(),
        "devices": devices_record(cfg),
        "models": models,
    }
    return write_summary(ctx, summary)


def _meta_students(cfg, ctx, shared: Shared, meta, proto, bundle: DataBundle, d: str, tag: str):
    """Each word / character student distilled again, from the meta-teacher: its logits and
    content vectors for the target domain's texts, rows weighted by domain expertise."""
    jobs = [
        StudentJob(f"{s.method}_meta_distilled{tag}", "meta_distilled", s, methods.get(s.method))
        for s in cfg.students
        if _meta_ok(s.method)
    ]
    skipped = [s.method for s in cfg.students if not _meta_ok(s.method)]
    if skipped:
        log.info("meta-distillation covers word, character and kd students; not %s", skipped)
    if not jobs:
        return {}
    ctx.stage(f"meta_label{tag}", 1)
    m_logits, m_hidden = teacher_features(meta, shared.texts)
    rows = [i for i, x in enumerate(bundle.train.domains) if x == d]
    weights = expertise_weights(m_logits, shared.labels, [proto[i] for i in rows])
    mshared = dataclasses.replace(
        shared,
        teacher=meta,  # kd students are cut from the meta-teacher and match its hidden states
        logits=m_logits,
        weights=weights,
        hidden=m_hidden,
        hidden_epochs=cfg.domains.intermediate_epochs,
    )
    return train_students(jobs, mshared, cfg, ctx, stage=f"meta_students{tag}")
