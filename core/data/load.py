"""Loading from a path: a labelled file or folder of domains, or an unlabelled file.

The entry points for callers outside the data layer; they read (`core.data.read`) and parse
(`core.data.parse`, `core.data.unlabelled`, `core.data.domains`).
"""

from __future__ import annotations

from pathlib import Path

from core.data.domains import load_domain_folder
from core.data.labelled import LabelledSet
from core.data.parse import parse_labelled
from core.data.problems import DataError, Problem
from core.data.read import DEFAULT_MAX_MB, read_text_file
from core.data.unlabelled import parse_unlabelled


def load_labelled(
    path: str | Path,
    label_names: list[str] | None = None,
    max_mb: float = DEFAULT_MAX_MB,
    max_chars: int | None = None,
    task: str | None = None,
    split: str = "train",
) -> LabelledSet:
    """One labelled file, or a folder of domains (see `core.data.domains.domain_files`; `split` picks which
    file of each domain's folder)."""
    if Path(path).is_dir():
        return load_domain_folder(path, split, label_names, max_mb, max_chars, task)
    text, enc = read_text_file(path, max_mb)
    return parse_labelled(text, str(path), enc, label_names, max_chars=max_chars, task=task)


def load_unlabelled(
    path: str | Path, max_mb: float = DEFAULT_MAX_MB, task: str = "single"
) -> list[str]:
    """The texts (or pairs) of an unlabelled file; a file with none is an error."""
    text, _ = read_text_file(path, max_mb)
    texts = parse_unlabelled(text, str(path), task)
    if not texts:
        raise DataError([Problem(str(path), None, "no texts found")])
    return texts
