"""What BiLSTM and TextCNN share, on words (jieba / regex) or on the teacher tokenizer's pieces.

Word students take `core.config.StudentConfig`, character students its subclass
`core.methods.chars.CharStudentConfig`; the loop for both is
`core.methods._word_fit.train_student` (stages of core.train.loop).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from core.methods._base import Shared, StudentJob
from core.methods._word_config import StudentConfig
from core.methods._word_fit import train_student
from core.methods._word_models import encode_tokens, load_student


def rows(job: StudentJob, shared: Shared) -> int:
    return shared.n_gold if job.role == "plain" else len(shared.texts)


def steps(job: StudentJob, shared: Shared) -> int:
    first = shared.hidden_epochs if shared.hidden is not None else 0
    return math.ceil(rows(job, shared) / job.cfg.batch_size) * (job.cfg.epochs + first)


def token_unit(cfg: StudentConfig) -> str:
    """ "pieces" for a character student, "words" for a word student."""
    return getattr(cfg, "TOKENS", "words")


def initial_embeddings(cfg: StudentConfig, vocab, shared: Shared) -> torch.Tensor | None:
    """Rows of the teacher's PCA-reduced input embeddings for the vocabulary's pieces (a piece
    the teacher lacks, and UNK, get the teacher's [UNK] row); None: random embeddings."""
    if getattr(cfg, "embed_init", "random") != "teacher_pca":
        return None
    table, t_vocab = shared.teacher_embedding_pca(cfg.embed_dim)
    unk = t_vocab.get(getattr(shared.teacher.tokenizer, "unk_token", "[UNK]"), 0)
    return table[[t_vocab.get(p, unk) for p in vocab.itos]]


def train(job: StudentJob, shared: Shared, ctx):
    """A plain twin trains on the gold rows' labels with a vocabulary of their words (pieces)
    only; a distilled student on every row (teacher logits) with a vocabulary of all of theirs.
    Both start from the same initial embeddings (random, or the teacher's), so the report shows
    what distillation added on top of them."""
    cfg: StudentConfig = job.cfg
    unit = token_unit(cfg)
    toks, dev_toks = shared.tokens(unit, cfg.max_len)
    vocab = shared.vocab(job.role, cfg.max_len, cfg.min_count, unit)
    n = rows(job, shared)
    plain = job.role == "plain"
    tcfg = dataclasses.replace(cfg, loss="hard") if plain else cfg
    seqs = [encode_tokens(vocab, t, cfg.max_len) for t in toks[:n]]
    dev_seqs = [encode_tokens(vocab, t, cfg.max_len) for t in dev_toks]
    dev = (dev_seqs, shared.dev_labels) if dev_toks else None
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
        init_embed=initial_embeddings(cfg, vocab, shared),
        weights=None if plain else shared.weights,
        hidden=None if plain else shared.hidden,
        hidden_epochs=shared.hidden_epochs,
    )
    if unit == "pieces":
        student.pieces = shared.pieces()
    student.info = {
        "train_texts": n,
        "vocab_size": len(vocab),
        "train_device": "cpu",
        "train_precision": "fp32",
    }
    return student


load = load_student
