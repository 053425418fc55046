"""`predict` and `export`: the models of a finished run, scored on texts or written out."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from core.cli.common import EXIT_DATA, HOME_HELP
from core.cli.output import say, warn
from core.data import pairs


def add_predict_arguments(pr: argparse.ArgumentParser) -> None:
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
    pr.add_argument("--home", help=HOME_HELP)
    pr.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_export_arguments(ex: argparse.ArgumentParser) -> None:
    ex.add_argument("--run", type=int, required=True, help="the run the model belongs to")
    ex.add_argument(
        "--model", required=True, help="teacher, or a student such as textcnn_distilled"
    )
    ex.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    ex.add_argument("--int8", action="store_true", help="dynamic int8 quantisation (ONNX Runtime)")
    ex.add_argument("--out", required=True, help="folder to write (created; see --force)")
    ex.add_argument(
        "--force",
        action="store_true",
        help="write into an --out folder that is not empty (its files of the same names, "
        "predict.py and the model among them, are replaced)",
    )
    ex.add_argument(
        "--check",
        type=int,
        default=None,
        help="test texts to check the export against Distillery's scoring (default all; 0 none)",
    )
    ex.add_argument("--home", help=HOME_HELP)


def run_task(store, run_id: int) -> str:
    """ "single" or "pair": what the run's data are (its data summary says)."""
    return (store.run(run_id).get("data") or {}).get("task", "single")


def run_predict(a: argparse.Namespace) -> int:
    """Every model of a run (any method, loaded through the registry) on the given texts:
    label, probabilities and milliseconds per text, as on the Predict page."""
    from core.runs.store import Store

    if a.run is None:  # the older form: RUN first, then the texts
        first, *rest = a.texts
        if not first.isdigit() or not rest:
            warn("error: give the run: --run R TEXT ... (or R TEXT ...)")
            return EXIT_DATA
        a.run, a.texts = int(first), rest
    store = Store(a.home)
    folder = store.run_dir(a.run, create=False)
    if not folder.is_dir():
        warn(f"error: no run {a.run} in {store.home}")
        return EXIT_DATA
    models = load_models(store, a.run, folder)
    if note := lost_teacher(store, a.run, folder):
        warn(f"note: {note}")
    wanted = [m.strip() for m in a.models.split(",")] if a.models else list(models)
    missing = [m for m in wanted if m not in models]
    if missing or not models:
        warn(
            f"error: run {a.run} has no model {', '.join(missing) or '(none at all)'}; "
            f"it has: {', '.join(models) or 'nothing yet'}"
        )
        return EXIT_DATA
    if run_task(store, a.run) == "pair" and not all("\t" in t for t in a.texts):
        if len(a.texts) % 2:  # arguments two at a time: text_a text_b
            warn(
                f"error: run {a.run} scores sentence pairs: give the texts two at a time "
                "(TEXT_A TEXT_B ...), or each pair as one text_a<TAB>text_b argument"
            )
            return EXIT_DATA
        a.texts = [pairs.join(x, y) for x, y in zip(a.texts[::2], a.texts[1::2], strict=True)]
    out = score(models, wanted, a.texts)
    if a.json:
        say(json.dumps(out, indent=1, ensure_ascii=False))
    else:
        print_predictions(out)
    for i, text in enumerate(a.texts, 1):  # a long text is scored on its beginning only
        cut = [r["model"] for r in out if r["text"] == text and r["truncated"]]
        if cut:
            warn(
                f"note: text {i} ({len(text):,} characters) was scored on its first tokens "
                f"only by {', '.join(cut)}: the rest of it was not read"
            )
    return 0


def lost_teacher(store, run_id: int, folder: Path) -> str | None:
    """Why a distill run has no teacher to score with (its teacher run was deleted), if so."""
    run = store.run(run_id)
    reused = run["config"].get("teacher_run")
    if reused is None or (folder / "teacher" / "distillery.json").is_file():
        return None
    if (store.run_dir(int(reused), create=False) / "teacher" / "distillery.json").is_file():
        return None
    why = (run.get("data") or {}).get("teacher_deleted") or f"its teacher (run {reused}) is gone"
    return f"{why}: only the students are scored"


def load_models(store, run_id: int, folder: Path) -> dict:
    """{name: (label names, text -> logits, text -> truncated?)} for the run's teacher (its own, or the one a
    distill run reused) and every student it saved."""
    from core import methods
    from core.teacher.model import load_teacher

    models: dict = {}
    teacher_dir = folder / "teacher"
    reused = store.run(run_id)["config"].get("teacher_run")
    if not (teacher_dir / "distillery.json").is_file() and reused is not None:
        teacher_dir = store.run_dir(int(reused), create=False) / "teacher"  # a distill run's
    if (teacher_dir / "distillery.json").is_file():
        t = load_teacher(teacher_dir, device="cpu")
        models["teacher"] = (t.label_names, t.predict_one, t.truncated)
    students = folder / "students"
    for d in sorted(students.iterdir()) if students.is_dir() else []:
        if (d / "student.json").is_file():
            s = methods.load_student(d)
            models[d.name] = (s.label_names, s.predict_logits, getattr(s, "truncated", None))
    return models


def score(models: dict, wanted: list[str], texts: list[str]) -> list[dict]:
    import torch

    out = []
    for name in wanted:  # one untimed call each: jieba's dictionary loads on the first one
        models[name][1](texts[0])
    for text in texts:
        for name in wanted:
            labels, fn, cut = models[name]
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
                    "truncated": bool(cut(text)) if cut else False,  # read its start only
                }
            )
    return out


def print_predictions(out: list[dict]) -> None:
    width = max(len(r["model"]) for r in out) + 2  # long names (textcnn_char_distilled) fit
    lw = max(len(r["label"]) for r in out) + 2  # and long labels ("contradiction")
    for r in out:
        p = "  ".join(f"{k} {v:.3f}" for k, v in r["probabilities"].items())
        text = pairs.show(r["text"], " || ")
        say(f"{r['model']:<{width}}{r['label']:<{lw}}{p}  {r['ms']:7.2f} ms  {text[:60]}")


def run_export(a: argparse.Namespace) -> int:
    """Export one model of a run and say how faithful the export is."""
    from core.export.exporter import export_model
    from core.runs.store import Store

    out = Path(a.out)
    if out.exists() and not a.force and (not out.is_dir() or any(out.iterdir())):
        what = "is not a folder" if not out.is_dir() else "is a folder that is not empty"
        warn(
            f"error: --out {out} {what}: exporting there would replace its files "
            "(predict.py, the model); give an empty or new folder, or --force"
        )
        return EXIT_DATA
    try:
        rep = export_model(
            Store(a.home), a.run, a.model, a.out, fmt=a.format, int8=a.int8, check=a.check
        )
    except ValueError as exc:
        warn(f"error: {exc}")
        return EXIT_DATA
    size = sum(rep.files.values()) / 2**20
    say(f"exported {rep.model} of run {rep.run_id} to {rep.folder} ({size:.1f} MB)")
    if rep.n_checked:
        say(
            f"checked on {rep.n_checked} test texts: {rep.n_label_differs} labels differ from "
            f"Distillery's; accuracy {rep.accuracy_export:.4f} (Distillery "
            f"{rep.accuracy_distillery:.4f}); max logit difference {rep.max_abs_logit_diff:.2e}"
        )
    elif rep.note:
        say(rep.note)
    example = '"text a" "text b"' if run_task(Store(a.home), a.run) == "pair" else '"some text"'
    say(f"try: python {Path(rep.folder) / 'predict.py'} {example}")
    return 0
