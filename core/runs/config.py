"""What a run does, as one dataclass: the data, teacher, augmentation, domain and student
sections, and the run-wide settings. It lives in the runs layer because its students are the
method registry's configs (core.methods), which the leaf core.config cannot import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config import (
    AugmentConfig,
    DataConfig,
    DomainConfig,
    TeacherConfig,
    build,
    opt,
)
from core.methods import config_from_dict, default_config


def default_students() -> list[Any]:
    """Character students by default: on hotel (3 seeds) the distilled character TextCNN scored
    0.907 against the word one's 0.883 and the teacher's 0.892, and on shopping/dairy 0.920
    against 0.860, with no segmenter on the latency path. Word students stay selectable."""
    return [default_config("bilstm_char"), default_config("textcnn_char")]


@dataclass
class PipelineConfig:
    data: DataConfig = opt(help="Where the texts come from.", factory=DataConfig)
    teacher: TeacherConfig = opt(help="The teacher and its fine-tuning.", factory=TeacherConfig)
    augment: AugmentConfig = opt(
        help="Augmentation of the training texts (Tang et al. 2019, 3.3).", factory=AugmentConfig
    )
    domains: DomainConfig = opt(
        help="Target domains and the meta-teacher (MetaKD).", factory=DomainConfig
    )
    students: list[Any] = opt(
        help="Students to distil (comma list of method names on the command line: see "
        "`python -m core methods`), each with its method's settings (StudentConfig for the "
        "word students, each transformer method's own dataclass in core/methods/).",
        factory=default_students,
        flag="--students",
        group="students",
    )
    teacher_run: int | None = opt(
        None,
        help="Reuse the fine-tuned teacher of this earlier run instead of training one.",
        flag="--teacher-run",
        none="fine-tune a new teacher",
    )
    teacher_timing_run: int | None = opt(
        None,
        help="Copy the teacher's speed figures (batch-1 PyTorch and ONNX p50, throughput) from "
        "this earlier run's results instead of timing the same teacher again: the trials of an "
        "autodistill search or a sweep share one teacher, timed once. Used only if that run timed what this one would.",
        flag="--teacher-timing-run",
        none="time the teacher in this run",
    )
    plain_baseline: bool = opt(
        True,
        help="Also train each student on the hard labels only: the report's share of the "
        "teacher-vs-plain gap closed needs it.",
        flag="--no-plain-baseline",
        aliases=("--no-plain",),
        group="students",
    )
    use_augmentation: bool = opt(
        True,
        help="Augment the training texts for the teacher to label (Tang et al. 2019).",
        flag="--no-use-augmentation",
        aliases=("--no-augment",),
        group="augment",
    )
    latency_samples: int = opt(
        200,
        help="Test sentences timed per model at batch 1 (after a warm-up).",
        flag="--latency-samples",
        min=10,
        max=2000,
        step=10,
    )
    onnx_latency: bool = opt(
        True,
        help="Also time every model the way it is deployed: exported to ONNX and run by ONNX "
        "Runtime through the export's own predict.py (text in, label out; tokenisation and "
        "the model call also timed apart). A few seconds per model.",
        flag="--no-onnx-latency",
    )
    student_workers: int = opt(
        2,
        help="Students trained side by side, one torch thread each.",
        flag="--student-workers",
        group="students",
    )
    student_threads: int = opt(
        1,
        help="Torch threads for the students' batch-1 latency (recorded with the results).",
        flag="--student-threads",
        aliases=("--latency-threads",),
        group="students",
    )
    name: str = opt("", help="Optional run name shown in the run lists.", flag="--name")
    device: str = opt(
        "auto",
        help="Where the teacher and the transformer students train and label: auto (CUDA when "
        "torch sees it), cpu or cuda; word students train on the CPU, and every student's "
        "latency is measured on the CPU, where it is deployed.",
        flag="--device",
        choices=["auto", "cpu", "cuda"],
    )
    precision: str = opt(
        "auto",
        help="What the teacher (fine-tuning, labelling) and the transformer students train in: "
        "auto (bf16 autocast on a CUDA GPU that has it; fp32 on the CPU until a quiet "
        "benchmark shows bf16 pays there, see docs/benchmarks.md), fp32, or bf16 (autocast; "
        "on a CPU with AMX-BF16 / AVX-512-BF16 a fine-tuning step ran 1.6x and labelling 3x "
        "faster on a quiet machine; refused where not native). Character and word students "
        "always use fp32. Recorded with the results.",
        flag="--precision",
        choices=["auto", "fp32", "bf16"],
    )
    label_int8: bool = opt(
        True,
        help="Label the transfer and augmented texts with an int8 copy of the teacher (PyTorch's "
        "dynamic quantisation of its Linear layers) where the teacher runs on the CPU in fp32; "
        "fine-tuning and the teacher's own scores stay fp32, and a bf16 or CUDA teacher labels "
        "in its own precision. On by default: on a quiet 2-core CPU the default run's label "
        "stage took 113 s instead of 175 s, and its best distilled student kept its accuracy "
        "over 3 seeds (0.831 ± 0.004 against 0.832 ± 0.003; on hotel 0.891 against 0.890; "
        "docs/benchmarks.md). Checked first on 256 of the texts: below "
        "label_int8_min_agreement the run labels in fp32 instead. The label cache keys int8 "
        "labels apart; recorded with the results.",
        flag="--no-label-int8",
    )
    label_int8_min_agreement: float = opt(
        0.95,
        help="Share of 256 sample texts on which the int8 copy must pick the fp32 teacher's "
        "class before it labels the rest; below it the run labels in fp32 (recorded). "
        "m3e-small agreed on 98.8%; a 12-layer multilingual-e5-small on snli_zh on 72%, and "
        "lost 8.7 points of accuracy in int8.",
        flag="--label-int8-min-agreement",
        min=0.0,
        max=1.0,
        step=0.01,
    )


def pipeline_from_dict(d: dict[str, Any]) -> PipelineConfig:
    d = dict(d)
    cfg = build(PipelineConfig, d)
    cfg.data = build(DataConfig, d.get("data", {}))
    cfg.teacher = build(TeacherConfig, d.get("teacher", {}))
    cfg.augment = build(AugmentConfig, d.get("augment", {}))
    cfg.domains = build(DomainConfig, d.get("domains", {}))
    if "students" in d:
        cfg.students = [config_from_dict(s) for s in d["students"]]
    return cfg
