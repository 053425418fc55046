"""Execute one run to a final status in the calling process.

The CLI calls `execute` in the foreground, and a worker (core.workers.worker) in a child process
of its own per run (`python -m core exec RUN_ID`), so concurrent runs never share RNG state,
torch thread settings or a crash. A heartbeat thread proves the run is still alive.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any

from core.runs.autodistill import run_autodistill
from core.runs.config import PipelineConfig
from core.runs.context import Cancelled, RunContext
from core.runs.plans import run_plan
from core.runs.store import Store
from core.runs.sweep import run_sweep

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0  # well inside the store's 60 s staleness limit
FINAL_WRITE_DELAYS_S = (0.5, 1.0, 2.0, 4.0)  # retries of the final status write, then give up


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
    status, error = "failed", "the run stopped before it finished"
    beat = _Heartbeat(store, run_id, heartbeat_s)
    interrupted = False
    try:
        store.start_run(run_id)
        beat.start()
        if ctx.gate is not None:
            ctx.gate.enter()
        if kind == "sweep":
            run_sweep(cfg, ctx)
        elif kind == "autodistill":
            run_autodistill(cfg, ctx)
        else:
            run_plan(kind, cfg, ctx)
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
        timings = ctx.timings()
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
