"""Shopping reviews (Chinese, binary): several domains (MetaKD, NewsBERT), or one domain alone.

Without --domain: the five shopping domains plus hotel as a sixth, each a target domain of one
run: per domain a single-domain teacher, the meta-teacher (trained on all six), the plain,
distilled and meta-distilled character BiLSTM, vanilla KD and NewsBERT students of the same
shape (the teacher's bottom 2 of 4 layers) and NewsBERT's jointly trained teacher; every model
scored on that domain's test rows. Sizes are capped (--per-domain train rows, --test-cap test
rows per domain) to fit 45 minutes on 2 cores; the caps are printed with the table.

    python benchmarks/shopping.py                       # the multi-domain table (docs/benchmarks.md)
    python benchmarks/shopping.py --domain dairy --students bilstm_char,textcnn_char --export
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
    run_seeds,
    setup_logging,
)
from exports import report_exports

from core.config import DataConfig
from core.data.load import load_labelled

DOMAINS = ("books", "computer", "dairy", "phone", "water_heater")
SMALL = ("water_heater", "phone", "dairy")  # the small domains
MULTI_STUDENTS = "bilstm_char,kd,newsbert"


def main() -> None:
    p = base_parser(__doc__)
    p.add_argument("--domain", choices=DOMAINS, help="one domain alone (the older benchmark)")
    p.add_argument("--seeds", type=int, default=3, help="student seeds (teacher and labels once)")
    p.add_argument("--per-domain", type=int, default=500, help="train rows kept per domain")
    p.add_argument("--test-cap", type=int, default=300, help="test rows kept per domain")
    a = p.parse_args()
    setup_logging()
    if a.domain is None:
        from multi_domain import run_multi

        run_multi(a, SHARED, DOMAINS, SMALL)
        return
    d = SHARED / "shopping" / a.domain
    data = DataConfig(train=f"{d}/train.txt", test=f"{d}/test.txt", max_test=None)
    cfg = pipeline_config(a, f"benchmark: shopping/{a.domain}", data)
    out = Path(a.out) if a.out else ROOT / "benchmarks" / "results" / f"shopping_{a.domain}.json"
    summaries, h = run_seeds(cfg, a.home, cfg.name, a.seeds, out)
    texts = load_labelled(f"{d}/test.txt").texts
    bb = None
    if not a.no_bert_base:
        bb = bert_base_latency(h["store"], h["run_id"], texts, a.latency_samples, 13)
    result = report(summaries, bb, out)
    if a.export:
        report_exports(result, bb, out, h["store"], texts, a.latency_samples)


if __name__ == "__main__":
    main()
