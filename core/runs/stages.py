"""The stages every run plan composes: data, teacher, augment, tokenise, students, summary.

Each is a plain function of the run's config, its data and its context (core.runs.context), so the
plain pipeline (core.runs.pipeline) and the target-domain plan (core.runs.domains) are
compositions of the same code; the evaluate stage is core.runs.scoring.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from core import methods
from core.config import TeacherConfig
from core.data.augment import augment
from core.data.bundle import DataBundle, load_bundle
from core.data.text import detect_lang
from core.methods._base import Shared, StudentJob
from core.runs.config import PipelineConfig
from core.teacher.ensemble import EnsembleTeacher, load_any_teacher, mark_ensemble, member_models
from core.teacher.finetune import fine_tune
from core.teacher.hf import AUTO, auto_teacher
from core.teacher.logits import int8_check, label_precision
from core.teacher.model import META as TEACHER_META
from core.teacher.model import Teacher
from core.teacher.provenance import seen_mask
from core.train.device import pick_device, precision
from core.train.select import AUTO as AUTO_METRIC
from core.train.select import class_counts, imbalanced, resolve_metric

log = logging.getLogger(__name__)


def data_stage(cfg: PipelineConfig, ctx, **describe) -> tuple[DataBundle, dict]:
    """Load and check the data (with a reused teacher, without the test rows it saw); its
    description (sizes, classes, the first warnings, how `auto` selection resolved, and
    `describe`) is stored with the run at once. `cfg`'s `auto` selection metrics are resolved
    here, once for the run (see `resolve_selection`)."""
    ctx.stage("data", 1)
    bundle = load_bundle(cfg.data)
    if cfg.teacher_run is not None:
        reused_teacher_dir(ctx.store, cfg, bundle)
    desc = bundle.describe() | {"selection": resolve_selection(cfg, bundle)} | describe
    ctx.store.update_run(ctx.run_id, data=desc, teacher=teacher_name(resolved_teacher(cfg, bundle)))
    ctx.step()
    return bundle, desc


def resolve_selection(cfg: PipelineConfig, bundle: DataBundle) -> dict:
    """Replace `auto` in the teacher's and every student's `select_metric` (in place: the run's
    own copy of its config) by what core.train.select.resolve_metric makes of the training
    labels, the one rule for the whole run; returns the record kept with the run's data."""
    labels, k = bundle.train.labels, len(bundle.label_names)
    cfg.teacher = dataclasses.replace(
        cfg.teacher, select_metric=resolve_metric(cfg.teacher.select_metric, labels, k)
    )
    cfg.students[:] = [  # in place: a plan may hold the list already
        dataclasses.replace(s, select_metric=resolve_metric(s.select_metric, labels, k))
        if hasattr(s, "select_metric")
        else s
        for s in cfg.students
    ]
    auto = resolve_metric(AUTO_METRIC, labels, k)
    log.info("selection metric auto: %s (class counts %s)", auto, class_counts(labels, k))
    return {
        "auto": auto,
        "teacher": cfg.teacher.select_metric,
        "imbalanced": imbalanced(labels, k),
        "class_counts": class_counts(labels, k),
    }


def teacher_name(tcfg: TeacherConfig) -> str:
    """What the run lists show as its teacher: the model, or an ensemble's members."""
    names = member_models(tcfg.model, tcfg.members)
    return names[0] if len(names) == 1 else "ensemble: " + " + ".join(names)


def teacher_dir(store, run_id: int) -> Path:
    return store.run_dir(run_id, create=False) / "teacher"


def reused_teacher_dir(store, cfg: PipelineConfig, bundle: DataBundle) -> Path:
    """The folder of the earlier run's teacher, refused (ValueError) if it is missing or was
    trained on other labels; `bundle`'s test rows whose text it saw are dropped, with the
    count (core.data.checks: the same rule as a first run's), a DataError if none is left."""
    tid = cfg.teacher_run
    path = teacher_dir(store, tid)
    if not (path / TEACHER_META).is_file():
        try:
            store.run(tid)
        except Exception:  # noqa: BLE001 - sqlite_utils NotFoundError
            raise ValueError(f"there is no run {tid} (deleted?): no teacher to reuse") from None
        raise ValueError(f"run {tid} has no fine-tuned teacher to reuse")
    labels = json.loads((path / TEACHER_META).read_text()).get("label_names")
    if labels != bundle.label_names:
        raise ValueError(
            f"the teacher of run {tid} was trained on the labels {labels}, but these data "
            f"have {bundle.label_names}: reuse a teacher trained on the same classes, or "
            "fine-tune a new one (leave out --teacher-run)"
        )
    seen = seen_mask(path, bundle.test.texts)
    if seen is not None:
        bundle.drop_seen_test(seen, f"the training or dev texts of run {tid}'s teacher")
    return path


