"""English works too: GLUE SST-2 (the paper's headline task), on a slice so it fits a CPU.

The teacher is m3e-small by default (its vocabulary has English word pieces; pass
--teacher multilingual-e5-small or a local bert-base-uncased directory for a stronger one).
The first --max-train rows of train are labelled data, the next --transfer rows are unlabelled
transfer texts, and the models are scored on the labelled test split.

    python benchmarks/sst2.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import (
    ROOT,
    SHARED,
    base_parser,
    bert_base_latency,
    pipeline_config,
    report,
    run_seeds,
    setup_logging,
)

from core.config import DataConfig


def main() -> None:
    p = base_parser(__doc__)
    p.add_argument("--data", default=str(SHARED / "sst2"))
    p.add_argument("--max-train", type=int, default=2000)
    p.add_argument("--transfer", type=int, default=6000)
    p.add_argument("--max-test", type=int, default=1000)
    p.add_argument("--seeds", type=int, default=3, help="student seeds (teacher and labels once)")
    a = p.parse_args()
    setup_logging()
    lines = Path(a.data, "train.tsv").read_text(encoding="utf-8").splitlines()
    header, body = lines[0], lines[1:]
    tmp = Path(tempfile.mkdtemp(prefix="sst2_"))
    # slices of the shared file, written to a temp folder (never into the project)
    (tmp / "train.tsv").write_text("\n".join([header, *body[: a.max_train]]), encoding="utf-8")
    transfer = [ln.split("\t", 1)[1] for ln in body[a.max_train : a.max_train + a.transfer]]
    (tmp / "transfer.txt").write_text("\n".join(transfer), encoding="utf-8")
    data = DataConfig(
        train=str(tmp / "train.tsv"),
        test=f"{a.data}/test.tsv",
        transfer=str(tmp / "transfer.txt"),
        max_transfer=None,
        max_test=a.max_test,
    )
    cfg = pipeline_config(a, "benchmark: sst2 slice", data)
    out = Path(a.out) if a.out else ROOT / "benchmarks" / "results" / "sst2.json"
    summaries, h = run_seeds(cfg, a.home, cfg.name, a.seeds, out)
    bb = None
    if not a.no_bert_base:
        from core.data.load import load_labelled

        texts = load_labelled(f"{a.data}/test.tsv").texts
        bb = bert_base_latency(h["store"], h["run_id"], texts, a.latency_samples, 13)
    report(summaries, bb, out)


if __name__ == "__main__":
    main()
