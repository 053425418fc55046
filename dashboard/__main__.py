"""`python -m dashboard [streamlit options]`: run the dashboard with streamlit_config.toml.

Streamlit reads `.streamlit/config.toml` only from the current folder, so the settings of the
top-level `streamlit_config.toml` (byte-identical to `.streamlit/config.toml`) are passed as
command-line flags and work from any folder; extra arguments (`--server.port 8600`) pass through
and override the file. An explicit `--server.address 0.0.0.0` is honoured, but `dashboard/app.py`
then refuses to serve (`launch_problems`) unless DISTILLERY_ALLOW_REMOTE=1.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
CONFIG = ROOT / "streamlit_config.toml"
ALLOW_REMOTE_ENV = "DISTILLERY_ALLOW_REMOTE"
MAX_UPLOAD_MB = 20  # server.maxUploadSize in streamlit_config.toml


def is_loopback(address: str | None) -> bool:
    """True if a server bound to `address` is reachable from this machine only.

    Loopback means 127.0.0.0/8, ::1 (also as [::1] or ::ffff:127.x.y.z), `localhost`, or a Unix
    socket (`unix://...`). None or "" is Streamlit's default, which binds every interface; any
    other host name may resolve anywhere, so it does not count.
    """
    address = (address or "").strip().lower()
    if address.startswith("unix://"):
        return True
    address = address.removeprefix("[").removesuffix("]").rstrip(".")
    if address == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def remote_allowed(env: Mapping[str, str] = os.environ) -> bool:
    return env.get(ALLOW_REMOTE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def launch_problems(
    address: str | None, max_upload_mb: Any, env: Mapping[str, str] = os.environ
) -> tuple[str | None, str | None]:
    """(refusal, warning) for the running server's settings; (None, None) when all is well.

    A refusal means the dashboard (no login; it reads, deletes and trains runs) would be served
    beyond this machine; the app then shows it and serves nothing else. Both are waived by
    DISTILLERY_ALLOW_REMOTE=1.
    """
    if remote_allowed(env):
        return None, None
    refusal = warning = None
    if not is_loopback(address):
        where = f"`{address}`" if address else "every network interface (no `server.address`)"
        refusal = (
            f"Distillery refuses to serve on {where}: the dashboard has no login, so anyone who "
            "can reach this port could read or delete runs, upload files and start training. "
            "Start it with `python -m dashboard` (binds 127.0.0.1), or with "
            "`streamlit run dashboard/app.py` from the project folder (reads "
            "`.streamlit/config.toml`), or add `--server.address 127.0.0.1`. To expose it on "
            f"purpose (behind your own firewall or proxy), set `{ALLOW_REMOTE_ENV}=1`."
        )
    try:
        too_big = float(max_upload_mb) > MAX_UPLOAD_MB
    except (TypeError, ValueError):
        too_big = False
    if too_big:
        warning = (
            f"Uploads are capped at {max_upload_mb} MB here instead of Distillery's "
            f"{MAX_UPLOAD_MB} MB (`server.maxUploadSize` in streamlit_config.toml). Restart with "
            f"`--server.maxUploadSize {MAX_UPLOAD_MB}`, or set `{ALLOW_REMOTE_ENV}=1` to accept it."
        )
    return refusal, warning


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
    env = dict(os.environ)  # core and dashboard are installed: no path to set
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
