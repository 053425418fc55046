"""Shared benchmark plumbing: run the real pipeline, time a BERT-base-shaped reference beside it,
print one table and write JSON. Ratios are taken from numbers measured in the same process run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import random
import statistics
import threading
import time
from pathlib import Path

from core import methods
from core.cli.fields import add_config_args, add_field_arg, from_args
from core.config import AugmentConfig, DataConfig, TeacherConfig, to_dict
from core.evaluate.metrics import bert_base_reference, latency_stats
from core.export.exporter import model_folder
from core.runs.config import PipelineConfig
from core.runs.context import RunContext
from core.runs.execute import execute
from core.runs.store import Store
from core.teacher.model import load_teacher

# transformers (and the hub client) is imported lazily, so these still apply
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
BENCHMARK_N_ITER = 10  # augmented variants per text in the benchmarks (the CLI default is 4)


def base_parser(desc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=desc)
    p.add_argument("--home", help="store folder (default: $DISTILLERY_HOME or ./data)")
    p.add_argument("--out", help="JSON output path")
    # flags, help and defaults from the config dataclasses, as in `python -m core`
    add_field_arg(p, TeacherConfig, "model")
    add_field_arg(p, TeacherConfig, "epochs")
    add_field_arg(p, TeacherConfig, "max_length")
    add_field_arg(p, TeacherConfig, "select_metric")
    add_field_arg(p, TeacherConfig, "class_weights")
    add_field_arg(p, TeacherConfig, "members")
    add_field_arg(p, PipelineConfig, "students")
    # every student method's flags, each method keeping its own defaults unless given
    add_config_args(p.add_argument_group("students"), methods.config_classes())
    add_field_arg(p, AugmentConfig, "n_iter", default=BENCHMARK_N_ITER)  # the benchmarks' own
    add_field_arg(p, PipelineConfig, "latency_samples")
    add_field_arg(p, PipelineConfig, "teacher_run")
    add_field_arg(p, PipelineConfig, "label_int8")
    p.add_argument(
        "--export",
        action="store_true",
        help="also export every distilled student (and the teacher) to ONNX fp32 and int8 and "
        "score / time them with the export's own predict.py",
    )
    p.add_argument("--no-bert-base", action="store_true", help="skip the BERT-base reference")
    return p


def pipeline_config(a: argparse.Namespace, name: str, data: DataConfig) -> PipelineConfig:
    """The benchmark's settings: the students named by --students (default: the character BiLSTM and TextCNN;
    `all`: every registered method), each plain and distilled, from the flags."""
    return PipelineConfig(
        name=name,
        data=data,
        teacher=from_args(TeacherConfig, a),  # the fields with a flag here; the rest default
        augment=from_args(AugmentConfig, a),
        students=[from_args(methods.get(n).config, a, method=n) for n in a.students],
        latency_samples=a.latency_samples,
        teacher_run=a.teacher_run,
        label_int8=not a.no_label_int8,
    )


def run(
    cfg: PipelineConfig, home: str | None, name: str, kind: str = "pipeline"
) -> tuple[dict, dict]:
    store = Store(home)
    run_id = store.create_run(kind, to_dict(cfg), name=name)
    logging.info("benchmark run %d (%s) in %s", run_id, kind, store.home)
    ctx = RunContext(store, run_id, threading.Event())
    t0 = time.time()
    execute(store, run_id, kind, cfg, ctx)
    wall = time.time() - t0
    r = store.run(run_id)
    if r["status"] != "done":
        raise SystemExit(f"run {run_id} {r['status']}: {r['error']}")
    summary = json.loads((store.run_dir(run_id) / "results.json").read_text())
    summary["wall_s"] = wall
    return summary, {"store": store, "run_id": run_id}


def save_and_print(result: dict, out: Path, render) -> None:
    """Writes a benchmark's JSON and prints its table, so every script leaves both behind."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(render(result))


def seeds_path(out: Path) -> Path:
    """Where `run_seeds` keeps the seeds finished so far: beside the final JSON."""
    return out.with_name(out.stem + ".seeds.json")


def write_seeds(out: Path | None, summaries: list[dict], planned: int) -> None:
    """Each seed's results as it finishes, so a crash (or a refused seed) keeps the ones done."""
    if out is None:
        return
    path = seeds_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {"seeds_done": len(summaries), "seeds_planned": planned, "summaries": summaries}
    path.write_text(json.dumps(done, indent=1, ensure_ascii=False))
    logging.info("seed %d of %d written to %s", len(summaries), planned, path)


