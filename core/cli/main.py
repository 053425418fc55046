"""`python -m core ...`: the same jobs as the dashboard, in the foreground with progress bars.

The commands live in core/cli/commands_*.py, the parser in core/cli/parser.py and the flags of
the config fields in core/cli/fields.py and core/cli/run_flags.py.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from core.cli.parser import build_parser, command_of, run

__all__ = ["build_parser", "main"]  # and config_from_args, through __getattr__


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = sys.argv[1:] if argv is None else list(argv)
    command = command_of(args)
    a = build_parser([command] if command else []).parse_args(args)
    quiet = getattr(a, "quiet", False)
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("transformers", "jieba", "httpx", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        return run(a)
    except BrokenPipeError:
        # the reader stopped early (`runs list | head`): not an error, and no traceback; the
        # rest of the output goes nowhere (Python's documented recipe for SIGPIPE)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def __getattr__(name: str) -> Any:
    """`config_from_args`, which tests import from here, is loaded on first use: importing it
    up front would load the config flags for every command, `runs list` too."""
    if name == "config_from_args":
        from core.cli.run_flags import config_from_args

        return config_from_args
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
