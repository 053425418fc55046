"""How every transformer method trains: it declares its stages (StudentStage: epochs,
parameters, loss terms on a Batch) and `fit` runs them through the one loop (core.train.loop).

The loop sums each stage's terms, logs each as its own curve (`<job>/<term>`, steps counted
across stages), reports progress, keeps the best dev epoch of the stage that selects on dev,
and honours cancel. Students train on `shared.device` (a GPU when torch sees one and the run
says `--device auto`) and come back on the CPU, where their latency is measured.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import torch
from torch import nn

from core.data import pairs
from core.methods._base import Shared, StudentJob
from core.methods._transformer import TransformerStudent
from core.train.balance import class_weights
from core.train.batches import count_steps
from core.train.loop import fit as fit_stages
from core.train.select import resolve_metric
from core.train.stage import DevCheck, OptimSettings, Stage


@dataclass
class Batch:
    rows: list[int]  # indices into shared.texts
    enc: dict[str, torch.Tensor]  # the student tokenizer's padded batch (on the CPU)
    labels: torch.Tensor  # -1 where only the teacher's logits are known
    t_logits: torch.Tensor  # the teacher's cached logits
    # per-class weights of the CE on gold labels (the config's class_weights); None: unweighted
    class_w: torch.Tensor | None = None


@dataclass
class StudentStage:
    """What a transformer method declares per stage; the optimiser settings come from the
    job's config (TransformerConfig), `lr` overrides its learning rate."""

    name: str
    epochs: int
    params: Iterable[nn.Parameter]
    loss: Callable[[Batch, float], dict[str, torch.Tensor]]  # (batch, progress 0..1) -> terms
    select_on_dev: bool = False  # keep the best dev epoch (the last stage)
    lr: float | None = None
    rows: list[int] | None = None  # this stage's rows, if not the fit's
    # called after backward, before clipping and the step (NewsBERT's momentum distillation)
    before_step: Callable[[], None] | None = None
    # the parameters whose gradient norm the loop clips (None: every one in `params`); NewsBERT
    # clips its student's own weights here and its joint teacher's apart, in `before_step`
    clip_params: Iterable[nn.Parameter] | None = None


def rows_for(
    job: StudentJob, shared: Shared, gold_only: bool = False, cap: int | None | str = "cfg"
) -> list[int]:
    """Plain twins: the gold rows. Distilled: gold rows, then a seeded sample of the transfer
    and augmented rows up to `cap` (default: the config's `max_texts`)."""
    gold = list(range(shared.n_gold))
    if job.role == "plain" or gold_only:
        return gold
    rest = list(range(shared.n_gold, len(shared.texts)))
    cap = job.cfg.max_texts if cap == "cfg" else cap
    if cap and len(gold) + len(rest) > cap:  # None or 0: every text
        random.Random(job.cfg.seed).shuffle(rest)
        rest = sorted(rest[: max(0, cap - len(gold))])
    return gold + rest


PLAIN_MAX_EPOCHS = 20  # a twin of a few hundred gold rows has long flattened on dev by then


