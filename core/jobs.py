"""Runs: submit a config, get a run id, follow progress in the store, cancel.

`execute` takes one run to a final status in the calling process: the CLI calls it in the
foreground, and `JobManager` (the dashboard) starts each run as a child process of its own
(`python -m core exec RUN_ID`), so concurrent runs never share RNG state, torch thread settings or
a crash. Progress and losses go to the store (throttled), which is what makes a reloaded page or a
second process see the same live state; a heartbeat thread proves the run is still alive.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import PipelineConfig, to_dict
from .store import FINAL, Store

log = logging.getLogger(__name__)

KINDS = ("pipeline", "teacher", "augment", "distill")
ProgressFn = Callable[[dict[str, Any]], None]
ROOT = Path(__file__).resolve().parent.parent
HEARTBEAT_S = 5.0  # well inside the store's 60 s staleness limit
FINAL_WRITE_DELAYS_S = (0.5, 1.0, 2.0, 4.0)  # retries of the final status write, then give up


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
        self._last_flush = time.time()
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
        self._state = state
        # losses first: the buffer is only emptied once its points are in the store
        for series in list(self._buffer):
            if self._buffer[series]:
                self.store.log_metrics(self.run_id, series, self._buffer[series])
            del self._buffer[series]
        self.store.update_run(self.run_id, **state)


class _Heartbeat:
    """A daemon thread writing the run's heartbeat every `every_s` while `execute` runs: long
    stages (teacher labelling, a big batch) may not call `ctx.step` for a while."""

    def __init__(self, store: Store, run_id: int, every_s: float):
        self.store, self.run_id, self.every_s = store, run_id, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"distillery-heartbeat-{run_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.store.heartbeat(self.run_id)
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried at the next one
                log.warning("run %d: heartbeat not written: %s", self.run_id, exc)


def execute(
    store: Store,
    run_id: int,
    kind: str,
    cfg: PipelineConfig,
    ctx: RunContext,
    heartbeat_s: float = HEARTBEAT_S,
) -> str:
    """Run a job to a final status and return it; never raises (but re-raises Ctrl-C).

    Every status write is covered: if marking the run `running` fails, the run ends `failed`
    with the reason; if the final write fails, it is retried as `failed` a few times; and if the
    store stays unwritable, the heartbeat has stopped, so other processes mark it `interrupted`.
    """
    from .pipeline import run_pipeline

    status, error = "failed", "the run stopped before it finished"
    beat = _Heartbeat(store, run_id, heartbeat_s)
    interrupted = False
    try:
        store.start_run(run_id)
        beat.start()
        run_pipeline(kind, cfg, ctx)
        status, error = "done", None
    except Cancelled as exc:
        status, error = "cancelled", str(exc)
    except KeyboardInterrupt:
        status, error, interrupted = "cancelled", "interrupted (Ctrl-C)", True
    except Exception as exc:  # noqa: BLE001 - the run records every failure for the user
        log.error("run %d failed:\n%s", run_id, traceback.format_exc())
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        beat.stop()
        status = _record_final(store, run_id, ctx, status, error)
    if interrupted:
        raise KeyboardInterrupt
    return status


def _record_final(
    store: Store, run_id: int, ctx: RunContext, status: str, error: str | None
) -> str:
    try:
        timings = ctx.close(done=status == "done")
    except Exception as exc:  # noqa: BLE001 - the final status below matters more
        log.warning("run %d: could not write its last progress: %s", run_id, exc)
        timings = dict(ctx._timings)
    fields: dict[str, Any] = {"status": status, "error": error, "timings": timings}
    if status == "done":
        fields["progress"] = 1.0
        fields["eta_s"] = 0.0
    for attempt, delay in enumerate((0.0, *FINAL_WRITE_DELAYS_S)):
        time.sleep(delay)
        try:
            store.update_run(run_id, finished=time.time(), **fields)
            return fields["status"]
        except Exception as exc:  # noqa: BLE001 - disk full, database locked, ...
            log.warning("run %d: writing status %s failed: %s", run_id, fields["status"], exc)
            if attempt == 0:  # the result could not be recorded: the run has failed
                reason = f"could not record status {status!r}: {type(exc).__name__}: {exc}"
                fields = {
                    "status": "failed",
                    "error": f"{error}; {reason}" if error else reason,
                    "timings": timings,
                }
    log.error(
        "run %d: gave up writing its final status (%s: %s); with its heartbeat stopped it will "
        "be marked interrupted",
        run_id,
        status,
        error,
    )
    return fields["status"]


def child_env() -> dict[str, str]:
    """The environment of a run's process: ours (DISTILLERY_HOME, HF_HUB_OFFLINE, ...) plus the
    project root on PYTHONPATH, so `python -m core` works from any working directory."""
    env = dict(os.environ)
    paths = [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class JobManager:
    """Starts each run as a child process (`python -m core exec RUN_ID --home HOME`).

    The store holds everything else: progress, cancel requests (the child polls its flag every
    second), the child's pid and heartbeat. The child writes its log to `runs/<id>/run.log`.
    """

    def __init__(self, store: Store | None = None):
        self.store = store or Store()
        self._lock = threading.Lock()
        self._procs: dict[int, subprocess.Popen] = {}
        self.store.mark_interrupted()

    def submit(self, kind: str, cfg: PipelineConfig) -> int:
        if kind not in KINDS:
            raise ValueError(f"unknown run kind {kind!r}; expected one of {', '.join(KINDS)}")
        run_id = self.store.create_run(kind, to_dict(cfg), name=cfg.name)
        home = str(self.store.home.resolve())
        cmd = [sys.executable, "-m", "core", "exec", str(run_id), "--home", home]
        try:
            with open(self.store.run_dir(run_id) / "run.log", "ab") as out:
                proc = subprocess.Popen(
                    cmd,  # in our working directory: relative paths in the config mean the same
                    env=child_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        except OSError as exc:
            self.store.finish_if_active(run_id, "failed", f"could not start the run: {exc}")
            raise
        # the child records its own pid when it starts; until then the row names it already
        self.store.update_run(run_id, pid=proc.pid)
        with self._lock:
            self._procs[run_id] = proc
        # reap the child as soon as it exits: its pid reads as dead at once, and a child that
        # died without a final status (killed, crashed) is recorded as interrupted right away
        threading.Thread(
            target=self._reap, args=(run_id, proc), name=f"distillery-reap-{run_id}", daemon=True
        ).start()
        return run_id

    def _reap(self, run_id: int, proc: subprocess.Popen) -> None:
        rc = proc.wait()
        reason = self.store.stopped_error(run_id, f"exit code {rc}")
        if self.store.finish_if_active(run_id, "interrupted", reason):
            log.warning("run %d: %s", run_id, reason)

    def cancel(self, run_id: int) -> None:
        self.store.request_cancel(run_id)

    def active(self) -> list[int]:
        with self._lock:
            return [rid for rid, p in self._procs.items() if p.poll() is None]

    def wait(self, run_id: int, timeout: float | None = None) -> str:
        """Wait for the run's process (or, for a run started elsewhere, its final status)."""
        with self._lock:
            proc = self._procs.get(run_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return self.store.run(run_id)["status"]
            self._reap(run_id, proc)  # no final status: interrupted (the reaper may be later)
            return self.store.run(run_id)["status"]
        while True:
            status = self.store.run(run_id)["status"]
            if status in FINAL or (deadline is not None and time.monotonic() >= deadline):
                return status
            self.store.mark_interrupted()
            time.sleep(0.2)
