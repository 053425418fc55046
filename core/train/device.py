"""Where training and inference run, and in which precision: one home for every layer above.

Precision is asked for once per run (`PipelineConfig.precision`: auto, fp32 or bf16) and
resolved here, per device, to what the models really compute in ("bf16" or "fp32"):

- `auto`: bf16 autocast on a CUDA GPU that supports it; fp32 on the CPU for now. A CPU with
  native bf16 (AMX-BF16 or AVX-512-BF16) runs it faster in isolation (a fine-tuning step of
  m3e-small 1.6x, batch-64 inference 3.2x, benchmarks/precision_probe.py on a nearly quiet 2-core
  Xeon), but under load the step's gain vanished, and the issue's bar (a whole default run faster,
  teacher and students within 0.5 point of fp32 on hotel over 3 seeds) is not measured yet
  (benchmarks/first_run.py, docs/benchmarks.md): until it is, `auto` keeps the CPU in fp32 and
  `--precision bf16` is how to use bf16 there.
- `fp32`: float32 everywhere (figures comparable across machines; the golden test pins it).
- `bf16`: bf16 autocast, *refused* (DeviceError, a ValueError: the CLI exits 2 before a run
  exists) on a device without native bf16, as `--device cuda` without a GPU is: a run that
  asked for bf16 must not silently run in another precision, nor take longer in emulation.

The CPU check reads the kernel's CPU flags (never assumed); `DISTILLERY_CPU_BF16=0|1`
overrides it (tests simulate either kind of CPU with it, and a machine whose flags are
misreported can be told).
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import time
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})  # native bf16 dot products on x86
CPU_BF16_ENV = "DISTILLERY_CPU_BF16"


class DeviceError(ValueError):
    """A device or precision was asked for that this machine cannot honour."""


def pick_device(device: str = "auto") -> torch.device:
    """`auto`: the GPU when torch sees one, else the CPU; `cuda` without a GPU is an error
    (a run that asked for a GPU should not silently take hours on a CPU)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device 'cuda' asked for, but torch sees no CUDA GPU")
    return torch.device(device)


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as the kernel reports them (empty where /proc/cpuinfo is not)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_model() -> str:
    """The CPU's model name (for benchmark reports), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_bf16_supported(flags: frozenset[str] | None = None) -> bool:
    """Whether this CPU computes bf16 natively: `DISTILLERY_CPU_BF16` (0 or 1) when set, else
    AMX-BF16 or AVX-512-BF16 among `flags` (default: this CPU's) with torch's AVX-512 kernels
    enabled (`ATEN_CPU_CAPABILITY` may cap them)."""
    forced = os.environ.get(CPU_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    flags = cpu_flags() if flags is None else flags
    if not flags & BF16_CPU_FLAGS:
        return False
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def bf16_supported(device: torch.device) -> bool:
    """Native bf16 on `device` (a CUDA GPU that says so, or see `cpu_bf16_supported`)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_bf16_supported()


def precision(device: torch.device, requested: str = "auto") -> str:
    """What a model computes in on `device` when the run asked for `requested` (see the module
    docstring): "bf16" or "fp32"; DeviceError for `bf16` where it is not native."""
    if requested not in PRECISIONS:
        raise DeviceError(f"precision {requested!r}: choose one of {', '.join(PRECISIONS)}")
    if requested == "fp32":
        return "fp32"
    if requested == "auto":  # see the module docstring: the CPU stays fp32 until measured
        return "bf16" if device.type == "cuda" and bf16_supported(device) else "fp32"
    if bf16_supported(device):
        return "bf16"
    if requested == "bf16":
        why = (
            "this GPU does not support it"
            if device.type == "cuda"
            else f"this CPU has neither {' nor '.join(sorted(BF16_CPU_FLAGS))}"
        )
        raise DeviceError(
            f"precision 'bf16' asked for on {device.type}, but {why}; use auto or fp32"
        )
    return "fp32"


def autocast(device: torch.device, resolved: str) -> contextlib.AbstractContextManager:
    """The autocast context of a resolved precision on `device` (a no-op for fp32)."""
    if resolved == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (the CPU for a model without parameters)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def available_devices() -> list[str]:
    """The device choices this machine can honour: "cuda" only when torch sees a GPU."""
    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def speed_probe_s(repeats: int = 9) -> float:
    """Fastest of `repeats` fp32 products shaped like a small BERT's feed-forward layer on a
    training batch (1,024 tokens x 512 -> 2,048), at this process's torch threads: a fifth of a
    second that says how fast this machine does the teacher's arithmetic right now, so a run
    timed on another machine can be scaled to this one before any run of its own has finished
    (core.runs.eta.first_run_estimate). The fastest, not the median: on a quiet 2-core AMD EPYC
    the median of nine spread 14-22 ms from one process to the next (a default run promised
    +28% off), the fastest 13.6-16.4 ms; other work still shows, as no product then runs alone
    (29 ms beside a training run on the same 2 cores)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1024, 512, generator=g)
    w = torch.randn(512, 2048, generator=g)
    times = []
    with torch.no_grad():
        for _ in range(2):  # warm-up: the thread pool, the allocation, the clock
            torch.mm(x, w)
        for _ in range(repeats):
            t = time.perf_counter()
            torch.mm(x, w)
            times.append(time.perf_counter() - t)
    return min(times)
