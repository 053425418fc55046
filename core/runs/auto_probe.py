"""Latency before training: time an untrained copy of a trial's student.

Latency does not depend on the weights, so a student that cannot meet the budget can be pruned
before it trains. The probe builds the trial's student with random weights (a word or character
student with a vocabulary of sampled training texts; a transformer student from the teacher's
config cut or shrunk the way its method does) and times its batch-1 PyTorch path, text in and
logits out, on the threads the evaluation times it on (one for word and character students,
every core for transformers). A word or character student is also exported untrained and
timed as deployed (ONNX through its own predict.py, `deployed_ms`): a second or two that
measures what the budget is about, where the PyTorch figure only bounds it (ONNX Runtime ran
these models 1.5 to 9x faster than PyTorch eager, the ratio growing and shrinking with a
BiLSTM's width). A transformer is timed in PyTorch alone (its export takes longer than most
small students train) and pruned on a predicted figure (see docs/autodistill.md).
"""

from __future__ import annotations

import copy
import dataclasses
import random
from dataclasses import dataclass
from typing import Any

import torch

from core import methods
from core.data.pairs import task_of
from core.data.text import PieceTokenizer, Vocab, detect_lang, tokenize
from core.evaluate.metrics import percentile, time_calls
from core.export.exporter import deployed_p50_ms
from core.methods._transformer import TransformerStudent, half_depth
from core.methods._word_models import Student, build_model
from core.methods.tinybert import build as build_tinybert

PROBE_TEXTS = 60  # texts timed per probe (after a 10-text warm-up), sampled from training
PROBE_BUDGET_S = 3.0  # seconds one probe may spend timing


@dataclass
class Prober:
    """What every probe of one search shares: the teacher (its config and tokenizer) and a
    sample of the training texts, timed the same way for every trial."""

    teacher: Any  # core.teacher.Teacher
    texts: list[str]
    label_names: list[str]
    small_threads: int = 1  # PipelineConfig.student_threads: what word / char students get

    @classmethod
    def from_texts(
        cls, teacher, texts: list[str], label_names: list[str], seed: int = 0, threads: int = 1
    ):
        rng = random.Random(seed)
        sample = rng.sample(texts, min(PROBE_TEXTS, len(texts)))
        return cls(teacher, sample, label_names, threads)

    def untrained(self, cfg: Any) -> Any:
        """The trial's student with random weights: what its latency is measured on."""
        method = methods.get(cfg.method)
        pair = task_of(self.texts) == "pair"
        if method.family in ("word", "char"):
            pieces = None
            if method.family == "char":
                pieces = PieceTokenizer.from_hf(self.teacher.tokenizer)
                toks = [pieces.pieces(t, cfg.max_len) for t in self.texts]
                lang = "pieces"
            else:
                lang = detect_lang(self.texts)
                toks = [tokenize(t, lang, cfg.max_len) for t in self.texts]
            vocab = Vocab.build(toks, lang)
            g = torch.Generator().manual_seed(0)
            model = build_model(
                cfg.method, len(vocab), len(self.label_names), cfg, generator=g, pair=pair
            )
            model.eval()
            return Student(cfg.method, model, vocab, cfg, self.label_names, pieces=pieces)
        if cfg.method == "tinybert":
            model = build_tinybert(
                dataclasses.replace(cfg, init_embeddings=False), self.teacher, self.label_names
            )
        else:  # the teacher's architecture cut to the student's depth (weights irrelevant)
            conf = copy.deepcopy(self.teacher.model.config)
            conf.num_hidden_layers = half_depth(self.teacher, getattr(cfg, "layers", None))
            model = type(self.teacher.model)(conf)
        model.eval()
        return TransformerStudent(
            cfg.method,
            model,
            self.teacher.tokenizer,
            cfg,
            self.label_names,
            cfg.max_length,
            task="pair" if pair else "single",
        )

    def p50_ms(self, cfg: Any) -> float:
        """Batch-1 PyTorch p50 (ms) of the untrained student, on the threads its evaluation
        uses (core.runs.scoring: small students `student_threads`, transformers every core)."""
        student = self.untrained(cfg)
        before = torch.get_num_threads()
        small = methods.get(cfg.method).parallel
        torch.set_num_threads(self.small_threads if small else before)
        try:
            ms = time_calls(student.predict_logits, self.texts, budget_s=PROBE_BUDGET_S)
        finally:
            torch.set_num_threads(before)
        return round(percentile(ms, 0.5), 4)

    def deployed_ms(self, cfg: Any) -> float | None:
        """Batch-1 p50 (ms) of the untrained student as deployed (ONNX, text in, label out, on
        the threads its evaluation uses); None for a transformer (see the module docstring)."""
        family = methods.get(cfg.method).family
        if family not in ("word", "char"):
            return None
        student = self.untrained(cfg)
        ms = deployed_p50_ms(student, family, self.texts, self.small_threads, PROBE_BUDGET_S)
        return round(ms, 4)
