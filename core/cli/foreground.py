"""A run executed in the foreground: progress bars, and Ctrl-C as a clean cancel."""

from __future__ import annotations

import os
import threading

from core.cli.output import warn


def fmt_duration(s: float) -> str:
    """Seconds as "42s", "3m05s" or "1h02m"."""
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


class Bars:
    """One tqdm bar per stage, fed from the run's progress events."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None
        self.stage = None

    def __call__(self, state: dict) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if state["stage"] != self.stage:
            if self.bar:
                self.bar.close()
            self.stage = state["stage"]
            self.bar = tqdm(total=state["total"] or None, desc=self.stage, unit="step", leave=True)
        if self.bar:
            self.bar.n = state["step"]
            eta = state.get("eta_s")
            # tqdm's own rate is this stage's; the run's ETA covers every stage still ahead
            whole = f"run ETA {fmt_duration(eta)}" if eta is not None else "run ETA: measuring"
            self.bar.set_postfix_str(
                " · ".join(x for x in (whole, state["message"]) if x), refresh=False
            )
            self.bar.refresh()

    def close(self) -> None:
        if self.bar:
            self.bar.close()


class cancel_on_signals:  # noqa: N801 - used like a function: `with cancel_on_signals(...)`
    """While the block runs, the first SIGINT / SIGTERM cancels the run cooperatively (the run
    stops at its next step as `cancelled`, with everything logged so far); a second one records
    `cancelled` and exits at once. `with` gives the list of signals received."""

    def __init__(self, store, run_id: int, ctx):
        self.store, self.run_id, self.ctx = store, run_id, ctx
        self.received: list[int] = []
        self._old: dict = {}

    def __enter__(self) -> list[int]:
        import signal

        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        except ValueError:  # not the main thread: signals stay as they are
            pass
        return self.received

    def __exit__(self, *exc) -> None:
        import signal

        for sig, previous in self._old.items():
            signal.signal(sig, previous)

    def _request_cancel(self) -> None:
        try:
            self.store.request_cancel(self.run_id)  # shows `cancelling…` to other processes
        except Exception:  # noqa: BLE001 - the in-process event is what stops the run
            pass

    def _handler(self, signum, frame) -> None:
        self.received.append(signum)
        if len(self.received) == 1:
            self.ctx.cancel_event.set()
            threading.Thread(target=self._request_cancel, daemon=True).start()
            warn(
                f"\nrun {self.run_id}: cancelling at the next step (Ctrl-C again to quit at once)",
                flush=True,
            )
            return
        try:
            self.store.finish_if_active(
                self.run_id, "cancelled", "interrupted (Ctrl-C twice): stopped at once"
            )
        finally:
            os._exit(130)


def expected_note(store, run_id: int, kind: str, cfg) -> str | None:
    """How long the run should take here, said before it starts (the Train page says the same):
    the estimate from this machine's earlier finished runs, or for the untouched default run
    with none yet, the reference run scaled by a speed probe of this CPU."""
    from core.runs.eta import (
        REFERENCE_MACHINE,
        expected_duration,
        first_run_estimate,
        probe_can_promise,
    )
    from core.train.device import speed_probe_s

    took = expected_duration(store, store.run(run_id))
    if took is not None:
        return f"expected to take about {fmt_duration(took)} (earlier finished runs here)"
    if kind != "pipeline" or not probe_can_promise(cfg):
        return None
    took = first_run_estimate(cfg, speed_probe_s())
    return (
        f"expected to take roughly {fmt_duration(took)}: the default run as measured on "
        f"{REFERENCE_MACHINE}, scaled by a speed test of this CPU"
    )


def execute_in_foreground(store, run_id: int, kind: str, cfg, quiet: bool) -> list[int]:
    """Execute a run here with progress bars; the signals that interrupted it (none: it ended
    on its own)."""
    from core.runs.context import RunContext
    from core.runs.execute import execute

    if not quiet:
        try:
            note = expected_note(store, run_id, kind, cfg)
        except Exception:  # noqa: BLE001 - an estimate never stops a run
            note = None
        if note:
            warn(f"run {run_id}: {note}")
    bars = Bars(quiet)
    ctx = RunContext(store, run_id, threading.Event(), on_progress=bars)
    # Ctrl-C (or SIGTERM) cancels at the next step: status `cancelled`, logs kept; twice: at once
    with cancel_on_signals(store, run_id, ctx) as signalled:
        try:
            execute(store, run_id, kind, cfg, ctx)
        except KeyboardInterrupt:  # execute has recorded `cancelled`
            signalled.append(2)
    bars.close()
    return signalled
