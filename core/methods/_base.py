"""What every method's `train` receives: its job, and the inputs all students of a run share.

The teacher's logits for every text are computed once per run (and cached on disk); word
students' tokens and vocabularies are built once and shared by every word student, so a run
with BiLSTM and TextCNN tokenises its texts once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import torch

from ..text import Vocab, tokenize


@dataclass
class Shared:
    """The run's texts: rows [0, n_gold) are the labelled training rows, the rest transfer and
    augmented texts (label -1); `logits` holds the teacher's logits for every row."""

    texts: list[str]
    labels: list[int]
    n_gold: int
    logits: torch.Tensor
    label_names: list[str]
    lang: str
    dev_texts: list[str] = field(default_factory=list)
    dev_labels: list[int] = field(default_factory=list)
    teacher: Any = None  # core.teacher.Teacher: its model for the methods that need internals
    device: str = "cpu"  # where transformer students train ("cpu" | "cuda")
    home: Any = None  # the store's folder (presets and checkpoints resolve under it)
    _cache: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def word_tokens(self, max_words: int, progress=None) -> tuple[list[list[str]], list[list[str]]]:
        """jieba / regex words of every row and of the dev texts, built once per length."""
        key = ("tokens", max_words)
        with self._lock:
            if key not in self._cache:
                toks = []
                for t in self.texts:
                    toks.append(tokenize(t, self.lang, max_words))
                    if progress:
                        progress()
                dev = [tokenize(t, self.lang, max_words) for t in self.dev_texts]
                self._cache[key] = (toks, dev)
            return self._cache[key]

    def vocab(self, role: str, max_words: int, min_count: int) -> Vocab:
        """A plain twin's vocabulary comes from the gold rows alone (everything it trained on);
        a distilled student's from all rows. Unknown words map to UNK."""
        key = ("vocab", role, max_words, min_count)
        toks, _ = self.word_tokens(max_words)
        with self._lock:
            if key not in self._cache:
                rows = toks[: self.n_gold] if role == "plain" else toks
                self._cache[key] = Vocab.build(rows, self.lang, min_count)
            return self._cache[key]

    def dev(self) -> tuple[list[str], list[int]] | None:
        return (self.dev_texts, self.dev_labels) if self.dev_texts else None


@dataclass
class StudentJob:
    """One student to train: `role` "plain" learns from the gold rows' labels only (its
    architecture and initialisation equal the distilled one's); "distilled" from the teacher."""

    name: str  # result row: f"{method}_{role}"
    role: str  # "plain" | "distilled"
    cfg: Any  # the method's config dataclass
    method: Any  # core.methods.Method
