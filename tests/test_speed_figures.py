"""Speed figures say what they measured: throughput over full batches, thread counts as
recorded per model."""

from __future__ import annotations

from core.evaluate.metrics import THROUGHPUT_BATCHES, throughput
from dashboard.result_tables import threads_caption


def test_throughput_times_full_batches_even_from_few_texts():
    sizes: list[int] = []
    rate, batches = throughput(lambda b: sizes.append(len(b)), ["a", "b", "c"], bs=64)
    assert sizes == [64] * (THROUGHPUT_BATCHES + 1)  # a warm-up batch, then the timed ones
    assert rate > 0 and batches == THROUGHPUT_BATCHES


def test_threads_caption_comes_from_each_results_record():
    rows = [
        {"role": "teacher", "detail": {"threads": 2}},
        {"role": "distilled", "detail": {"threads": 1, "family": "word"}},
        {"role": "plain", "detail": {"threads": 1, "family": "char"}},
        {"role": "distilled", "detail": {"threads": 2, "family": "transformer"}},
    ]
    assert threads_caption(rows) == (
        "word students and char students on 1 thread; "
        "the teacher and transformer students on 2 threads"
    )
