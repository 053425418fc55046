"""A teacher ensemble (multi-teacher distillation): several fine-tuned teachers whose averaged
logits label the transfer texts and are scored as the teacher.

It answers what the rest of a run asks of a teacher (`logits`, `predict_one`, `fingerprint`,
`num_params`, ...). The internals some students read (the tokenizer, the model's embeddings,
layers, hidden states) are the first member's: PKD, TinyBERT, Theseus, NewsBERT and the
character students follow the first member's pieces and layers, and learn the ensemble's
logits. The first member's folder (`teacher`) names the other members' folders in its
distillery.json, so reusing the run's teacher (`--teacher-run`) reuses the whole ensemble.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from core.teacher.model import META, Teacher, load_teacher

MEMBERS_KEY = "ensemble_members"  # in the first member's distillery.json: the others' folders
SOURCES_KEY = "ensemble_sources"  # what each member was fine-tuned from (presets, folders)


def member_models(model: str, members: str | None) -> list[str]:
    """The teachers of a TeacherConfig: `model`, then each of the comma list `members` (a
    repeated name is refused: two copies of one preset with one seed are one teacher)."""
    names = [model] + [m.strip() for m in (members or "").split(",") if m.strip()]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"teacher ensemble names {', '.join(twice)} twice; name each member once")
    return names


@dataclass
class EnsembleTeacher:
    """The members' averaged logits; everything that reads internals gets the first member's."""

    members: list[Teacher]
    sources: list[str]

    @property
    def first(self) -> Teacher:
        return self.members[0]

    # what students and the label cache read: the first member's
    @property
    def tokenizer(self):
        return self.first.tokenizer

    @property
    def model(self):
        return self.first.model

    @property
    def max_length(self) -> int:
        return self.first.max_length

    @property
    def device(self) -> torch.device:
        return self.first.device

    @property
    def label_names(self) -> list[str]:
        return self.first.label_names

    @property
    def path(self) -> str:
        return self.first.path

    @property
    def task(self) -> str:
        return self.first.task

    @property
    def precision(self) -> str:
        return self.first.precision

    @property
    def fingerprint(self) -> str:
        """The member set: every member's weights and length (the label cache's key)."""
        parts = [f"{m.fingerprint}:{m.max_length}" for m in self.members]
        return "ens" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:13]

    def logits(self, texts: list[str], batch_size: int = 64, progress=None) -> torch.Tensor:
        """The mean of the members' logits (progress counted on the first member's pass)."""
        out = [
            m.logits(texts, batch_size, progress=progress if i == 0 else None)
            for i, m in enumerate(self.members)
        ]
        return torch.stack(out).mean(0)

    def predict_one(self, text: str) -> torch.Tensor:
        return torch.stack([m.predict_one(text) for m in self.members]).mean(0)

    def truncated(self, text: str) -> bool:
        return any(m.truncated(text) for m in self.members)

    def num_params(self) -> int:
        return sum(m.num_params() for m in self.members)

    def weight_files(self) -> list[Path]:
        return [Path(m.path) / "model.safetensors" for m in self.members]


def mark_ensemble(first_dir: Path, member_dirs: list[str], sources: list[str]) -> None:
    """Name the other members' folders (siblings of `first_dir`) in the first one's meta."""
    path = Path(first_dir) / META
    meta = json.loads(path.read_text())
    meta[MEMBERS_KEY] = member_dirs
    meta[SOURCES_KEY] = sources
    path.write_text(json.dumps(meta, ensure_ascii=False, indent=1))


def load_any_teacher(path: str | Path, device: str = "auto", requested: str = "fp32"):
    """A saved teacher: one Teacher, or the ensemble its folder's meta names."""
    path = Path(path)
    meta = json.loads((path / META).read_text())
    first = load_teacher(path, device, requested)
    others = meta.get(MEMBERS_KEY)
    if not others:
        return first
    members = [first] + [load_teacher(path.parent / d, device, requested) for d in others]
    return EnsembleTeacher(members, list(meta.get(SOURCES_KEY) or [m.path for m in members]))
