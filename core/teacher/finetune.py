"""Teacher fine-tuning: one stage of the training loop (core.train.loop).

AdamW on BERT's two parameter groups with a linear warm-up / decay schedule, clipping and
early stopping on the dev metric, all from TeacherConfig; the best dev epoch's weights are kept.
MetaKD's meta-teacher is the same stage with per-row weights and a training-only head.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path

import torch

from core.config import TeacherConfig
from core.data import pairs
from core.teacher import provenance as provenance_file
from core.teacher.hf import load_pretrained, resolve_source
from core.teacher.model import Teacher, save_teacher
from core.train.balance import class_weights, gold_ce
from core.train.device import pick_device, precision
from core.train.loop import fit
from core.train.optim import decay_groups
from core.train.select import resolve_metric
from core.train.stage import DevCheck, OptimSettings, Stage

log = logging.getLogger(__name__)


def fine_tune(
    cfg: TeacherConfig,
    train_texts: list[str],
    train_labels: list[int],
    label_names: list[str],
    out_dir: Path,
    home: Path,
    dev: tuple[list[str], list[int]] | None = None,
    ctx=None,
    device: str = "auto",
    requested: str = "fp32",
    sample_weights: list[float] | None = None,
    aux=None,
    series: str = "teacher",
) -> Teacher:
    """Fine-tune the teacher `cfg.model` names, keep the best dev epoch, save it to `out_dir`.

    `sample_weights` scale each training row's loss (MetaKD's prototype scores); `aux` adds a
    training-only head and per-row loss term (`aux.modules`, `aux.loss(out, feats, rows)`, see
    core.teacher.metakd.DomainCorruption), trained with the model and dropped afterwards.
    `series` names the progress stage and loss curve ("meta_teacher" for the meta-teacher).
    `requested` is the run's precision (auto, fp32, bf16), resolved for the device here: the
    fine-tuning forward passes, the dev checks and the teacher's later labelling follow it."""
    torch.manual_seed(cfg.seed)  # the new classifier head and dropout
    rng = random.Random(cfg.seed)  # batch order
    source = resolve_source(cfg.model, home)
    t0 = time.time()
    tok, model = load_pretrained(source, len(label_names), label_names)
    log.info("teacher %s loaded in %.1fs", cfg.model, time.time() - t0)
    dev_ = pick_device(device)
    resolved = precision(dev_, requested)
    log.info("teacher fine-tunes on %s (%s)", dev_, resolved)
    model.to(dev_)
    teacher = Teacher(
        tok, model, cfg.max_length, dev_, label_names, path=str(out_dir), precision=resolved
    )
    stage = teacher_stage(cfg, teacher, train_texts, train_labels, dev, sample_weights, aux)
    stage.series = series
    result = fit([stage], rng, ctx)
    model.eval()
    task = pairs.task_of(train_texts)
    metric = resolve_metric(cfg.select_metric, train_labels, len(label_names))
    save_teacher(
        teacher,
        out_dir,
        provenance=provenance_file.record(train_texts, dev[0] if dev else None),
        source=cfg.model,
        select_metric=metric,
        class_weights=cfg.class_weights,
        **{f"dev_{metric}": result.best.get(stage.name) if dev else None},
        train_texts=len(train_texts),
        dev_texts=len(dev[0]) if dev else 0,
        task=task,
    )
    teacher.task = task
    return teacher


def teacher_stage(
    cfg: TeacherConfig,
    teacher: Teacher,
    texts: list[str],
    labels: list[int],
    dev: tuple[list[str], list[int]] | None = None,
    sample_weights: list[float] | None = None,
    aux=None,
) -> Stage:
    """The fine-tuning stage: cross-entropy on the labels (per row times `sample_weights`, plus
    `aux`'s term, when given; class-weighted by `cfg.class_weights`), computed in the device's
    precision; the dev check selects on `cfg.select_metric` (`auto` resolved from `labels`)."""
    model, tok, device = teacher.model, teacher.tokenizer, teacher.device
    enc = pairs.encode(tok, texts, cfg.max_length)
    ids = enc["input_ids"]
    types = enc.get("token_type_ids")  # segment ids: which sentence of a pair (0 for singles)
    groups = decay_groups(model, cfg.weight_decay)
    if aux is not None:
        aux.modules.to(device)
        groups.append({"params": list(aux.modules.parameters()), "weight_decay": 0.0})
    weights = torch.tensor(sample_weights, dtype=torch.float32) if sample_weights else None
    labels_t = torch.tensor(labels)
    per_class = class_weights(labels, len(teacher.label_names), cfg.class_weights)

    def collate(batch: list[int]) -> tuple[list[int], dict[str, torch.Tensor]]:
        rows = {"input_ids": [ids[i] for i in batch]}
        if types is not None:
            rows["token_type_ids"] = [types[i] for i in batch]
        feats = tok.pad(rows, return_tensors="pt")
        return batch, {k: v.to(device) for k, v in feats.items()}

    def loss(b, progress: float) -> dict[str, torch.Tensor]:
        batch, feats = b
        y = labels_t[batch].to(device)
        if weights is None and aux is None and per_class is None:
            return {"loss": model(**feats, labels=y).loss}
        out = model(**feats, output_hidden_states=aux is not None)
        per_row = gold_ce(out.logits.float(), y, per_class, reduction="none")
        if aux is not None:
            per_row = per_row + aux.loss(out, feats, batch)
        if weights is not None:
            per_row = per_row * weights[batch].to(device)
        return {"loss": per_row.mean()}

    check = None
    if dev and dev[0]:
        check = DevCheck(
            predict=lambda: teacher.logits(dev[0]).argmax(-1),
            labels=dev[1],
            num_labels=len(teacher.label_names),
            metric=resolve_metric(cfg.select_metric, labels, len(teacher.label_names)),
            patience=cfg.early_stop_patience,
        )
    return Stage(
        name="fine-tune",
        model=model,
        params=groups,
        loss=loss,
        lengths=[len(x) for x in ids],
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        optim=OptimSettings(
            lr=cfg.lr,
            optimiser="adamw",
            weight_decay=cfg.weight_decay,
            warmup=cfg.warmup_ratio,
            clip=cfg.clip_norm,
        ),
        collate=collate,
        series="teacher",
        clip_params=list(model.parameters()),
        dev=check,
        own_progress=True,
        precision=teacher.precision,
    )
