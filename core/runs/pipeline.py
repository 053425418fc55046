"""The stages in order: data, teacher, augment, label, tokenise, students, evaluate.

A run kind picks a prefix of them: `teacher` stops after fine-tuning and scoring the teacher,
`augment` after the teacher has labelled the transfer + augmented set (cached for later runs),
`distill` reuses an earlier run's teacher, `pipeline` does everything.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from core import methods
from core.config import PipelineConfig, TeacherConfig
from core.data import pairs
from core.data.augment import augment
from core.data.bundle import DataBundle, load_bundle
from core.data.text import detect_lang
from core.evaluate.metrics import by_domain, classification_metrics, folder_bytes, speed_profile
from core.export.exporter import onnx_speed
from core.methods._base import Shared, StudentJob
from core.teacher.finetune import fine_tune
from core.teacher.hf import AUTO, auto_teacher
from core.teacher.logits import teacher_logits
from core.teacher.model import Teacher, load_teacher
from core.teacher.provenance import check_reuse
from core.train.device import pick_device, precision

log = logging.getLogger(__name__)

WEIGHTS = {"data": 1, "teacher": 40, "augment": 3, "label": 30, "tokenize": 3, "evaluate": 6}


def teacher_dir(store, run_id: int) -> Path:
    return store.run_dir(run_id, create=False) / "teacher"


def reused_teacher_dir(store, cfg: PipelineConfig, bundle: DataBundle) -> Path:
    """The folder of the earlier run's teacher, refused if it is missing or if it saw any of
    this data's test texts (LeakageError with the count)."""
    path = teacher_dir(store, cfg.teacher_run)
    if not (path / "distillery.json").is_file():
        raise ValueError(f"run {cfg.teacher_run} has no fine-tuned teacher to reuse")
    check_reuse(path, bundle.test.texts, cfg.teacher_run)
    return path


def preflight(store, kind: str, cfg: PipelineConfig) -> DataBundle:
    """Everything that can be refused before a run exists: the data (DataError naming file and
    line) and the teacher to reuse (see `reused_teacher_dir`). The CLI and the Train page call
    it before creating a run, so a refused launch leaves nothing behind; the run checks the
    teacher again when it starts, for callers that go straight to `execute`."""
    archs = [s.method for s in cfg.students] if kind in ("pipeline", "distill") else []
    twice = sorted({a for a in archs if archs.count(a) > 1})
    if twice:
        raise ValueError(f"student method(s) given twice: {', '.join(twice)}; name each once")
    for a in archs:
        methods.get(a)  # an unknown method is refused before the run exists
    bundle = load_bundle(cfg.data)
    cant = [a for a in archs if bundle.task not in methods.get(a).supports]
    if cant:
        what = "sentence pairs" if bundle.task == "pair" else "single texts"
        raise ValueError(f"student method(s) {', '.join(cant)} cannot take {what}")
    if cfg.domains.targets():
        from core.runs.domains import check_targets

        if kind != "pipeline" or cfg.teacher_run is not None:
            raise ValueError("--target-domain needs a pipeline run that fine-tunes its teachers")
        check_targets(bundle, cfg.domains.targets())
    elif cfg.domains.meta_teacher:
        raise ValueError("--meta-teacher needs --target-domain (the domain(s) to distil for)")
    if cfg.teacher_run is not None:
        reused_teacher_dir(store, cfg, bundle)
    elif kind in ("augment", "distill"):
        raise ValueError(f"a {kind} run needs a teacher run (an earlier run's fine-tuned teacher)")
    return bundle


def _teacher(kind: str, cfg: PipelineConfig, bundle: DataBundle, ctx) -> Teacher:
    store = ctx.store
    if cfg.teacher_run is not None:
        path = reused_teacher_dir(store, cfg, bundle)
        ctx.stage("teacher", 1)
        teacher = load_teacher(path, cfg.device)
        if teacher.label_names != bundle.label_names:
            raise ValueError(
                f"teacher of run {cfg.teacher_run} has labels {teacher.label_names}, "
                f"this data has {bundle.label_names}"
            )
        ctx.step()
        return teacher
    if kind == "distill":
        raise ValueError("a distill run needs --teacher-run (an earlier run's fine-tuned teacher)")
    out = ctx.run_dir / "teacher"
    dev = (bundle.dev.texts, bundle.dev.labels) if bundle.dev else None
    teacher = fine_tune(
        resolved_teacher(cfg, bundle),
        bundle.train.texts,
        bundle.train.labels,
        bundle.label_names,
        out,
        store.home,
        dev=dev,
        ctx=ctx,
        device=cfg.device,
    )
    store.add_artifact(ctx.run_id, "teacher", out)
    return teacher


def resolved_teacher(cfg: PipelineConfig, bundle: DataBundle) -> TeacherConfig:
    """The teacher config with `auto` replaced by the preset for the data's language."""
    if cfg.teacher.model != AUTO:
        return cfg.teacher
    model = auto_teacher(bundle.train.texts)
    log.info("teacher auto: %s for this data", model)
    return dataclasses.replace(cfg.teacher, model=model)