def plain_epochs(job: StudentJob, shared: Shared) -> int:
    """Passes over the gold rows a plain twin trains for. `matched`: as many steps as a distilled
    student reading `max_texts` texts for the config's epochs, so "gap closed" compares two
    models given the same budget, not a distilled student against a twin stopped after a
    handful of steps (on 1,800 SST-2 rows, 2 x 57 steps left a 2-layer twin at one class).
    The epoch count depends on the config and the data alone: twins are shared by `plain_key`."""
    cfg = job.cfg
    if cfg.plain_steps == "epochs":
        return cfg.epochs
    cap = cfg.max_texts
    distilled = len(shared.texts) if not cap else max(shared.n_gold, min(cap, len(shared.texts)))
    want = count_steps(distilled, cfg.batch_size, cfg.epochs)
    per_epoch = count_steps(shared.n_gold, cfg.batch_size, 1)
    return min(max(cfg.epochs, -(-want // per_epoch)), max(cfg.epochs, PLAIN_MAX_EPOCHS))


def plain_steps(job: StudentJob, shared: Shared) -> int:
    """Optimiser steps of a plain twin (its one stage, on the gold rows)."""
    return count_steps(shared.n_gold, job.cfg.batch_size, plain_epochs(job, shared))


def pad_ids(
    seqs: list[list[int]], pad_id: int, types: list[list[int]] | None = None
) -> dict[str, torch.Tensor]:
    """A batch of token ids, right-padded, with its attention mask and segment ids: the
    tokenizer's own (`types`: 1 on a sentence pair's second sentence for BERT), else zeros."""
    width = max(len(x) for x in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    segments = torch.zeros_like(ids)
    for i, x in enumerate(seqs):
        ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
        if types is not None:
            segments[i, : len(x)] = torch.tensor(types[i])
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": segments}


def loop_stage(
    job: StudentJob,
    shared: Shared,
    student: TransformerStudent,
    stage: StudentStage,
    rows: list[int],
    device: torch.device,
) -> Stage:
    """The loop's stage for one declared StudentStage on `rows` (tokenised here, once)."""
    cfg, tok = job.cfg, student.tokenizer
    enc = pairs.encode(tok, [shared.texts[i] for i in rows], student.max_length)
    ids, types = enc["input_ids"], enc.get("token_type_ids")
    labels = torch.tensor([shared.labels[i] for i in rows])
    t_logits = shared.logits[rows]
    pad = tok.pad_token_id or 0
    gold = shared.labels[: shared.n_gold]
    per_class = class_weights(gold, len(shared.label_names), cfg.class_weights)
    per_class = per_class.to(device) if per_class is not None else None

    def collate(b: list[int]) -> Batch:
        seg = [types[i] for i in b] if types is not None else None
        enc = pad_ids([ids[i] for i in b], pad, seg)
        y, tl = labels[b].to(device), t_logits[b].to(device)
        return Batch([rows[i] for i in b], enc, y, tl, per_class)

    dev, check = shared.dev(), None
    if stage.select_on_dev and dev:
        check = DevCheck(
            lambda: student.logits(dev[0]).argmax(-1),
            dev[1],
            len(shared.label_names),
            resolve_metric(cfg.select_metric, gold, len(shared.label_names)),
        )
    return Stage(
        name=stage.name,
        model=student.model,
        params=[p for p in stage.params if p.requires_grad],
        loss=stage.loss,
        lengths=[len(x) for x in ids],
        batch_size=cfg.batch_size,
        epochs=stage.epochs,
        optim=OptimSettings(
            lr=stage.lr or cfg.lr,
            optimiser="adamw",
            weight_decay=cfg.weight_decay,
            warmup=cfg.warmup_ratio,
            clip=cfg.clip_norm,
        ),
        collate=collate,
        series=job.name,
        dev=check,
        before_step=stage.before_step,
        clip_params=list(stage.clip_params) if stage.clip_params is not None else None,
        precision=shared.precision,
    )


def fit(
    job: StudentJob,
    shared: Shared,
    ctx,
    student: TransformerStudent,
    stages: list[StudentStage],
    rows: list[int],
    extra_modules: Iterable[nn.Module] = (),
) -> TransformerStudent:
    """Train `student` through `stages` on `rows`; every random draw comes from the job's seed."""
    cfg = job.cfg
    device = torch.device(shared.device)
    torch.manual_seed(cfg.seed)  # dropout masks (students train one at a time)
    rng = random.Random(cfg.seed)  # batch order
    model = student.model.to(device)
    for m in extra_modules:
        m.to(device)
    if job.role == "plain":
        if any(shared.labels[i] < 0 for i in rows):
            raise ValueError("a plain twin's rows must all carry gold labels")
        # its one stage runs as long as the distilled sibling's (plain_epochs says why)
        stages = [replace(s, epochs=plain_epochs(job, shared)) for s in stages]
    row_sets = [s.rows if s.rows is not None else rows for s in stages]
    loop = [
        loop_stage(job, shared, student, s, r, device)
        for s, r in zip(stages, row_sets, strict=True)
    ]
    result = fit_stages(loop, rng, ctx)
    student.model = model.to("cpu").eval()
    student.task = pairs.task_of(shared.texts)
    student.info = {
        "train_texts": max(len(r) for r in row_sets),
        "train_device": device.type,
        "train_precision": shared.precision,
        "stage_s": result.seconds,
    }
    return student
