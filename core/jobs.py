"""Background runs: submit a config, get a run id, follow progress in the store, cancel.

The same `execute` runs in the foreground for the CLI and in a thread for the dashboard, so the
two can never drift apart. Progress and losses go to the store (throttled), which is what makes
a reloaded page or a second process see the same live state.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import PipelineConfig, to_dict
from .store import Store

log = logging.getLogger(__name__)

KINDS = ("pipeline", "teacher", "augment", "distill")
ProgressFn = Callable[[dict[str, Any]], None]
_LIVE: set[int] = set()  # runs executing in this process, whichever manager started them


class Cancelled(Exception):
    """Raised inside a run at the next step boundary after a cancel request."""


@dataclass
class RunContext:
    store: Store
    run_id: int
    cancel_event: threading.Event = field(default_factory=threading.Event)
    on_progress: ProgressFn | None = None
    flush_every_s: float = 0.5
    _plan: dict[str, float] = field(default_factory=dict)
    _done_weight: float = 0.0
    _stage: str = ""
    _step: int = 0
    _total: int = 0
    _stage_t0: float = 0.0
    _last_flush: float = 0.0
    _last_cancel_check: float = 0.0
    _timings: dict[str, float] = field(default_factory=dict)
    _buffer: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    _last_loss: float | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def run_dir(self):
        return self.store.run_dir(self.run_id)

    def plan(self, stages: dict[str, float]) -> None:
        """Relative weights of the stages ahead, for one overall progress fraction."""
        self._plan = dict(stages)

    def stage(self, name: str, total: int = 0) -> None:
        self._end_stage()
        self._stage, self._step, self._total = name, 0, max(int(total), 0)
        self._stage_t0 = time.time()
        self._last_loss = None
        log.info("run %d: stage %s (%d steps)", self.run_id, name, total)
        self._flush(force=True)

    def set_total(self, total: int) -> None:
        self._total = total

    def step(self, n: int = 1, loss: float | None = None, series: str | None = None) -> None:
        with self._lock:  # students may train in several threads at once
            self._step_locked(n, loss, series)

    def _step_locked(self, n: int, loss: float | None, series: str | None) -> None:
        self._step += n
        if loss is not None:
            self._last_loss = float(loss)
            if series:
                self._buffer.setdefault(series, []).append((self._step, float(loss)))
        self._flush()

    def log_point(self, series: str, step: int, value: float) -> None:
        with self._lock:
            self._buffer.setdefault(series, []).append((step, float(value)))

    def check_cancel(self) -> None:
        now = time.time()
        if not self.cancel_event.is_set() and now - self._last_cancel_check > 1.0:
            self._last_cancel_check = now
            if self.store.cancel_requested(self.run_id):
                self.cancel_event.set()
        if self.cancel_event.is_set():
            raise Cancelled(f"run {self.run_id} cancelled during {self._stage or 'start-up'}")

    def finish(self) -> dict[str, float]:
        self._end_stage()
        self._flush(force=True)
        return dict(self._timings)

    # -- internals -------------------------------------------------------------------------
    def _end_stage(self) -> None:
        if self._stage and self._stage not in self._timings:
            self._timings[self._stage] = round(time.time() - self._stage_t0, 3)
            self._done_weight += self._plan.get(self._stage, 0.0)

    def _progress(self) -> tuple[float, float | None]:
        total_w = sum(self._plan.values()) or 1.0
        frac = self._step / self._total if self._total else 0.0
        cur_w = self._plan.get(self._stage, 0.0) if self._stage not in self._timings else 0.0
        overall = min(1.0, (self._done_weight + cur_w * min(frac, 1.0)) / total_w)
        eta = None
        if self._step and self._total:
            elapsed = time.time() - self._stage_t0
            eta = elapsed / self._step * max(self._total - self._step, 0)
        return overall, eta

    def _flush(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_flush < self.flush_every_s:
            self.check_cancel()
            return
        self._last_flush = now
        overall, eta = self._progress()
        state = {
            "stage": self._stage,
            "step": self._step,
            "total": self._total,
            "progress": overall,
            "eta_s": eta,
            "message": f"loss {self._last_loss:.4f}" if self._last_loss is not None else "",
            "timings": dict(self._timings),
        }
        self.store.update_run(self.run_id, **state)
        for series, pts in self._buffer.items():
            if pts:
                self.store.log_metrics(self.run_id, series, pts)
        self._buffer = {}
        if self.on_progress:
            self.on_progress(state)
        self.check_cancel()


def execute(store: Store, run_id: int, kind: str, cfg: PipelineConfig, ctx: RunContext) -> None:
    """Run a job to a final status; never raises (the status and error say what happened)."""
    from .pipeline import run_pipeline

    _LIVE.add(run_id)
    store.update_run(run_id, status="running", started=time.time())
    try:
        run_pipeline(kind, cfg, ctx)
        status, error = "done", None
    except Cancelled as exc:
        status, error = "cancelled", str(exc)
    except Exception as exc:  # noqa: BLE001 - the run records every failure for the user
        log.error("run %d failed:\n%s", run_id, traceback.format_exc())
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    timings = ctx.finish() if status == "done" else dict(ctx._timings)
    fields: dict[str, Any] = {"status": status, "error": error, "finished": time.time()}
    fields["timings"] = timings
    if status == "done":
        fields["progress"] = 1.0
        fields["eta_s"] = 0.0
    store.update_run(run_id, **fields)
    _LIVE.discard(run_id)


class JobManager:
    """Holds the threads of this process; the store holds everything else."""

    def __init__(self, store: Store | None = None):
        self.store = store or Store()
        self._lock = threading.Lock()
        self._jobs: dict[int, tuple[threading.Thread, threading.Event]] = {}
        self.store.mark_interrupted(live_run_ids=set(_LIVE))

    def submit(self, kind: str, cfg: PipelineConfig) -> int:
        if kind not in KINDS:
            raise ValueError(f"unknown run kind {kind!r}; expected one of {', '.join(KINDS)}")
        run_id = self.store.create_run(kind, to_dict(cfg), name=cfg.name)
        event = threading.Event()
        ctx = RunContext(self.store, run_id, event)
        thread = threading.Thread(
            target=execute,
            args=(self.store, run_id, kind, cfg, ctx),
            name=f"distillery-run-{run_id}",
            daemon=True,
        )
        with self._lock:
            self._jobs[run_id] = (thread, event)
        thread.start()
        return run_id

    def cancel(self, run_id: int) -> None:
        self.store.request_cancel(run_id)
        with self._lock:
            job = self._jobs.get(run_id)
        if job:
            job[1].set()

    def active(self) -> list[int]:
        with self._lock:
            return [rid for rid, (t, _) in self._jobs.items() if t.is_alive()]

    def wait(self, run_id: int, timeout: float | None = None) -> str:
        with self._lock:
            job = self._jobs.get(run_id)
        if job:
            job[0].join(timeout)
        return self.store.run(run_id)["status"]