def _latency_texts(bundle: DataBundle, n: int, seed: int) -> list[str]:
    texts = list(bundle.test.texts)
    random.Random(seed).shuffle(texts)
    return texts[:n]


def _scores(pred: list[int], bundle: DataBundle) -> dict:
    """Accuracy, F1, per class; with domains, also per domain of the test rows."""
    m = classification_metrics(pred, bundle.test.labels, bundle.label_names)
    if bundle.test.domains is not None:
        m["domains"] = by_domain(pred, bundle.test.labels, bundle.test.domains, bundle.label_names)
    return m


def _eval_teacher(teacher: Teacher, bundle: DataBundle, cfg: PipelineConfig, ctx) -> dict:
    logits, _ = teacher_logits(teacher, bundle.test.texts, ctx.store.home)
    m = _scores(logits.argmax(-1).tolist(), bundle)
    lat = _latency_texts(bundle, cfg.latency_samples, cfg.data.seed)
    tok = teacher.tokenizer
    m.update(
        speed_profile(
            lambda t: int(teacher.predict_one(t).argmax()),
            lambda t: pairs.encode(tok, t, teacher.max_length),
            lambda b: teacher.logits(b, batch_size=64),
            lat,
        )
    )
    m["params"] = teacher.num_params()
    # where the teacher's stages ran (the batch-1 latency above is on this device too)
    m["device"] = teacher.device.type
    m["precision"] = precision(teacher.device)
    m["size_bytes"] = folder_bytes(Path(teacher.path) / "model.safetensors")
    m["max_length"] = teacher.max_length
    if cfg.onnx_latency:
        m.update(_onnx_speed(ctx, "teacher", lat, torch.get_num_threads()))
    return m


def _onnx_speed(ctx, name: str, texts: list[str], threads: int) -> dict:
    """The deployed path's latency (see core.export.onnx_speed); a model the exporter cannot
    handle keeps its PyTorch figures and says why."""
    try:
        return onnx_speed(ctx.store, ctx.run_id, name, texts, threads)
    except Exception as exc:  # noqa: BLE001 - timing is extra; the run's results stand
        log.warning("ONNX timing of %s skipped: %s", name, exc)
        return {"onnx_error": str(exc)[:300]}


def _eval_student(
    student, folder: Path, bundle: DataBundle, cfg: PipelineConfig, threads, ctx
) -> dict:
    pred = student.logits(bundle.test.texts).argmax(-1).tolist()
    m = _scores(pred, bundle)
    lat = _latency_texts(bundle, cfg.latency_samples, cfg.data.seed)
    m.update(
        speed_profile(
            lambda t: int(student.predict_logits(t).argmax()),
            student.tokenize,
            lambda b: student.logits(b, batch_size=64),
            lat,
            threads=threads,
        )
    )
    m["params"] = student.num_params()
    m["size_bytes"] = folder_bytes(folder / "model.safetensors")
    if cfg.onnx_latency:
        m.update(_onnx_speed(ctx, folder.name, lat, threads or torch.get_num_threads()))
    m["size_bytes_with_vocab"] = folder_bytes(folder)
    return m


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
        home=home,
    )


def _student_jobs(students: list, plain_baseline: bool) -> list[StudentJob]:
    jobs = []
    for s in students:
        method = methods.get(s.method)
        for role in (["plain"] if plain_baseline else []) + ["distilled"]:
            jobs.append(StudentJob(f"{s.method}_{role}", role, s, method))
    return jobs


def _plain_groups(jobs: list[StudentJob]) -> dict[str, str]:
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


def _train_students(
    jobs: list[StudentJob], shared: Shared, cfg: PipelineConfig, ctx, stage: str = "students"
) -> dict:
    """Train every student. Small ones (word students: `parallel`) run `cfg.student_workers`
    at a time on one torch thread each, set once here by the run's own thread, so results do
    not depend on `student_workers` and no training thread touches process-wide settings.
    Transformer students then train one at a time on every core (or on the GPU)."""
    same = _plain_groups(jobs)
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


