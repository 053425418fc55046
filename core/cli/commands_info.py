"""`defaults` and `methods`: tables generated from the config dataclasses and the registry."""

from __future__ import annotations

import argparse
import sys


def run_defaults(a: argparse.Namespace) -> int:
    from core.cli.fields import defaults_markdown

    sys.stdout.write(defaults_markdown())
    return 0


def run_methods(a: argparse.Namespace) -> int:
    sys.stdout.write(methods_table())
    return 0


def methods_table() -> str:
    """Every registered student method: name, family, what it needs from the teacher, summary."""
    from core import methods

    lines = ["| method | title | family | needs from the teacher | what it does |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for n in methods.names():
        m = methods.get(n)
        lines.append(f"| `{n}` | {m.title} | {m.family} | {', '.join(m.needs)} | {m.summary} |")
    return "\n".join(lines) + "\n"
