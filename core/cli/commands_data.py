"""`data check FILE`: validate a data file the way a run would read it, without torch."""

from __future__ import annotations

import argparse

from core.cli.common import EXIT_DATA
from core.cli.output import say, warn


def add_arguments(p: argparse.ArgumentParser) -> None:
    dsub = p.add_subparsers(dest="data_cmd", required=True)
    c = dsub.add_parser("check", help="exit 0 if FILE is valid, 2 with line-numbered messages")
    c.add_argument("file")
    c.add_argument("--labels", help="comma list the labels must come from (e.g. a test file)")
    c.add_argument("--unlabelled", action="store_true", help="check as a transfer file")
    c.add_argument(
        "--pairs",
        action="store_true",
        help="with --unlabelled: a transfer file of sentence pairs (text_a<TAB>text_b)",
    )


def run(a: argparse.Namespace) -> int:
    from core.data.labelled import class_counts
    from core.data.load import load_labelled, load_unlabelled
    from core.data.problems import DataError, listed

    try:
        if a.unlabelled:
            texts = load_unlabelled(a.file, task="pair" if a.pairs else "single")
            what = "sentence pairs" if a.pairs else "texts"
            say(f"{a.file}: ok, {len(texts)} unlabelled {what}")
            return 0
        labels = a.labels.split(",") if a.labels else None
        ds = load_labelled(a.file, label_names=labels)
    except DataError as exc:
        warn(str(exc))
        return EXIT_DATA
    counts = ", ".join(f"{k}: {v}" for k, v in class_counts(ds).items())
    task = "pair (text_a, text_b)" if ds.task == "pair" else "single texts"
    say(f"{a.file}: ok, {len(ds)} rows, task {task}, encoding {ds.encoding}, classes {counts}")
    for line in listed(ds.warnings):  # capped: a file of repeated rows has one per row
        warn(line)
    return 0
