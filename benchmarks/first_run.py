"""A newcomer's first run, fp32 against `--precision bf16`, side by side in one process: the
untouched default pipeline (`python -m core pipeline` with no flags: the embedded data, the
m3e-small teacher, the character students), once per precision, each in a fresh store folder
(so each pays for what a first run pays for: the preset's preparation, labelling without a cache);
the embedded data is read once before both, so the first side does not pay alone for the
process's cold imports.

Printed and written to benchmarks/results/first_run.json: wall time per stage (results.json's
`timings`), teacher and student accuracies, the precision each stage ran in, the error of the
whole-run ETA at 25/50/75% of the run (core.runs.eta.eta_errors, from the `eta` series every run
records), the time the Train page and the CLI promise before a first run (the reference run
scaled by this CPU's speed probe; untouched settings only) against the run's real wall time, the
CPU model, its bf16 support and the load average around each run (a busy machine is said so).

    python benchmarks/first_run.py                      # the real benchmark (~10 min quiet)
    python benchmarks/first_run.py --seeds 3            # + 2 student seeds: the accuracy target
    python benchmarks/first_run.py -- --max-train 200 --max-transfer 200 --teacher-epochs 1 \\
        --student-epochs 1 --augment-iters 1 --no-onnx-latency   # a smoke run, minutes

Everything after `--` is passed to the pipeline's own parser (any `python -m core pipeline`
flag), for both runs alike.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from common import run_seeds

from core.cli.parser import build_parser
from core.cli.run_flags import config_from_args
from core.data.bundle import load_bundle
from core.runs.eta import eta_errors, first_run_estimate
from core.train.device import cpu_bf16_supported, cpu_flags, cpu_model, speed_probe_s

ROOT = Path(__file__).resolve().parent.parent
FRACTIONS = (0.25, 0.5, 0.75)


def seed_check(summaries: list[dict]) -> dict:
    """The accuracy target over student seeds: per seed the best distilled student and its
    distance from the teacher in points (teacher - best distilled), then their mean and sd."""
    teacher = [s["models"]["teacher"]["accuracy"] for s in summaries]
    best = [
        max(m["accuracy"] for n, m in s["models"].items() if n.endswith("_distilled"))
        for s in summaries
    ]
    gap = [100 * (t - b) for t, b in zip(teacher, best, strict=True)]
    sd = statistics.stdev(best) if len(best) > 1 else 0.0
    return {
        "student_seeds": [s.get("student_seed") for s in summaries],
        "teacher": [round(t, 4) for t in teacher],
        "best_distilled": [round(b, 4) for b in best],
        "best_distilled_mean": round(statistics.fmean(best), 4),
        "best_distilled_sd": round(sd, 4),
        "gap_points": [round(g, 2) for g in gap],
        "gap_points_mean": round(statistics.fmean(gap), 2),
    }


def one_side(precision: str, pipeline_args: list[str], home: Path, seeds: int = 1) -> dict:
    """One default run in `precision` in a fresh store folder: its figures and its timings;
    with `seeds` > 1, the students again with seeds +1, +2, ... from that run's teacher and
    cached labels (benchmarks/common.run_seeds), for the accuracy target (`seed_check`)."""
    a = build_parser(["pipeline"]).parse_args(["pipeline", *pipeline_args])
    cfg = config_from_args(a)
    # what the Train page and the CLI promise before a first run (None unless untouched)
    probe = speed_probe_s()
    promised = first_run_estimate(cfg, probe)
    cfg.precision = precision
    cfg.name = f"first run ({precision})"
    load_before = os.getloadavg()
    summaries, h = run_seeds(cfg, str(home), cfg.name, seeds)
    load_after = os.getloadavg()
    for k, s in enumerate(summaries):
        s["student_seed"] = cfg.students[0].seed + k
    summary = summaries[0]  # the timed first run: every stage, nothing cached
    models = summary["models"]
    return {
        "precision": precision,
        "devices": summary.get("devices"),
        "wall_s": round(summary["wall_s"], 1),
        "speed_probe_ms": round(1000 * probe, 2),
        "promised_s": round(promised, 1) if promised is not None else None,
        "promise_error": round(promised / summary["wall_s"] - 1, 4) if promised else None,
        "timings": summary["timings"],
        "accuracy": {name: round(m["accuracy"], 4) for name, m in models.items()},
        "eta_error": {
            k: (v or {}).get("error") for k, v in eta_errors(h["store"], h["run_id"])["at"].items()
        },
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in load_after],
        "data": {k: summary["data"].get(k) for k in ("train", "test", "dev", "transfer")},
        "seed_check": seed_check(summaries),
    }


def table(sides: list[dict]) -> str:
    """Stages, accuracies and ETA errors as rows, one column per precision."""
    names = [s["precision"] for s in sides]
    lines = [f"{'':28}" + "".join(f"{n:>12}" for n in names)]
    stages = list(dict.fromkeys(k for s in sides for k in s["timings"]))
    for st in stages:
        lines.append(
            f"{st + ' (s)':28}" + "".join(f"{s['timings'].get(st, 0):>12.1f}" for s in sides)
        )
    lines.append(f"{'wall (s)':28}" + "".join(f"{s['wall_s']:>12.1f}" for s in sides))
    cells = [
        "-" if s.get("promised_s") is None else f"{s['promised_s']:.0f} ({s['promise_error']:+.0%})"
        for s in sides
    ]
    lines.append(f"{'promised before start (s)':28}" + "".join(f"{c:>12}" for c in cells))
    models = list(dict.fromkeys(k for s in sides for k in s["accuracy"]))
    for m in models:
        lines.append(
            f"{m + ' acc':28}" + "".join(f"{s['accuracy'].get(m, 0):>12.4f}" for s in sides)
        )
    prec = [s["devices"].get("teacher_precision", "?") if s["devices"] else "?" for s in sides]
    lines.append(f"{'teacher precision':28}" + "".join(f"{p:>12}" for p in prec))
    for f in FRACTIONS:
        key = f"{int(f * 100)}%"
        cells = [s["eta_error"][key] for s in sides]
        row = "".join(f"{'-' if c is None else f'{100 * c:+.0f}%':>12}" for c in cells)
        lines.append(f"{'ETA error at ' + key:28}" + row)
    n = len(sides[0]["seed_check"]["best_distilled"])
    cells = [
        f"{s['seed_check']['best_distilled_mean']:.3f}±{s['seed_check']['best_distilled_sd']:.3f}"
        for s in sides
    ]
    lines.append(f"{f'best distilled, {n} seed(s)':28}" + "".join(f"{c:>12}" for c in cells))
    cells = [f"{s['seed_check']['gap_points_mean']:+.2f}" for s in sides]
    lines.append(f"{'teacher - best (points)':28}" + "".join(f"{c:>12}" for c in cells))
    loads = [f"{s['load_avg_before'][0]:.1f}->{s['load_avg_after'][0]:.1f}" for s in sides]
    lines.append(f"{'load avg (1 min)':28}" + "".join(f"{x:>12}" for x in loads))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    pipeline_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", help="folder for the two fresh stores (default: a temp folder)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "first_run.json"))
    p.add_argument(
        "--precisions",
        default=None,
        help="comma list, run in this order; repeat to alternate on a machine whose load "
        "drifts (fp32,bf16,fp32,bf16); bf16 needs a CPU with AMX-BF16 or AVX-512-BF16. "
        "Default: fp32,bf16 on such a CPU, fp32 alone on any other (auto is fp32 there)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="student seeds per precision for the accuracy target (best distilled student "
        "within 1.5 points of the teacher): the timed run, then the students again with seeds "
        "+1, +2, ... from its teacher and cached labels (their stage times are not in the table)",
    )
    a = p.parse_args(own)
    if a.precisions is None:
        a.precisions = "fp32,bf16" if cpu_bf16_supported() else "fp32"
        if not cpu_bf16_supported():
            print(f"{cpu_model()}: no AMX-BF16 / AVX-512-BF16, so fp32 alone is timed")
    logging.basicConfig(level=logging.WARNING)
    base = Path(a.home) if a.home else Path(tempfile.mkdtemp(prefix="first_run_"))
    # warm-up: the first side must not pay alone for this process's cold imports and file reads
    load_bundle(
        config_from_args(build_parser(["pipeline"]).parse_args(["pipeline", *pipeline_args])).data
    )
    sides = []
    try:
        for i, prec in enumerate(a.precisions.split(",")):
            home = base / f"{i}-{prec}"
            shutil.rmtree(home, ignore_errors=True)  # a first run: nothing cached
            sides.append(one_side(prec, pipeline_args, home, a.seeds))
    finally:
        if not a.home:
            shutil.rmtree(base, ignore_errors=True)
    report = {
        "cpu": cpu_model(),
        "cpu_bf16_flags": sorted(cpu_flags() & {"amx_bf16", "avx512_bf16"}),
        "cpu_bf16_supported": cpu_bf16_supported(),
        "cores": os.cpu_count(),
        "pipeline_args": pipeline_args,
        "defaults_untouched": not pipeline_args,
        "runs": sides,
    }
    print(
        f"CPU: {report['cpu']} ({report['cores']} cores), native bf16: "
        f"{report['cpu_bf16_supported']} {report['cpu_bf16_flags']}"
    )
    print("pipeline flags: " + (" ".join(pipeline_args) or "none (the untouched default run)"))
    print(table(sides))
    Path(a.out).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"written to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
