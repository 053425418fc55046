"""The run context: what a running run reports through, and how it learns it was cancelled.

Progress and losses go to the store (throttled), which is what makes a reloaded page or a second
process see the same live state. Every stage of every run plan talks to it: `plan` (stage
weights), `stage`, `step` (with a loss and its series), `log_point`, `check_cancel`, `alone`
(latency measured with the worker's other runs paused) and `finish`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from core.evaluate.contention import busy_now
from core.runs.eta import ETA_SERIES, calibration, remaining_s
from core.runs.gate import Gate
from core.runs.store import Store

log = logging.getLogger(__name__)

KINDS = ("pipeline", "teacher", "augment", "distill", "sweep", "autodistill")
ProgressFn = Callable[[dict[str, Any]], None]
ETA_EVERY_S = 2.0  # one point of the `eta` series at most this often
BUSY_EVERY_S = 5.0  # how often the load average is read for the "machine is busy" note


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
    _state: dict[str, Any] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _expected: dict[str, float] = field(default_factory=dict)  # seconds per stage (history)
    _t0: float = field(default_factory=time.time)  # the run's start (the store's `started`)
    _last_eta_point: float = 0.0
    _busy: str | None = None
    _busy_checked: float = 0.0
    gate: Gate | None = None  # set when a worker executes the run: latency is measured alone

    @property
    def run_dir(self):
        return self.store.run_dir(self.run_id)

    def plan(self, stages: dict[str, float]) -> None:
        """Relative weights of the stages ahead, in the order they run: one overall progress
        fraction, and the whole-run ETA with the seconds each stage took in earlier finished
        runs on this machine (core.runs.eta; none yet: this run calibrates the next)."""
        self._plan = dict(stages)
        try:
            run = self.store.run(self.run_id)
            self._t0 = run.get("started") or self._t0
            self._expected = calibration(
                self.store, run["kind"], run.get("config") or {}, self._plan, exclude=self.run_id
            )
        except Exception as exc:  # noqa: BLE001 - an estimate never stops a run
            log.warning("run %d: no calibration for its ETA: %s", self.run_id, exc)
            self._expected = {}

    def stage(self, name: str, total: int = 0) -> None:
        self._end_stage()
        self._stage, self._step, self._total = name, 0, max(int(total), 0)
        self._stage_t0 = time.time()
        self._last_loss = None
        log.info("run %d: stage %s (%d steps)", self.run_id, name, total)
        self._flush(force=True)

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
            if self.gate is not None:
                self.gate.pause_if_wanted()  # another run of the worker is timing its models
            if self.store.cancel_requested(self.run_id):
                self.cancel_event.set()
        if self.cancel_event.is_set():
            raise Cancelled(f"run {self.run_id} cancelled during {self._stage or 'start-up'}")

    @contextmanager
    def alone(self) -> Iterator[dict[str, Any]]:
        """The block runs with no other run of this run's worker executing (see core.gate); it
        gets what to record about that with each latency figure."""
        if self.gate is None:
            yield {
                "measured_alone": False,
                "isolation": "run in the foreground: other processes were not paused",
            }
            return
        with self.gate.alone() as waited:
            yield {
                "measured_alone": True,
                "isolation": f"no other run of worker {self.gate.worker} executing",
                "isolation_wait_s": round(waited, 2),
            }

    @property
    def steps_done(self) -> int:
        """Steps taken in the current stage (a sweep shows its finished trials with it)."""
        return self._step

    def timings(self) -> dict[str, float]:
        """Seconds per finished stage so far."""
        return dict(self._timings)

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
        eta = remaining_s(
            self._plan,
            self._timings,
            self._stage if self._stage not in self._timings else "",
            self._step,
            self._total,
            time.time() - self._stage_t0,
            self._expected,
        )
        return overall, eta

    def _notes(self, now: float, eta: float | None) -> str:
        """The ETA point for the `eta` series (throttled) and whether the machine is busy."""
        if eta is not None and now - self._last_eta_point >= ETA_EVERY_S:
            self._last_eta_point = now
            self._buffer.setdefault(ETA_SERIES, []).append((int(now - self._t0), eta))
        if now - self._busy_checked >= BUSY_EVERY_S:
            self._busy_checked = now
            self._busy = busy_now()
        return self._busy or ""

    def close(self, done: bool) -> dict[str, float]:
        """Write what is still buffered (losses, last progress) without checking for a cancel;
        the timings so far (with the last stage's when the run is done)."""
        with self._lock:
            if done:
                self._end_stage()
            self._write_state()
            return dict(self._timings)

    def _flush(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_flush < self.flush_every_s:
            self.check_cancel()
            return
        self._write_state()
        if self.on_progress:
            self.on_progress(self._state)
        self.check_cancel()

    def _write_state(self) -> None:
        self._last_flush = now = time.time()
        overall, eta = self._progress()
        busy = self._notes(now, eta)
        loss = f"loss {self._last_loss:.4f}" if self._last_loss is not None else ""
        state = {
            "stage": self._stage,
            "step": self._step,
            "total": self._total,
            "progress": overall,
            "eta_s": eta,  # the whole run's, every stage still ahead included
            "message": " · ".join(x for x in (loss, busy) if x),
            "timings": dict(self._timings),
        }
        self._state = state
        # losses first: the buffer is only emptied once its points are in the store
        for series in list(self._buffer):
            if self._buffer[series]:
                self.store.log_metrics(self.run_id, series, self._buffer[series])
            del self._buffer[series]
        self.store.update_run(self.run_id, **state)