def run_pipeline(kind: str, cfg: PipelineConfig, ctx) -> dict:
    if cfg.domains.targets():
        from core.runs.domains import run_targets

        return run_targets(kind, cfg, ctx)
    store, run_id = ctx.store, ctx.run_id
    students = cfg.students if kind in ("pipeline", "distill") else []
    plan = dict(WEIGHTS)
    if students:
        plan["students"] = sum(8 if methods.get(s.method).parallel else 60 for s in students)
    if kind == "teacher":
        plan = {k: plan[k] for k in ("data", "teacher", "evaluate")}
    ctx.plan(plan)

    ctx.stage("data", 1)
    bundle = load_bundle(cfg.data)
    data_desc = bundle.describe()
    data_desc["warnings"] = [str(w) for w in bundle.warnings[:50]]
    store.update_run(run_id, data=data_desc, teacher=resolved_teacher(cfg, bundle).model)
    ctx.step()

    teacher = _teacher(kind, cfg, bundle, ctx)
    if cfg.teacher_run is not None:
        store.update_run(run_id, teacher=f"run {cfg.teacher_run} ({Path(teacher.path).name})")
    results: dict[str, dict] = {}

    if kind != "teacher":
        aug: list[str] = []
        if cfg.use_augmentation and cfg.augment.n_iter > 0:
            ctx.stage("augment", len(bundle.train))
            mask = getattr(teacher.tokenizer, "mask_token", None) or "[MASK]"
            aug = augment(bundle.train.texts, cfg.augment, mask, progress=ctx.step)
            (ctx.run_dir / "augmented.txt").write_text("\n".join(aug), encoding="utf-8")
            store.add_artifact(run_id, "augmented", ctx.run_dir / "augmented.txt")
        held_out = set(bundle.test.texts) | set(bundle.dev.texts if bundle.dev else [])
        aug_kept = [t for t in aug if t not in held_out]
        data_desc["augmented"] = len(aug_kept)
        data_desc["augmented_dropped_overlap"] = len(aug) - len(aug_kept)
        if len(aug_kept) < len(aug):
            log.warning(
                "%d augmented texts equal a test or dev text: dropped", len(aug) - len(aug_kept)
            )
        store.update_run(run_id, data=data_desc)
        transfer = list(dict.fromkeys(bundle.transfer + aug_kept))
        texts = bundle.train.texts + transfer
        labels = bundle.train.labels + [-1] * len(transfer)
        t_logits, cached = teacher_logits(teacher, texts, store.home, ctx)
        store.update_run(run_id, message=f"teacher logits for {len(texts)} texts (cache: {cached})")

        if students:
            shared = shared_inputs(bundle, texts, labels, t_logits, teacher, cfg, store.home)
            jobs = _student_jobs(students, cfg.plain_baseline)
            # words (pieces) once for every word (character) student, with its own progress
            lengths = sorted(
                {
                    ("words" if j.method.family == "word" else "pieces", j.cfg.max_len)
                    for j in jobs
                    if j.method.family in ("word", "char")
                }
            )
            if lengths:
                ctx.stage("tokenize", len(texts))
                for i, (tokens, max_len) in enumerate(lengths):
                    shared.tokens(tokens, max_len, progress=ctx.step if i == 0 else None)
            results.update(_train_students(jobs, shared, cfg, ctx))

    ctx.stage("evaluate", 1 + len(results))
    with ctx.alone() as isolation:  # no other run of this worker executes while we time
        out = _evaluate(teacher, results, bundle, cfg, ctx, isolation)
    summary = {
        "run_id": run_id,
        "kind": kind,
        "data": data_desc,
        "timings": ctx.finish(),
        "threads": torch.get_num_threads(),
        # where each stage ran: the teacher (fine-tune, labels) and the transformer students
        # on `device`, the word / character students on the CPU, all latency on the CPU
        "devices": {
            "teacher": teacher.device.type,
            "teacher_precision": precision(teacher.device),
            "transformer_students": pick_device(cfg.device).type,
        },
        "models": out,
    }
    (ctx.run_dir / "results.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return summary


def _evaluate(
    teacher, results: dict, bundle: DataBundle, cfg: PipelineConfig, ctx, isolation, teachers=None
):
    """Accuracy, F1 and speed of the teacher(s) and every student, saved as they come.
    `teachers` ({name: (Teacher, role)}) replaces the one `teacher` (target-domain runs: a
    single-domain teacher and the meta-teacher)."""
    store, run_id = ctx.store, ctx.run_id
    t0 = time.time()
    out = {}
    for tname, (t, role) in (teachers or {"teacher": (teacher, "teacher")}).items():
        tm = _eval_teacher(t, bundle, cfg, ctx) | isolation
        tm["role"] = role
        store.save_result(run_id, tname, role, "bert", tm)
        out[tname] = tm
        ctx.step()
    evaluated: dict[str, dict] = {}
    for name, r in results.items():
        twin = r.get("same_as")
        if twin in evaluated:  # the same model as another plain twin: the same figures
            m = dict(evaluated[twin])
        else:
            small = methods.get(r["arch"]).parallel
            m = _eval_student(
                r["student"], r["dir"], bundle, cfg, cfg.student_threads if small else None, ctx
            )
        evaluated[name] = m
        m = dict(m)
        m["family"] = r["family"]
        m["role"] = r["role"]
        for key in ("train_texts", "vocab_size", "seed", "train_s", "train_device", "stage_s"):
            if key in r:
                m[key] = r[key]
        if twin:
            m["same_model_as"] = twin
        m.update(isolation)
        store.save_result(run_id, name, r["role"], r["arch"], m)
        out[name] = m
        ctx.step()
    log.info("evaluation took %.1fs", time.time() - t0)
    return out
