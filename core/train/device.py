"""Where training and inference run, and in which precision: one home for every layer above."""

from __future__ import annotations

import contextlib

import torch


class DeviceError(RuntimeError):
    """A device was asked for that this machine cannot honour."""


def pick_device(device: str = "auto") -> torch.device:
    """`auto`: the GPU when torch sees one, else the CPU; `cuda` without a GPU is an error
    (a run that asked for a GPU should not silently take hours on a CPU)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device 'cuda' asked for, but torch sees no CUDA GPU")
    return torch.device(device)


def precision(device: torch.device) -> str:
    """What a model computes in on `device`: bf16 autocast on a CUDA GPU that supports it
    (half the memory traffic, no loss scaling needed), float32 elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of `precision(device)` (a no-op for fp32)."""
    if precision(device) == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def available_devices() -> list[str]:
    """The device choices this machine can honour: "cuda" only when torch sees a GPU."""
    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