def teacher_stage(kind: str, cfg: PipelineConfig, bundle: DataBundle, ctx) -> Teacher:
    """The run's teacher: an earlier run's (checked for leakage and labels) or a new one."""
    store = ctx.store
    if cfg.teacher_run is not None:
        path = reused_teacher_dir(store, cfg, bundle)
        ctx.stage("teacher", 1)
        teacher = load_any_teacher(path, cfg.device, cfg.precision)
        if teacher.label_names != bundle.label_names:
            raise ValueError(
                f"teacher of run {cfg.teacher_run} has labels {teacher.label_names}, "
                f"this data has {bundle.label_names}"
            )
        ctx.step()
        return teacher
    if kind == "distill":
        raise ValueError("a distill run needs --teacher-run (an earlier run's fine-tuned teacher)")
    tcfg = resolved_teacher(cfg, bundle)
    names = member_models(tcfg.model, tcfg.members)
    if len(names) == 1:
        return fine_tune_stage(tcfg, bundle, cfg, ctx, "teacher")
    return ensemble_stage(tcfg, names, bundle, cfg, ctx)


def ensemble_stage(
    tcfg: TeacherConfig, names: list[str], bundle: DataBundle, cfg: PipelineConfig, ctx
) -> EnsembleTeacher:
    """Fine-tune each member like a single teacher (same settings and seed, its own folder
    `teacher`, `teacher_2`, ...), then name the others in the first one's meta (reusing the run's
    teacher reuses them all) and save each as an artifact."""
    folders = ["teacher"] + [f"teacher_{i + 1}" for i in range(1, len(names))]
    members = []
    for name, folder in zip(names, folders, strict=True):
        one = dataclasses.replace(tcfg, model=name, members=None)
        members.append(fine_tune_teacher(one, bundle, cfg, ctx, folder))
    mark_ensemble(ctx.run_dir / "teacher", folders[1:], names)
    for folder in folders:
        ctx.store.add_artifact(ctx.run_id, folder, ctx.run_dir / folder)
    log.info("teacher ensemble of %s", ", ".join(names))
    return EnsembleTeacher(members, names)


def fine_tune_stage(
    tcfg: TeacherConfig, bundle: DataBundle, cfg: PipelineConfig, ctx, name: str, **extra
) -> Teacher:
    """Fine-tune a teacher on `bundle`'s training rows (dev rows for early stopping) into the
    run's folder `name`, which is also its loss series and artifact name; `extra` goes to
    `fine_tune` (MetaKD's row weights and domain-corruption loss)."""
    teacher = fine_tune_teacher(tcfg, bundle, cfg, ctx, name, **extra)
    ctx.store.add_artifact(ctx.run_id, name, ctx.run_dir / name)
    return teacher


def fine_tune_teacher(
    tcfg: TeacherConfig, bundle: DataBundle, cfg: PipelineConfig, ctx, name: str, **extra
) -> Teacher:
    """`fine_tune_stage` without recording the artifact (an ensemble records its members once
    the first one's meta names the others)."""
    out = ctx.run_dir / name
    dev = (bundle.dev.texts, bundle.dev.labels) if bundle.dev else None
    train = bundle.train
    teacher = fine_tune(
        tcfg,
        train.texts,
        train.labels,
        bundle.label_names,
        out,
        ctx.store.home,
        dev=dev,
        ctx=ctx,
        device=cfg.device,
        requested=cfg.precision,
        series=name,
        **extra,
    )
    return teacher


def augment_stage(
    bundle: DataBundle, cfg: PipelineConfig, teacher: Teacher, ctx, tag: str = ""
) -> tuple[list[str], int]:
    """Augmented training texts (Tang et al. 2019), saved as the artifact `augmented<tag>`,
    minus any equal to a test or dev text: (kept, how many were dropped)."""
    if not (cfg.use_augmentation and cfg.augment.n_iter > 0):
        return [], 0
    ctx.stage(f"augment{tag}", len(bundle.train))
    mask = getattr(teacher.tokenizer, "mask_token", None) or "[MASK]"
    aug = augment(bundle.train.texts, cfg.augment, mask, progress=ctx.step)
    path = ctx.run_dir / f"augmented{tag}.txt"
    path.write_text("\n".join(aug), encoding="utf-8")
    ctx.store.add_artifact(ctx.run_id, f"augmented{tag}", path)
    held_out = set(bundle.test.texts) | set(bundle.dev.texts if bundle.dev else [])
    kept = [t for t in aug if t not in held_out]
    if len(kept) < len(aug):
        log.warning("%d augmented texts equal a test or dev text: dropped", len(aug) - len(kept))
    return kept, len(aug) - len(kept)


