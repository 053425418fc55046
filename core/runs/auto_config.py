"""The settings of an autodistill search (`AutoConfig`, under `autodistill` in the search run's
config): the latency budget, the trial or time budget, the metric, the methods searched and
how the winner is confirmed. One definition: the CLI flags and the Train tab's widgets come
from it (core.cli.fields)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from core.config import opt
from core.runs import auto_space

METRICS = ("accuracy", "f1")


@dataclass
class AutoConfig:
    budget_ms: float = opt(
        1.0,
        help="Latency budget: the student's batch-1 p50 as deployed (ONNX Runtime on the CPU "
        "through the export's predict.py, on the machine that runs the search).",
        flag="--budget-ms",
        min=0.01,
        max=10_000.0,
    )
    trials: int = opt(
        12,
        help="Students trained (trials pruned before training by their latency do not count).",
        flag="--trials",
        min=1,
        max=500,
    )
    minutes: float | None = opt(
        None,
        help="Time budget of the search: no trial is started after it (those running finish).",
        flag="--minutes",
        none="no time limit",
        min=0.0,
        max=10_000.0,
    )
    metric: str = opt(
        "accuracy",
        help="What the search maximises beside latency: test accuracy or macro-F1.",
        flag="--metric",
        choices=list(METRICS),
    )
    methods: list[str] = opt(
        help="The student methods searched over (each with its key settings).",
        factory=lambda: list(auto_space.SEARCHED),
        flag="--methods",
        group="auto-manual",  # nargs="+": written out in core/cli/commands_autodistill.py
    )
    parallel: int = opt(
        1,
        help="Trials queued at once (a worker with that many slots, or Ray, runs them).",
        flag="--parallel",
        min=1,
        max=64,
    )
    seeds: int = opt(
        3,
        help="Seeds the winner is trained with before it is announced (the trial is the first).",
        flag="--confirm-seeds",
        min=1,
        max=10,
    )
    probe_margin: float = opt(
        3.0,
        help="Before any trial of a family has trained: a trial is pruned before training when "
        "its untrained student's PyTorch batch-1 p50 is over this many times the budget "
        "(ONNX Runtime, the deployed path, measured 1.5-5x faster on these models). Once one "
        "has, the family's measured ONNX / PyTorch-probe ratio is used instead.",
        flag="--probe-margin",
        min=1.0,
        max=100.0,
    )
    max_epochs: int | None = opt(
        None,
        help="Cap on every trial's searched epochs (a quick or capped search).",
        flag="--max-epochs",
        none="the search space's ranges",
        min=1,
        max=50,
    )
    cheap_first: bool = opt(
        True,
        help="Start with the word and character students at their defaults.",
        flag="--no-cheap-first",
    )


def auto_of(run: dict[str, Any]) -> AutoConfig:
    d = run["config"].get("autodistill", {})
    names = {f.name for f in dataclasses.fields(AutoConfig)}
    return AutoConfig(**{k: v for k, v in d.items() if k in names})
