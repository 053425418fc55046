"""A second opinion on another corpus: one domain of the shopping reviews (Chinese, binary).

The teacher is fine-tuned on the domain's train split; there is no unlabelled transfer set, so
the students learn from the train texts plus their augmented variants (labelled by the teacher);
every model is scored on the domain's test split.

    python benchmarks/shopping.py --domain dairy --students bilstm_char,textcnn_char,textcnn --export
"""

from __future__ import annotations

from pathlib import Path

from common import (
    ROOT,
    SHARED,
    base_parser,
    bert_base_latency,
    pipeline_config,
    report,
    report_exports,
    run_seeds,
    setup_logging,
)

from core.config import DataConfig
from core.data import load_labelled

DOMAINS = ("books", "computer", "dairy", "phone", "water_heater")


def main() -> None:
    p = base_parser(__doc__)
    p.add_argument("--domain", choices=DOMAINS, default="dairy")
    p.add_argument("--seeds", type=int, default=3, help="student seeds (teacher and labels once)")
    a = p.parse_args()
    setup_logging()
    d = SHARED / "shopping" / a.domain
    data = DataConfig(train=f"{d}/train.txt", test=f"{d}/test.txt", max_test=None)
    cfg = pipeline_config(a, f"benchmark: shopping/{a.domain}", data)
    summaries, h = run_seeds(cfg, a.home, cfg.name, a.seeds)
    texts = load_labelled(f"{d}/test.txt").texts
    bb = None
    if not a.no_bert_base:
        bb = bert_base_latency(h["store"], h["run_id"], texts, a.latency_samples, 13)
    out = Path(a.out) if a.out else ROOT / "benchmarks" / "results" / f"shopping_{a.domain}.json"
    result = report(summaries, bb, out)
    if a.export:
        report_exports(result, bb, out, h["store"], texts, a.latency_samples)


if __name__ == "__main__":
    main()