def tokenize_stage(jobs: list[StudentJob], shared: Shared, ctx) -> None:
    """Words (pieces) once for every word (character) student, with its own progress."""
    lengths = sorted(
        {
            ("words" if j.method.family == "word" else "pieces", j.cfg.max_len)
            for j in jobs
            if j.method.family in ("word", "char")
        }
    )
    if lengths:
        ctx.stage("tokenize", len(shared.texts))
        for i, (tokens, max_len) in enumerate(lengths):
            shared.tokens(tokens, max_len, progress=ctx.step if i == 0 else None)


def devices_record(
    cfg: PipelineConfig,
    teacher: Teacher | None = None,
    int8: bool | None = None,
    int8_check: dict | None = None,
) -> dict:
    """Where each stage ran and in which precision (results.json's `devices`): the teacher
    (fine-tuning, labels) and the transformer students on `device` in the precision the run's
    `precision` resolved to there, the word / character students on the CPU in fp32, and all
    latency on the CPU. `int8`: whether the labels were int8 after the check (`int8_decision`,
    recorded as `label_int8_check`); None: as the config asks."""
    dev = teacher.device if teacher is not None else pick_device(cfg.device)
    students = pick_device(cfg.device)
    int8 = cfg.label_int8 if int8 is None else int8
    out = {
        "precision_requested": cfg.precision,
        "teacher": dev.type,
        "teacher_precision": teacher.precision if teacher else precision(dev, cfg.precision),
        # the transfer / augmented texts' labels: the teacher's precision, or "int8" (label_int8)
        "label_precision": label_precision(teacher, int8)
        if teacher
        else planned_label_precision(dev, cfg),
        "transformer_students": students.type,
        "transformer_students_precision": precision(students, cfg.precision),
        "word_char_students": "cpu",
        "word_char_students_precision": "fp32",
    }
    if int8_check is not None:
        out["label_int8_check"] = int8_check
    return out


def int8_decision(teacher: Teacher, texts: list[str], cfg: PipelineConfig, ctx) -> tuple:
    """(int8, check): label with the int8 copy only where it applies (label_precision) and
    agrees with the fp32 teacher on a sample (`int8_check`) at least as often as
    `label_int8_min_agreement`; otherwise fp32, with a warning. `check` is None where int8 was
    not in question (asked off, a bf16 or CUDA teacher)."""
    if label_precision(teacher, cfg.label_int8) != "int8":
        return False, None
    check = dict(int8_check(teacher, texts, ctx.store.home))
    check["min"] = cfg.label_int8_min_agreement
    check["passed"] = check["agreement"] >= cfg.label_int8_min_agreement
    if not check["passed"]:
        msg = (
            f"int8 labels agree with the fp32 teacher on {check['agreement']:.1%} of "
            f"{check['texts']} sample texts (below {check['min']:.0%}): labelling in fp32"
        )
        log.warning(msg)
        ctx.store.update_run(ctx.run_id, message=msg)
    return check["passed"], check


def write_summary(ctx, summary: dict) -> dict:
    """results.json in the run's folder: what the report and the CLI read back."""
    text = json.dumps(summary, indent=1, ensure_ascii=False)
    (ctx.run_dir / "results.json").write_text(text)
    return summary


def resolved_teacher(cfg: PipelineConfig, bundle: DataBundle) -> TeacherConfig:
    """The teacher config with `auto` replaced by the preset for the data's language."""
    if cfg.teacher.model != AUTO:
        return cfg.teacher
    model = auto_teacher(bundle.train.texts)
    log.info("teacher auto: %s for this data", model)
    return dataclasses.replace(cfg.teacher, model=model)


def shared_inputs(
    bundle: DataBundle, texts: list[str], labels: list[int], logits, teacher, cfg, home
) -> Shared:
    """What every student of a run shares: `texts` are the bundle's gold training rows, then
    the transfer and augmented ones (label -1), with the teacher's `logits` for each."""
    return Shared(
        texts=texts,
        labels=labels,
        n_gold=len(bundle.train),
        logits=logits,
        label_names=bundle.label_names,
        lang=detect_lang(bundle.train.texts),
        dev_texts=bundle.dev.texts if bundle.dev else [],
        dev_labels=bundle.dev.labels if bundle.dev else [],
        teacher=teacher,
        device=pick_device(cfg.device).type,
        precision=precision(pick_device(cfg.device), cfg.precision),
        home=home,
    )


