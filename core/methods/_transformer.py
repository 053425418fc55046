"""Transformer students: built from the teacher's own config; shared knobs, helpers and loss
terms of every transformer method (their training: core.methods._tf_fit).

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
import shutil
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
from core.train.balance import gold_ce

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
    weight_decay: float = opt(
        0.01,
        help="AdamW weight decay of transformer students (on every weight).",
    )
    warmup_ratio: float = opt(
        0.1,
        help="Share of each stage's steps with a rising learning rate (then linear decay).",
    )
    clip_norm: float = opt(
        1.0,
        help="Gradient norm clipped to before each transformer-student step.",
    )
    select_metric: str = opt(
        "auto",
        help="Dev metric that picks a student's best epoch: accuracy, macro_f1 (every class "
        "counts equally), or auto: macro_f1 when the training labels are imbalanced, accuracy "
        "otherwise (recorded with the results).",
        flag="--tf-select-metric",
        choices=["auto", "accuracy", "macro_f1"],
    )
    class_weights: str = opt(
        "none",
        help="Weights of the cross-entropy on the gold labels (the plain twin's loss, the "
        "distilled student's label term): none, or balanced (inverse class frequency of the "
        "training rows, normalised to average 1).",
        flag="--tf-class-weights",
        choices=["none", "balanced"],
    )
    plain_steps: str = opt(
        "matched",
        help="How long a plain twin trains: matched (as many optimiser steps as a distilled "
        "student reading max_texts texts for the same epochs, at most 20 passes over the gold "
        "rows, best dev epoch kept: the baseline gets the same budget), or epochs (the "
        "epochs over the gold rows alone: on a small set that can leave it at one class).",
        flag="--tf-plain-steps",
        choices=["matched", "epochs"],
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

    def truncated(self, text: str) -> bool:
        """Whether `predict_logits` scores only the first `max_length` tokens of `text`."""
        return pairs.truncated(self.tokenizer, text, self.max_length)

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
    class_w: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """EasyNLP's vanilla_kd per row: alpha·KL(teacher_T ‖ student_T)·T² + (1−alpha)·CE on rows
    with a gold label; rows with only the teacher's logits get the KL term alone. Averaged over
    rows, so the mix does not depend on how many gold rows a batch holds. `weights` scale each
    row (MetaKD's domain expertise); `class_w` weights the CE by class (core.train.balance)."""
    gold = labels >= 0
    kl = F.kl_div(
        F.log_softmax(student / t, dim=-1), F.softmax(teacher / t, dim=-1), reduction="none"
    ).sum(-1) * (t * t)
    row = weights if weights is not None else torch.ones_like(kl)
    w = torch.where(gold, torch.full_like(kl, alpha), torch.ones_like(kl))
    out = {"kd": (row * w * kl).mean()}
    if alpha < 1.0 and gold.any():
        ce = torch.zeros_like(kl)
        ce[gold] = gold_ce(student[gold], labels[gold], class_w, reduction="none")
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


def ce_term(
    student: torch.Tensor, labels: torch.Tensor, class_w: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Cross-entropy on the gold rows (class-weighted by `class_w`, core.train.balance)."""
    gold = labels >= 0
    return {"ce": gold_ce(student[gold], labels[gold], class_w)}
