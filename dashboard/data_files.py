"""The Data page's files: the embedded default set, cached reads of labelled and unlabelled files
(re-read when a file changes), the home folder's data files, and uploads validated by the engine
before one lands in <home>/uploads/."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import streamlit as st

from core.data.embedded import snownlp_default
from core.data.load import load_labelled, load_unlabelled
from core.data.problems import DataError
from dashboard import widgets

EXTS = ("tsv", "csv", "txt")


@st.cache_resource(show_spinner="Loading the embedded default data…")
def default_set():
    """The embedded snownlp reviews, loaded once per server."""
    return snownlp_default()


@st.cache_data(show_spinner="Validating…", max_entries=32)
def cached_labelled(
    path: str, mtime: float, label_names: tuple[str, ...] | None = None, task: str | None = None
):
    """A labelled file read by the engine, cached per path and mtime (a changed file is re-read)."""
    return load_labelled(path, list(label_names) if label_names else None, task=task)


@st.cache_data(show_spinner="Validating…", max_entries=32)
def cached_unlabelled(path: str, mtime: float, task: str = "single") -> list[str]:
    """An unlabelled transfer file read by the engine, cached per path and mtime."""
    return load_unlabelled(path, task=task)


def mtime(path: Path) -> float:
    """A file's modification time (0 when it is gone): part of the cache keys."""
    return path.stat().st_mtime if path.exists() else 0.0


def load_train(path: Path, display: str):
    """The labelled training set, or None with its problems shown."""
    try:
        return cached_labelled(str(path), mtime(path))
    except DataError as exc:
        widgets.show_problems(exc, display, what=f"`{display}`")
    return None


def load_test(path: Path, display: str, label_names: list[str], task: str):
    """The labelled test set checked against the training set's labels, or None with its problems shown."""
    try:
        return cached_labelled(str(path), mtime(path), tuple(label_names), task)
    except DataError as exc:
        widgets.show_problems(exc, display, what=f"`{display}`")
    return None


def load_transfer(path: Path, display: str, task: str) -> list[str] | None:
    """The unlabelled transfer texts, or None with their problems shown."""
    try:
        return cached_unlabelled(str(path), mtime(path), task)
    except DataError as exc:
        widgets.show_problems(exc, display, what=f"`{display}`")
    return None


def home_files(home: Path) -> list[Path]:
    """The data files in the home folder and its uploads/ folder, sorted."""
    found: list[Path] = []
    for folder in (home, home / "uploads"):
        if folder.is_dir():
            found += [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix[1:] in EXTS]
    return found


def save_upload(
    up, kind: str, label_names: list[str] | None = None, task: str | None = None
) -> Path | None:
    """Validate an upload with the engine first; only a valid file lands in <home>/uploads/.

    The outcome is remembered per content hash, so reruns neither re-validate nor re-save it.
    """
    raw = up.getvalue()
    digest = hashlib.sha256(raw).hexdigest()[:12]
    memo = st.session_state.setdefault("_uploads", {})
    mkey = (digest, kind, tuple(label_names or ()), task)
    seen = memo.get(mkey)
    if seen is not None and (seen[0] == "bad" or Path(seen[1]).is_file()):
        if seen[0] == "bad":
            show_rejected(up.name, seen[1])
            return None
        return Path(seen[1])
    home = widgets.home()
    name = re.sub(r"[^\w.\-]+", "_", Path(up.name).name) or "upload.tsv"
    pending = home / "uploads" / ".pending" / digest
    pending.mkdir(parents=True, exist_ok=True)
    tmp = pending / name
    tmp.write_bytes(raw)
    try:
        if kind == "transfer":
            load_unlabelled(tmp, task=task or "single")
        else:
            load_labelled(tmp, label_names, task=task)
    except DataError as exc:
        errors = [p for p in exc.problems if p.level == "error"] or exc.problems
        lines = widgets.problem_lines(errors, up.name)
        memo[mkey] = ("bad", lines)
        shutil.rmtree(pending, ignore_errors=True)
        show_rejected(up.name, lines)
        return None
    except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
        shutil.rmtree(pending, ignore_errors=True)
        st.error(f"Reading `{up.name}` failed: {type(exc).__name__}: {exc}")
        return None
    dest = home / "uploads" / name
    if dest.exists() and dest.read_bytes() != raw:
        dest = dest.with_name(f"{dest.stem}-{digest[:8]}{dest.suffix}")
    shutil.move(str(tmp), dest)
    shutil.rmtree(pending, ignore_errors=True)
    memo[mkey] = ("ok", str(dest))
    return dest


def show_rejected(name: str, lines: list[str]) -> None:
    """Why an upload was not saved: its first 20 problems."""
    st.error(
        f"`{name}` was not saved: {len(lines)} problem(s). Fix them and upload it again:\n\n"
        + "\n".join(f"- `{s}`" for s in lines[:20])
        + (f"\n- … and {len(lines) - 20} more" if len(lines) > 20 else "")
    )


def rel_path(p: Path | None, home: Path) -> str:
    """A path as shown on the page: relative to the home folder where it lies inside it."""
    if p is None:
        return "none"
    try:
        return str(p.relative_to(home))
    except ValueError:
        return str(p)