def student_jobs(students: list, plain_baseline: bool) -> list[StudentJob]:
    jobs = []
    for s in students:
        method = methods.get(s.method)
        for role in (["plain"] if plain_baseline else []) + ["distilled"]:
            jobs.append(StudentJob(f"{s.method}_{role}", role, s, method))
    return jobs


def plain_groups(jobs: list[StudentJob]) -> dict[str, str]:
    """name -> name of the job whose model it is: plain twins with equal `plain_key` (e.g. the
    teacher's bottom k layers fine-tuned on the gold labels, shared by KD, PKD and Theseus)
    are one model, trained once."""
    first: dict = {}
    same = {}
    for j in jobs:
        key = j.method.plain_key(j.cfg) if (j.role == "plain" and j.method.plain_key) else None
        if key is None:
            continue
        if key in first:
            same[j.name] = first[key]
        else:
            first[key] = j.name
    return same


def train_students(
    jobs: list[StudentJob], shared: Shared, cfg: PipelineConfig, ctx, stage: str = "students"
) -> dict:
    """Train every student. Small ones (word students: `parallel`) run `cfg.student_workers`
    at a time on one torch thread each, set once here by the run's own thread, so results do
    not depend on `student_workers` and no training thread touches process-wide settings.
    Transformer students then train one at a time on every core (or on the GPU)."""
    same = plain_groups(jobs)
    todo = [j for j in jobs if j.name not in same]
    ctx.stage(stage, sum(j.method.steps(j, shared) for j in todo))

    def one(job: StudentJob) -> list[tuple[str, dict]]:
        t0 = time.time()
        student = job.method.train(job, shared, ctx)
        folder = student.save(ctx.run_dir / "students" / job.name)
        ctx.store.add_artifact(ctx.run_id, job.name, folder)
        info = {
            "role": job.role,
            "arch": job.cfg.method,
            "family": job.method.family,
            "student": student,
            "dir": folder,
            "seed": job.cfg.seed,
            "train_s": round(time.time() - t0, 2),
            "select_metric": getattr(job.cfg, "select_metric", None),
            "class_weights": getattr(job.cfg, "class_weights", None),
            **getattr(student, "info", {}),
        }
        out = [(job.name, info)]
        for key, role in job.method.reports.items():  # e.g. NewsBERT's joint teacher
            companion = getattr(student, "extras", {}).get(key)
            if companion is None:
                continue
            name = job.name.replace(f"_{job.role}", f"_{key}", 1)
            cdir = companion.save(ctx.run_dir / "students" / name)
            ctx.store.add_artifact(ctx.run_id, name, cdir)
            out.append((name, {**info, "role": role, "student": companion, "dir": cdir}))
        return out

    small = [j for j in todo if j.method.parallel]
    big = [j for j in todo if not j.method.parallel]
    done: dict[str, dict] = {}
    if small:
        before = torch.get_num_threads()
        threads = max(1, min(getattr(j.cfg, "threads", 1) or 1 for j in small))
        workers = max(1, min(cfg.student_workers, len(small)))
        torch.set_num_threads(threads)
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="student") as ex:
                for pairs_ in ex.map(one, small):
                    done.update(pairs_)
        finally:
            torch.set_num_threads(before)
    for j in big:
        done.update(one(j))
    for name, twin in same.items():
        info = dict(done[twin], same_as=twin, train_s=0.0)
        job = next(j for j in jobs if j.name == name)
        student = info["student"]
        if dataclasses.is_dataclass(student):  # saved under this method's name and config
            student = dataclasses.replace(student, method=job.cfg.method, cfg=job.cfg)
        folder = student.save(ctx.run_dir / "students" / name)
        ctx.store.add_artifact(ctx.run_id, name, folder)
        done[name] = {**info, "dir": folder, "arch": job.cfg.method}
    extra = {n: r for n, r in done.items() if n not in {j.name for j in jobs}}  # reports
    return {j.name: done[j.name] for j in jobs} | extra


def planned_label_precision(dev, cfg: PipelineConfig) -> str:
    """`label_precision` before a teacher is loaded: int8 where it would apply (a CPU teacher
    in fp32), the run's resolved precision otherwise."""
    p = precision(dev, cfg.precision)
    return "int8" if cfg.label_int8 and dev.type == "cpu" and p == "fp32" else p
