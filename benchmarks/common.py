"""Shared benchmark plumbing: run the real pipeline, time a BERT-base-shaped reference beside it,
print one table and write JSON. Ratios are taken from numbers measured in the same process run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from core.config import (  # noqa: E402
    AugmentConfig,
    DataConfig,
    PipelineConfig,
    StudentConfig,
    TeacherConfig,
    to_dict,
)
from core.evaluate import bert_base_reference, latency_stats  # noqa: E402
from core.jobs import RunContext, execute  # noqa: E402
from core.store import Store  # noqa: E402
from core.teacher import load_teacher  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def base_parser(desc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=desc)
    p.add_argument("--home", help="store folder (default: $DISTILLERY_HOME or ./data)")
    p.add_argument("--out", help="JSON output path")
    p.add_argument("--teacher", default="m3e-small")
    p.add_argument("--teacher-epochs", type=int, default=2)
    p.add_argument("--teacher-max-length", type=int, default=64)
    p.add_argument("--student-epochs", type=int, default=6)
    p.add_argument("--augment-iters", type=int, default=10)
    p.add_argument("--latency-samples", type=int, default=200)
    p.add_argument("--no-bert-base", action="store_true", help="skip the BERT-base reference")
    return p


def pipeline_config(a: argparse.Namespace, name: str, data: DataConfig) -> PipelineConfig:
    """The benchmark's settings: both students, each plain and distilled, from the flags."""
    return PipelineConfig(
        name=name,
        data=data,
        teacher=TeacherConfig(
            model=a.teacher, epochs=a.teacher_epochs, max_length=a.teacher_max_length
        ),
        augment=AugmentConfig(n_iter=a.augment_iters),
        students=[
            StudentConfig(arch=arch, epochs=a.student_epochs) for arch in ("bilstm", "textcnn")
        ],
        latency_samples=a.latency_samples,
    )


def run(cfg: PipelineConfig, home: str | None, name: str) -> tuple[dict, dict]:
    store = Store(home)
    run_id = store.create_run("pipeline", to_dict(cfg), name=name)
    logging.info("benchmark run %d in %s", run_id, store.home)
    ctx = RunContext(store, run_id, threading.Event())
    t0 = time.time()
    execute(store, run_id, "pipeline", cfg, ctx)
    wall = time.time() - t0
    r = store.run(run_id)
    if r["status"] != "done":
        raise SystemExit(f"run {run_id} {r['status']}: {r['error']}")
    summary = json.loads((store.run_dir(run_id) / "results.json").read_text())
    summary["wall_s"] = wall
    return summary, {"store": store, "run_id": run_id}


def bert_base_latency(store: Store, run_id: int, texts: list[str], n: int, seed: int) -> dict:
    teacher = load_teacher(store.run_dir(run_id) / "teacher", device="cpu")
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

    from core.students import load_student

    out = {}
    teacher = load_teacher(store.run_dir(run_id) / "teacher", device="cpu")
    out["teacher"] = latency_stats(lambda t: int(teacher.predict_one(t).argmax()), texts)
    model, predict_one = bert_base_reference(teacher.tokenizer, teacher.max_length)
    out["bert_base_shape"] = latency_stats(predict_one, texts)
    del model
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for folder in sorted((store.run_dir(run_id) / "students").iterdir()):
            s = load_student(folder)
            out[folder.name] = latency_stats(
                lambda t, s=s: int(s.predict_logits(t).argmax()), texts
            )
            out[folder.name].update(latency_stats(s.tokenize, texts, prefix="tokenize"))
    finally:
        torch.set_num_threads(before)
    for v in out.values():
        v["latency_n"] = len(texts)
    return out


