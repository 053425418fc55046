"""Tokenisation for the students and their vocabulary: words (jieba for Chinese, a regex for
English) for the word students, the teacher tokenizer's pieces for the character students.

Tokenisation sits on the student's latency path, so it is kept to one jieba call (no HMM:
about a quarter faster, and the students learn from whatever segmentation they are given).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PAD, UNK = "<pad>", "<unk>"
MASK = "[MASK]"
_CJK = re.compile(r"[\u3400-\u9fff]")
_EN_WORD = re.compile(r"\[MASK\]|[\w']+|[^\w\s]")
_jieba_ready = False


def get_jieba():
    """jieba, initialised once per process with the mask token as one word: tokenisation and
    augmentation (POS tagging) must segment the same way, so both get it from here."""
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        # keep the augmentation placeholder one token; once per process (add_word grows the
        # dictionary total that segmentation weighs by; an exported predict.py does the same)
        if MASK not in jieba.dt.FREQ:
            jieba.add_word(MASK, freq=10**6)
        _jieba_ready = True
    return jieba


def detect_lang(texts: Iterable[str], sample: int = 200) -> str:
    """'zh' when a fair share of the characters are CJK, else 'en'."""
    chars = cjk = 0
    for i, t in enumerate(texts):
        if i >= sample:
            break
        chars += len(t)
        cjk += len(_CJK.findall(t))
    return "zh" if chars and cjk / chars > 0.2 else "en"


# Characters kept per word a student can see: segmenting a long review only to drop most of it
# would dominate the student's latency. Generous, so the cut almost never costs a word.
CHARS_PER_WORD = {"zh": 2, "en": 10}  # jieba words average ~1.6 characters here


def clip(text: str, max_words: int | None, lang: str) -> str:
    return text[: max_words * CHARS_PER_WORD[lang]] if max_words else text


def words_truncated(text: str, lang: str, max_words: int) -> bool:
    """Whether a word student reading `max_words` words leaves part of `text` unread."""
    return len(text) > max_words * CHARS_PER_WORD[lang] or len(tokenize(text, lang)) > max_words


def tokenize(text: str, lang: str, max_words: int | None = None) -> list[str]:
    text = clip(text, max_words, lang)
    if lang == "zh":
        return [w for w in get_jieba().lcut(text, HMM=False) if w.strip()]
    return _EN_WORD.findall(text.lower())


@dataclass
class Vocab:
    itos: list[str]
    lang: str

    def __post_init__(self) -> None:
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], lang: str, min_count: int = 1) -> Vocab:
        counts = Counter(w for toks in token_lists for w in toks)
        words = sorted(
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
        )
        return cls([PAD, UNK, *words], lang)

    def encode(self, tokens: list[str], max_len: int) -> list[int]:
        unk = 1
        ids = [self.stoi.get(w, unk) for w in tokens[:max_len]]
        return ids or [unk]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"lang": self.lang, "itos": self.itos}, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> Vocab:
        d = json.loads(path.read_text())
        return cls(d["itos"], d["lang"])


# Characters kept per piece a character student can see (a Chinese character is one piece; an
# English word piece averages ~4 characters with its space): generous, as for words.
CHARS_PER_PIECE = 6


class PieceTokenizer:
    """The teacher tokenizer's pieces, without its special tokens: characters for Chinese, word
    pieces for Latin script. Wraps a `tokenizers.Tokenizer` (Rust, one call per text), loaded
    from the `tokenizer.json` saved beside a character student, so scoring needs no
    `transformers` and the exported predictor reads the very same file."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.backend.no_truncation()
        self.backend.no_padding()

    @classmethod
    def from_hf(cls, hf_tokenizer) -> PieceTokenizer:
        """From a transformers fast tokenizer (the teacher's); a copy, so its settings stay."""
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str()))

    @classmethod
    def load(cls, path: Path) -> PieceTokenizer:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)))

    def save(self, path: Path) -> None:
        self.backend.save(str(path))

    def pieces(self, text: str, max_len: int) -> list[str]:
        text = text[: max_len * CHARS_PER_PIECE]
        return self.backend.encode(text, add_special_tokens=False).tokens[:max_len]

    def truncated(self, text: str, max_len: int) -> bool:
        """Whether reading `max_len` pieces (`pieces`) leaves part of `text` unread."""
        if len(text) > max_len * CHARS_PER_PIECE:
            return True
        return len(self.backend.encode(text, add_special_tokens=False).ids) > max_len

    def pieces_batch(self, texts: list[str], max_len: int) -> list[list[str]]:
        clipped = [t[: max_len * CHARS_PER_PIECE] for t in texts]
        out = self.backend.encode_batch(clipped, add_special_tokens=False)
        return [e.tokens[:max_len] for e in out]
