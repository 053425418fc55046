"""What every method's `train` receives: its job, and the inputs all students of a run share.

The teacher's logits for every text are computed once per run (and cached on disk); word
students' tokens and vocabularies are built once and shared by every word student, so a run
with BiLSTM and TextCNN tokenises its texts once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import torch

from core.data import pairs
from core.data.text import PieceTokenizer, Vocab, tokenize

log = logging.getLogger(__name__)


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
    precision: str = "fp32"  # what their training forward passes compute in ("bf16" | "fp32")
    home: Any = None  # the store's folder (presets and checkpoints resolve under it)
    # MetaKD (core.metakd): per-row loss weights (domain expertise) and the meta-teacher's
    # vector per row for a first, intermediate stage of `hidden_epochs` epochs
    weights: torch.Tensor | None = None
    hidden: torch.Tensor | None = None
    hidden_epochs: int = 0
    _cache: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def word_tokens(self, max_words: int, progress=None) -> tuple[list[list[str]], list[list[str]]]:
        """jieba / regex words of every row and of the dev texts, built once per length."""
        key = ("tokens", max_words)
        with self._lock:
            if key not in self._cache:
                toks = []
                for t in self.texts:
                    toks.append(self._words(t, max_words))
                    if progress:
                        progress()
                dev = [self._words(t, max_words) for t in self.dev_texts]
                self._cache[key] = (toks, dev)
            return self._cache[key]

    def _words(self, text: str, max_words: int):
        """A text's words; a sentence pair's as (words of text_a, words of text_b)."""
        if pairs.is_pair(text):
            a, b = pairs.split(text)
            return tokenize(a, self.lang, max_words), tokenize(b, self.lang, max_words)
        return tokenize(text, self.lang, max_words)

    @staticmethod
    def _pieces_of(tok: PieceTokenizer, texts: list[str], max_len: int) -> list:
        """Pieces of each text; of each side of a pair (two batched calls)."""
        if pairs.task_of(texts) != "pair":
            return tok.pieces_batch(texts, max_len)
        sides = [pairs.split(t) for t in texts]
        a = tok.pieces_batch([x for x, _ in sides], max_len)
        b = tok.pieces_batch([y for _, y in sides], max_len)
        return list(zip(a, b, strict=True))

    def pieces(self) -> PieceTokenizer:
        """The teacher tokenizer's pieces (character students read them)."""
        with self._lock:
            if "pieces" not in self._cache:
                if self.teacher is None:
                    raise ValueError("character students need the teacher's tokenizer")
                self._cache["pieces"] = PieceTokenizer.from_hf(self.teacher.tokenizer)
            return self._cache["pieces"]

    def piece_tokens(self, max_len: int, progress=None) -> tuple[list[list[str]], list[list[str]]]:
        """The teacher tokenizer's pieces of every row and of the dev texts, once per length."""
        key = ("pieces", max_len)
        tok = self.pieces()
        with self._lock:
            if key not in self._cache:
                toks = self._pieces_of(tok, self.texts, max_len)
                if progress:
                    for _ in toks:
                        progress()
                self._cache[key] = (toks, self._pieces_of(tok, self.dev_texts, max_len))
            return self._cache[key]

    def tokens(self, unit: str, max_len: int, progress=None):
        """`unit` "words" (jieba / regex) or "pieces" (the teacher tokenizer's)."""
        if unit == "pieces":
            return self.piece_tokens(max_len, progress)
        return self.word_tokens(max_len, progress)

    def vocab(self, role: str, max_words: int, min_count: int, unit: str = "words") -> Vocab:
        """A plain twin's vocabulary comes from the gold rows alone (everything it trained on);
        a distilled student's from all rows. Unknown words (or pieces) map to UNK."""
        key = ("vocab", unit, role, max_words, min_count)
        toks, _ = self.tokens(unit, max_words)
        with self._lock:
            if key not in self._cache:
                rows = toks[: self.n_gold] if role == "plain" else toks
                if rows and isinstance(rows[0], tuple):  # pairs: both sides' words
                    rows = [side for row in rows for side in row]
                lang = "pieces" if unit == "pieces" else self.lang
                self._cache[key] = Vocab.build(rows, lang, min_count)
            return self._cache[key]

    def teacher_embedding_pca(self, dim: int) -> tuple[torch.Tensor, dict[str, int]]:
        """The teacher's input embedding table reduced to `dim` columns by PCA (scaled to unit
        variance, like a random N(0, 1) student embedding), and the teacher's piece -> row map.
        Computed once per width; the plain twin and the distilled student share it."""
        key = ("pca", dim)
        with self._lock:
            if key not in self._cache:
                model = self.teacher.model
                emb = getattr(model, model.base_model_prefix).embeddings.word_embeddings
                w = emb.weight.detach().float().cpu()
                centred = w - w.mean(0, keepdim=True)
                _, _, v = torch.linalg.svd(centred, full_matrices=False)
                proj = centred @ v[:dim].T
                proj = proj / proj.std()
                if dim > proj.shape[1]:  # a student wider than the teacher: the rest random
                    log.warning(
                        "embed_dim %d is wider than the teacher's embeddings (%d): the extra "
                        "columns start random",
                        dim,
                        proj.shape[1],
                    )
                    g = torch.Generator().manual_seed(0)
                    extra = torch.randn(proj.shape[0], dim - proj.shape[1], generator=g)
                    proj = torch.cat([proj, extra], dim=1)
                self._cache[key] = (proj, self.teacher.tokenizer.get_vocab())
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
