"""What the command line answers: results on stdout, refusals and notes on stderr.

This is the CLI's product, read by a person or a script, not a diagnostic: diagnostics go
through `logging` (the run's log, `-v`). One place writes it, so every command answers alike.
"""

from __future__ import annotations

import sys


def say(*parts: object, end: str = "\n", flush: bool = False) -> None:
    """A line of the command's answer on stdout."""
    sys.stdout.write(" ".join(map(str, parts)) + end)
    if flush:
        sys.stdout.flush()


def warn(*parts: object, end: str = "\n", flush: bool = False) -> None:
    """An error, refusal or note on stderr (the answer on stdout stays parseable)."""
    sys.stderr.write(" ".join(map(str, parts)) + end)
    if flush:
        sys.stderr.flush()
