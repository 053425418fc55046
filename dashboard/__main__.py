"""`python -m dashboard [streamlit options]`: run the dashboard with streamlit_config.toml.

Streamlit only reads `.streamlit/config.toml`, so the settings of the top-level
`streamlit_config.toml` are passed as command-line flags; extra arguments (`--server.port 8600`)
pass through and override the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
CONFIG = ROOT / "streamlit_config.toml"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ",".join(f'"{x}"' if isinstance(x, str) else str(x) for x in v) + "]"
    return str(v)


def config_flags(config: dict[str, Any], prefix: str = "") -> list[str]:
    """{"server": {"port": 8501}} -> ["--server.port=8501"] (nested tables included)."""
    flags = []
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flags += config_flags(value, name)
        else:
            flags.append(f"--{name}={_value(value)}")
    return flags


def _given(extra: list[str]) -> set[str]:
    return {a[2:].split("=", 1)[0] for a in extra if a.startswith("--")}


def command(extra: list[str], config_path: Path = CONFIG) -> list[str]:
    config = tomllib.loads(config_path.read_text("utf-8")) if config_path.is_file() else {}
    given = _given(extra)
    flags = [f for f in config_flags(config) if f[2:].split("=", 1)[0] not in given]
    return [sys.executable, "-m", "streamlit", "run", str(APP), *flags, *extra]


def main(argv: list[str] | None = None) -> int:
    cmd = command(list(sys.argv[1:] if argv is None else argv))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    os.chdir(ROOT)
    if os.name == "posix":
        # Become the Streamlit process: Ctrl+C and SIGTERM reach it directly, no orphan is left.
        os.execve(sys.executable, cmd, env)
    try:  # pragma: no cover - Windows has no real exec
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":
    sys.exit(main())
