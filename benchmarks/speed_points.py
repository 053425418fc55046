"""The speed points a user picks a transformer student from, against the teacher.

Latency does not depend on the weights, so every shape is timed untrained (core.runs.auto_probe,
the probe autodistill prunes with): the teacher's architecture cut to 1, 2, ... layers (vanilla
KD, PKD, BERT-of-Theseus and NewsBERT students), TinyBERT in today's 2 x 256 and the paper's
4 x 312 (and smaller), and the teacher itself (its full depth, timed the same way). Batch-1
PyTorch p50 on full test texts (hotel reviews by default), every core, as
benchmarks/hotel.py --students all timed its rows; each shape's accuracy comes from that
benchmark, not from here. Shapes are timed in rounds, alternating, so a drift in the machine's
load touches them alike.

    python benchmarks/speed_points.py --home HOME --teacher-run 1     # a fine-tuned hotel teacher
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from pathlib import Path

from common import ROOT, SHARED, save_and_print, setup_logging

from core import methods
from core.data.load import load_labelled
from core.evaluate.metrics import percentile, time_calls
from core.runs.auto_probe import Prober
from core.runs.stages import teacher_dir
from core.runs.store import Store
from core.teacher.model import load_teacher

# (label, method, settings): the shapes timed, the teacher's full depth first
SHAPES = (
    ("teacher (4 layers, 512 wide)", "kd", {"layers": 4}),
    ("cut to 3 layers", "kd", {"layers": 3}),
    ("cut to 2 layers (KD / PKD / Theseus / NewsBERT default)", "kd", {"layers": 2}),
    ("cut to 1 layer", "kd", {"layers": 1}),
    # the paper's TinyBERT-4: 312 wide, 12 heads, feed-forward 1200
    (
        "TinyBERT 4 x 312 (the paper's)",
        "tinybert",
        {"layers": 4, "hidden": 312, "heads": 12, "intermediate": 1200},
    ),
    ("TinyBERT 2 x 256 (default)", "tinybert", {"layers": 2, "hidden": 256}),
    ("TinyBERT 1 x 256", "tinybert", {"layers": 1, "hidden": 256}),
    ("TinyBERT 2 x 128", "tinybert", {"layers": 2, "hidden": 128, "intermediate": 512}),
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", required=True, help="store folder holding the teacher run")
    p.add_argument("--teacher-run", type=int, required=True, help="a finished teacher run")
    p.add_argument("--texts", default=str(SHARED / "hotel" / "test.txt"), help="timed texts")
    p.add_argument("--calls", type=int, default=200, help="timed calls per shape and round")
    p.add_argument("--rounds", type=int, default=3, help="rounds over every shape")
    p.add_argument("--out", help="JSON (default benchmarks/results/speed_points.json)")
    a = p.parse_args()
    setup_logging()
    store = Store(a.home)
    teacher = load_teacher(teacher_dir(store, a.teacher_run), "cpu")
    data = load_labelled(a.texts)
    texts = data.texts[: a.calls]
    prober = Prober(teacher, texts, data.label_names)
    students = []
    for label, method, settings in SHAPES:
        cfg = methods.get(method).config(method=method, **settings)
        students.append((label, method, settings, prober.untrained(cfg)))
    load_before = os.getloadavg()[0]
    calls: dict[str, list[float]] = {label: [] for label, *_ in SHAPES}
    for r in range(a.rounds):
        for label, _, _, student in students:
            calls[label] += time_calls(student.predict_logits, texts)
        logging.info("round %d of %d timed", r + 1, a.rounds)
    load_after = os.getloadavg()[0]
    rows = []
    base = percentile(calls[SHAPES[0][0]], 0.5)
    for label, method, settings, student in students:
        ms = calls[label]
        p50 = percentile(ms, 0.5)
        rows.append(
            {
                "shape": label,
                "method": method,
                "settings": settings,
                "parameters": sum(t.numel() for t in student.model.parameters()),
                "p50_ms": round(p50, 3),
                "p90_ms": round(percentile(ms, 0.9), 3),
                "round_p50s_ms": [
                    round(statistics.median(ms[i * len(texts) : (i + 1) * len(texts)]), 3)
                    for i in range(a.rounds)
                ],
                "calls": len(ms),
                "speedup_vs_teacher": round(base / p50, 2),
            }
        )
    out = Path(a.out) if a.out else ROOT / "benchmarks" / "results" / "speed_points.json"
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "command": f"python benchmarks/speed_points.py --teacher-run {a.teacher_run}",
        "texts": a.texts,
        "threads": __import__("torch").get_num_threads(),
        "load_average_before_after": [round(load_before, 2), round(load_after, 2)],
        "rows": rows,
    }
    save_and_print(result, out, markdown)


def markdown(result: dict) -> str:
    lines = [
        "| shape | parameters | p50 ms | p90 ms | p50 per round | calls | x teacher |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for r in result["rows"]:
        rounds = " / ".join(f"{x:.2f}" for x in r["round_p50s_ms"])
        lines.append(
            f"| {r['shape']} | {r['parameters'] / 1e6:.1f}M | {r['p50_ms']:.2f} | "
            f"{r['p90_ms']:.2f} | {rounds} | {r['calls']} | {r['speedup_vs_teacher']:.1f}x |"
        )
    lo, hi = result["load_average_before_after"]
    lines.append(f"\nLoad average before / after: {lo} / {hi}; {result['threads']} threads.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
