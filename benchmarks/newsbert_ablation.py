"""NewsBERT against vanilla KD of the same shape, and NewsBERT's ablation (beta, hidden weight).

One dataset per call (hotel, or one shopping domain), capped to fit a 2-core CPU: a teacher
fine-tuned on `--max-train` rows (or an earlier run's, `--teacher-run`), then per seed a run with
`kd` and `newsbert` (defaults) from that teacher, and per ablation variant a run with NewsBERT at
that (beta, hidden weight). Every run also trains the plain twin (the teacher's bottom layers on
the labels), so each row reads teacher vs plain vs distilled: accuracy and macro-F1 (mean ± sd
over seeds), retention (accuracy / teacher accuracy), gap closed ((distilled − plain) /
(teacher − plain), per seed). A student that answers one class scores the macro-F1 of the
majority answer (0.33 on a balanced binary set, 0.45 on an 83/17 one) whatever its accuracy: the
table marks a row `COLLAPSED` when some seed's macro-F1 is within 0.05 of that.

    python benchmarks/newsbert_ablation.py --dataset books     # ~30 min on 2 busy cores
    python benchmarks/newsbert_ablation.py --dataset hotel --ablation-seeds 0
    python benchmarks/newsbert_ablation.py --dataset computer dairy phone --ablation-seeds 0

Writes the JSON and a markdown table beside it (`.md`); several datasets go to one file,
rewritten after each dataset.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import statistics
import time
from pathlib import Path

from common import ROOT, SHARED, pipeline_config, run, setup_logging

from core import methods
from core.cli.fields import add_config_args, add_field_arg
from core.config import DataConfig, TeacherConfig
from core.data.load import load_labelled
from core.runs.config import PipelineConfig

SHOPPING = ("books", "computer", "dairy", "phone", "water_heater")
# (beta, hidden weight): the defaults first, then the ablation
VARIANTS = ((0.5, 1.0), (0.0, 1.0), (0.5, 0.0), (0.0, 0.0))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--dataset",
        nargs="+",
        default=["books"],
        choices=("hotel", *SHOPPING),
        help="one or more (each with its own teacher; several go to newsbert_shopping.json)",
    )
    p.add_argument("--home", help="store folder (default: $DISTILLERY_HOME or ./data)")
    p.add_argument("--out", help="JSON output path")
    p.add_argument("--teacher-run", type=int, help="reuse this run's teacher (same caps)")
    p.add_argument("--seeds", type=int, default=3, help="seeds of the KD / NewsBERT comparison")
    p.add_argument("--ablation-seeds", type=int, default=1, help="seeds of each ablation variant")
    p.add_argument(
        "--max-train", type=int, default=500, help="labelled rows (teacher and students)"
    )
    p.add_argument("--max-transfer", type=int, default=500, help="unlabelled transfer texts")
    p.add_argument("--max-test", type=int, default=500, help="test rows")
    p.add_argument("--teacher-epochs", type=int, default=2)
    add_field_arg(p, PipelineConfig, "label_int8")
    add_field_arg(p, TeacherConfig, "class_weights")  # imbalanced domains (water_heater)
    # every student method's flags (--tf-max-texts, --student-epochs, --newsbert-beta, ...)
    add_config_args(p.add_argument_group("students"), methods.config_classes())
    return p


def data_config(a: argparse.Namespace) -> DataConfig:
    if a.dataset == "hotel":  # hotel/dev's texts as the unlabelled transfer set, as hotel.py
        d = SHARED / "hotel"
        transfer = f"{d}/dev.txt"
    else:
        d, transfer = SHARED / "shopping" / a.dataset, None
    return DataConfig(
        train=f"{d}/train.txt",
        test=f"{d}/test.txt",
        transfer=transfer,
        max_train=a.max_train,
        max_transfer=a.max_transfer,
        max_test=a.max_test,
    )


def config(a: argparse.Namespace, students: list[str], name: str):
    ns = argparse.Namespace(**vars(a))
    ns.students = students
    ns.augment_n_iter = 0  # no augmentation: the transfer texts alone (keeps labelling small)
    ns.latency_samples = 20
    cfg = pipeline_config(ns, name, data_config(a))
    return dataclasses.replace(cfg, onnx_latency=False)


def with_newsbert(cfg, beta: float, hidden: float, seed_offset: int):
    students = []
    for s in cfg.students:
        s = dataclasses.replace(s, seed=s.seed + seed_offset)
        if s.method == "newsbert":
            s = dataclasses.replace(s, momentum=beta, hidden_weight=hidden)
        students.append(s)
    return dataclasses.replace(cfg, students=students)


def stats(xs: list[float | None]) -> tuple[float, float]:
    xs = [x for x in xs if x is not None]
    if not xs:
        return float("nan"), float("nan")
    return statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def one_class_f1(majority: float, n_classes: int) -> float:
    """Macro-F1 of answering the majority class on every row: that class's F1 is 2m / (1 + m)
    (precision m, recall 1), every other class's is 0. Accuracy cannot tell a collapsed student
    on imbalanced data (a weak one that answers both classes can score below the majority
    share); macro-F1 at this floor can."""
    return 2 * majority / (1 + majority) / n_classes


def row(label: str, summaries: list[dict], key: str, one_class: float) -> dict:
    """Mean ± sd over the runs of `key`'s accuracy, F1, retention and gap closed; collapsed when
    some seed's macro-F1 is within 0.05 of `one_class` (the majority answer's macro-F1)."""
    acc, f1, ret, gap = [], [], [], []
    for s in summaries:
        m = s["models"]
        t, d = m["teacher"]["accuracy"], m[key]["accuracy"]
        plain = m.get(key.replace("_distilled", "_plain"), {}).get("accuracy")
        plain = plain if key.endswith("_distilled") else None  # gap closed: students only
        acc.append(d)
        f1.append(m[key]["f1"])
        ret.append(d / t)
        gap.append((d - plain) / (t - plain) if plain is not None and t > plain else None)
    out = {"model": label, "seeds": len(summaries), "accuracy_by_seed": acc, "f1_by_seed": f1}
    for name, xs in (("accuracy", acc), ("f1", f1), ("retention", ret), ("gap_closed", gap)):
        out[name], out[name + "_sd"] = stats(xs)
    out["collapsed"] = any(f <= one_class + 0.05 for f in f1)
    return out


def pm(mean: float, sd: float, pct: bool = False) -> str:
    if mean != mean:
        return "-"
    return f"{mean * 100:.0f}% ± {sd * 100:.0f}" if pct else f"{mean:.4f} ± {sd:.4f}"


def one_dataset(a: argparse.Namespace, dataset: str) -> dict:
    """KD and NewsBERT over `a.seeds` seeds (one teacher), then the ablation variants, on one
    dataset: the rows, the caps and the verdict (NewsBERT at or above KD, never one class)."""
    a = argparse.Namespace(**{**vars(a), "dataset": dataset})
    t0, load_before = time.time(), os.getloadavg()
    base = config(a, ["kd", "newsbert"], f"benchmark: NewsBERT vs KD on {a.dataset}")
    main_runs, teacher_run = [], a.teacher_run
    for k in range(a.seeds):
        cfg = dataclasses.replace(with_newsbert(base, *VARIANTS[0], k), teacher_run=teacher_run)
        kind = "distill" if teacher_run is not None else "pipeline"
        summary, h = run(cfg, a.home, f"{base.name} (seed +{k})", kind=kind)
        main_runs.append(summary)
        teacher_run = h["run_id"] if teacher_run is None else teacher_run
    ablation = {}
    solo = config(a, ["newsbert"], f"benchmark: NewsBERT ablation on {a.dataset}")
    for beta, hidden in VARIANTS[1:] if a.ablation_seeds > 0 else ():
        runs = []
        for k in range(a.ablation_seeds):
            cfg = dataclasses.replace(with_newsbert(solo, beta, hidden, k), teacher_run=teacher_run)
            runs.append(run(cfg, a.home, f"{solo.name} beta {beta} hidden {hidden}", "distill")[0])
        ablation[(beta, hidden)] = runs
    labels = load_labelled(data_config(a).test).labels  # the test cap is stratified: same share
    counts = collections.Counter(labels)
    majority = max(counts.values()) / len(labels)
    one_class = one_class_f1(majority, len(counts))
    rows = [
        row("teacher", main_runs, "teacher", one_class),
        row("plain (bottom 2 layers, labels)", main_runs, "kd_plain", one_class),
        row("vanilla KD", main_runs, "kd_distilled", one_class),
        row("NewsBERT b=0.5 h=1 (default)", main_runs, "newsbert_distilled", one_class),
        row("NewsBERT joint teacher", main_runs, "newsbert_teacher", one_class),
    ]
    for (beta, hidden), runs in ablation.items():
        rows.append(row(f"NewsBERT b={beta:g} h={hidden:g}", runs, "newsbert_distilled", one_class))
    s0 = main_runs[0]
    caps = (
        f"{a.dataset}: {s0['data'].get('train', a.max_train)} labelled rows "
        f"(--max-train {a.max_train}; dev {s0['data'].get('dev')} rows carved from train), "
        f"{s0['data'].get('transfer')} transfer texts (--max-transfer {a.max_transfer}), "
        f"{s0['data'].get('test', len(labels))} test rows (--max-test {a.max_test}), "
        f"student texts --tf-max-texts {base.students[0].max_texts}, "
        f"{base.students[0].epochs} student epochs, no augmentation; majority class "
        f"{majority:.4f} (its macro-F1 {one_class:.3f})"
    )
    kd = next(r for r in rows if r["model"] == "vanilla KD")
    nb = next(r for r in rows if r["model"].endswith("(default)"))
    verdict = {
        "newsbert_minus_kd_points": 100 * (nb["accuracy"] - kd["accuracy"]),
        "newsbert_at_or_above_kd": nb["accuracy"] >= kd["accuracy"],
        "newsbert_never_collapsed": not nb["collapsed"],
    }
    return {
        "dataset": a.dataset,
        "caps": caps,
        "majority": majority,
        "one_class_f1": one_class,
        "rows": rows,
        "verdict": verdict,
        "wall_s": time.time() - t0,
        "load_avg_before_after": [load_before[0], os.getloadavg()[0]],
        "teacher_run": teacher_run,
        "run_ids": [s["run_id"] for s in main_runs]
        + [s["run_id"] for runs in ablation.values() for s in runs],
    }


def table(result: dict) -> list[str]:
    """The dataset's rows as a markdown table, then its verdict."""
    out = [
        "| model | seeds | accuracy | macro-F1 | retention | gap closed | one class? |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["rows"]:
        out.append(
            f"| {r['model']} | {r['seeds']} | {pm(r['accuracy'], r['accuracy_sd'])} | "
            f"{pm(r['f1'], r['f1_sd'])} | {pm(r['retention'], r['retention_sd'], pct=True)} | "
            f"{pm(r['gap_closed'], r['gap_closed_sd'], pct=True)} | "
            f"{'COLLAPSED (a seed)' if r['collapsed'] else 'no'} |"
        )
    v = result["verdict"]
    met = "met" if v["newsbert_at_or_above_kd"] and v["newsbert_never_collapsed"] else "NOT met"
    out += [
        "",
        f"NewsBERT − vanilla KD: {v['newsbert_minus_kd_points']:+.1f} points (mean of seeds); "
        f"NewsBERT at one class in any seed: {'yes' if not v['newsbert_never_collapsed'] else 'no'}"
        f". Target (NewsBERT ≥ KD, never one class): **{met}**.",
    ]
    return out


def markdown(results: list[dict]) -> str:
    """One section per dataset: caps, majority class, wall time and load, the table."""
    lines = [
        "# NewsBERT vs vanilla KD of the same shape (benchmarks/newsbert_ablation.py)",
        "",
        "fp32 on a 2-core CPU; each section gives its load. Retention = accuracy / teacher "
        "accuracy; gap closed = (distilled − plain) / (teacher − plain), per seed; a row is "
        "COLLAPSED when some seed's macro-F1 is within 0.05 of answering the majority class "
        "every time (the caps line gives that floor).",
    ]
    for r in results:
        lo, hi = r["load_avg_before_after"]
        lines += [
            "",
            f"## {r['dataset']}",
            "",
            f"{r['caps']}. Teacher run {r['teacher_run']}, runs {r['run_ids']}; wall "
            f"{r['wall_s']:.0f} s, 1-min load average {lo:.1f} → {hi:.1f}"
            f"{' (shared CPU: times are not speed figures)' if max(lo, hi) > 2.5 else ''}.",
            "",
            *table(r),
        ]
    if len(results) > 1:
        d = [r["verdict"]["newsbert_minus_kd_points"] for r in results]
        ok = sum(r["verdict"]["newsbert_at_or_above_kd"] for r in results)
        lines += [
            "",
            f"Over {len(results)} datasets: NewsBERT − KD {statistics.fmean(d):+.1f} points on "
            f"average; NewsBERT ≥ KD on {ok} of {len(results)}.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    a = parser().parse_args()
    if a.teacher_run is not None and len(a.dataset) > 1:
        raise SystemExit("--teacher-run names one dataset's teacher: give one --dataset")
    setup_logging()
    name = a.dataset[0] if len(a.dataset) == 1 else "shopping"
    out = Path(a.out) if a.out else ROOT / "benchmarks" / "results" / f"newsbert_{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    for dataset in a.dataset:
        results.append(one_dataset(a, dataset))
        # written after every dataset, so a long multi-domain call keeps the domains done
        body = results[0] if len(results) == 1 else {"datasets": results}
        out.write_text(json.dumps(body, indent=1, ensure_ascii=False))
        out.with_suffix(".md").write_text(markdown(results))
        print(markdown(results[-1:]))
    print(f"JSON written to {out} (table: {out.with_suffix('.md')})")


if __name__ == "__main__":
    main()
