"""The word students' knobs (BiLSTM / TextCNN on words, Tang et al. 2019); the character
students' config (core.methods.chars) extends it."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import opt, seed_field


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
    select_metric: str = opt(
        "auto",
        help="Dev metric that picks a student's best epoch: accuracy, macro_f1 (every class "
        "counts equally), or auto: macro_f1 when the training labels are imbalanced, accuracy "
        "otherwise (recorded with the results).",
        flag="--student-select-metric",
        choices=["auto", "accuracy", "macro_f1"],
    )
    class_weights: str = opt(
        "none",
        help="Weights of the cross-entropy on the gold labels (the plain twin's loss, the "
        "distilled student's label term): none, or balanced (inverse class frequency of the "
        "training rows, normalised to average 1).",
        flag="--student-class-weights",
        choices=["none", "balanced"],
    )
    clip_norm: float = opt(
        5.0,
        help="Gradient norm the students' dense weights are clipped to before each step "
        "(the embeddings' sparse gradients are not clipped).",
    )
    threads: int = opt(
        1,
        help="Torch threads per student while training: a tiny model gains nothing from "
        "more, and on a busy 2-core machine two OpenMP threads made training 4-40x slower.",
        flag="--student-train-threads",
    )
    seed: int = seed_field("student training")