def report(
    summary: dict, bert_base: dict | None, out_path: Path, short: dict | None = None
) -> dict:
    models = summary["models"]
    t = models["teacher"]
    rows = []
    for name, m in models.items():
        row = {
            "model": name,
            "accuracy": m["accuracy"],
            "f1": m["f1"],
            "params": m["params"],
            "size_mb": m["size_bytes"] / 2**20,
            "latency_ms_p50": m["latency_ms_p50"],
            "latency_ms_p95": m["latency_ms_p95"],
            "tokenize_ms_p50": m["tokenize_ms_p50"],
            "threads": m["threads"],
            "speedup_vs_teacher": t["latency_ms_p50"] / m["latency_ms_p50"],
        }
        if bert_base:
            row["speedup_vs_bert_base"] = bert_base["latency_ms_p50"] / m["latency_ms_p50"]
        if name.endswith("_distilled"):
            plain = models.get(name.replace("_distilled", "_plain"))
            if plain:
                gap = t["accuracy"] - plain["accuracy"]
                row["gap_closed"] = (m["accuracy"] - plain["accuracy"]) / gap if gap > 0 else None
        rows.append(row)
    hdr = (
        f"{'model':<18}{'acc':>7}{'F1':>7}{'params':>12}{'MB':>7}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'tok ms':>8}{'x teacher':>10}{'x BERT-b':>9}{'gap':>7}"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        xb = f"{r['speedup_vs_bert_base']:.0f}x" if "speedup_vs_bert_base" in r else "-"
        gap = f"{r['gap_closed'] * 100:.0f}%" if r.get("gap_closed") is not None else "-"
        print(
            f"{r['model']:<18}{r['accuracy']:>7.4f}{r['f1']:>7.4f}{r['params']:>12,}"
            f"{r['size_mb']:>7.1f}{r['latency_ms_p50']:>9.3f}{r['latency_ms_p95']:>9.3f}"
            f"{r['tokenize_ms_p50']:>8.3f}{r['speedup_vs_teacher']:>9.1f}x{xb:>9}{gap:>7}"
        )
    if bert_base:
        print(
            f"{'bert-base shape':<18}{'-':>7}{'-':>7}{bert_base['params']:>12,}{'-':>7}"
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
    timings = summary["timings"]
    print("stage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    print(f"pipeline total: {sum(timings.values()):.1f} s (wall {summary['wall_s']:.1f} s)")
    result = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "data": summary["data"],
        "rows": rows,
        "bert_base_reference": bert_base,
        "short_sentences": short,
        "timings": timings,
        "pipeline_total_s": sum(timings.values()),
        "wall_s": summary["wall_s"],
        "run_id": summary["run_id"],
        "models": models,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    out_path.with_suffix(".md").write_text(markdown(result))
    print(f"JSON written to {out_path} (markdown table beside it)")
    return result


def markdown(result: dict) -> str:
    """The table as it goes into the README."""
    lines = [
        "| model | accuracy | macro-F1 | params | size MB | p50 ms | p95 ms | tokenise ms "
        "| speed-up vs teacher | vs BERT-base shape | gap closed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        gap = f"{r['gap_closed'] * 100:.0f}%" if r.get("gap_closed") is not None else ""
        xb = f"{r['speedup_vs_bert_base']:.0f}x" if "speedup_vs_bert_base" in r else ""
        lines.append(
            f"| {r['model']} | {r['accuracy']:.4f} | {r['f1']:.4f} | {r['params']:,} "
            f"| {r['size_mb']:.1f} | {r['latency_ms_p50']:.3f} | {r['latency_ms_p95']:.3f} "
            f"| {r['tokenize_ms_p50']:.3f} | {r['speedup_vs_teacher']:.1f}x | {xb} | {gap} |"
        )
    bb = result.get("bert_base_reference")
    if bb:
        lines.append(
            f"| BERT-base shape (random weights, timing only) | | | {bb['params']:,} | "
            f"| {bb['latency_ms_p50']:.3f} | {bb['latency_ms_p95']:.3f} | | | | |"
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
    lines.append(
        "Stage times (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in t.items())
        + f"; total {result['pipeline_total_s']:.0f} s."
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
