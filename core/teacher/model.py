"""A loaded teacher: run it (batched logits, one text), load and save it (crash-safe)."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.data import pairs
from core.data.hashing import sha256_file
from core.teacher import provenance as provenance_file
from core.teacher.hf import load_pretrained
from core.train.device import autocast, pick_device, precision

META = "distillery.json"


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
    resolved: str = "fp32",
) -> torch.Tensor:
    """Logits of any sequence classifier (the teacher, a transformer student) for `texts`:
    batched by length (little padding), returned in the texts' order, float32 on CPU.
    `prepare` puts a tokenised batch where the model wants it (device, accepted inputs);
    `resolved` is the precision the forward pass runs in (core.train.device.precision)."""
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    # visit the length-sorted batches in a fixed shuffled order: the same batches (the same
    # logits), but the progress steps cost alike on average, so the run's ETA can trust the
    # measured step times early (in length order the long, slow batches all came last)
    random.Random(0).shuffle(batches)
    out = torch.empty(len(texts), num_labels)
    device = next(model.parameters()).device
    for idx in batches:
        enc = pairs.encode(
            tokenizer, [texts[i] for i in idx], max_length, padding=True, return_tensors="pt"
        )
        with autocast(device, resolved):
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
    # what its forward passes compute in, resolved for `device` ("bf16": autocast; "fp32"):
    # labelling, dev checks and fine-tuning all follow it, and the label cache is keyed by it
    precision: str = "fp32"

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
            resolved=self.precision,
        )

    @torch.inference_mode()
    def predict_one(self, text: str) -> torch.Tensor:
        enc = pairs.encode(self.tokenizer, text, self.max_length, return_tensors="pt")
        enc = enc.to(self.device)
        with autocast(self.device, self.precision):
            return self.model(**enc).logits[0].float().cpu()

    def truncated(self, text: str) -> bool:
        """Whether `predict_one` scores only the first `max_length` tokens of `text`."""
        return pairs.truncated(self.tokenizer, text, self.max_length)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def load_teacher(path: str | Path, device: str = "auto", requested: str = "fp32") -> Teacher:
    """Load a teacher fine-tuned by Distillery (a folder with distillery.json), to run on
    `device` in the precision `requested` resolves to there (fp32 unless a run asks)."""
    path = Path(path)
    meta = json.loads((path / META).read_text())
    tok, model = load_pretrained(str(path), None, None)
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
        precision=precision(dev, requested),
    )


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
        provenance_file.write(tmp, provenance)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    teacher.path = str(out_dir)
