"""What a stage of training is, as data: the loop (core.train.loop) reads it and owns the rest.

A method or the teacher declares *what* to train (model, parameters, rows, loss terms, epochs,
optimiser settings from its config, dev check); *how* (batching, stepping, logging, selection)
lives once in the loop, as in TextBrewer's BasicDistiller."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

# loss(batch, progress 0..1 through the stage) -> named terms; the loop sums them
LossFn = Callable[[Any, float], Mapping[str, torch.Tensor]]


@dataclass(frozen=True)
class OptimSettings:
    """How a stage's parameters are stepped; every value comes from the stage's config."""

    lr: float
    optimiser: str = "adamw"  # "adamw" | "adam"
    weight_decay: float = 0.0  # for parameter groups that do not name their own
    # share of the steps with a rising learning rate, then linear decay to 0; None: constant lr
    warmup: float | None = None
    clip: float | None = None  # max gradient norm; None: no clipping


@dataclass(frozen=True)
class DevCheck:
    """Scored after every epoch: `predict()` gives the dev rows' predicted label ids. The curve
    `<series>/dev_<metric>` is logged; with `keep_best` the best epoch's weights are restored
    at the stage's end, and after `patience` epochs without a better score the stage stops."""

    predict: Callable[[], Sequence[int] | torch.Tensor]
    labels: Sequence[int]
    num_labels: int
    metric: str = "accuracy"  # see core.train.select.METRICS
    keep_best: bool = True
    patience: int | None = None  # None: every epoch runs


@dataclass
class Stage:
    """One stage of training.

    Rows are known by index: `lengths` holds one length per row (batches group similar ones),
    `collate(indices)` builds what `loss` receives. The loop puts `model` in train mode every
    epoch; its state is what `dev.keep_best` saves and restores."""

    name: str
    model: nn.Module
    params: Sequence[nn.Parameter] | Sequence[dict]  # parameters, or torch parameter groups
    loss: LossFn
    lengths: Sequence[int]
    batch_size: int
    epochs: int
    optim: OptimSettings
    collate: Callable[[list[int]], Any] = list
    series: str = ""  # the curves' prefix: `<series>/<term>` per loss term
    total: str = "loss"  # the curve of the summed loss (a term of this name is not repeated)
    chunk: int = 20  # batches' worth of rows sorted by length together (see batches.py)
    sparse_params: Sequence[nn.Parameter] = ()  # stepped by SparseAdam at `optim.lr`
    clip_params: Sequence[nn.Parameter] | None = None  # None: every parameter in `params`
    dev: DevCheck | None = None
    max_steps: int | None = None  # stop the stage after this many steps (None: all epochs)
    step_from: int | None = None  # where this stage's curve steps start; None: after the last
    # open a progress stage of its own (named `series`) sized to this stage's steps; without,
    # its steps count towards the stage the caller opened (students training side by side)
    own_progress: bool = False
    # the forward pass's precision, resolved by core.train.device.precision ("bf16": autocast
    # on the model's device; "fp32": none); backward and the optimiser step stay float32
    precision: str = "fp32"
    before_step: Callable[[], None] | None = None  # after backward, before clipping
    after_step: Callable[[], None] | None = None  # after the optimiser step


@dataclass
class FitResult:
    """What the loop reports back: the last curve step, seconds per stage, best dev scores."""

    step: int = 0
    seconds: dict[str, float] | None = None
    best: dict[str, float] | None = None
