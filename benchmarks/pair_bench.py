"""The sentence-pair benchmarks' shared runner (afqmc.py, snli_zh.py): their flags, the run over
seeds, the report and issue #9's targets (the Siamese BiLSTM's gain over its plain twin, the
fastest pair student's speed-up)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import ROOT, base_parser, pipeline_config, report, run_seeds

from core.config import DataConfig


def pair_targets(result: dict, metric: str, min_gain: float, min_speedup: float = 20.0) -> dict:
    """Issue #9's checks on a pair benchmark: the distilled Siamese BiLSTM against its plain
    twin on `metric` ("accuracy" or "f1", mean over seeds), and the fastest pair student's
    batch-1 speed-up over the teacher; printed and returned (stored in the JSON)."""
    rows = {r["model"]: r for r in result["rows"]}
    out: dict = {}
    for arch in ("bilstm", "bilstm_char", "textcnn", "textcnn_char"):
        d, p = rows.get(f"{arch}_distilled"), rows.get(f"{arch}_plain")
        if d and p:
            gain = d[metric] - p[metric]
            out[f"{arch}_gain_{metric}"] = gain
            print(f"{arch}: distilled {d[metric]:.4f} vs plain {p[metric]:.4f} ({metric}): "
                  f"{gain * 100:+.1f} points")  # fmt: skip
    if "bilstm_gain_" + metric in out:
        met = out["bilstm_gain_" + metric] >= min_gain
        out["siamese_bilstm_target_met"] = met
        print(f"target: Siamese BiLSTM +{min_gain * 100:.0f} points {metric}: "
              f"{'met' if met else 'NOT met'}")  # fmt: skip
    students = [r for r in result["rows"] if r["model"] != "teacher"]
    fastest = max(students, key=lambda r: r["speedup_vs_teacher"])
    out["fastest"] = fastest["model"]
    out["fastest_speedup"] = fastest["speedup_vs_teacher"]
    out["speedup_target_met"] = fastest["speedup_vs_teacher"] >= min_speedup
    print(f"fastest pair student: {fastest['model']} {fastest['speedup_vs_teacher']:.1f}x the "
          f"teacher at batch 1 (target {min_speedup:.0f}x: "
          f"{'met' if out['speedup_target_met'] else 'NOT met'})")  # fmt: skip
    total = result["pipeline_total_s"]
    out["within_15_min"] = total <= 15 * 60
    print(f"pipeline (first seed) {total / 60:.1f} min, every seed "
          f"{(total + sum(result['further_seed_s'])) / 60:.1f} min (target 15 min for one run)")  # fmt: skip
    return out


PAIR_STUDENTS = ["bilstm", "textcnn", "bilstm_char", "textcnn_char"]
PAIR_N_ITER = 2  # 3·n_iter synthetic pairs per labelled pair (a, b, both): 6


def pair_parser(doc: str, train_from: str) -> argparse.ArgumentParser:
    """The pair benchmarks' flags: Tang et al.'s Siamese BiLSTM and TextCNN on words and the
    same on characters by default, n_iter 2, and the data sizes."""
    p = base_parser(doc)
    p.set_defaults(augment_n_iter=PAIR_N_ITER, students=PAIR_STUDENTS)
    p.add_argument("--max-train", type=int, default=4000, help=f"labelled pairs (of {train_from})")
    p.add_argument("--max-test", type=int, default=2000, help="pairs scored")
    p.add_argument("--seeds", type=int, default=3, help="student seeds (teacher and labels once)")
    return p


def run_pair_benchmark(
    a: argparse.Namespace, name: str, data: DataConfig, metric: str, min_gain: float
) -> dict:
    """Run, report (table, JSON, markdown) and check issue #9's targets on `metric`."""
    cfg = pipeline_config(a, f"benchmark: {name}", data)
    summaries, _ = run_seeds(cfg, a.home, cfg.name, a.seeds)
    out = Path(a.out) if a.out else ROOT / "benchmarks" / "results" / f"{name}.json"
    result = report(summaries, None, out)
    result["targets"] = pair_targets(result, metric, min_gain=min_gain)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return result