def run_seeds(
    cfg: PipelineConfig, home: str | None, name: str, seeds: int, out: Path | None = None
) -> tuple[list[dict], dict]:
    """The whole pipeline once, then the students again with seeds +1, +2, ... reusing that
    run's teacher and its cached labels (same data, same augmentation): the spread is the
    students' own, from initialisation, dropout and batch order. With `out` (the final JSON),
    the summaries so far are written beside it after every seed (`seeds_path`)."""
    first_kind = "distill" if cfg.teacher_run is not None else "pipeline"
    summary, h = run(cfg, home, f"{name} (seed {cfg.students[0].seed})", kind=first_kind)
    summaries = [summary]
    write_seeds(out, summaries, seeds)
    for k in range(1, seeds):
        students = [dataclasses.replace(s, seed=s.seed + k) for s in cfg.students]
        teacher_run = cfg.teacher_run if cfg.teacher_run is not None else h["run_id"]
        again = dataclasses.replace(cfg, students=students, teacher_run=teacher_run)
        more, _ = run(again, home, f"{name} (seed {students[0].seed})", kind="distill")
        summaries.append(more)
        write_seeds(out, summaries, seeds)
    return summaries, h


def mean_sd(xs: list[float]) -> tuple[float, float]:
    xs = [x for x in xs if x is not None]
    if not xs:
        return float("nan"), float("nan")
    return statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def bert_base_latency(store: Store, run_id: int, texts: list[str], n: int, seed: int) -> dict:
    teacher = load_teacher(model_folder(store, run_id, "teacher"), device="cpu")
    sample = list(texts)
    random.Random(seed).shuffle(sample)
    sample = sample[: max(20, n // 4)]  # ~40 ms a call: a quarter of the sample is plenty
    model, predict_one = bert_base_reference(teacher.tokenizer, teacher.max_length)
    out = latency_stats(predict_one, sample)
    out["params"] = sum(p.numel() for p in model.parameters())
    out["latency_n"] = len(sample)
    return out


def short_sentences(texts: list[str], n: int, seed: int) -> list[str]:
    """The first clause of each test text (4-20 characters): the "one short sentence" case."""
    import re

    out = []
    for t in texts:
        head = re.split(r"[，。！？；,.!?;\n]", t.strip())[0].strip()[:20]
        if len(head) >= 4:
            out.append(head)
    random.Random(seed).shuffle(out)
    return out[:n]


def short_latency(store: Store, run_id: int, texts: list[str], threads: int) -> dict:
    """Batch-1 latency of every model of the run on short sentences, measured the same way."""
    import torch

    out = {}
    teacher = load_teacher(model_folder(store, run_id, "teacher"), device="cpu")
    out["teacher"] = latency_stats(lambda t: int(teacher.predict_one(t).argmax()), texts)
    model, predict_one = bert_base_reference(teacher.tokenizer, teacher.max_length)
    out["bert_base_shape"] = latency_stats(predict_one, texts)
    del model
    before = torch.get_num_threads()
    try:
        for folder in sorted((store.run_dir(run_id) / "students").iterdir()):
            method = methods.method_of_folder(folder)
            # as in the pipeline: small students on `threads`, transformers on every core
            torch.set_num_threads(threads if method.parallel else before)
            s = methods.load_student(folder)
            out[folder.name] = latency_stats(
                lambda t, s=s: int(s.predict_logits(t).argmax()), texts
            )
            out[folder.name].update(latency_stats(s.tokenize, texts, prefix="tokenize"))
    finally:
        torch.set_num_threads(before)
    for v in out.values():
        v["latency_n"] = len(texts)
    return out


def seed_rows(summaries: list[dict], bert_base: dict | None) -> list[dict]:
    """One row per model over every seed: mean and sd of accuracy, F1, retention (accuracy /
    teacher accuracy) and gap closed ((distilled - plain) / (teacher - plain), per seed, so a
    student that passes its teacher shows more than 100%); speed from the median seed."""
    names = list(summaries[0]["models"])
    rows = []
    for name in names:
        per = [s["models"][name] for s in summaries]
        teachers = [s["models"]["teacher"] for s in summaries]
        acc = [m["accuracy"] for m in per]
        row = {"model": name, "seeds": len(per)}
        row["accuracy"], row["accuracy_sd"] = mean_sd(acc)
        row["f1"], row["f1_sd"] = mean_sd([m["f1"] for m in per])
        row["retention"], row["retention_sd"] = mean_sd(
            [m["accuracy"] / t["accuracy"] for m, t in zip(per, teachers, strict=True)]
        )
        row["accuracy_by_seed"] = acc
        p50 = sorted(m["latency_ms_p50"] for m in per)[len(per) // 2]
        m0 = next(m for m in per if m["latency_ms_p50"] == p50)
        t50 = statistics.median(t["latency_ms_p50"] for t in teachers)
        row.update(
            params=m0["params"],
            size_mb=m0["size_bytes"] / 2**20,
            latency_ms_p50=p50,
            latency_ms_p95=m0["latency_ms_p95"],
            tokenize_ms_p50=m0["tokenize_ms_p50"],
            onnx_ms_p50=m0.get("onnx_latency_ms_p50"),  # as deployed (ONNX Runtime)
            threads=m0["threads"],
            speedup_vs_teacher=t50 / p50,
            vocab_size=m0.get("vocab_size"),
            train_texts=m0.get("train_texts"),
            family=m0.get("family", "teacher" if name == "teacher" else "word"),
            train_s=statistics.fmean(m.get("train_s", 0.0) for m in per)
            if name != "teacher"
            else None,
            stage_s=m0.get("stage_s"),
            same_model_as=m0.get("same_model_as"),
        )
        if bert_base:
            row["speedup_vs_bert_base"] = bert_base["latency_ms_p50"] / p50
        if name.endswith("_distilled"):
            plain_name = name.replace("_distilled", "_plain")
            if plain_name in summaries[0]["models"]:
                gaps = []
                for s in summaries:
                    t, pl = s["models"]["teacher"]["accuracy"], s["models"][plain_name]["accuracy"]
                    d = s["models"][name]["accuracy"]
                    gaps.append((d - pl) / (t - pl) if t - pl > 0 else None)
                row["gap_closed"], row["gap_closed_sd"] = mean_sd(gaps)
                row["gap_closed_by_seed"] = gaps
        rows.append(row)
    return rows


def pm(mean: float, sd: float, digits: int = 4, pct: bool = False) -> str:
    if mean != mean:  # nan
        return "-"
    if pct:
        return f"{mean * 100:.0f}% ± {sd * 100:.0f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def report(
    summaries: list[dict],
    bert_base: dict | None,
    out_path: Path,
    short: dict | None = None,
) -> dict:
    rows = seed_rows(summaries, bert_base)
    n = len(summaries)
    hdr = (
        f"{'model':<18}{'accuracy':>18}{'F1':>18}{'retention':>12}{'gap closed':>12}"
        f"{'params':>12}{'p50 ms':>9}{'p95 ms':>9}{'tok ms':>8}{'x teacher':>10}{'x BERT-b':>9}"
    )
    print(f"{n} seed(s): mean ± sd")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        xb = f"{r['speedup_vs_bert_base']:.0f}x" if "speedup_vs_bert_base" in r else "-"
        gap = pm(r["gap_closed"], r["gap_closed_sd"], pct=True) if "gap_closed" in r else "-"
        print(
            f"{r['model']:<18}{pm(r['accuracy'], r['accuracy_sd']):>18}"
            f"{pm(r['f1'], r['f1_sd']):>18}{pm(r['retention'], r['retention_sd'], pct=True):>12}"
            f"{gap:>12}{r['params']:>12,}{r['latency_ms_p50']:>9.3f}{r['latency_ms_p95']:>9.3f}"
            f"{r['tokenize_ms_p50']:>8.3f}{r['speedup_vs_teacher']:>9.1f}x{xb:>9}"
        )
    if bert_base:
        print(
            f"{'bert-base shape':<18}{'-':>18}{'-':>18}{'':>12}{'':>12}{bert_base['params']:>12,}"
            f"{bert_base['latency_ms_p50']:>9.3f}{bert_base['latency_ms_p95']:>9.3f}"
        )
    if short:
        t_short = short["teacher"]["latency_ms_p50"]
        print(
            f"\nshort sentences (first clause, 4-20 characters, n={short['teacher']['latency_n']}):"
        )
        for name, v in short.items():
            print(
                f"{name:<18} p50 {v['latency_ms_p50']:8.3f} ms  p95 {v['latency_ms_p95']:8.3f} ms"
                f"  x teacher {t_short / v['latency_ms_p50']:6.1f}"
            )
    first = summaries[0]
    timings = first["timings"]
    extra = [sum(s["timings"].values()) for s in summaries[1:]]
    print("stage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    print(f"pipeline total: {sum(timings.values()):.1f} s (wall {first['wall_s']:.1f} s)")
    if extra:
        print(f"each further seed (students only): {', '.join(f'{x:.0f}' for x in extra)} s")
    result = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "seeds": sorted(
            {m["seed"] for s in summaries for m in s["models"].values() if "seed" in m}
        ),
        "data": first["data"],
        "rows": rows,
        "bert_base_reference": bert_base,
        "short_sentences": short,
        "timings": timings,
        "further_seed_s": extra,
        "pipeline_total_s": sum(timings.values()),
        "wall_s": first["wall_s"],
        "run_ids": [s["run_id"] for s in summaries],
        "models_by_seed": [s["models"] for s in summaries],
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    out_path.with_suffix(".md").write_text(markdown(result))
    print(f"JSON written to {out_path} (markdown table beside it)")
    return result


def _ms(v: float | None) -> str:
    return f"{v:.3f}" if v is not None else ""


def _train_s(r: dict) -> str:
    """Training seconds (mean over seeds), with the per-stage split of multi-stage methods;
    a plain twin that is another one's model says so instead."""
    if r.get("same_model_as"):
        return f"= {r['same_model_as']}"
    if r.get("train_s") is None:
        return ""
    stages = r.get("stage_s") or {}
    split = f" ({', '.join(f'{k} {v:.0f}' for k, v in stages.items())})" if len(stages) > 1 else ""
    return f"{r['train_s']:.0f}{split}"


def markdown(result: dict) -> str:
    """The table as it goes into docs/benchmarks.md."""
    n = len(result["run_ids"])
    lines = [
        f"{n} seed(s), mean ± sd (accuracy, macro-F1, retention = accuracy / teacher accuracy, "
        "gap closed = (distilled − plain) / (teacher − plain) per seed); speed from the median seed.",
        "",
        "| model | accuracy | macro-F1 | retention | gap closed | params | vocab | train texts "
        "| size MB | p50 ms | p95 ms | tokenise ms | ONNX p50 ms | speed-up vs teacher "
        "| vs BERT-base shape | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        gap = pm(r["gap_closed"], r["gap_closed_sd"], pct=True) if "gap_closed" in r else ""
        xb = f"{r['speedup_vs_bert_base']:.0f}x" if "speedup_vs_bert_base" in r else ""
        vocab = f"{r['vocab_size']:,}" if r.get("vocab_size") else ""
        ntr = f"{r['train_texts']:,}" if r.get("train_texts") else ""
        lines.append(
            f"| {r['model']} | {pm(r['accuracy'], r['accuracy_sd'])} | {pm(r['f1'], r['f1_sd'])} "
            f"| {pm(r['retention'], r['retention_sd'], pct=True)} | {gap} | {r['params']:,} "
            f"| {vocab} | {ntr} | {r['size_mb']:.1f} | {r['latency_ms_p50']:.3f} "
            f"| {r['latency_ms_p95']:.3f} | {r['tokenize_ms_p50']:.3f} "
            f"| {_ms(r.get('onnx_ms_p50'))} "
            f"| {r['speedup_vs_teacher']:.1f}x | {xb} | {_train_s(r)} |"
        )
    bb = result.get("bert_base_reference")
    if bb:
        lines.append(
            f"| BERT-base shape (random weights, timing only) | | | | | {bb['params']:,} | | | "
            f"| {bb['latency_ms_p50']:.3f} | {bb['latency_ms_p95']:.3f} | | | | | |"
        )
    short = result.get("short_sentences")
    if short:
        ts = short["teacher"]["latency_ms_p50"]
        bs = short["bert_base_shape"]["latency_ms_p50"]
        lines += [
            "",
            f"Short sentences (first clause of each test review, 4-20 characters, "
            f"n={short['teacher']['latency_n']}), batch 1, text in, label out:",
            "",
            "| model | p50 ms | p95 ms | speed-up vs teacher | vs BERT-base shape |",
            "|---|---|---|---|---|",
        ]
        for name, v in short.items():
            lines.append(
                f"| {name} | {v['latency_ms_p50']:.3f} | {v['latency_ms_p95']:.3f} "
                f"| {ts / v['latency_ms_p50']:.1f}x | {bs / v['latency_ms_p50']:.0f}x |"
            )
    t = result["timings"]
    lines.append("")
    more = result.get("further_seed_s") or []
    lines.append(
        "Stage times (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in t.items())
        + f"; total {result['pipeline_total_s']:.0f} s"
        + (f"; each further seed {', '.join(f'{x:.0f}' for x in more)} s." if more else ".")
    )
    return "\n".join(lines) + "\n"


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("transformers", "jieba", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


# -- exported models: the deployed path (ONNX Runtime, fp32 and int8) ----------------------------
