"""Sentence pairs (question matching, NLI) as one string each: `text_a<TAB>text_b`.

Why one string: everything between loading and tokenising (splits, deduplication, overlap
checks, the logits cache, augmentation bookkeeping, the store) already works on strings, and a
pair must be deduplicated, cached and held out as a whole. A tab can never be inside a text:
the loader turns tabs inside single texts into spaces (whitespace to every tokenizer), so a
tab always means "pair". Only the tokenisers look inside: the teacher and transformer students
read `tokenizer(text_a, text_b)`, the Siamese students encode each side on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

SEP = "\t"
TASKS = ("single", "pair")


def join(a: str, b: str) -> str:
    return f"{clean(a)}{SEP}{clean(b)}"


def clean(text: str) -> str:
    """A single text (or one side of a pair) with tabs made spaces: a tab means a pair."""
    return text.replace(SEP, " ") if SEP in text else text


def is_pair(text: str) -> bool:
    return SEP in text


def split(text: str) -> tuple[str, str]:
    """(text_a, text_b) of a pair; a single text is (text, "")."""
    a, _, b = text.partition(SEP)
    return a, b


def task_of(texts: Sequence[str]) -> str:
    """ "pair" when the texts are pairs (the first one decides: a set is one or the other)."""
    return "pair" if texts and is_pair(texts[0]) else "single"


def show(text: str, sep: str = "  ‖  ") -> str:
    """A pair for people: both sides with a visible separator."""
    return sep.join(split(text)) if is_pair(text) else text


def truncated(tokenizer, text: str, max_length: int) -> bool:
    """Whether `encode` cuts `text` (or a pair) to fit `max_length` tokens: the model scores
    only its beginning."""
    sides = split(text) if is_pair(text) else (text,)
    return len(tokenizer(*sides, truncation=False)["input_ids"]) > max_length


def encode(tokenizer, texts: str | list[str], max_length: int, **kw):
    """A Hugging Face tokenizer on texts or pairs: pairs go in as `tokenizer(a, b)` (segment
    ids, one [SEP] between; truncation takes from the longer side first), so the teacher and the
    cross-encoder students see both sentences as BERT was trained to."""
    if isinstance(texts, str):
        if is_pair(texts):
            a, b = split(texts)
            return tokenizer(a, b, truncation=True, max_length=max_length, **kw)
        return tokenizer(texts, truncation=True, max_length=max_length, **kw)
    if texts and is_pair(texts[0]):
        sides = [split(t) for t in texts]
        return tokenizer(
            [a for a, _ in sides],
            [b for _, b in sides],
            truncation=True,
            max_length=max_length,
            **kw,
        )
    return tokenizer(list(texts), truncation=True, max_length=max_length, **kw)
