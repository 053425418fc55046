"""What the commands that start a coordinating run share (`sweep`, `autodistill`: a run that
queues one teacher and its trials as distill runs): their trials' flags, and starting one, queued
or in the foreground, after the checks its trials would fail."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from core.cli.commands_train import check_before_run
from core.cli.foreground import execute_in_foreground
from core.cli.output import say
from core.cli.run_flags import (
    add_augment_flags,
    add_common_flags,
    add_data_flags,
    add_teacher_flags,
    config_from_args,
)
from core.config import to_dict


def add_trial_flags(p: argparse.ArgumentParser) -> None:
    """The flags every trial shares: data, the common ones, the teacher, the augmentation."""
    add_data_flags(p)
    add_common_flags(p)
    add_teacher_flags(p)
    add_augment_flags(p)


def start(
    store,
    a: argparse.Namespace,
    kind: str,
    settings: Any,
    queued: str,
    announce: Callable[[int], None],
    report: Callable[[int], int],
) -> int:
    """Start a run of `kind` ("sweep", "autodistill") with its own `settings` saved under the
    config key `kind`: checked as the runs it queues (distill of `--teacher-run`, else a pipeline)
    before it exists; with --queue only queued (`queued` says what), else `announce`d, executed
    here and `report`ed (its return is the exit code). Trials train no plain twin."""
    cfg = config_from_args(a)
    cfg.plain_baseline = False
    checked = "distill" if cfg.teacher_run is not None else "pipeline"
    if (code := check_before_run(store, checked, cfg)) is not None:
        return code
    config = {**to_dict(cfg), kind: to_dict(settings)}
    if a.queue:
        rid = store.create_run(kind, config, name=cfg.name)
        say(f"run {rid} queued ({queued}), home={store.home}")
        return 0
    rid = store.create_run(kind, config, name=cfg.name, status="running")
    announce(rid)
    execute_in_foreground(store, rid, kind, cfg, a.quiet)
    return report(rid)
