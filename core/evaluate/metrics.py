"""Quality and speed of every model, measured the same way so the comparisons are fair.

Latency is text in, label out at batch 1 (tokenisation included, and also timed on its own),
after a warm-up, with the torch thread count recorded; throughput is at batch 64.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from core.data import pairs
from core.evaluate import contention


def classification_metrics(pred: list[int], gold: list[int], label_names: list[str]) -> dict:
    k = len(label_names)
    conf = [[0] * k for _ in range(k)]
    for p, g in zip(pred, gold, strict=True):
        conf[g][p] += 1
    per_class, f1s = {}, []
    for c in range(k):
        tp = conf[c][c]
        fp = sum(conf[g][c] for g in range(k)) - tp
        fn = sum(conf[c]) - tp
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class[label_names[c]] = {
            "precision": prec,
            "recall": rec,
            "f1": f1,
            "support": sum(conf[c]),
        }
        f1s.append(f1)
    n = len(gold)
    return {
        "accuracy": sum(conf[c][c] for c in range(k)) / n if n else 0.0,
        "f1": sum(f1s) / k if k else 0.0,
        "per_class": per_class,
        "confusion": conf,
        "n_test": n,
    }


def by_domain(
    pred: list[int], gold: list[int], domains: list[str], label_names: list[str]
) -> dict[str, dict]:
    """{domain: {"accuracy", "f1", "n"}} over the rows of each domain."""
    out = {}
    for d in sorted(set(domains)):
        idx = [i for i, x in enumerate(domains) if x == d]
        m = classification_metrics([pred[i] for i in idx], [gold[i] for i in idx], label_names)
        out[d] = {"accuracy": m["accuracy"], "f1": m["f1"], "n": len(idx)}
    return out


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


# A timing loop stops once its median is known to within MEDIAN_REL_CI (the 95% interval of the
# median, from the order statistics, as a share of it) after at least MIN_CALLS calls, or once it
# has used its time budget: a 600 ms teacher call under load need not be repeated 200 times for a
# median, while a 0.3 ms student call costs nothing to time on the whole sample.
MIN_CALLS = 20
MIN_CALLS_OVER_BUDGET = 10  # a slow model past its budget still gets this many timed calls
MEDIAN_REL_CI = 0.03
CHECK_EVERY = 10


def median_rel_ci(ms: list[float]) -> float:
    """Half the width of the median's 95% confidence interval (distribution-free, from the
    order statistics n/2 -+ 0.98 sqrt(n)) as a share of the median."""
    n = len(ms)
    if n < 3:
        return float("inf")
    s = sorted(ms)
    half = 0.98 * math.sqrt(n)
    lo, hi = s[max(int(n / 2 - half), 0)], s[min(int(math.ceil(n / 2 + half)), n - 1)]
    mid = percentile(s, 0.5)
    return (hi - lo) / 2 / mid if mid > 0 else float("inf")


def time_calls(
    fn: Callable[[str], object],
    texts: list[str],
    warmup: int = 10,
    budget_s: float | None = None,
) -> list[float]:
    """Milliseconds per call, one call per text, after up to `warmup` untimed calls (fewer if
    they use a quarter of `budget_s`). With `budget_s`, timing stops early once the median is
    stable (see MEDIAN_REL_CI; not before MIN_CALLS calls) or the budget is spent (not before
    MIN_CALLS_OVER_BUDGET calls), or the texts run out: the number of calls is `len` of the
    result."""
    t_start = time.perf_counter()
    for i, t in enumerate(texts[:warmup]):
        fn(t)
        if budget_s is not None and i >= 1 and time.perf_counter() - t_start > budget_s / 4:
            break
    t_timed = time.perf_counter()
    out: list[float] = []
    for t in texts:
        t0 = time.perf_counter()
        fn(t)
        out.append((time.perf_counter() - t0) * 1000)
        if budget_s is None or len(out) < MIN_CALLS_OVER_BUDGET:
            continue
        if time.perf_counter() - t_timed > budget_s:
            break
        if len(out) >= MIN_CALLS and not len(out) % CHECK_EVERY:
            if median_rel_ci(out) <= MEDIAN_REL_CI:
                break
    return out


# the figures a speed-up ratio is built on: each is recorded with how busy the machine was
HEADLINE_PREFIXES = ("latency", "onnx_latency")


def latency_stats(
    fn: Callable[[str], object],
    texts: list[str],
    prefix: str = "latency",
    budget_s: float | None = None,
) -> dict:
    """Median, 95th percentile and mean milliseconds per call, and how many calls they rest
    on (`{prefix}_calls`: fewer than the texts when `budget_s` stopped the loop early, see
    `time_calls`); a headline figure (see HEADLINE_PREFIXES) also says whether the machine was
    contended meanwhile (core.evaluate.contention), so nobody builds a speed-up on a figure
    taken under load."""
    before = contention.sample()
    ms = time_calls(fn, texts, budget_s=budget_s)
    after = contention.sample()
    out = {
        f"{prefix}_ms_p50": percentile(ms, 0.5),
        f"{prefix}_ms_p95": percentile(ms, 0.95),
        f"{prefix}_ms_mean": statistics.fmean(ms) if ms else float("nan"),
        f"{prefix}_calls": len(ms),
        f"{prefix}_median_ci": round(median_rel_ci(ms), 4) if len(ms) >= 3 else None,
    }
    if prefix in HEADLINE_PREFIXES:
        out.update(contention.judge(before, after, prefix))
    return out


THROUGHPUT_BATCHES = 8  # full batches timed for a throughput figure


def throughput(
    batch_fn: Callable[[list[str]], object],
    texts: list[str],
    bs: int = 64,
    batches: int = THROUGHPUT_BATCHES,
    budget_s: float | None = None,
) -> tuple[float, int]:
    """(texts per second, batches timed) over up to `batches` full batches of `bs` texts
    (cycling through `texts` when they are fewer), after one warm-up batch: one small batch
    alone is mostly noise. With `budget_s`, stops after the batch that spends it (at least 2)."""
    if not texts:
        return float("nan"), 0
    pool = (texts * (bs * batches // len(texts) + 1))[: bs * batches]
    batch_fn(pool[:bs])
    t0 = time.perf_counter()
    n = 0
    for s in range(0, len(pool), bs):
        batch_fn(pool[s : s + bs])
        n += 1
        if budget_s is not None and n >= 2 and time.perf_counter() - t0 > budget_s:
            break
    return n * bs / (time.perf_counter() - t0), n


def folder_bytes(path: str | Path) -> int:
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def speed_profile(
    predict_one: Callable[[str], object],
    tokenize_one: Callable[[str], object],
    predict_batch: Callable[[list[str]], object],
    texts: list[str],
    threads: int | None = None,
    budget_s: float | None = None,
) -> dict:
    """Latency (end to end and tokenisation alone) and batch-64 throughput.

    `threads` pins torch's intra-op threads for the batch-1 timings: a tiny model at batch 1
    only pays for thread hand-offs, so students are timed on one thread (recorded) while the
    teacher keeps every core. Throughput always uses every core. `budget_s` bounds each of the
    three timings (see `time_calls`); each records how many calls or batches it rests on.
    """
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        out = {"threads": torch.get_num_threads()}
        out.update(latency_stats(predict_one, texts, budget_s=budget_s))
        out["latency_n"] = out["latency_calls"]
        out.update(latency_stats(tokenize_one, texts, prefix="tokenize", budget_s=budget_s))
    finally:
        torch.set_num_threads(before)
    out["throughput"], out["throughput_batches"] = throughput(
        predict_batch, texts, budget_s=budget_s
    )
    out["throughput_threads"] = before
    return out


def bert_base_reference(tokenizer, max_length: int, vocab_size: int | None = None):
    """A BERT-base-shaped classifier (12 layers, 768 hidden) with random weights.

    It stands for the usual bert-base-chinese teacher: latency does not depend on weight values,
    so it can be timed offline with no download.
    """
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(
        vocab_size=vocab_size or len(tokenizer),
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        num_labels=2,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg).eval()

    @torch.inference_mode()
    def predict_one(text: str):
        enc = pairs.encode(tokenizer, text, max_length, return_tensors="pt")
        return int(model(**enc).logits.argmax(-1))

    return model, predict_one
