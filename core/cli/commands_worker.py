"""`worker`: execute queued runs, here (a process per run) or on a Ray cluster."""

from __future__ import annotations

import argparse

from core.cli.common import EXIT_DATA, HOME_HELP
from core.cli.output import say, warn


def add_arguments(w: argparse.ArgumentParser) -> None:
    w.add_argument("--home", help=HOME_HELP)
    w.add_argument("--slots", type=int, default=1, help="runs at once (default 1)")
    w.add_argument("--once", action="store_true", help="execute the next queued run, then exit")
    w.add_argument(
        "--idle-exit", type=float, default=None, metavar="S", help="exit after S idle seconds"
    )
    w.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="execute runs on Ray: `local` (start one here), `auto` (the cluster this machine "
        "belongs to) or an address such as ray://head:10001",
    )
    w.add_argument(
        "--files",
        choices=["shared", "ship"],
        help="with --ray: `shared` when the nodes see the store folder and the data at the same "
        "paths (runs write in place; the default for `local`), `ship` to send the files with "
        "each task and bring the run's folder back (the default for a cluster)",
    )


def run(a: argparse.Namespace) -> int:
    from core.runs.store import Store
    from core.workers.worker import LocalBackend, Worker

    store = Store(a.home)
    if a.slots < 1:
        warn("error: --slots must be at least 1")
        return EXIT_DATA
    backend = LocalBackend()
    if a.ray:
        from core.workers.ray_backend import RayBackend

        backend = RayBackend(a.ray, files=a.files, slots=a.slots)
    worker = Worker(store, slots=a.slots, backend=backend)
    if a.once and not store.queue_waiting():
        warn("nothing is queued")
        backend.close()
        return 0
    executed = worker.serve(once=a.once, idle_exit_s=a.idle_exit)
    statuses = {rid: store.run(rid)["status"] for rid in executed}
    for rid, status in statuses.items():
        say(f"run {rid}: {status}")
    if a.once:  # the exit code says how that run ended
        return 0 if all(s == "done" for s in statuses.values()) else 1
    return 0
