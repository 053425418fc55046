"""The benchmarks' export rows: every distilled student (and the teacher) exported to ONNX fp32
and int8, scored by the export's own predict.py and timed at batch 1 as deployed; a table of
them appended to a benchmark's JSON and markdown."""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

from common import mean_sd, pm

from core import methods
from core.evaluate.metrics import latency_stats
from core.runs.store import Store


def export_row(store: Store, rid: int, name: str, int8: bool, latency_texts: list[str], work: Path):
    """One model of one run exported (ONNX fp32 or int8), scored on the run's test set by the
    export's own predict.py and timed at batch 1 as deployed: text in, label out, then
    tokenisation and the model call alone. Small students run on one thread, the teacher and
    transformer students on every core (how each is deployed)."""
    import shutil

    from core.export.exporter import export_model, load_predictor

    small = (
        name != "teacher"
        and methods.method_of_folder(store.run_dir(rid) / "students" / name).parallel
    )
    threads = 1 if small else (os.cpu_count() or 1)
    out = work / f"{rid}-{name}-{'int8' if int8 else 'fp32'}"
    rep = export_model(store, rid, name, out, int8=int8)
    pred = load_predictor(out, threads=threads)
    feeds = {t: pred.inputs(t) for t in latency_texts}
    row = {
        "model": name,
        "format": "onnx int8" if int8 else "onnx",
        "run_id": rid,
        "accuracy": rep.accuracy_export,
        "accuracy_distillery": rep.accuracy_distillery,
        "n_label_differs": rep.n_label_differs,
        "n_checked": rep.n_checked,
        "size_mb": rep.files["model.onnx"] / 2**20,
        "threads": threads,
        **latency_stats(lambda t, p=pred: p.predict(t), latency_texts),
        **latency_stats(pred.inputs, latency_texts, prefix="tokenize"),
    }
    row.update(latency_stats(lambda t, p=pred, f=feeds: p.run(f[t]), latency_texts, "model"))
    logging.info(
        "%s %s: accuracy %.4f, %d labels differ, p50 %.3f ms",
        name,
        row["format"],
        row["accuracy"],
        row["n_label_differs"],
        row["latency_ms_p50"],
    )
    shutil.rmtree(out, ignore_errors=True)
    return row


def export_rows(
    store: Store,
    run_ids: list[int],
    latency_texts: list[str],
    models: list[str] | None = None,
    work: Path | None = None,
) -> list[dict]:
    """Every distilled student of every seed's run (and the teacher, once) exported to ONNX fp32
    and int8 (ONNX Runtime dynamic quantisation) by `export_row`; one row per model and format,
    the median-latency seed's timings with the accuracy's mean and sd over the seeds."""
    import tempfile

    work = Path(work or tempfile.mkdtemp(prefix="distillery-export-"))
    per: dict[str, list[dict]] = {}
    for k, rid in enumerate(run_ids):
        names = models or [
            n
            for n in json.loads((store.run_dir(rid) / "results.json").read_text())["models"]
            if n.endswith("_distilled")
        ]
        if k == 0:
            names = ["teacher", *names]
        for name in names:
            for int8 in (False, True):
                row = export_row(store, rid, name, int8, latency_texts, work)
                per.setdefault(f"{name} {row['format']}", []).append(row)
    rows = []
    for key, rs in per.items():
        p50s = sorted(r["latency_ms_p50"] for r in rs)
        mid = next(r for r in rs if r["latency_ms_p50"] == p50s[len(p50s) // 2])
        acc, acc_sd = mean_sd([r["accuracy"] for r in rs])
        rows.append(
            {
                **mid,
                "key": key,
                "seeds": len(rs),
                "accuracy": acc,
                "accuracy_sd": acc_sd,
                "accuracy_by_seed": [r["accuracy"] for r in rs],
                "n_label_differs_by_seed": [r["n_label_differs"] for r in rs],
            }
        )
    return rows


def export_markdown(rows: list[dict], teacher_ms: float, bert_base_ms: float | None) -> str:
    lines = [
        "| model | runtime | accuracy | labels ≠ Distillery's (of test) | size MB | threads "
        "| p50 ms | p95 ms | tokenise p50 ms | model p50 ms | vs teacher (PyTorch) "
        "| vs BERT-base shape |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        xb = f"{bert_base_ms / r['latency_ms_p50']:.0f}x" if bert_base_ms else ""
        differs = ", ".join(str(x) for x in r["n_label_differs_by_seed"])
        lines.append(
            f"| {r['model']} | {r['format']} | {pm(r['accuracy'], r['accuracy_sd'])} "
            f"| {differs} (of {r['n_checked']}) | {r['size_mb']:.1f} | {r['threads']} "
            f"| {r['latency_ms_p50']:.3f} | {r['latency_ms_p95']:.3f} "
            f"| {r['tokenize_ms_p50']:.3f} | {r['model_ms_p50']:.3f} "
            f"| {teacher_ms / r['latency_ms_p50']:.0f}x | {xb} |"
        )
    return "\n".join(lines) + "\n"


def report_exports(
    result: dict, bb: dict | None, out: Path, store: Store, texts: list[str], n: int
):
    """Add the export rows (`export_rows`) to a benchmark's JSON and markdown."""
    sample = list(texts)
    random.Random(13).shuffle(sample)
    rows = export_rows(store, result["run_ids"], sample[:n])
    teacher_ms = next(r for r in result["rows"] if r["model"] == "teacher")["latency_ms_p50"]
    md = export_markdown(rows, teacher_ms, bb["latency_ms_p50"] if bb else None)
    print(md)
    result["export"] = rows
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    with out.with_suffix(".md").open("a") as f:
        f.write("\nExported (ONNX Runtime, batch 1, the export's own predict.py):\n\n" + md)
    return rows
