"""Sentence pairs, binary and imbalanced: AFQMC financial question matching (~31% positive).

Macro-F1 is the figure to read (a model answering "no match" always scores 0.69 accuracy).
The first --max-train pairs of train are labelled, the next --transfer pairs unlabelled transfer;
the dev split scores. Students are Siamese (one shared encoder per question).

    python benchmarks/afqmc.py
"""

from __future__ import annotations

from common import SHARED, setup_logging
from pair_bench import pair_parser, run_pair_benchmark

from core.config import DataConfig


def main() -> None:
    p = pair_parser(__doc__, "train")
    p.add_argument("--transfer", type=int, default=8000, help="unlabelled transfer pairs")
    a = p.parse_args()
    setup_logging()
    d = SHARED / "afqmc"
    # train pairs beyond max_train become the transfer set (leftover_as_transfer), capped
    data = DataConfig(
        train=f"{d}/train.txt",
        test=f"{d}/dev.txt",
        max_train=a.max_train,
        max_transfer=a.transfer,
        max_test=a.max_test,
    )
    run_pair_benchmark(a, "afqmc", data, "f1", min_gain=0.02)


if __name__ == "__main__":
    main()
