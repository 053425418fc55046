"""Runs: submit a config, get a run id, follow progress in the store, cancel.

`execute` takes one run to a final status in the calling process: the CLI calls it in the
foreground, and a worker (core/worker.py) in a child process of its own per run
(`python -m core exec RUN_ID`), so concurrent runs never share RNG state, torch thread settings or
a crash. `JobManager` (the dashboard) only queues runs and makes sure a worker is alive. Progress and losses go to the store (throttled), which is what makes a reloaded page or a
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from core.config import PipelineConfig, to_dict
from core.runs.gate import Gate
from core.runs.store import FINAL, HOST, Store
from core.workers.worker import child_env

__all__ = ["JobManager", "RunContext", "child_env", "execute", "start_local_worker"]

log = logging.getLogger(__name__)

KINDS = ("pipeline", "teacher", "augment", "distill", "sweep")
ProgressFn = Callable[[dict[str, Any]], None]
WORKER_IDLE_S = 600.0  # a worker the dashboard started stops after this long with nothing to do
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
    gate: Gate | None = None  # set when a worker executes the run: latency is measured alone

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
    from core.runs.pipeline import run_pipeline

    status, error = "failed", "the run stopped before it finished"
    beat = _Heartbeat(store, run_id, heartbeat_s)
    interrupted = False
    try:
        store.start_run(run_id)
        beat.start()
        if ctx.gate is not None:
            ctx.gate.enter()
        if kind == "sweep":
            from core.runs.sweep import run_sweep

            run_sweep(cfg, ctx)
        else:
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
        if ctx.gate is not None:
            ctx.gate.leave()
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


class JobManager:
    """The dashboard's handle on runs. `submit` queues a run and makes sure a worker is alive to
    take it: if none is registered in the store, it starts a local `python -m core worker` in a
    session of its own, so the run outlives this process (a dashboard restart interrupts
    nothing). The web server itself never trains.
    """

    def __init__(
        self,
        store: Store | None = None,
        slots: int = 1,
        worker_idle_s: float | None = None,
        start_workers: bool = True,
    ):
        self.store = store or Store()
        self.slots = slots
        env_idle = os.environ.get("DISTILLERY_WORKER_IDLE_S")
        self.worker_idle_s = worker_idle_s or (float(env_idle) if env_idle else WORKER_IDLE_S)
        self.start_workers = start_workers
        self._lock = threading.Lock()
        self._worker: subprocess.Popen | None = None
        self.store.mark_interrupted()

    def submit(
        self,
        kind: str,
        cfg: PipelineConfig,
        parent: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> int:
        """Queue a run; `extra` goes into its stored config beside the pipeline's (a sweep's
        settings, a trial's parameters)."""
        if kind not in KINDS:
            raise ValueError(f"unknown run kind {kind!r}; expected one of {', '.join(KINDS)}")
        config = {**to_dict(cfg), **(extra or {})}
        run_id = self.store.create_run(kind, config, name=cfg.name, parent=parent)
        if self.start_workers:
            self.ensure_worker()
        return run_id

    def ensure_worker(self) -> dict[str, Any]:
        """A live worker for this store: one registered in it, or a local one started now."""
        live = self.store.live_workers()
        if live:
            return live[0]
        with self._lock:
            if self._worker is not None and self._worker.poll() is None:
                return {"pid": self._worker.pid, "host": HOST, "starting": True}
            self._worker = start_local_worker(self.store, self.slots, self.worker_idle_s)
            return {"pid": self._worker.pid, "host": HOST, "starting": True}

    def cancel(self, run_id: int) -> str:
        return self.store.request_cancel(run_id)

    def active(self) -> list[int]:
        return [r["id"] for r in self.store.active_runs()]

    def wait(self, run_id: int, timeout: float | None = None) -> str:
        """Wait for the run's final status (or the timeout); the status then."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.store.run(run_id)["status"]
            if status in FINAL or (deadline is not None and time.monotonic() >= deadline):
                return status
            self.store.mark_interrupted()
            time.sleep(0.2)

    def close(self) -> None:
        """Stop the worker this manager started (it finishes the run in hand first)."""
        with self._lock:
            if self._worker is not None and self._worker.poll() is None:
                self._worker.terminate()
                try:
                    self._worker.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    self._worker.kill()
            self._worker = None


def start_local_worker(store: Store, slots: int = 1, idle_exit_s: float | None = None):
    """`python -m core worker` for `store`, detached (a session of its own: a Ctrl-C or a
    restart of whoever started it does not reach it), logging to workers/<time>.log."""
    folder = store.home / "workers"
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "core", "worker", "--home", str(store.home.resolve())]
    cmd += ["--slots", str(slots)]
    if idle_exit_s:
        cmd += ["--idle-exit", str(idle_exit_s)]
    with open(folder / time.strftime("worker-%Y%m%d-%H%M%S.log"), "ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    log.info("started a local worker (pid %d) for %s", proc.pid, store.home)
    return proc
