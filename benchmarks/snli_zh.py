"""Sentence pairs, 3 classes: Chinese SNLI (CNSD), Tang et al.'s MNLI experiment on a CPU.

The teacher reads each pair as `[CLS] premise [SEP] hypothesis [SEP]`; the students are Siamese
(one shared encoder per side, features [u; v; u∘v; |u−v|]). `dev` is the labelled + transfer
pool (the first --max-train pairs labelled, the rest unlabelled transfer), `test` scores.

    python benchmarks/snli_zh.py
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
    p.add_argument("--max-train", type=int, default=4000, help="labelled pairs (of dev)")
    p.add_argument("--max-test", type=int, default=2000, help="test pairs scored")
    p.add_argument("--seeds", type=int, default=3, help="student seeds (teacher and labels once)")
    a = p.parse_args()
    setup_logging()
    d = SHARED / "snli_zh"
    # the dev pairs beyond max_train become the unlabelled transfer set (leftover_as_transfer)
    data = DataConfig(
        train=f"{d}/dev.txt", test=f"{d}/test.txt", max_train=a.max_train, max_test=a.max_test
    )
    cfg = pipeline_config(a, "benchmark: snli_zh", data)
    summaries, _ = run_seeds(cfg, a.home, cfg.name, a.seeds)
    out = Path(a.out) if a.out else ROOT / "benchmarks" / "results" / "snli_zh.json"
    result = report(summaries, None, out)
    result["targets"] = pair_targets(result, "accuracy", min_gain=0.03)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
