"""Was the machine busy while a latency figure was measured? Figures a reader can judge.

A batch-1 latency taken while other processes compete for the CPU can be many times the quiet
figure (a teacher timed at 600 ms on a busy 2-core box, 59 ms as ONNX in the same run), and a
speed-up ratio built on it becomes a false headline. So every headline latency is recorded with
what the machine was doing meanwhile:

- the 1-minute load average just before and just after the timing loop, and the CPUs this
  process may use: a load above the CPUs means runnable threads queued for a core;
- the time this process's threads spent waiting in the kernel's run queue during the loop, per
  second of wall time (Linux's /proc/self/task/*/schedstat; None elsewhere): the direct measure
  of "ready to run, but a core was taken";
- the process CPU seconds per wall second of the loop (about 1 for a one-thread loop that never
  waited; lower when it was kept off the CPU).

`contended` is True when the run queue wait or the load says the loop shared its cores. Pure
standard library: the engine records it, the dashboard and the CLI explain it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Threads of ours waited for a core this share of the loop's wall time or more: contended. A
# quiet machine shows about 0.00-0.02 here (a wake-up now and then).
WAIT_LIMIT = 0.10
# The load average above the usable CPUs by this share of them (at least half a core): other
# runnable threads queued for the cores. The loop's own threads count in the load too, so a load
# up to the CPU count is what one run alone on the machine produces.
LOAD_MARGIN = 0.25


@dataclass(frozen=True)
class Sample:
    wall: float  # time.perf_counter()
    cpu: float  # this process's CPU seconds, all threads
    load1: float | None  # 1-minute load average
    wait_s: float | None  # run-queue wait of this process's threads so far (Linux)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _load1() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _run_queue_wait_s() -> float | None:
    """Seconds this process's threads have waited for a CPU (the second field of each thread's
    schedstat, in ns); None where the kernel does not expose it."""
    total = 0
    try:
        for stat in Path("/proc/self/task").glob("*/schedstat"):
            try:
                total += int(stat.read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue  # a thread that ended between the listing and the read
    except OSError:
        return None
    return total / 1e9 if Path("/proc/self/task").is_dir() else None


def sample() -> Sample:
    """The machine's state now (taken just before and just after a timing loop)."""
    return Sample(time.perf_counter(), time.process_time(), _load1(), _run_queue_wait_s())


def judge(before: Sample, after: Sample, prefix: str) -> dict[str, Any]:
    """The figures between two samples, under `prefix` (the latency figure they qualify):
    `{prefix}_load1` [before, after], `{prefix}_cpus`, `{prefix}_cpu_wait` (run-queue wait per
    wall second, or None), `{prefix}_cpu_per_wall` and `{prefix}_contended`."""
    wall = max(after.wall - before.wall, 1e-9)
    cpus = usable_cpus()
    wait = None
    if before.wait_s is not None and after.wait_s is not None:
        wait = max(after.wait_s - before.wait_s, 0.0) / wall
    loads = [x for x in (before.load1, after.load1) if x is not None]
    busy_load = bool(loads) and max(loads) > cpus + max(0.5, LOAD_MARGIN * cpus)
    busy_wait = wait is not None and wait > WAIT_LIMIT
    return {
        f"{prefix}_load1": [
            None if x is None else round(x, 2) for x in (before.load1, after.load1)
        ],
        f"{prefix}_cpus": cpus,
        f"{prefix}_cpu_wait": None if wait is None else round(wait, 3),
        f"{prefix}_cpu_per_wall": round((after.cpu - before.cpu) / wall, 3),
        f"{prefix}_contended": bool(busy_load or busy_wait),
    }


def why_contended(m: dict[str, Any], prefix: str = "latency") -> str | None:
    """In plain words, why the figure under `prefix` counts as measured under contention (None:
    it does not, or it was recorded before these figures existed)."""
    if not m.get(f"{prefix}_contended"):
        return None
    parts = []
    loads = [x for x in (m.get(f"{prefix}_load1") or []) if x is not None]
    cpus = m.get(f"{prefix}_cpus")
    if loads and cpus:
        parts.append(f"load average {max(loads):.1f} on {cpus} CPU(s)")
    wait = m.get(f"{prefix}_cpu_wait")
    if wait is not None:
        parts.append(f"its threads waited for a CPU {100 * wait:.0f}% of the time")
    return "; ".join(parts) or "the machine was busy"


def busy_now() -> str | None:
    """In plain words, whether other work is slowing this machine now (None: it is not, or
    the OS does not say): the 1-minute load average above the usable CPUs by the margin that
    `judge` uses. What a progress line shows beside an ETA."""
    load = _load1()
    cpus = usable_cpus()
    if load is None or load <= cpus + max(0.5, LOAD_MARGIN * cpus):
        return None
    return f"other work is slowing this machine (load average {load:.1f} on {cpus} CPU(s))"
