"""What BiLSTM and TextCNN share: Tang et al. 2019's students on jieba / regex words.

Both take `core.config.StudentConfig`; the loop is `core.distill.train_student`.
"""

from __future__ import annotations

import dataclasses
import math

from ..config import StudentConfig
from ..distill import train_student
from ..students import load_student
from ._base import Shared, StudentJob


def rows(job: StudentJob, shared: Shared) -> int:
    return shared.n_gold if job.role == "plain" else len(shared.texts)


def steps(job: StudentJob, shared: Shared) -> int:
    return math.ceil(rows(job, shared) / job.cfg.batch_size) * job.cfg.epochs


def train(job: StudentJob, shared: Shared, ctx):
    """A plain twin trains on the gold rows' labels with a vocabulary of their words only; a
    distilled student on every row (teacher logits) with a vocabulary of all their words."""
    cfg: StudentConfig = job.cfg
    toks, dev_toks = shared.word_tokens(cfg.max_len)
    vocab = shared.vocab(job.role, cfg.max_len, cfg.min_count)
    n = rows(job, shared)
    plain = job.role == "plain"
    tcfg = dataclasses.replace(cfg, loss="hard") if plain else cfg
    seqs = [vocab.encode(t, cfg.max_len) for t in toks[:n]]
    dev = (
        ([vocab.encode(t, cfg.max_len) for t in dev_toks], shared.dev_labels) if dev_toks else None
    )
    student = train_student(
        job.name,
        tcfg,
        vocab,
        shared.label_names,
        seqs,
        shared.labels[:n],
        None if plain else shared.logits,
        dev,
        ctx,
        own_stage=False,
    )
    student.info = {"train_texts": n, "vocab_size": len(vocab), "train_device": "cpu"}
    return student


load = load_student
