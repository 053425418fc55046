"""Teacher logits, computed once per (teacher, texts) and cached as safetensors.

Labelling the transfer set is the slowest stage on a CPU, and every student run needs the same
numbers, so reruns with other student settings only pay for the students. The cache is keyed
by what produced the logits: the teacher's weights (fingerprint), how many tokens it read, the
device and precision it computed in (bf16 logits differ from fp32 ones in the third decimal),
and the texts, so a bf16 run is never served fp32 logits or the other way round; labels from
the opt-in int8 copy of the teacher (`--label-int8`) are keyed "cpu-int8" apart from both.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import threading
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from core.data.labelled import texts_hash
from core.teacher.model import Teacher

log = logging.getLogger(__name__)


def label_precision(teacher: Teacher, int8: bool = False) -> str:
    """What labels are computed in: the teacher's precision, or "int8" (a dynamically quantised
    copy, see `quantized`) where asked for on a CPU teacher running in fp32. A teacher in bf16
    (a CPU with AMX-BF16, `--precision bf16`) or on CUDA labels in its own precision: there bf16
    is the faster of the two (3x against int8's 1.65x over fp32 on the CPU, docs/benchmarks.md)."""
    if int8 and teacher.device.type == "cpu" and teacher.precision == "fp32":
        return "int8"
    return teacher.precision


def cache_key(teacher: Teacher, texts: list[str], int8: bool = False) -> str:
    """fingerprint_maxlength_device-precision_textshash (see the module docstring)."""
    producer = f"{teacher.device.type}-{label_precision(teacher, int8)}"
    return f"{teacher.fingerprint}_{teacher.max_length}_{producer}_{texts_hash(texts)}"


def cache_path(home: Path, teacher: Teacher, texts: list[str], int8: bool = False) -> Path:
    key = cache_key(teacher, texts, int8)
    return Path(home) / "cache" / "logits" / f"{key}.safetensors"


def quantized(teacher: Teacher) -> Teacher:
    """A copy of `teacher` whose Linear layers run in int8 (weights quantised once, activations
    per batch: torch.ao.quantization.quantize_dynamic), for labelling on the CPU only; the
    teacher itself is left as it is (its scores and exports stay fp32). An ensemble (a
    dataclass with `members`) gets each member quantised."""
    if hasattr(teacher, "members"):
        return dataclasses.replace(teacher, members=[quantized(m) for m in teacher.members])
    model = torch.ao.quantization.quantize_dynamic(
        copy.deepcopy(teacher.model).eval(), {torch.nn.Linear}, dtype=torch.qint8
    )
    return dataclasses.replace(teacher, model=model, precision="fp32")


INT8_CHECK_TEXTS = 256  # labelled twice (fp32 and int8) before int8 labels everything


def int8_agreement(teacher: Teacher, texts: list[str], batch_size: int = 64) -> dict:
    """How often the int8 copy picks the fp32 teacher's class, on up to INT8_CHECK_TEXTS texts
    spread evenly over `texts`: dynamic int8 is harmless for some teachers and not others.
    On 400 test texts m3e-small (4 layers, hotel) agreed on 98.8% (accuracy 0.900 vs 0.898);
    the 12-layer multilingual-e5-small fine-tuned on snli_zh agreed on 71.8% and lost 8.7
    points (0.713 vs 0.625), and its students trained on those labels fell below the ones of
    a weaker teacher labelling in fp32."""
    step = max(1, len(texts) // INT8_CHECK_TEXTS)
    sample = texts[::step][:INT8_CHECK_TEXTS]
    exact = teacher.logits(sample, batch_size).argmax(-1)
    quick = quantized(teacher).logits(sample, batch_size).argmax(-1)
    return {"agreement": round((exact == quick).float().mean().item(), 4), "texts": len(sample)}


def int8_check(teacher: Teacher, texts: list[str], home: Path, batch_size: int = 64) -> dict:
    """`int8_agreement` for these texts, kept beside their int8 label file (the same key,
    `.int8check.json`): a rerun over the same texts (a further seed, an autodistill trial)
    reads it (`read_back`) instead of labelling the sample twice again. `seconds` is what the
    check cost when it ran: quantising the copy and labelling the sample both ways. An int8
    label file without one predates the check and is checked anew."""
    path = cache_path(home, teacher, texts, int8=True).with_suffix(".int8check.json")
    if path.is_file():
        return {**json.loads(path.read_text()), "read_back": True}
    start = time.perf_counter()
    check = int8_agreement(teacher, texts, batch_size)
    check["seconds"] = round(time.perf_counter() - start, 2)  # what the check cost this run
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(check)))
    return check


def teacher_logits(
    teacher: Teacher,
    texts: list[str],
    home: Path,
    ctx=None,
    batch_size: int = 64,
    int8: bool = False,
) -> tuple[torch.Tensor, bool]:
    """Return (logits, came_from_cache). `int8`: compute them with `quantized(teacher)` (CPU
    only; the cache keeps them apart from the teacher's own)."""
    path = cache_path(home, teacher, texts, int8)
    if path.is_file():
        logits = load_file(str(path))["logits"]
        if logits.shape[0] == len(texts):
            log.info("teacher logits for %d texts from cache %s", len(texts), path.name)
            return logits, True
    if ctx:
        ctx.stage("label", len(texts))
    labeller = quantized(teacher) if label_precision(teacher, int8) == "int8" else teacher
    progress = (lambda n: ctx.step(n)) if ctx else None
    logits = labeller.logits(texts, batch_size, progress=progress)
    write_atomically(path, lambda tmp: save_file({"logits": logits.contiguous()}, str(tmp)))
    return logits, False


def write_atomically(path: Path, write) -> None:
    """`write(tmp)` then rename it onto `path`: a reader sees the whole file or none. One temp
    file per writer: two runs labelling the same texts at once must not share it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    write(tmp)
    os.replace(tmp, path)
