"""Transformer students: built from the teacher's own config, trained by one loop for every
transformer method (nanoGPT-style: read `fit` top to bottom).

A method hands `fit` its stages: each names its epochs, the parameters it trains and a loss
function returning named terms (`kd`, `ce`, `hidden`, `attention`, `embedding`, ...); the loop
sums them, logs each as its own curve, reports progress, keeps the best dev epoch of the last
stage, and honours cancel. Students train on `shared.device` (a GPU when torch sees one and the
run says `--device auto`) and come back on the CPU, where their latency is measured.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.config import opt, seed_field
from core.data import pairs
from core.methods._base import Shared, StudentJob
from core.teacher.model import batched_logits

log = logging.getLogger(__name__)


# -- the knobs every transformer method shares --------------------------------------------------
@dataclass
class TransformerConfig:
    """Shared by every transformer method (each method's config extends it)."""

    method: str = opt("kd", help="The registered method this config belongs to.")
    epochs: int = opt(
        2,
        help="Passes over the student's training texts (the last stage's, for methods with "
        "two stages): a student initialised from the teacher needs few.",
        flag="--student-epochs",
        min=1,
        max=50,
        step=1,
    )
    lr: float = opt(
        5e-5,
        help="AdamW learning rate of transformer students (BERT fine-tuning's usual value).",
        flag="--tf-lr",
        min=1e-6,
        max=1e-2,
        step=1e-5,
    )
    batch_size: int = opt(
        32,
        help="Texts per transformer-student training step.",
        flag="--tf-batch-size",
        min=1,
        max=512,
        step=1,
    )
    max_length: int = opt(
        64,
        help="Tokens a transformer student reads per text (the teacher's default too).",
        flag="--tf-max-length",
        min=16,
        max=512,
        step=16,
    )
    max_texts: int | None = opt(
        4000,
        help="Cap on a distilled transformer student's training texts: all gold rows, then a "
        "seeded sample of the transfer and augmented texts. A transformer step costs ~100x a "
        "BiLSTM step on a CPU; this keeps the hotel benchmark with every method under 45 "
        "minutes on 2 cores.",
        flag="--tf-max-texts",
        none="every text",
        min=0,
        max=1_000_000,
        step=500,
    )
    seed: int = seed_field("student training")


@dataclass
class BottomConfig(TransformerConfig):
    """Students cut from the teacher: its embeddings and bottom `layers` layers."""

    layers: int | None = opt(
        None,
        help="Transformer layers of the student, taken from the teacher's bottom layers.",
        flag="--tf-layers",
        none="half the teacher's depth",
        min=0,
        max=24,
        step=1,
    )


def teacher_depth(teacher) -> int:
    return int(teacher.model.config.num_hidden_layers)


def half_depth(teacher, layers: int | None) -> int:
    """The student's depth: `layers`, or half the teacher's (at least 1)."""
    depth = teacher_depth(teacher)
    k = layers or max(1, depth // 2)
    if not 1 <= k <= depth:
        raise ValueError(f"student layers {k} must be between 1 and the teacher's {depth}")
    return k


# -- the student ---------------------------------------------------------------------------------
@dataclass
class TransformerStudent:
    method: str
    model: nn.Module
    tokenizer: Any
    cfg: Any
    label_names: list[str]
    max_length: int
    info: dict = field(default_factory=dict)
    task: str = "single"  # "pair": a cross-encoder over tokenizer(text_a, text_b)

    def _inputs(self, enc) -> dict[str, torch.Tensor]:
        return model_inputs(self.model, enc, next(self.model.parameters()).device)

    def tokenize(self, text: str) -> list[int]:
        return pairs.encode(self.tokenizer, text, self.max_length)["input_ids"]

    @torch.inference_mode()
    def predict_logits(self, text: str) -> torch.Tensor:
        """Text in, logits out, batch 1: the path the latency figures time."""
        enc = pairs.encode(self.tokenizer, text, self.max_length, return_tensors="pt")
        return self.model(**self._inputs(enc)).logits[0].float().cpu()

    def logits(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        return batched_logits(
            self.model,
            self.tokenizer,
            texts,
            self.max_length,
            len(self.label_names),
            batch_size=batch_size,
            prepare=self._inputs,
        )

    def num_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def save(self, folder: Path) -> Path:
        """safetensors + config + tokenizer + student.json, via a temp folder (crash-safe)."""
        folder = Path(folder)
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.model.save_pretrained(tmp, safe_serialization=True)
        self.tokenizer.save_pretrained(tmp)
        meta = {
            "method": self.method,
            "family": "transformer",
            "config": dataclasses.asdict(self.cfg),
            "label_names": self.label_names,
            "max_length": self.max_length,
            "task": self.task,
        }
        (tmp / "student.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        return folder


def load(folder: Path) -> TransformerStudent:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from core.methods import config_from_dict

    meta = json.loads((Path(folder) / "student.json").read_text())
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    cfg = config_from_dict(meta["config"])
    return TransformerStudent(
        meta.get("method") or meta["arch"],  # "arch" before the rename
        model,
        tok,
        cfg,
        meta["label_names"],
        int(meta["max_length"]),
        task=meta.get("task", "single"),
    )


def model_inputs(model: nn.Module, enc, device) -> dict[str, torch.Tensor]:
    """The tokenizer's outputs this model's forward accepts (DistilBERT takes no
    token_type_ids), on its device."""
    accepted = _accepted(type(model))
    return {k: v.to(device) for k, v in enc.items() if k in accepted}


_ACCEPTED: dict[type, set[str]] = {}


def _accepted(cls: type) -> set[str]:
    if cls not in _ACCEPTED:
        _ACCEPTED[cls] = set(inspect.signature(cls.forward).parameters)
    return _ACCEPTED[cls]


# -- building students ---------------------------------------------------------------------------
def bottom_layers(teacher_model: nn.Module, k: int) -> nn.Module:
    """The teacher's architecture cut to its bottom `k` layers, with the teacher's embeddings,
    bottom layers, pooler and classifier copied in (PKD, section 3: initialise from the bottom
    layers). Every weight comes from the teacher, so no random number is drawn that matters."""
    cfg = copy.deepcopy(teacher_model.config)
    cfg.num_hidden_layers = k
    student = type(teacher_model)(cfg)
    own = student.state_dict()
    take = {
        n: t for n, t in teacher_model.state_dict().items() if n in own and own[n].shape == t.shape
    }
    missing = [n for n in own if n not in take]
    if missing:
        log.warning("student weights not in the teacher (left random): %s", missing[:5])
    student.load_state_dict(take, strict=False)
    return student


def cut_student(job: StudentJob, shared: Shared) -> tuple[TransformerStudent, int]:
    """The teacher's bottom k layers (k = `layers`, or half its depth) as a student, with the
    teacher's tokenizer; returns it and k."""
    cfg, teacher = job.cfg, shared.teacher
    k = half_depth(teacher, cfg.layers)
    model = bottom_layers(teacher.model, k)
    student = TransformerStudent(
        cfg.method, model, teacher.tokenizer, cfg, shared.label_names, cfg.max_length
    )
    return student, k


def layers_of(model: nn.Module) -> nn.ModuleList:
    """The encoder's layer list of a BERT-like model."""
    base = getattr(model, model.base_model_prefix)
    return base.encoder.layer


@torch.no_grad()
def teacher_internals(teacher, enc, attention: bool = False):
    """The frozen teacher's outputs with hidden states (and attention maps) for one batch."""
    teacher.model.eval()
    return teacher.model(
        **model_inputs(teacher.model, enc, teacher.device),
        output_hidden_states=True,
        output_attentions=attention,
    )


# -- losses --------------------------------------------------------------------------------------
def kd_terms(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    alpha: float,
    t: float,
    weights: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """EasyNLP's vanilla_kd per row: alpha·KL(teacher_T ‖ student_T)·T² + (1−alpha)·CE on rows
    with a gold label; rows with only the teacher's logits get the KL term alone. Averaged over
    rows, so the mix does not depend on how many gold rows a batch holds. `weights` scale each
    row (MetaKD's domain expertise)."""
    gold = labels >= 0
    kl = F.kl_div(
        F.log_softmax(student / t, dim=-1), F.softmax(teacher / t, dim=-1), reduction="none"
    ).sum(-1) * (t * t)
    row = weights if weights is not None else torch.ones_like(kl)
    w = torch.where(gold, torch.full_like(kl, alpha), torch.ones_like(kl))
    out = {"kd": (row * w * kl).mean()}
    if alpha < 1.0 and gold.any():
        ce = torch.zeros_like(kl)
        ce[gold] = F.cross_entropy(student[gold], labels[gold], reduction="none")
        out["ce"] = (row * (1.0 - alpha) * ce).mean()
    return out


def weighted_hidden_mse(
    s_hidden, t_hidden, mask: torch.Tensor, pairs: list[tuple[int, int]], weights=None
) -> torch.Tensor:
    """Sum over matched (student, teacher) hidden-state indices of each row's token-masked MSE,
    times the row's weight, averaged over rows (MetaKD's first stage)."""
    m = mask.unsqueeze(-1).float()
    n = m.sum(1).clamp(min=1.0).squeeze(-1)
    total = 0.0
    for i, j in pairs:
        d = ((s_hidden[i].float() - t_hidden[j].float()) ** 2 * m).sum(1).mean(-1) / n
        total = total + d
    w = weights if weights is not None else torch.ones_like(n)
    return (w * total).mean()


def ce_term(student: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    gold = labels >= 0
    return {"ce": F.cross_entropy(student[gold], labels[gold])}


# -- the loop ------------------------------------------------------------------------------------
@dataclass
class Batch:
    rows: list[int]  # indices into shared.texts
    enc: dict[str, torch.Tensor]  # the student tokenizer's padded batch (on the CPU)
    labels: torch.Tensor  # -1 where only the teacher's logits are known
    t_logits: torch.Tensor  # the teacher's cached logits


@dataclass
class Stage:
    name: str
    epochs: int
    params: Iterable[nn.Parameter]
    loss: Callable[[Batch, float], dict[str, torch.Tensor]]  # (batch, progress 0..1) -> terms
    select_on_dev: bool = False  # keep the best dev epoch (the last stage)
    lr: float | None = None
    rows: list[int] | None = None  # this stage's rows, if not the fit's
    # called after backward, before clipping and the step (NewsBERT's momentum distillation)
    before_step: Callable[[], None] | None = None


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


def count_steps(n_rows: int, batch_size: int, epochs: int) -> int:
    return math.ceil(n_rows / batch_size) * epochs


def _batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    chunk = batch_size * 20
    out = []
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s : s + chunk], key=lambda i: lengths[i])
        out += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


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


@torch.inference_mode()
def dev_accuracy(student: TransformerStudent, dev: tuple[list[str], list[int]]) -> float:
    pred = student.logits(dev[0]).argmax(-1)
    return float((pred == torch.tensor(dev[1])).float().mean())


def fit(
    job: StudentJob,
    shared: Shared,
    ctx,
    student: TransformerStudent,
    stages: list[Stage],
    rows: list[int],
    extra_modules: Iterable[nn.Module] = (),
) -> TransformerStudent:
    """Train `student` through `stages` on `rows`; every random draw comes from the job's seed."""
    from transformers import get_linear_schedule_with_warmup

    cfg = job.cfg
    device = torch.device(shared.device)
    torch.manual_seed(cfg.seed)  # dropout masks (students train one at a time)
    rng = random.Random(cfg.seed)
    model = student.model.to(device)
    for m in extra_modules:
        m.to(device)
    tok = student.tokenizer
    if job.role == "plain" and any(shared.labels[i] < 0 for i in rows):
        raise ValueError("a plain twin's rows must all carry gold labels")
    encoded: dict[tuple[int, ...], tuple] = {}

    def encode(rows: list[int]) -> tuple:
        """Token ids, lengths, labels and teacher logits of `rows`, once per row set."""
        key = tuple(rows)
        if key not in encoded:
            texts = [shared.texts[i] for i in rows]
            enc = pairs.encode(tok, texts, student.max_length)
            ids, types = enc["input_ids"], enc.get("token_type_ids")
            labels = torch.tensor([shared.labels[i] for i in rows])
            encoded[key] = (ids, types, [len(x) for x in ids], labels, shared.logits[rows])
        return encoded[key]

    step = 0
    timings: dict[str, float] = {}
    for stage in stages:
        t0 = time.time()
        srows = stage.rows if stage.rows is not None else rows
        ids, types, lengths, labels, t_logits = encode(srows)
        params = [p for p in stage.params if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=stage.lr or cfg.lr, weight_decay=0.01)
        total = count_steps(len(srows), cfg.batch_size, stage.epochs)
        sched = get_linear_schedule_with_warmup(opt, int(0.1 * total), total)
        best, best_state, done = -1.0, None, 0
        for epoch in range(stage.epochs):
            model.train()
            for b in _batches(lengths, cfg.batch_size, rng):
                seg = [types[i] for i in b] if types is not None else None
                enc = pad_ids([ids[i] for i in b], tok.pad_token_id or 0, seg)
                batch = Batch(
                    [srows[i] for i in b], enc, labels[b].to(device), t_logits[b].to(device)
                )
                terms = stage.loss(batch, done / max(total, 1))
                loss = sum(terms.values())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if stage.before_step is not None:
                    stage.before_step()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                step += 1
                done += 1
                if ctx:
                    for k, v in terms.items():
                        ctx.log_point(f"{job.name}/{k}", step, v.item())
                    value = loss.item()
                    ctx.log_point(f"{job.name}/loss", step, value)
                    ctx.step(loss=value)
            dev = shared.dev()
            if stage.select_on_dev and dev:
                acc = dev_accuracy(student, dev)
                log.info("%s %s epoch %d dev accuracy %.4f", job.name, stage.name, epoch + 1, acc)
                if ctx:
                    ctx.log_point(f"{job.name}/dev_accuracy", step, acc)
                if acc > best:
                    best = acc
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if best_state is not None:
            model.load_state_dict(best_state)
        timings[stage.name] = round(time.time() - t0, 2)
    student.model = model.to("cpu").eval()
    student.task = pairs.task_of(shared.texts)
    student.info = {
        "train_texts": max(len(s.rows if s.rows is not None else rows) for s in stages),
        "train_device": device.type,
        "stage_s": timings,
    }
    return student
