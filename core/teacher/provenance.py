"""What a fine-tuned teacher has seen, so that reusing it can never leak test texts.

A teacher records a hash of every text it was trained on and of every text that chose its best
epoch (dev). Reusing it on data whose test texts include any of those would score it, and every
student distilled from it, on texts it has learnt: those test rows are dropped, with the count
(`seen_mask`; the rule is core.data.checks', the same as for a run's own teacher).
Hashes, not texts, so a teacher folder shared with others does not carry the data with it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

FILE = "provenance.json"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def record(train_texts: list[str], dev_texts: list[str] | None = None) -> dict:
    return {
        "hash": "sha256[:20] of the UTF-8 text",
        "train": sorted({text_hash(t) for t in train_texts}),
        "dev": sorted({text_hash(t) for t in dev_texts or []}),
    }


def write(folder: Path, prov: dict) -> None:
    (Path(folder) / FILE).write_text(json.dumps(prov))


def seen(folder: str | Path) -> set[str] | None:
    """Hashes of the texts a teacher saw, or None for a teacher with no record (older runs)."""
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    return set(d.get("train", [])) | set(d.get("dev", []))


def overlap(folder: str | Path, texts: list[str]) -> int | None:
    """How many of `texts` the teacher in `folder` saw (None: it kept no record)."""
    hashes = seen(folder)
    if hashes is None:
        return None
    return sum(text_hash(t) in hashes for t in set(texts))


def seen_mask(folder: str | Path, texts: list[str]) -> list[bool] | None:
    """For each of `texts`, whether the teacher in `folder` saw it (None: it kept no record,
    logged as a warning: test overlap cannot be checked)."""
    hashes = seen(folder)
    if hashes is None:
        log.warning("the teacher in %s has no provenance record: test overlap unchecked", folder)
        return None
    return [text_hash(t) in hashes for t in texts]
