"""The one training loop (nanoGPT's train.py, TextBrewer's BasicDistiller): every model in
Distillery (the teacher, word and character students, every transformer method) trains here.

`fit` runs a list of stages (core.train.stage.Stage) in order and owns, once: batching by
length, optimisers and schedule, clipping, the precision context, progress and cancel through
the run context, one curve per loss term, dev scoring with best-epoch selection and early
stopping. The run context `ctx` is duck-typed (core.runs.jobs.RunContext: `stage`, `step`,
`log_point`); its `step` raises when the run was cancelled, so a cancel lands within a step.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence

import torch

from core.train.batches import count_steps, length_batches
from core.train.device import autocast, model_device
from core.train.optim import clipped, optimisers
from core.train.select import score
from core.train.stage import FitResult, Stage

log = logging.getLogger(__name__)


def stage_steps(stage: Stage) -> int:
    """Optimiser steps the stage will take (its schedule's length, its progress total)."""
    steps = count_steps(len(stage.lengths), stage.batch_size, stage.epochs)
    return min(steps, stage.max_steps) if stage.max_steps is not None else steps


def fit(stages: Sequence[Stage], rng: random.Random, ctx=None) -> FitResult:
    """Train through `stages` in order. `rng` orders the batches of every stage (seeded by
    the caller, which also seeds whatever else draws: weights, dropout)."""
    result = FitResult(seconds={}, best={})
    for stage in stages:
        t0 = time.time()
        if stage.step_from is not None:
            result.step = stage.step_from
        best = run_stage(stage, rng, ctx, result)
        if best is not None:
            result.best[stage.name] = best
        result.seconds[stage.name] = round(time.time() - t0, 2)
    return result


def run_stage(stage: Stage, rng: random.Random, ctx, result: FitResult) -> float | None:
    """One stage's epochs; returns its best dev score (None without a dev check)."""
    total = stage_steps(stage)
    opts, scheds = optimisers(stage, total)
    clip = clipped(stage) if stage.optim.clip is not None else []
    if ctx and stage.own_progress:
        ctx.stage(stage.series, total)
    model, dev = stage.model, stage.dev
    best, best_state, bad, done = float("-inf"), None, 0, 0
    device = model_device(model)
    for epoch in range(stage.epochs):
        if stage.max_steps is not None and done >= total:
            break
        model.train()
        for idx in length_batches(stage.lengths, stage.batch_size, rng, stage.chunk):
            if stage.max_steps is not None and done >= total:
                break
            batch = stage.collate(idx)
            with autocast(device, stage.precision):
                terms = stage.loss(batch, done / max(total, 1))
                loss = sum(terms.values())
            for o in opts:
                o.zero_grad(set_to_none=True)
            loss.backward()
            if stage.before_step is not None:
                stage.before_step()
            if clip:
                torch.nn.utils.clip_grad_norm_(clip, stage.optim.clip)
            for o in opts:
                o.step()
            for s in scheds:
                s.step()
            if stage.after_step is not None:
                stage.after_step()
            done += 1
            result.step += 1
            log_terms(stage, terms, loss, result.step, ctx)
        if dev is None:
            continue
        value = dev_score(stage, dev)
        log.info(
            "%s %s epoch %d dev %s %.4f", stage.series, stage.name, epoch + 1, dev.metric, value
        )
        if ctx:
            ctx.log_point(f"{stage.series}/dev_{dev.metric}", result.step, value)
        if value > best:
            best, bad = value, 0
            if dev.keep_best:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if dev.patience is not None and bad >= dev.patience and epoch < stage.epochs - 1:
                log.info("%s: early stop after epoch %d", stage.series, epoch + 1)
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return best if dev is not None else None


def log_terms(stage: Stage, terms, loss: torch.Tensor, step: int, ctx) -> None:
    """Each loss term as its own curve, then the sum (under `stage.total`); one progress step."""
    if not ctx:
        return
    for k, v in terms.items():
        if k != stage.total:
            ctx.log_point(f"{stage.series}/{k}", step, v.item())
    value = loss.item()
    ctx.log_point(f"{stage.series}/{stage.total}", step, value)
    ctx.step(loss=value)


@torch.inference_mode()
def dev_score(stage: Stage, dev) -> float:
    """The dev metric the stage selects on, from the dev rows' predicted label ids."""
    pred = dev.predict()
    if isinstance(pred, torch.Tensor):
        pred = pred.tolist()
    return score(dev.metric, pred, list(dev.labels), dev.num_labels)
