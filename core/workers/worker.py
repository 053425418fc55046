"""`python -m core worker`: take queued runs from the store and execute them.

The store is the queue. A worker registers itself (a row in `workers` with a heartbeat), claims
the oldest queued run atomically (`Store.claim_next`), and executes it through a backend: a child
process on this machine (`python -m core exec ID --claimed`, the default) or a Ray task on a
cluster (core/ray_backend.py). `slots` runs at once (default 1); sweeps are coordinators that only
queue trials and wait, so they run beside the slots instead of taking one (otherwise a one-slot
worker would wait for itself forever).

Guarantees, each tested: a run outlives the dashboard that queued it (the worker is a process of
its own, in a session of its own); a killed worker's runs end `interrupted` (its children notice
their parent is gone, record it and exit; a worker on another machine goes stale in 30 s) and the
queue goes on with the next worker; the runs of one worker measure latency alone (core/gate.py).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.runs.gate import ENV as WORKER_ENV
from core.runs.queue import wanted_slots
from core.runs.store import COORDINATOR_KINDS, HOST, Store
from core.runs.submit import PARENT_ENV, child_env

log = logging.getLogger(__name__)

MAX_COORDINATORS = 4
POLL_S = 0.5
BEAT_EVERY_S = 2.0


class Execution(Protocol):
    """One run being executed by a backend."""

    run_id: int

    def poll(self) -> int | None:
        """None while it runs; its exit code (0: a final status was recorded) once over."""

    def pump(self) -> None:
        """Move what the run reported into the store (a no-op where the run writes it itself)."""

    def terminate(self) -> None:
        """Ask it to stop (it records `cancelled`)."""


class Backend(Protocol):
    name: str

    def start(self, store: Store, run: dict[str, Any], worker: str) -> Execution: ...

    def close(self) -> None: ...


@dataclass
class ChildProcess:
    run_id: int
    proc: subprocess.Popen
    _signalled: bool = False

    def poll(self) -> int | None:
        return self.proc.poll()

    def pump(self) -> None:
        pass

    def terminate(self) -> None:
        # once: `exec` cancels at its next step on the first SIGTERM, quits at once on a second
        if self.proc.poll() is None and not self._signalled:
            self.proc.send_signal(signal.SIGTERM)
            self._signalled = True


class LocalBackend:
    """Each run in a child process of the worker: its own RNG, torch threads and crash."""

    name = "local"

    def start(self, store: Store, run: dict[str, Any], worker: str) -> Execution:
        rid = run["id"]
        cmd = [sys.executable, "-m", "core", "exec", str(rid), "--claimed"]
        cmd += ["--home", str(store.home.resolve())]
        with open(store.run_dir(rid) / "run.log", "ab") as out:
            proc = subprocess.Popen(
                cmd,  # in our working directory: relative paths in the config mean the same
                env=child_env(worker),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the worker's terminal is the worker's
            )
        store.update_run(rid, pid=proc.pid)  # the child records it too, once it has started
        return ChildProcess(rid, proc)

    def close(self) -> None:
        pass


@dataclass
class Worker:
    store: Store
    slots: int = 1
    backend: Backend = field(default_factory=LocalBackend)
    id: str = ""
    _running: dict[int, Execution] = field(default_factory=dict)
    _coordinating: dict[int, Execution] = field(default_factory=dict)
    _stopping: int = 0  # signals received: 1 finish what runs, 2 cancel it
    _accepting: bool = True  # claims new runs (False while draining, or after --once's run)
    _beat_stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"slots must be at least 1, not {self.slots}")
        self.id = self.id or f"{HOST}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def serve(self, once: bool = False, idle_exit_s: float | None = None) -> list[int]:
        """Execute queued runs until stopped (SIGINT / SIGTERM: finish the runs in hand; twice:
        cancel them), until idle for `idle_exit_s`, or with `once`, until the next queued run
        is over. Returns the ids of the runs it executed."""
        store = self.store
        store.register_worker(self.id, self.backend.name, self.slots)
        log.info(
            "worker %s (%s, %d slot%s) serving %s",
            self.id,
            self.backend.name,
            self.slots,
            "" if self.slots == 1 else "s",
            store.path,
        )
        old = self._install_signals()
        executed: list[int] = []
        idle_since = time.monotonic()
        last_check = 0.0
        self._accepting = True
        beat = threading.Thread(target=self._beat_loop, name="distillery-worker-beat", daemon=True)
        beat.start()
        try:
            while True:
                now = time.monotonic()
                if now - last_check >= BEAT_EVERY_S:
                    if not store.path.exists():  # the home was deleted under us
                        log.warning("worker %s: %s is gone; stopping", self.id, store.path)
                        break
                    try:
                        store.mark_interrupted()
                        self._follow_slots()
                    except Exception as exc:  # noqa: BLE001 - a locked database: next time
                        log.warning("worker %s: %s", self.id, exc)
                    last_check = now
                if self._stopping or (once and executed):
                    self._accepting = False  # live_workers() no longer counts on us
                self._reap()
                if self._stopping >= 2:
                    for ex in [*self._running.values(), *self._coordinating.values()]:
                        ex.terminate()
                if self._accepting:
                    try:
                        executed += self._claim(once)
                    except Exception as exc:  # noqa: BLE001 - a locked database: next time
                        log.warning("worker %s: could not claim: %s", self.id, exc)
                busy = self._running or self._coordinating
                if busy:
                    idle_since = now
                elif once or self._stopping:
                    break
                elif idle_exit_s is not None and now - idle_since > idle_exit_s:
                    # say we stopped first, then look once more: a run queued by someone who
                    # saw us alive is then either seen here or finds no live worker and starts one
                    self._accepting = False
                    store.worker_beat(self.id, [], stopped=True)
                    if not store.queue_waiting():
                        log.info("worker %s: idle for %.0f s; stopping", self.id, idle_exit_s)
                        break
                    self._accepting = True
                    store.worker_beat(self.id, [])
                    idle_since = now
                time.sleep(POLL_S)
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            for ex in [*self._running.values(), *self._coordinating.values()]:
                ex.terminate()
            try:
                self._wait_all(timeout_s=30)
            finally:
                self._beat_stop.set()
                beat.join(timeout=10)
                self.backend.close()
                store.worker_beat(self.id, [], stopped=True)
        return executed

    def _beat_loop(self) -> None:
        """Every few seconds, in a thread of its own (a slow step of the loop, such as packing a
        teacher for Ray, must not make the worker look dead): the worker's row, marked not
        accepting once it drains, and the heartbeat of each run it executes (a Ray task's, or a
        child still starting up, counts as alive while its worker is)."""
        while not self._beat_stop.wait(BEAT_EVERY_S):
            runs = sorted(self._running) + sorted(self._coordinating)
            try:
                self.store.worker_beat(self.id, runs, stopped=not self._accepting)
                for rid in runs:
                    self.store.heartbeat(rid)
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried at the next one
                log.warning("worker %s: heartbeat not written: %s", self.id, exc)

    # -- internals -------------------------------------------------------------------------
    def _follow_slots(self) -> None:
        """A local worker takes the slots the Train page asked for (core.runs.queue); a Ray
        worker keeps its own (its CPUs per run were sized for them)."""
        wanted = wanted_slots(self.store)
        if wanted and wanted != self.slots and self.backend.name == "local":
            log.info("worker %s: %d slot(s) from now on, as asked", self.id, wanted)
            self.slots = wanted

    def _claim(self, once: bool) -> list[int]:
        store, started = self.store, []
        if not store.queue_waiting():
            return started
        while not once and len(self._coordinating) < MAX_COORDINATORS:
            run = store.claim_next(self.id, kinds=COORDINATOR_KINDS)
            if run is None:
                break
            self._coordinating[run["id"]] = self._start(run, LocalBackend())
            started.append(run["id"])
        while len(self._running) < self.slots and not (once and started):
            run = store.claim_next(self.id, exclude=COORDINATOR_KINDS)
            if run is None:
                break
            self._running[run["id"]] = self._start(run, self.backend)
            started.append(run["id"])
        return started

    def _start(self, run: dict[str, Any], backend: Backend) -> Execution:
        log.info("worker %s: run %d (%s) via %s", self.id, run["id"], run["kind"], backend.name)
        try:
            return backend.start(self.store, run, self.id)
        except Exception as exc:  # noqa: BLE001 - recorded on the run; the worker goes on
            log.exception("run %d could not be started", run["id"])
            self.store.finish_if_active(run["id"], "failed", f"could not start the run: {exc}")
            return _Finished(run["id"])

    def _reap(self) -> None:
        for table in (self._running, self._coordinating):
            for rid, ex in list(table.items()):
                try:
                    ex.pump()
                except Exception as exc:  # noqa: BLE001 - the run's own status says the rest
                    log.warning("run %d: could not move its progress into the store: %s", rid, exc)
                try:
                    rc = ex.poll()
                except Exception as exc:  # noqa: BLE001 - that run fails; the worker goes on
                    log.exception("run %d: could not collect its end", rid)
                    del table[rid]
                    self.store.finish_if_active(rid, "failed", f"its end was lost: {exc}"[:2000])
                    continue
                if rc is None:
                    continue
                del table[rid]
                reason = self.store.stopped_error(rid, f"exit code {rc}")
                if self.store.finish_if_active(rid, "interrupted", reason):
                    log.warning("run %d: %s", rid, reason)
                log.info("worker %s: run %d is %s", self.id, rid, self.store.run(rid)["status"])

    def _wait_all(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while (self._running or self._coordinating) and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.2)

    def _install_signals(self) -> dict:
        def handler(signum, frame) -> None:
            self._stopping += 1
            what = "finishing the runs in hand" if self._stopping == 1 else "cancelling them"
            log.warning("worker %s: signal %d, %s", self.id, signum, what)

        old = {}
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
        return old


@dataclass
class _Finished:
    """A run that could not be started (already recorded as failed)."""

    run_id: int

    def poll(self) -> int:
        return 1

    def pump(self) -> None:
        pass

    def terminate(self) -> None:
        pass


def watch_parent(store: Store, run_id: int) -> None:
    """In a run's process started by a worker: when the worker dies (killed, crashed), record
    the run as interrupted and exit, instead of running on with no one to account for it."""
    expected = os.environ.get(PARENT_ENV)
    if not expected:
        return

    def loop() -> None:
        while str(os.getppid()) == expected:
            time.sleep(1.0)
        worker = os.environ.get(WORKER_ENV)
        log.error("run %d: its worker (pid %s) is gone; stopping", run_id, expected)
        try:
            store.finish_if_active(
                run_id,
                "interrupted",
                f"its worker ({worker}, pid {expected}) stopped before the run finished",
            )
        finally:
            os._exit(3)

    threading.Thread(target=loop, name="distillery-parent-watch", daemon=True).start()
