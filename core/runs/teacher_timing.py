"""One teacher, timed once: the runs that share a teacher (an autodistill search's trials, a
sweep's trials) copy its speed figures from one earlier run instead of timing it, and
exporting it to ONNX, again in every run (PipelineConfig.teacher_timing_run).

`reused_teacher_timing` is what the evaluate stage (core.runs.scoring) copies; `TimingSource`
is how a search or a sweep picks the run its next trial names: the teacher run when it timed
what a trial would, else the first finished trial (which timed the teacher itself).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from core.runs.config import PipelineConfig

# The keys of a result that are speed figures (speed_profile, latency_stats, onnx_speed): what a
# run reusing another run's teacher timing copies.
TIMING_KEYS = ("threads", "latency_", "tokenize_", "throughput", "onnx_")


def reused_teacher_timing(store, cfg: PipelineConfig) -> dict | None:
    """The teacher's speed figures measured by run `cfg.teacher_timing_run` (its `teacher` row),
    with the run they came from; None when it has none that cover what this run would measure
    (no timing at all, or no ONNX figure while this run times ONNX)."""
    if cfg.teacher_timing_run is None:
        return None
    row = next((r for r in store.results(cfg.teacher_timing_run) if r["model"] == "teacher"), None)
    detail = (row or {}).get("detail") or {}
    if "latency_ms_p50" not in detail:
        return None
    if cfg.onnx_latency and not any(k in detail for k in ("onnx_latency_ms_p50", "onnx_error")):
        return None
    out = {k: v for k, v in detail.items() if k.startswith(TIMING_KEYS)}
    out["timing_from_run"] = detail.get("timing_from_run", cfg.teacher_timing_run)
    return out


@dataclass
class TimingSource:
    """Which run the trials of one coordinating run (`parent`: a search or a sweep) copy their
    shared teacher's timing from. Once found it is kept: every trial then carries the same
    figures, so their deployed speeds compare against one teacher measurement."""

    store: Any
    parent: int  # the coordinating run; its children marked `trial_key` are the trials
    trial_key: str  # the config key that marks a child as a trial ("auto_trial", "sweep_trial")
    found: int | None = None

    def run_for(self, cfg: PipelineConfig) -> int | None:
        """The run a trial configured as `cfg` (its `teacher_run` set) copies the teacher's
        timing from: the teacher run when it timed what the trial would, else the first
        finished trial's; None before either (that trial times the teacher itself)."""
        if self.found is not None:
            return self.found
        trials = sorted(
            c["id"]
            for c in self.store.runs(parent=self.parent)
            if c["status"] == "done" and c["config"].get(self.trial_key)
        )
        for rid in [cfg.teacher_run, *trials]:
            probe = dataclasses.replace(cfg, teacher_timing_run=rid)
            if rid is not None and reused_teacher_timing(self.store, probe) is not None:
                self.found = rid
                break
        return self.found
