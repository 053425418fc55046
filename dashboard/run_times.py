"""What the Train page says about time: the whole-run ETA of a running run, when a queued run
will likely start, how long a default run should take on this machine (from the store's earlier
finished runs, or before the first one from a speed probe of this machine; never a fixed
sentence), and what a second worker slot does. Plain functions of the store, so the CLI's
wording and the page's stay the same and they unit-test."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from core.config import to_dict
from core.evaluate.contention import busy_now, usable_cpus
from core.runs.config import PipelineConfig
from core.runs.eta import (
    REFERENCE_MACHINE,
    REFERENCE_PROBE_S,
    REFERENCE_RUN_S,
    expected_duration,
    first_run_estimate,
    probe_can_promise,
)
from core.train.device import speed_probe_s
from dashboard.formatting import fmt_seconds

SECOND_SLOT_MIN_CPUS = 4  # two runs side by side need two cores each to gain anything
PROBE_TTL_S = 300.0  # the page reruns on every click: probe the machine at most this often
_probe: dict[str, float] = {}


def machine_probe_s() -> float:
    """core.train.device.speed_probe_s, remembered for PROBE_TTL_S (a quarter of a second of
    arithmetic on every rerun of the page would be felt; the load changes slower than that)."""
    now = time.monotonic()
    if not _probe or now - _probe["at"] > PROBE_TTL_S:
        _probe.update(at=now, seconds=speed_probe_s())
    return _probe["seconds"]


def first_run_text(cfg: PipelineConfig, probe_s: float) -> str | None:
    """The promise before any run has finished here: the reference run scaled by this
    machine's probe (None: other settings than the defaults, see first_run_estimate)."""
    took = first_run_estimate(cfg, probe_s)
    if took is None:
        return None
    ratio = REFERENCE_PROBE_S / probe_s
    return (
        f"A whole pipeline with the default settings should take roughly {fmt_seconds(took)} "
        f"here: it took {fmt_seconds(REFERENCE_RUN_S)} on {REFERENCE_MACHINE}, and a speed test "
        f"of this machine just now ran at {ratio:.1f}x that one's speed. The first finished run "
        "replaces this guess with this machine's own stage timings."
    )


def eta_text(run: Mapping[str, Any]) -> str:
    """A running run's whole-run estimate, every stage ahead included (core.runs.eta)."""
    eta = run.get("eta_s")
    if eta is None:
        return "time left: estimated once the first steps are measured"
    return f"about {fmt_seconds(eta)} left for the whole run (evaluation included)"


def start_text(run_id: int, starts: Mapping[int, float | None]) -> str:
    """When queued run `run_id` likely starts (see core.runs.eta.queue_starts)."""
    if run_id not in starts:
        return ""
    wait = starts[run_id]
    if wait is None:
        return "start time not known yet (a run ahead has no estimate so far)"
    if wait < 5:
        return "starts as soon as a worker takes it"
    return f"likely starts in about {fmt_seconds(wait)}"


def time_promise(store, cfg: PipelineConfig | None = None) -> str:
    """How long a whole-pipeline run of `cfg` (the defaults) should take here, from this
    machine's earlier finished runs; with none, the reference run scaled by a speed probe of
    this CPU (untouched settings only), else that the first run calibrates."""
    cfg = cfg or PipelineConfig()
    run = {"id": -1, "kind": "pipeline", "config": to_dict(cfg)}
    took = expected_duration(store, run)
    busy = busy_now()
    if took is not None:
        text = (
            f"On this machine a whole pipeline with the default settings should take about "
            f"{fmt_seconds(took)} (from the stage timings of earlier finished runs here)."
        )
    elif probe_can_promise(cfg) and (guess := first_run_text(cfg, machine_probe_s())):
        text = guess
    else:
        text = (
            "How long a run takes depends on this machine: the first finished run calibrates "
            "the estimate, and every run shows a whole-run ETA from its measured stage times."
        )
    return f"{text} Right now {busy}." if busy else text


def slots_text(slots: int, cpus: int | None = None) -> str | None:
    """Whether to offer a second worker slot, and what it does to latency (None: this
    machine has too few cores for one to help)."""
    cpus = cpus or usable_cpus()
    if slots >= 2:
        return (
            f"Runs execute {slots} at a time. Latency is still measured alone: while one run "
            "times its models the others pause, so each waits for the other's evaluation."
        )
    if cpus < SECOND_SLOT_MIN_CPUS:
        return None
    return (
        f"This machine has {cpus} CPUs: a second slot runs two queued runs side by side. "
        "Each trains slower than alone, and the latency figures stay honest only because a run "
        "timing its models pauses the other (they wait for each other's evaluation stage)."
    )
