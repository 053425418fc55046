"""Sentence pairs, binary and imbalanced: AFQMC financial question matching (~31% positive).

Macro-F1 is the figure to read (a model answering "no match" always scores 0.69 accuracy).
The first --max-train pairs of train are labelled, the next --transfer pairs unlabelled transfer;
the dev split scores. Students are Siamese (one shared encoder per question).

    python benchmarks/afqmc.py
"""

from __future__ import annotations

import json
from pathlib import Path

from common import (
    ROOT,
    SHARED,
    base_parser,
    pair_targets,
    pipeline_config,
    report,
    run_seeds,
    setup_logging,
)

from core.config import DataConfig

PAIR_N_ITER = 2  # 3·n_iter synthetic pairs per labelled pair (a, b, both): 6 here


def main() -> None:
    p = base_parser(__doc__)
    # Tang et al.'s Siamese BiLSTM and TextCNN on words, and the same on characters
    p.set_defaults(
        augment_iters=PAIR_N_ITER, students=["bilstm", "textcnn", "bilstm_char", "textcnn_char"]
    )
    p.add_argument("--max-train", type=int, default=4000, help="labelled pairs (of train)")
    p.add_argument("--transfer", type=int, default=8000, help="unlabelled transfer pairs")
    p.add_argument("--max-test", type=int, default=2000, help="dev pairs scored")
    p.add_argument("--seeds", type=int, default=3, help="student seeds (teacher and labels once)")
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
    cfg = pipeline_config(a, "benchmark: afqmc", data)
    summaries, _ = run_seeds(cfg, a.home, cfg.name, a.seeds)
    out = Path(a.out) if a.out else ROOT / "benchmarks" / "results" / "afqmc.json"
    result = report(summaries, None, out)
    result["targets"] = pair_targets(result, "f1", min_gain=0.02)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
