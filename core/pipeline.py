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
from dataclasses import dataclass
from pathlib import Path

import torch

from .augment import augment
from .bundle import DataBundle, load_bundle
from .config import PipelineConfig, StudentConfig
from .distill import train_student
from .evaluate import classification_metrics, folder_bytes, speed_profile
from .logits import teacher_logits
from .provenance import check_reuse
from .students import Student
from .teacher import Teacher, fine_tune, load_teacher
from .text import Vocab, detect_lang, tokenize

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
    bundle = load_bundle(cfg.data)
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


@dataclass
class StudentJob:
    """One student to train: its own vocabulary, rows and (for distilled ones) teacher logits.

    A plain twin sees the gold rows only, so its vocabulary is built from them alone: every word
    it meets at test time is either one it trained on or UNK, never an untrained random row.
    """

    name: str
    role: str  # "plain" | "distilled"
    cfg: StudentConfig
    vocab: Vocab
    seqs: list[list[int]]
    labels: list[int]
    logits: torch.Tensor | None
    dev: tuple[list[list[int]], list[int]] | None

    def steps(self) -> int:
        return math.ceil(len(self.seqs) / self.cfg.batch_size) * self.cfg.epochs


def _student_jobs(
    students: list[StudentConfig],
    toks: list[list[str]],
    labels: list[int],
    t_logits: torch.Tensor,
    n_gold: int,
    dev_toks: list[list[str]],
    dev_labels: list[int],
    lang: str,
    plain_baseline: bool,
) -> list[StudentJob]:
    """Plain twins on the gold rows (vocabulary from gold texts), distilled students on gold +
    transfer + augmented rows (vocabulary from all of them); unknown words map to UNK."""
    vocabs: dict[tuple[str, int], Vocab] = {}

    def vocab(role: str, min_count: int) -> Vocab:
        key = (role, min_count)
        if key not in vocabs:
            rows = toks[:n_gold] if role == "plain" else toks
            vocabs[key] = Vocab.build(rows, lang, min_count)
        return vocabs[key]

    jobs = []
    for s in students:
        roles = (["plain"] if plain_baseline else []) + ["distilled"]
        for role in roles:
            v = vocab(role, s.min_count)
            n = n_gold if role == "plain" else len(toks)
            cfg = StudentConfig(**{**s.__dict__, "loss": "hard"}) if role == "plain" else s
            dev = ([v.encode(t, s.max_len) for t in dev_toks], dev_labels) if dev_toks else None
            jobs.append(
                StudentJob(
                    name=f"{s.arch}_{role}",
                    role=role,
                    cfg=cfg,
                    vocab=v,
                    seqs=[v.encode(t, s.max_len) for t in toks[:n]],
                    labels=labels[:n],
                    logits=None if role == "plain" else t_logits,
                    dev=dev,
                )
            )
    return jobs


def _train_students(jobs: list[StudentJob], bundle: DataBundle, cfg: PipelineConfig, ctx):
    """Train every student, `cfg.student_workers` at a time, all on the same thread count.

    Small recurrent / convolutional nets barely use a second core, so on a 2-core machine two
    students side by side finish in about the time of the slower one. The thread count is set
    once here, by the run's own thread, for the whole stage, whether students run one after
    another or side by side: results then do not depend on `student_workers`, and no training
    thread ever touches process-wide settings.
    """
    ctx.stage("students", sum(j.steps() for j in jobs))

    def one(job: StudentJob):
        t0 = time.time()
        student = train_student(
            job.name,
            job.cfg,
            job.vocab,
            bundle.label_names,
            job.seqs,
            job.labels,
            job.logits,
            job.dev,
            ctx,
            own_stage=False,
        )
        folder = student.save(ctx.run_dir / "students" / job.name)
        ctx.store.add_artifact(ctx.run_id, job.name, folder)
        info = {
            "role": job.role,
            "arch": job.cfg.arch,
            "student": student,
            "dir": folder,
            "n": len(job.seqs),
            "vocab_size": len(job.vocab),
            "seed": job.cfg.seed,
            "train_s": round(time.time() - t0, 2),
        }
        return job.name, info

    before = torch.get_num_threads()
    threads = max(1, min(j.cfg.threads or 1 for j in jobs))
    workers = max(1, min(cfg.student_workers, len(jobs)))
    torch.set_num_threads(threads)
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
            lang = detect_lang(bundle.train.texts)
            ctx.stage("tokenize", len(texts) + len(bundle.dev or []))
            max_words = max(s.max_len for s in students)
            toks = []
            for t in texts:
                toks.append(tokenize(t, lang, max_words))
                ctx.step()
            dev_texts = bundle.dev.texts if bundle.dev else []
            dev_toks = [tokenize(t, lang, max_words) for t in dev_texts]
            jobs = _student_jobs(
                students,
                toks,
                labels,
                t_logits,
                len(bundle.train),
                dev_toks,
                bundle.dev.labels if bundle.dev else [],
                lang,
                cfg.plain_baseline,
            )
            results.update(_train_students(jobs, bundle, cfg, ctx))

    ctx.stage("evaluate", 1 + len(results))
    t0 = time.time()
    tm = _eval_teacher(teacher, bundle, cfg, ctx)
    store.save_result(run_id, "teacher", "teacher", "bert", tm)
    out = {"teacher": tm}
    ctx.step()
    for name, r in results.items():
        m = _eval_student(r["student"], r["dir"], bundle, cfg)
        m["train_texts"] = r["n"]
        m["vocab_size"] = r["vocab_size"]
        m["seed"] = r["seed"]
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
