"""Runs as Ray tasks: `python -m core worker --ray local|auto|ADDRESS`.

The worker still claims runs from the local store (the one source of truth); each claimed run
becomes a Ray task that asks for what its config needs (a GPU when the run's device is `cuda`, or
`auto` on a cluster that has GPUs). The task never opens the SQLite file: everything the run
would write to the store (progress, loss points, results, artifacts, final status) is sent as
events through a small actor (`_Channel`), and the worker applies them to the store in order;
cancel requests travel back the same way.

Files: with `files="shared"` (the default for `local`) the nodes see the store folder and the
data at the same paths, and the run writes its folder in place. With `files="ship"` (the default
for a remote cluster) the worker sends the data files, a local teacher checkpoint and the reused
teacher run's folder with the task, the run works in a temporary home on its node, and its
folder comes back (a tar) before its final status is recorded.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from core.runs.store import FINAL, Store

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
_DATA_FIELDS = ("train", "test", "dev", "transfer")


# -- the node side ---------------------------------------------------------------------------
class RemoteStore:
    """What a run sees as its store on a Ray node: writes become events for the worker, reads
    come from the snapshot of the rows the run needs, files live under `home`."""

    def __init__(self, home: Path, channel, runs: dict[int, dict[str, Any]]):
        self.home = Path(home)
        self.channel = channel
        self._runs = runs
        self._cancel_checked = 0.0

    def _send(self, method: str, *args: Any, **kwargs: Any) -> None:
        self.channel.push.remote([(method, args, kwargs)])

    def run_dir(self, run_id: int, create: bool = True) -> Path:
        d = self.home / "runs" / str(run_id)
        if create:
            d.mkdir(parents=True, exist_ok=True)
        return d

    def run(self, run_id: int) -> dict[str, Any]:
        if run_id not in self._runs:
            raise KeyError(f"run {run_id} was not sent to this Ray task")
        return self._runs[run_id]

    def start_run(self, run_id: int, claim: bool = False) -> bool:
        self._send("start_run", run_id, pid=os.getpid(), host=socket.gethostname())
        return True

    def update_run(self, run_id: int, **fields: Any) -> None:
        if run_id in self._runs:
            self._runs[run_id].update(fields)
        self._send("update_run", run_id, **fields)

    def heartbeat(self, run_id: int) -> None:
        self._send("heartbeat", run_id)

    def log_metrics(self, run_id: int, series: str, points: list) -> None:
        self._send("log_metrics", run_id, series, [(int(s), float(v)) for s, v in points])

    def save_result(self, run_id: int, model: str, role: str, arch: str, metrics: dict) -> None:
        self._send("save_result", run_id, model, role, arch, json.loads(json.dumps(metrics)))

    def add_artifact(self, run_id: int, name: str, path: Path) -> None:
        rel = Path(path).resolve().relative_to(self.run_dir(run_id).resolve())
        self._send("add_artifact", run_id, name, str(rel))

    def cancel_requested(self, run_id: int) -> bool:
        import ray

        return bool(ray.get(self.channel.cancelled.remote()))

    def finish_if_active(self, run_id: int, status: str, error: str | None) -> bool:
        self._send("finish_if_active", run_id, status, error)
        return True

    def stopped_error(self, run_id: int, why: str) -> str:
        return f"the process running it stopped before it finished ({why})"


def _tar(path: Path) -> bytes:
    """A folder's contents, or one file under its own name, as a gzipped tar (empty if absent)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        if path.is_dir():
            tar.add(path, arcname=".")
        elif path.is_file():
            tar.add(path, arcname=path.name)
    return buf.getvalue()


