"""The multi-domain benchmark behind `benchmarks/shopping.py` (no --domain): six target domains
in one run, a MetaKD meta-teacher across them, NewsBERT beside vanilla KD. One run, one seed
(the issue's setting): a measured difference here is one draw, and the table says so."""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

from common import ROOT, run

from core import methods
from core.cli.fields import from_args
from core.config import AugmentConfig, DataConfig, DomainConfig, TeacherConfig
from core.data.load import load_labelled
from core.runs.config import PipelineConfig

ROLES = [
    ("teacher", "single-domain teacher"),
    ("meta_teacher", "meta-teacher"),
    ("bilstm_char_plain", "BiLSTM-char plain"),
    ("bilstm_char_distilled", "BiLSTM-char from single-domain teacher"),
    ("bilstm_char_meta_distilled", "BiLSTM-char from meta-teacher"),
    ("kd_distilled", "vanilla KD (2 layers)"),
    ("newsbert_distilled", "NewsBERT student (2 layers)"),
    ("newsbert_teacher", "NewsBERT joint teacher"),
]


def _sample(path: Path, n: int, seed: int) -> list[tuple[str, str]]:
    ds = load_labelled(path)
    idx = list(range(len(ds)))
    random.Random(seed).shuffle(idx)
    return [(ds.label_names[ds.labels[i]], ds.texts[i]) for i in sorted(idx[:n])]


def write_domains(shared: Path, domains, per_domain: int, test_cap: int, out: Path):
    """Headered domain<TAB>label<TAB>text train and test files: each shopping domain and hotel,
    capped (a seeded sample), the texts' tabs made spaces."""
    sources = {d: shared / "shopping" / d for d in domains} | {"hotel": shared / "hotel"}
    sizes = {}
    for split, cap in (("train", per_domain), ("test", test_cap)):
        lines = ["domain\tlabel\ttext"]
        for d, folder in sources.items():
            rows = _sample(folder / f"{split}.txt", cap, 13)
            sizes.setdefault(d, {})[split] = len(rows)
            lines += [f"{d}\t{y}\t{t.replace(chr(9), ' ')}" for y, t in rows]
        (out / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out / "train.tsv", out / "test.tsv", sizes


def verdict_of(table: dict, targets: list[str], small) -> dict:
    """The issue's two targets from the per-domain table: meta-distilled over single-domain
    distilled on the small domains, NewsBERT over vanilla KD of the same shape on every domain."""

    def acc(d, key):
        return (table[d].get(key) or {}).get("accuracy")

    meta_gain = [
        acc(d, "bilstm_char_meta_distilled") - acc(d, "bilstm_char_distilled")
        for d in small
        if acc(d, "bilstm_char_meta_distilled") is not None
    ]
    news_gain = [
        acc(d, "newsbert_distilled") - acc(d, "kd_distilled")
        for d in targets
        if acc(d, "newsbert_distilled") is not None and acc(d, "kd_distilled") is not None
    ]
    return {
        "meta_vs_single_small_domains_points": 100 * statistics.fmean(meta_gain)
        if meta_gain
        else None,
        "meta_target_met": bool(meta_gain) and statistics.fmean(meta_gain) > 0,
        "newsbert_vs_kd_points": 100 * statistics.fmean(news_gain) if news_gain else None,
        "newsbert_target_met": bool(news_gain) and statistics.fmean(news_gain) > 0,
    }


def run_multi(a, shared: Path, domains, small) -> None:
    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="distillery_multi_"))
    train, test, sizes = write_domains(shared, domains, a.per_domain, a.test_cap, tmp)
    names = a.students
    if names == [s.method for s in PipelineConfig().students]:  # not given: the set
        names = ["bilstm_char", "kd", "newsbert"]
    students = [from_args(methods.get(n).config, a, method=n) for n in names]
    targets = sorted(sizes)
    cfg = PipelineConfig(
        name="benchmark: shopping × 5 + hotel (MetaKD, NewsBERT)",
        data=DataConfig(train=str(train), test=str(test), max_test=None),
        teacher=from_args(TeacherConfig, a),  # the fields with a flag here; the rest default
        augment=from_args(AugmentConfig, a),
        domains=DomainConfig(target_domains=",".join(targets), meta_teacher=True),
        students=students,
        latency_samples=a.latency_samples,
        onnx_latency=False,
    )
    summary, _ = run(cfg, a.home, cfg.name)
    models = summary["models"]
    table = {}
    for d in targets:
        table[d] = {}
        for key, _ in ROLES:
            m = models.get(f"{key}@{d}")
            if m:
                table[d][key] = {
                    k: m.get(k) for k in ("accuracy", "f1", "params", "latency_ms_p50")
                }

    verdict = verdict_of(table, targets, small)

    def acc(d, key):
        return (table[d].get(key) or {}).get("accuracy")

    wall = time.time() - t0
    head = f"{'domain':<14}{'train':>6}{'test':>6}" + "".join(f"{k[:14]:>16}" for k, _ in ROLES)
    print(head)
    for d in targets:
        cells = "".join(
            f"{acc(d, k):>16.3f}" if acc(d, k) is not None else f"{'-':>16}" for k, _ in ROLES
        )
        print(f"{d:<14}{sizes[d]['train']:>6}{sizes[d]['test']:>6}{cells}")
    print(json.dumps(verdict, indent=1))
    print(
        f"caps: {a.per_domain} train / {a.test_cap} test rows per domain; wall {wall / 60:.1f} min"
    )
    result = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "caps": {"per_domain_train": a.per_domain, "per_domain_test": a.test_cap},
        "sizes": sizes,
        "roles": dict(ROLES),
        "table": table,
        "verdict": verdict,
        "timings": summary["timings"],
        "wall_s": wall,
        "config": {
            "teacher_epochs": cfg.teacher.epochs,
            "augment_iters": cfg.augment.n_iter,
            "students": names,
        },
    }
    out = Path(a.out) if a.out else ROOT / "benchmarks" / "results" / "shopping_multi.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    md = [
        "| domain | train | test | " + " | ".join(t for _, t in ROLES) + " |",
        "|---" * (3 + len(ROLES)) + "|",
    ]
    for d in targets:
        cells = [f"{acc(d, k):.3f}" if acc(d, k) is not None else "-" for k, _ in ROLES]
        md.append(f"| {d} | {sizes[d]['train']} | {sizes[d]['test']} | " + " | ".join(cells) + " |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"wrote {out} and {out.with_suffix('.md')}")
