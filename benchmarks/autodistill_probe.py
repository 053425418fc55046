"""How well autodistill's probes predict a trained student's deployed latency.

For every trained trial of a finished search, the trial's student is built again untrained and
timed both ways the search can time it before training (core.runs.auto_probe): PyTorch eager,
and as deployed (exported to ONNX, through its own predict.py). Printed beside the trained
student's measured deployed p50 (its run's evaluation), with the budget verdict each would give.
Word and character students only (a transformer is probed in PyTorch alone).

    python benchmarks/autodistill_probe.py --home HOME --search 2 --budget-ms 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from common import ROOT, save_and_print, setup_logging

from core import methods
from core.data.load import load_labelled
from core.runs import auto_space
from core.runs.auto_answer import deployed_p50
from core.runs.auto_probe import Prober
from core.runs.auto_trials import student_row
from core.runs.stages import teacher_dir
from core.runs.store import Store
from core.teacher.model import load_teacher


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", required=True, help="store folder of the search")
    p.add_argument("--search", type=int, required=True, help="a finished autodistill run")
    p.add_argument("--budget-ms", type=float, default=1.0)
    p.add_argument("--tolerance", type=float, default=1.5, help="the search's DEPLOYED_TOLERANCE")
    p.add_argument("--out", help="JSON (default benchmarks/results/autodistill_probe.json)")
    a = p.parse_args()
    setup_logging()
    store = Store(a.home)
    search = store.run(a.search)
    teacher_run = json.loads((store.run_dir(a.search) / "results.json").read_text())["teacher_run"]
    teacher = load_teacher(teacher_dir(store, teacher_run), "cpu")
    train = load_labelled(search["config"]["data"]["train"])
    seed = search["config"]["data"]["seed"]
    prober = Prober.from_texts(teacher, train.texts, train.label_names, seed, 1)
    load_before = os.getloadavg()[0]
    rows = []
    for child in store.runs(parent=a.search):
        info = child["config"].get("auto_trial")
        if not info or info.get("role") != "trial" or child["status"] != "done":
            continue
        method = info["params"]["method"]
        if methods.get(method).family not in ("word", "char"):
            continue
        cfg = auto_space.student_config(info["params"])
        t0 = time.perf_counter()
        onnx = prober.deployed_ms(cfg)
        probe_s = time.perf_counter() - t0
        measured = deployed_p50(student_row(store, child["id"], method))
        rows.append(
            {
                "trial": info["number"],
                "run": child["id"],
                "student": auto_space.describe(info["params"]),
                "probe_torch_ms": info["probe_ms"],
                "probe_deployed_ms": onnx,
                "measured_deployed_ms": round(measured, 4),
                "probe_s": round(probe_s, 2),
                "over_by_probe": onnx > a.tolerance * a.budget_ms,
                "over_measured": measured > a.budget_ms,
            }
        )
    ratios = [r["probe_deployed_ms"] / r["measured_deployed_ms"] for r in rows]
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "command": f"python benchmarks/autodistill_probe.py --search {a.search} "
        f"--budget-ms {a.budget_ms:g}",
        "budget_ms": a.budget_ms,
        "tolerance": a.tolerance,
        "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "median_ratio": round(statistics.median(ratios), 3),
        "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "rows": rows,
    }
    out = Path(a.out) if a.out else ROOT / "benchmarks" / "results" / "autodistill_probe.json"
    save_and_print(result, out, markdown)


def markdown(result: dict) -> str:
    lines = [
        "| trial | student | PyTorch probe ms | deployed probe ms | measured ms | verdicts |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        same = r["over_by_probe"] == r["over_measured"]
        verdict = ("over" if r["over_measured"] else "under") + ("" if same else " (probe differs)")
        lines.append(
            f"| {r['trial']} | {r['student']} | {r['probe_torch_ms']:.3f} | "
            f"{r['probe_deployed_ms']:.3f} | {r['measured_deployed_ms']:.3f} | {verdict} |"
        )
    lo, hi = result["ratio_range"]
    lines.append(
        f"\nDeployed probe / measured: median {result['median_ratio']:.2f} (range {lo:.2f} to "
        f"{hi:.2f}); load average {result['load_average_before_after']}."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