def _untar(blob: bytes, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")  # no absolute paths, links or devices


def execute_task(
    run: dict[str, Any],
    runs: dict[int, dict[str, Any]],
    channel,
    worker: str,
    home: str | None,
    shipped: dict[str, bytes],
) -> bytes | None:
    """The body of the Ray task: one run, start to final status. With `home` None, the run works
    in a temporary home built from `shipped` files and returns its folder as a tar."""
    from core.runs.config import pipeline_from_dict
    from core.runs.context import RunContext
    from core.runs.execute import execute
    from core.runs.gate import Gate

    rid = run["id"]
    tmp = None
    if home is None:
        tmp = Path(tempfile.mkdtemp(prefix=f"distillery-run{rid}-"))
        home_path = tmp / "home"
        home_path.mkdir()
        for rel, blob in shipped.items():  # data files, a teacher checkpoint, a teacher run
            dest = home_path / rel[5:] if rel.startswith("home/") else tmp / "shipped" / rel
            _untar(blob, dest)
        run = dict(run, config=_rewrite_paths(run["config"], tmp / "shipped"))
    else:
        home_path = Path(home)
    store = RemoteStore(home_path, channel, {**runs, rid: dict(run)})
    handler = logging.FileHandler(store.run_dir(rid) / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    try:
        logging.getLogger(__name__).info(
            "run %d (%s) in process %d on %s (Ray)",
            rid,
            run["kind"],
            os.getpid(),
            socket.gethostname(),
        )
        cfg = pipeline_from_dict(run["config"])
        ctx = RunContext(store, rid, gate=Gate(worker))
        execute(store, rid, run["kind"], cfg, ctx)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
        # every event sent so far is in the channel before the task ends (the worker drains
        # it once the task is over): calls from one caller to an actor run in order
        ray_get_flush(channel)
    return _tar(store.run_dir(rid)) if tmp is not None else None


def ray_get_flush(channel) -> None:
    import ray

    ray.get(channel.push.remote([]))


def _rewrite_paths(config: dict[str, Any], shipped: Path) -> dict[str, Any]:
    config = json.loads(json.dumps(config))
    for key in _DATA_FIELDS:
        if config["data"].get(key) and (shipped / f"data-{key}").exists():
            config["data"][key] = str(next((shipped / f"data-{key}").iterdir()))
    if (shipped / "teacher-model").exists():
        config["teacher"]["model"] = str(shipped / "teacher-model")
    return config


# -- the worker side -------------------------------------------------------------------------
class RayExecution:
    """One run as a Ray task; `pump` applies its events to the store."""

    def __init__(self, store: Store, run_id: int, ref, channel, ship: bool):
        self.store, self.run_id, self.ref, self.channel, self.ship = (
            store,
            run_id,
            ref,
            channel,
            ship,
        )
        self._held: list = []  # ship mode: artifacts and the final status wait for the files
        self._cancel_sent = False
        self._rc: int | None = None

    def pump(self) -> None:
        import ray

        if self._rc is not None:
            return
        for method, args, kwargs in ray.get(self.channel.drain.remote()):
            self._apply(method, args, kwargs)
        if not self._cancel_sent and self.store.cancel_requested(self.run_id):
            self.channel.set_cancel.remote()
            self._cancel_sent = True

    def _apply(self, method: str, args: tuple, kwargs: dict) -> None:
        final = method == "update_run" and kwargs.get("status") in FINAL
        if self.ship and (method == "add_artifact" or final):
            self._held.append((method, args, kwargs))
            return
        self._call(method, args, kwargs)

    def _call(self, method: str, args: tuple, kwargs: dict) -> None:
        store = self.store
        if method == "add_artifact":
            rid, name, rel = args
            store.add_artifact(rid, name, store.run_dir(rid) / rel)
        elif method == "start_run":
            store.start_run(args[0], pid=kwargs.get("pid"), host=kwargs.get("host"))
        else:
            getattr(store, method)(*args, **kwargs)

    def poll(self) -> int | None:
        import ray

        if self._rc is not None:
            return self._rc
        ready, _ = ray.wait([self.ref], timeout=0)
        if not ready:
            return None
        self.pump()  # the task is over: its last events are in the channel
        try:
            blob = ray.get(self.ref)
        except Exception as exc:  # noqa: BLE001 - the task died: say why on the run
            log.error("run %d: Ray task failed: %s", self.run_id, exc)
            self.store.finish_if_active(self.run_id, "failed", f"Ray task failed: {exc}"[:2000])
            self._rc = 1
            return self._rc
        if blob:
            _untar(blob, self.store.run_dir(self.run_id))
        for method, args, kwargs in self._held:
            self._call(method, args, kwargs)
        self._held = []
        self._rc = 0
        return self._rc

    def terminate(self) -> None:
        self.channel.set_cancel.remote()


class RayBackend:
    """Connects to (or, for `local`, starts) a Ray cluster and runs each run as a task."""

    name = "ray"

    def __init__(
        self, address: str, files: str | None = None, slots: int = 1, num_cpus: int | None = None
    ):
        import ray

        self.address = address
        self.files = files or ("shared" if address == "local" else "ship")
        if self.files not in ("shared", "ship"):
            raise ValueError(f"files must be 'shared' or 'ship', not {self.files!r}")
        env_vars = {
            k: os.environ[k]
            for k in ("HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM", "OMP_NUM_THREADS")
            if k in os.environ
        }
        runtime_env: dict[str, Any] = {"env_vars": env_vars}
        if address in ("local", "auto"):  # this machine's filesystem: the code is right here
            env_vars["PYTHONPATH"] = os.pathsep.join(
                [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
            )
        else:  # a remote cluster gets this source tree (not the data, not the store)
            runtime_env["working_dir"] = str(ROOT)
            runtime_env["excludes"] = ["data/", ".git/", "benchmarks/results/", "tests/"]
        if address == "local":
            ray.init(
                num_cpus=num_cpus or os.cpu_count(),
                include_dashboard=False,
                runtime_env=runtime_env,
                # the driver talks to it on loopback; Ray's own processes still open ports on
                # every interface (guarded by Ray's token authentication), and no Ray dashboard
                _node_ip_address="127.0.0.1",
                log_to_driver=False,
            )
        else:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        self._ray = ray
        self._gpus = float(ray.cluster_resources().get("GPU", 0))
        # each run gets its share of the cluster's CPUs (Ray sets a task's OMP threads to its
        # CPU count), but never more than one node has: a run is one process on one node
        total = float(ray.cluster_resources().get("CPU", 1))
        per_node = max(
            (float(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")),
            default=total,
        )
        self.cpus_per_run = max(1, int(min(per_node, total // max(slots, 1))))
        log.info(
            "Ray at %s: %s (files %s, %d CPU(s) per run)",
            address,
            ray.cluster_resources(),
            self.files,
            self.cpus_per_run,
        )

    def resources(self, cfg: dict[str, Any]) -> dict[str, float]:
        """What one run asks the cluster for: its share of the CPUs, and a GPU when its device
        is cuda, or auto on a cluster that has one."""
        device = cfg.get("device", "auto")
        gpu = device == "cuda" or (device == "auto" and self._gpus > 0)
        return {"num_cpus": self.cpus_per_run, "num_gpus": 1 if gpu else 0}

    def start(self, store: Store, run: dict[str, Any], worker: str) -> RayExecution:
        ray = self._ray
        channel = _channel_class(ray).remote()
        runs = {}
        teacher_run = run["config"].get("teacher_run")
        if teacher_run is not None:
            runs[int(teacher_run)] = store.run(int(teacher_run))
        shipped: dict[str, bytes] = {}
        home = str(store.home.resolve())
        if self.files == "ship":
            home = None
            shipped = _ship(store, run["config"])
        task = ray.remote(execute_task).options(
            **self.resources(run["config"]), max_retries=0, name=f"distillery-run-{run['id']}"
        )
        ref = task.remote(_plain(run), runs, channel, worker, home, shipped)
        store.update_run(run["id"], message=f"sent to Ray ({self.address})")
        return RayExecution(store, run["id"], ref, channel, ship=self.files == "ship")

    def close(self) -> None:
        self._ray.shutdown()


def _plain(run: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(run, default=str))


def _ship(store: Store, config: dict[str, Any]) -> dict[str, bytes]:
    """The files a run on a node without our filesystem needs, as tars by role."""
    out: dict[str, bytes] = {}
    for key in _DATA_FIELDS:
        path = config.get("data", {}).get(key)
        if path and Path(path).is_file():
            out[f"data-{key}"] = _tar(Path(path))
    model = config.get("teacher", {}).get("model", "")
    if model and Path(model).is_dir():
        out["teacher-model"] = _tar(Path(model))
    teacher_run = config.get("teacher_run")
    if teacher_run is not None:  # the reused teacher and its label cache live in its folder
        out[f"home/runs/{teacher_run}"] = _tar(store.run_dir(int(teacher_run), create=False))
    return out


_CHANNEL: list = []


def _channel_class(ray):
    if _CHANNEL:
        return _CHANNEL[0]

    @ray.remote(num_cpus=0)
    class _Channel:
        """Events from a run to its worker, and the cancel flag the other way."""

        def __init__(self) -> None:
            self.events: list = []
            self.cancel = False

        def push(self, events: list) -> None:
            self.events.extend(events)

        def drain(self) -> list:
            out, self.events = self.events, []
            return out

        def set_cancel(self) -> None:
            self.cancel = True

        def cancelled(self) -> bool:
            return self.cancel

    _CHANNEL.append(_Channel)
    return _Channel
