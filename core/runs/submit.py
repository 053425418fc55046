"""Submit runs to the queue and make sure a worker is alive to take them.

`JobManager` (the dashboard's and a sweep's handle) only queues runs: the web server never
trains. A worker registered in the store takes them; if none is alive, a local
`python -m core worker` is started in a session of its own, so a run outlives whoever queued it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from typing import Any

from core.config import to_dict
from core.runs.config import PipelineConfig
from core.runs.context import KINDS
from core.runs.gate import ENV as WORKER_ENV
from core.runs.queue import wanted_slots
from core.runs.store import FINAL, HOST, Store

log = logging.getLogger(__name__)

WORKER_IDLE_S = 600.0  # a worker the dashboard started stops after this long with nothing to do
PARENT_ENV = "DISTILLERY_WORKER_PID"  # a run's process exits when this process is gone


def child_env(worker: str | None = None) -> dict[str, str]:
    """The environment of a run's process: ours (DISTILLERY_HOME, HF_HUB_OFFLINE, ...) and the
    worker's identity. `core` is installed, so `python -m core` works from any folder."""
    env = dict(os.environ)
    if worker:
        env[WORKER_ENV] = worker
        env[PARENT_ENV] = str(os.getpid())
    return env


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
            slots = wanted_slots(self.store) or self.slots  # the Train page's choice, if any
            self._worker = start_local_worker(self.store, slots, self.worker_idle_s)
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
