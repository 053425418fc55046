"""A folder of domains: finding each domain's file for a split, and loading them as one set
whose rows carry their domain.
"""

from __future__ import annotations

from pathlib import Path

from core.data.labelled import LabelledSet, label_key
from core.data.parse import parse_labelled
from core.data.problems import DataError, Problem
from core.data.read import DEFAULT_MAX_MB, read_text_file

# a folder of domains: <folder>/<domain>/<split>.<ext> (or, for train, <folder>/<domain>.<ext>)
SPLIT_EXTS = (".txt", ".tsv", ".csv")


def _split_file(folder: Path, split: str) -> Path | None:
    for ext in SPLIT_EXTS:
        if (folder / f"{split}{ext}").is_file():
            return folder / f"{split}{ext}"
    return None


def domain_files(folder: str | Path, split: str = "train") -> dict[str, Path]:
    """{domain: file} of a folder of domains: one sub-folder per domain holding `train.txt`
    (`.tsv`, `.csv`) and optionally `test` / `dev` files, as ../shared/data/shopping/ does; or,
    for the train split, one file per domain named after it (`books.tsv`). Empty: no such
    files (a sub-folder lacking the split is left out, so a test split may cover fewer
    domains than train)."""
    folder = Path(folder)
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subs:
        found = {p.name: _split_file(p, split) for p in subs}
        return {d: f for d, f in found.items() if f is not None}
    if split != "train":
        return {}
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SPLIT_EXTS and p.stem)
    return {p.stem: p for p in files}


def load_domain_folder(
    folder: str | Path,
    split: str = "train",
    label_names: list[str] | None = None,
    max_mb: float = DEFAULT_MAX_MB,
    max_chars: int | None = None,
    task: str | None = None,
) -> LabelledSet:
    """Every domain's file of a folder as one set whose rows carry their domain. Each file is
    checked as a file of its own (errors name it and the line); the label set is the union of
    the domains' labels (or `label_names`), so a domain may lack a class."""
    files = domain_files(folder, split)
    if not files:
        where = f"{split}.txt / .tsv / .csv in sub-folders" + (
            ", or one file per domain" if split == "train" else ""
        )
        raise DataError([Problem(str(folder), None, f"no domain files found ({where})")])
    total = sum(f.stat().st_size for f in files.values())
    if total > max_mb * 1024 * 1024:
        msg = f"domain files hold {total / 2**20:.1f} MB, over the {max_mb:g} MB limit"
        raise DataError([Problem(str(folder), None, msg)])
    parts: list[tuple[str, LabelledSet]] = []
    problems: list[Problem] = []
    for domain, f in files.items():
        text, enc = read_text_file(f, max_mb)
        try:
            ds = parse_labelled(
                text,
                str(f),
                enc,
                label_names,
                require_two_classes=False,
                max_chars=max_chars,
                task=task,
            )
        except DataError as e:
            problems += e.problems
            continue
        task = task or ds.task
        parts.append((domain, ds))
    if problems:
        raise DataError(problems)
    names = (
        list(label_names)
        if label_names is not None
        else sorted({n for _, ds in parts for n in ds.label_names}, key=label_key)
    )
    if len(names) < 2:
        raise DataError([Problem(str(folder), None, f"only one class ({names[0]!r})")])
    index = {n: i for i, n in enumerate(names)}
    out = LabelledSet([], [], names, str(folder), task=parts[0][1].task, domains=[])
    for domain, ds in parts:
        out.texts += ds.texts
        out.labels += [index[ds.label_names[y]] for y in ds.labels]
        out.domains += [domain] * len(ds)
        out.warnings += ds.warnings
        out.clipped += ds.clipped
        if ds.encoding != "utf-8":
            out.encoding = ds.encoding
    return out
