"""Latency is measured alone: the runs of one worker share a machine, but while one of them
times its models the others pause at their next step.

Two lock files per worker (POSIX `flock`, so it also holds across the worker's child processes):
every executing run holds `run.lock` shared; a run about to measure takes `turn.lock` exclusive
(which tells the others to pause: they probe it at each step), then `run.lock` exclusive, which it
gets once every other run of the worker has let go of its shared hold. Pausing runs wait on
`turn.lock` and take their shared hold back when the measurement is over. Measurements queue up
on `turn.lock`, so two runs never measure at once either.

The folder is per worker and per machine (the temp dir), so the runs a worker sends to one Ray
node are gated with each other as well.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "DISTILLERY_WORKER"  # the worker id, set for the processes a worker starts


def gate_dir(worker: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", worker)
    return Path(tempfile.gettempdir()) / "distillery-gate" / safe


class Gate:
    """One run's view of its worker's gate (one per executing run)."""

    def __init__(self, worker: str, folder: Path | None = None):
        self.worker = worker
        folder = folder or gate_dir(worker)
        folder.mkdir(parents=True, exist_ok=True)
        self._run = open(folder / "run.lock", "a+b")  # noqa: SIM115 - held for the run's life
        self._turn = open(folder / "turn.lock", "a+b")  # noqa: SIM115
        self.paused_s = 0.0  # time this run spent paused for other runs' measurements
        self._measuring = False  # inside `alone()`: the probe would convert our own locks

    def enter(self) -> None:
        fcntl.flock(self._run, fcntl.LOCK_SH)

    def leave(self) -> None:
        fcntl.flock(self._run, fcntl.LOCK_UN)
        self._run.close()
        self._turn.close()

    def pause_if_wanted(self) -> float:
        """At a step: if another run of the worker wants to measure, wait until it is done.
        One non-blocking system call when no one does. Returns the seconds paused."""
        if self._measuring:
            return 0.0
        try:
            fcntl.flock(self._turn, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            fcntl.flock(self._turn, fcntl.LOCK_UN)
            return 0.0
        t0 = time.monotonic()
        fcntl.flock(self._run, fcntl.LOCK_UN)
        fcntl.flock(self._turn, fcntl.LOCK_SH)  # until the measuring run lets go
        fcntl.flock(self._turn, fcntl.LOCK_UN)
        fcntl.flock(self._run, fcntl.LOCK_SH)
        waited = time.monotonic() - t0
        self.paused_s += waited
        return waited

    @contextmanager
    def alone(self) -> Iterator[float]:
        """No other run of this worker executes inside the block; yields the seconds waited."""
        t0 = time.monotonic()
        fcntl.flock(self._run, fcntl.LOCK_UN)  # never wait while holding: that deadlocks
        fcntl.flock(self._turn, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._run, fcntl.LOCK_EX)
            waited = time.monotonic() - t0
            if waited > 1:
                log.info("waited %.1f s for the worker's other runs to pause", waited)
            self._measuring = True
            try:
                yield waited
            finally:
                self._measuring = False
                fcntl.flock(self._run, fcntl.LOCK_SH)
        finally:
            fcntl.flock(self._turn, fcntl.LOCK_UN)


def from_env() -> Gate | None:
    """The gate of the worker that started this process, if one did."""
    worker = os.environ.get(ENV)
    return Gate(worker) if worker else None
