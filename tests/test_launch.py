"""Safe whatever the launch command: loopback only and a 20 MB upload cap, unless opted in.

`python -m dashboard` turns streamlit_config.toml into flags; a bare `streamlit run
dashboard/app.py` from the project folder reads the identical .streamlit/config.toml; from any
other folder Streamlit binds every interface, and dashboard/app.py then refuses to serve. The
server tests start real processes on loopback ports, read the kernel's socket table and talk to
the app over its websocket the way a browser does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import streamlit.config
from streamlit.testing.v1 import AppTest

from dashboard import __main__ as launcher

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
REFUSAL = "Distillery refuses to serve"


# -- the two config files ----------------------------------------------------------------------
def test_project_config_is_a_copy_of_streamlit_config():
    top = (ROOT / "streamlit_config.toml").read_bytes()
    project = (ROOT / ".streamlit" / "config.toml").read_bytes()
    assert project == top, "keep .streamlit/config.toml byte-identical to streamlit_config.toml"
    config = tomllib.loads(top.decode("utf-8"))
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["maxUploadSize"] == launcher.MAX_UPLOAD_MB == 20
    assert config["browser"]["gatherUsageStats"] is False


def test_an_explicit_address_wins_in_the_launcher():
    cmd = launcher.command(["--server.address", "0.0.0.0"])
    assert "--server.address=127.0.0.1" not in cmd and cmd[-2:] == ["--server.address", "0.0.0.0"]


# -- the guard as a function -------------------------------------------------------------------
@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST", " localhost. ",
     "::ffff:127.0.0.1", "unix:///tmp/distillery.sock"],
)  # fmt: skip
def test_loopback_addresses(address):
    assert launcher.is_loopback(address)


@pytest.mark.parametrize(
    "address", [None, "", "0.0.0.0", "::", "[::]", "192.168.1.10", "10.0.0.1", "example.org",
                "127.0.0.1.example.org", "fe80::1%eth0", "::ffff:10.0.0.1"],
)  # fmt: skip
def test_everything_else_is_not_loopback(address):
    assert not launcher.is_loopback(address)


def test_launch_problems():
    assert launcher.launch_problems("127.0.0.1", 20, {}) == (None, None)
    refusal, warning = launcher.launch_problems(None, 20, {})
    assert REFUSAL in refusal and "every network interface" in refusal
    assert "DISTILLERY_ALLOW_REMOTE=1" in refusal and warning is None
    refusal, warning = launcher.launch_problems("0.0.0.0", 200, {})
    assert "`0.0.0.0`" in refusal and "200 MB" in warning and "--server.maxUploadSize 20" in warning
    assert launcher.launch_problems("::1", 200, {})[0] is None
    for opt_in in ("1", "true", "yes"):
        assert launcher.launch_problems("0.0.0.0", 200, {"DISTILLERY_ALLOW_REMOTE": opt_in}) == (
            None,
            None,
        )
    assert launcher.launch_problems("0.0.0.0", 20, {"DISTILLERY_ALLOW_REMOTE": "0"})[0]


# -- the guard in the app (AppTest) ------------------------------------------------------------
@pytest.fixture
def options(tmp_path, monkeypatch):
    """Set Streamlit options for AppTest runs (the app reads them through streamlit.config)."""
    monkeypatch.setenv("DISTILLERY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DISTILLERY_ALLOW_REMOTE", raising=False)
    overrides: dict[str, object] = {}
    real = streamlit.config.get_option
    monkeypatch.setattr(
        streamlit.config,
        "get_option",
        lambda key: overrides[key] if key in overrides else real(key),
    )
    return overrides


def run_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=120).run()


def test_app_refuses_all_interfaces(options):
    options.update({"server.address": "0.0.0.0", "server.maxUploadSize": 20})
    at = run_app()
    assert not at.exception
    assert len(at.error) == 1 and REFUSAL in at.error[0].value
    assert "DISTILLERY_ALLOW_REMOTE=1" in at.error[0].value
    # Nothing else is served: no sidebar, no page.
    assert not at.sidebar.children and not at.info and not at.markdown


def test_app_serves_everywhere_when_opted_in(options, monkeypatch):
    options.update({"server.address": "0.0.0.0", "server.maxUploadSize": 200})
    monkeypatch.setenv("DISTILLERY_ALLOW_REMOTE", "1")
    at = run_app()
    assert not at.exception and not at.error and not at.warning
    assert "Next: open **Train**" in "\n".join(i.value for i in [*at.info, *at.success])


def test_app_warns_about_a_large_upload_cap(options):
    options.update({"server.address": "127.0.0.1", "server.maxUploadSize": 200})
    at = run_app()
    assert not at.exception and not at.error
    assert "200 MB" in at.warning[0].value
    assert "Next: open **Train**" in "\n".join(i.value for i in [*at.info, *at.success])


# -- real servers ------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(pid: int, port: int) -> set[str]:
    """The local addresses `pid` listens on at `port`, from /proc (IPv6 shown as '::' etc.)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            hex_ip, hex_port = local.split(":")
            if state != "0A" or inode not in inodes or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(hex_ip)
            if sys.byteorder == "little":  # /proc prints 32-bit words in host byte order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, raw))
    return found


