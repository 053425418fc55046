"""Batching by length, the one copy every stage uses."""

from __future__ import annotations

import random
from collections.abc import Sequence


def length_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, chunk: int = 20
) -> list[list[int]]:
    """Row indices in batches of similar length (less padding), in a seeded random order.

    Shuffle the rows, sort each run of `chunk` batches' worth of rows by length, cut it into
    batches, then shuffle the batches: every epoch sees a new order, yet each batch pads to
    nearly its longest row. The draws from `rng` (two shuffles per call) are part of a run's
    reproducible random stream: keep their order."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    span = batch_size * chunk
    out: list[list[int]] = []
    for s in range(0, len(idx), span):
        part = sorted(idx[s : s + span], key=lambda i: lengths[i])
        out += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def count_steps(n_rows: int, batch_size: int, epochs: int) -> int:
    """Optimiser steps of `epochs` passes over `n_rows` rows (the last batch may be short)."""
    return -(-n_rows // batch_size) * epochs
