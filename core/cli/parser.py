"""The parser of `python -m core`, built for the invoked command only.

Every command is listed (name and help) so `--help` and argparse's errors are as complete as
ever, but only the invoked command's flags are built: the run commands' student flags need the
method registry, which imports torch, and a store-only command (`runs list`, `data check`)
should start in a fraction of a second without it.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

DESCRIPTION = (
    "`python -m core ...`: the same jobs as the dashboard, in the foreground with progress bars."
)


@dataclass(frozen=True)
class Command:
    """One command; its functions are named, not imported, so that listing every command costs
    nothing and only the invoked command's module is imported."""

    name: str
    help: str
    module: str  # in core.cli
    run: str  # run(namespace) -> exit code
    add_arguments: str | None = None  # add_arguments(parser, *args)
    args: tuple[Any, ...] = ()
    description: str | None = None

    def function(self, name: str) -> Callable[..., Any]:
        return getattr(importlib.import_module(f"core.cli.{self.module}"), name)


# (kind, help): the run kinds a person starts from the command line
RUN_KINDS: tuple[tuple[str, str], ...] = (
    ("pipeline", "teacher, augmentation, labels, students and evaluation in one run"),
    ("teacher", "fine-tune and score a teacher"),
    ("augment", "augment and label the transfer set with an earlier run's teacher"),
    ("distill", "train students from an earlier run's teacher (--teacher-run)"),
)

COMMANDS: tuple[Command, ...] = (
    Command("data", "validate data files", "commands_data", "run", "add_arguments"),
    *(
        Command(kind, text, "commands_train", "run_kind", "add_run_arguments", args=(kind,))
        for kind, text in RUN_KINDS
    ),
    Command(
        "sweep",
        "an Optuna sweep: one teacher, N distill trials through the queue, the best printed",
        "commands_sweep",
        "run",
        "add_arguments",
    ),
    Command(
        "autodistill",
        "the best student under a latency budget: a search across methods and their settings",
        "commands_autodistill",
        "run",
        "add_arguments",
        description="One teacher, then Optuna trials across student methods and their key "
        "settings (accuracy vs batch-1 p50 as deployed); students over the budget are pruned "
        "before training; the winner is re-trained with 3 seeds and can be exported.",
    ),
    Command(
        "defaults",
        "print the table of defaults (markdown, as in docs/defaults.md)",
        "commands_info",
        "run_defaults",
    ),
    Command(
        "methods", "list the student methods --students accepts", "commands_info", "run_methods"
    ),
    Command(
        "predict",
        "score texts with the teacher and students of a run",
        "commands_export",
        "run_predict",
        "add_predict_arguments",
        description="python -m core predict --run R [--model NAME] TEXT ... "
        "(or: python -m core predict R TEXT ...)",
    ),
    Command(
        "export",
        "export a model of a run (ONNX / int8 / TorchScript) with a one-file predict.py",
        "commands_export",
        "run_export",
        "add_export_arguments",
    ),
    Command("runs", "list / show / cancel / delete runs", "commands_runs", "run", "add_arguments"),
    Command(
        "exec",
        "(internal) execute one run: what a worker starts",
        "commands_train",
        "run_exec",
        "add_exec_arguments",
    ),
    Command(
        "worker",
        "execute queued runs (the dashboard starts one when none is alive)",
        "commands_worker",
        "run",
        "add_arguments",
        description="Take queued runs from the store, oldest first, and execute them: here (a "
        "process per run) or, with --ray, as tasks on a Ray cluster.",
    ),
)
BY_NAME = {c.name: c for c in COMMANDS}


def command_of(argv: list[str]) -> str | None:
    """The command word of `argv`: its first argument that is not an option (the top-level
    parser has only -h, which takes no value); None when there is none."""
    return next((x for x in argv if not x.startswith("-")), None)


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with `commands` one whose other commands are listed but have no
    flags (enough to parse an argv whose command is one of `commands`)."""
    wanted = None if commands is None else set(commands)
    p = argparse.ArgumentParser(prog="python -m core", description=DESCRIPTION)
    sub = p.add_subparsers(dest="cmd", required=True)
    for c in COMMANDS:
        kw = {"description": c.description} if c.description else {}
        sp = sub.add_parser(c.name, help=c.help, **kw)
        if c.add_arguments and (wanted is None or c.name in wanted):
            c.function(c.add_arguments)(sp, *c.args)
    return p


def run(a: argparse.Namespace) -> int:
    """Run the parsed command; its exit code."""
    c = BY_NAME[a.cmd]
    return c.function(c.run)(a)