def _serve(cwd: Path, app: str, env: dict[str, str], port: int) -> subprocess.Popen:
    # Exactly `streamlit run APP`: only a free port is added, never an address or upload flag.
    exe = Path(sys.executable).with_name("streamlit")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "streamlit"]
    return subprocess.Popen(
        [*cmd, "run", app, "--server.port", str(port)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_healthy(proc: subprocess.Popen, port: int, limit: float = 40) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                assert r.read().decode() == "ok"
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"no health answer:\n{proc.communicate(timeout=10)[0].decode()}")
            time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _first_screen(port: int) -> list[tuple[str, str]]:
    """Open a session like a browser; (kind, text) of every alert/markdown until the page
    navigation starts or the script finishes."""
    ws_client = pytest.importorskip("websockets.sync.client")
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    seen = []
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    with ws_client.connect(url, subprotocols=["streamlit"], open_timeout=10) as ws:
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        ws.send(rerun.SerializeToString())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = ForwardMsg()
            msg.ParseFromString(ws.recv(timeout=30))
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                if element.WhichOneof("type") == "alert":
                    seen.append(("alert", element.alert.body))
                elif element.WhichOneof("type") == "markdown":
                    seen.append(("markdown", element.markdown.body))
            elif kind in ("navigation", "script_finished"):
                seen.append((kind, ""))
                return seen
    pytest.fail(f"the script did not finish: {seen}")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "DISTILLERY_"))}
    return dict(env, DISTILLERY_HOME=str(home), HF_HUB_OFFLINE="1", **extra)


linux_only = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads the Linux socket table"
)


@linux_only
def test_bare_streamlit_run_from_the_project_binds_loopback(tmp_path):
    port = _free_port()
    proc = _serve(ROOT, "dashboard/app.py", _env(tmp_path / "home"), port)
    try:
        _wait_healthy(proc, port)
        assert _listening(proc.pid, port) == {"127.0.0.1"}
        screen = _first_screen(port)
        # The guard passed (loopback, 20 MB cap from .streamlit/config.toml): no refusal, no
        # upload warning, and the navigation went out.
        assert screen[-1][0] == "navigation", screen
        assert not [text for kind, text in screen if kind == "alert"], screen
    finally:
        _stop(proc)


@linux_only
def test_bare_streamlit_run_elsewhere_binds_everything_and_serves_nothing(tmp_path):
    port = _free_port()
    # Not in the project folder, so no config file: Streamlit binds every interface. HOME is
    # isolated from a personal ~/.streamlit/config.toml; headless only skips the browser/e-mail
    # prompt (no address or upload setting is passed).
    env = _env(
        tmp_path / "home",
        HOME=str(tmp_path),
        STREAMLIT_SERVER_HEADLESS="true",
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
    )
    proc = _serve(tmp_path, str(APP), env, port)
    try:
        _wait_healthy(proc, port)
        assert _listening(proc.pid, port) & {"0.0.0.0", "::"}
        screen = _first_screen(port)
        assert screen[-1][0] == "script_finished", screen
        alerts = [text for kind, text in screen if kind == "alert"]
        assert len(alerts) == 1 and REFUSAL in alerts[0] and "every network interface" in alerts[0]
        assert not [text for kind, text in screen if kind == "markdown"], screen
    finally:
        _stop(proc)
