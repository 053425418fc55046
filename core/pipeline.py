"""The stages in order: data, teacher, augment, label, tokenise, students, evaluate.

A run kind picks a prefix of them: `teacher` stops after fine-tuning and scoring the teacher,
`augment` after the teacher has labelled the transfer + augmented set (cached for later runs),
`distill` reuses an earlier run's teacher, `pipeline` does everything.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from .augment import augment
from .bundle import DataBundle, load_bundle
from .config import PipelineConfig, StudentConfig
from .distill import train_student
from .evaluate import classification_metrics, folder_bytes, speed_profile
from .logits import teacher_logits
from .students import Student
from .teacher import Teacher, fine_tune, load_teacher
from .text import Vocab, detect_lang, tokenize

log = logging.getLogger(__name__)

WEIGHTS = {"data": 1, "teacher": 40, "augment": 3, "label": 30, "tokenize": 3, "evaluate": 6}


def teacher_dir(store, run_id: int) -> Path:
    return store.run_dir(run_id, create=False) / "teacher"


def _teacher(kind: str, cfg: PipelineConfig, bundle: DataBundle, ctx) -> Teacher:
    store = ctx.store
    if cfg.teacher_run is not None:
        path = teacher_dir(store, cfg.teacher_run)
        if not (path / "distillery.json").is_file():
            raise ValueError(f"run {cfg.teacher_run} has no fine-tuned teacher to reuse")
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
        cfg.teacher,
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


def _latency_texts(bundle: DataBundle, n: int, seed: int) -> list[str]:
    texts = list(bundle.test.texts)
    random.Random(seed).shuffle(texts)
    return texts[:n]


def _eval_teacher(teacher: Teacher, bundle: DataBundle, cfg: PipelineConfig, ctx) -> dict:
    logits, _ = teacher_logits(teacher, bundle.test.texts, ctx.store.home)
    m = classification_metrics(logits.argmax(-1).tolist(), bundle.test.labels, bundle.label_names)
    lat = _latency_texts(bundle, cfg.latency_samples, cfg.data.seed)
    tok = teacher.tokenizer
    m.update(
        speed_profile(
            lambda t: int(teacher.predict_one(t).argmax()),
            lambda t: tok(t, truncation=True, max_length=teacher.max_length),
            lambda b: teacher.logits(b, batch_size=64),
            lat,
        )
    )
    m["params"] = teacher.num_params()
    m["size_bytes"] = folder_bytes(Path(teacher.path) / "model.safetensors")
    m["max_length"] = teacher.max_length
    return m


def _eval_student(student: Student, folder: Path, bundle: DataBundle, cfg: PipelineConfig) -> dict:
    pred = student.logits(bundle.test.texts).argmax(-1).tolist()
    m = classification_metrics(pred, bundle.test.labels, bundle.label_names)
    lat = _latency_texts(bundle, cfg.latency_samples, cfg.data.seed)
    m.update(
        speed_profile(
            lambda t: int(student.predict_logits(t).argmax()),
            student.tokenize,
            lambda b: student.logits(b, batch_size=64),
            lat,
            threads=cfg.student_threads,
        )
    )
    m["params"] = student.num_params()
    m["size_bytes"] = folder_bytes(folder / "model.safetensors")
    m["size_bytes_with_vocab"] = folder_bytes(folder)
    return m


def _train_students(jobs: list, vocab, bundle: DataBundle, labels, cfg: PipelineConfig, ctx):
    """Train every student, `cfg.student_workers` at a time, each on one torch thread.

    Small recurrent / convolutional nets barely use a second core, so on a 2-core machine two
    students side by side finish in about the time of the slower one.
    """
    n_gold = len(bundle.train)

    def steps(job) -> int:
        _, role, sc, seqs, _, _ = job
        rows = n_gold if role == "plain" else len(seqs)
        return math.ceil(rows / sc.batch_size) * sc.epochs

    ctx.stage("students", sum(steps(j) for j in jobs))

    def one(job):
        name, role, sc, seqs, logits, dev = job
        t0 = time.time()
        student = train_student(
            name, sc, vocab, bundle.label_names, seqs, labels, logits, dev, ctx, own_stage=False
        )
        folder = student.save(ctx.run_dir / "students" / name)
        ctx.store.add_artifact(ctx.run_id, name, folder)
        n = n_gold if role == "plain" else len(seqs)
        info = {"role": role, "arch": sc.arch, "student": student, "dir": folder, "n": n}
        info["train_s"] = round(time.time() - t0, 2)
        return name, info

    before = torch.get_num_threads()
    workers = max(1, min(cfg.student_workers, len(jobs)))
    if workers > 1:
        torch.set_num_threads(1)  # once for all workers: per-thread set/restore would race
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="student") as ex:
            done = list(ex.map(one, jobs))
    finally:
        torch.set_num_threads(before)
    return dict(done)


def run_pipeline(kind: str, cfg: PipelineConfig, ctx) -> dict:
    store, run_id = ctx.store, ctx.run_id
    students: list[StudentConfig] = cfg.students if kind in ("pipeline", "distill") else []
    plan = dict(WEIGHTS)
    if students:
        plan["students"] = 8 * len(students)
    if kind == "teacher":
        plan = {k: plan[k] for k in ("data", "teacher", "evaluate")}
    ctx.plan(plan)

    ctx.stage("data", 1)
    bundle = load_bundle(cfg.data)
    data_desc = bundle.describe()
    data_desc["warnings"] = [str(w) for w in bundle.warnings[:50]]
    store.update_run(run_id, data=data_desc, teacher=cfg.teacher.model)
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
        transfer = list(dict.fromkeys(bundle.transfer + aug))
        texts = bundle.train.texts + transfer
        labels = bundle.train.labels + [-1] * len(transfer)
        t_logits, cached = teacher_logits(teacher, texts, store.home, ctx)
        store.update_run(run_id, message=f"teacher logits for {len(texts)} texts (cache: {cached})")

        if students:
            lang = detect_lang(bundle.train.texts)
            ctx.stage("tokenize", len(texts) + len(bundle.dev or []))
            max_words = max(s.max_len for s in students)
            toks = []
            for t in texts:
                toks.append(tokenize(t, lang, max_words))
                ctx.step()
            dev_texts = bundle.dev.texts if bundle.dev else []
            dev_toks = [tokenize(t, lang, max_words) for t in dev_texts]
            vocab = Vocab.build(toks, lang, min(s.min_count for s in students))
            jobs = []
            for s in students:
                seqs = [vocab.encode(t, s.max_len) for t in toks]
                dev = (
                    ([vocab.encode(t, s.max_len) for t in dev_toks], bundle.dev.labels)
                    if bundle.dev
                    else None
                )
                if cfg.plain_baseline:
                    plain = StudentConfig(**{**s.__dict__, "loss": "hard"})
                    jobs.append((f"{s.arch}_plain", "plain", plain, seqs, None, dev))
                jobs.append((f"{s.arch}_distilled", "distilled", s, seqs, t_logits, dev))
            results.update(_train_students(jobs, vocab, bundle, labels, cfg, ctx))

    ctx.stage("evaluate", 1 + len(results))
    t0 = time.time()
    tm = _eval_teacher(teacher, bundle, cfg, ctx)
    store.save_result(run_id, "teacher", "teacher", "bert", tm)
    out = {"teacher": tm}
    ctx.step()
    for name, r in results.items():
        m = _eval_student(r["student"], r["dir"], bundle, cfg)
        m["train_texts"] = r["n"]
        m["train_s"] = r["train_s"]
        store.save_result(run_id, name, r["role"], r["arch"], m)
        out[name] = m
        ctx.step()
    log.info("evaluation took %.1fs", time.time() - t0)
    summary = {
        "run_id": run_id,
        "kind": kind,
        "data": data_desc,
        "timings": ctx.finish(),
        "threads": torch.get_num_threads(),
        "models": out,
    }
    (ctx.run_dir / "results.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return summary
