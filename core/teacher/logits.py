"""Teacher logits, computed once per (teacher, texts) and cached as safetensors.

Labelling the transfer set is the slowest stage on a CPU, and every student run needs the same
numbers, so reruns with other student settings only pay for the students. The cache is keyed
by what produced the logits: the teacher's weights (fingerprint), how many tokens it read, the
device and precision it computed in (bf16 logits differ from fp32 ones in the third decimal),
and the texts, so a bf16 run is never served fp32 logits or the other way round.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from core.data.labelled import texts_hash
from core.teacher.model import Teacher

log = logging.getLogger(__name__)


def cache_key(teacher: Teacher, texts: list[str]) -> str:
    """fingerprint_maxlength_device-precision_textshash (see the module docstring)."""
    producer = f"{teacher.device.type}-{teacher.precision}"
    return f"{teacher.fingerprint}_{teacher.max_length}_{producer}_{texts_hash(texts)}"


def cache_path(home: Path, teacher: Teacher, texts: list[str]) -> Path:
    key = cache_key(teacher, texts)
    return Path(home) / "cache" / "logits" / f"{key}.safetensors"


def teacher_logits(
    teacher: Teacher, texts: list[str], home: Path, ctx=None, batch_size: int = 64
) -> tuple[torch.Tensor, bool]:
    """Return (logits, came_from_cache)."""
    path = cache_path(home, teacher, texts)
    if path.is_file():
        logits = load_file(str(path))["logits"]
        if logits.shape[0] == len(texts):
            log.info("teacher logits for %d texts from cache %s", len(texts), path.name)
            return logits, True
    if ctx:
        ctx.stage("label", len(texts))
    logits = teacher.logits(texts, batch_size, progress=(lambda n: ctx.step(n)) if ctx else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    # one temp file per writer: two runs labelling the same texts at once must not share it
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    save_file({"logits": logits.contiguous()}, str(tmp))
    os.replace(tmp, path)
    return logits, False
