"""No network at build time: `python -m flows run`, the Prefect server it starts included, connects to nothing but loopback.

Every process of the run (the CLI, its pool workers, its Prefect server) loads a `sitecustomize`
that installs an audit hook: a connect, send or name lookup aimed anywhere but 127.0.0.1, ::1 or
localhost is refused and written to a log. The build must succeed with an empty log; a control
run shows the hook does catch an outbound attempt.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, SEED_PROFILE
from flows.local_server import SERVER_LOG_NAME
from flows.package import verify_release
from prefect_server import migrated_home

RUN_TIMEOUT_SECONDS = 900
# An address reserved for documentation (RFC 5737): nothing answers there, so only the hook can refuse it.
OUTSIDE_ADDRESS = "192.0.2.1"
SITECUSTOMIZE = '''
import os, socket, sys

_LOG = os.environ["NO_NETWORK_LOG"]
_LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "::"}
_IP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def _refuse(what):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {' '.join(sys.argv)[:120]}: {what}\\n")
    raise PermissionError(f"network access refused during the build: {what}")


def _hook(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg") and args[0].family in _IP_FAMILIES:
        address = args[1] if event == "socket.connect" else args[-1]
        if isinstance(address, tuple) and str(address[0]) not in _LOOPBACK:
            _refuse(f"{event} {address!r}")
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if host is not None and str(host) not in _LOOPBACK:
            _refuse(f"{event} {host!r}")


sys.addaudithook(_hook)
'''


def test_the_build_makes_no_outbound_connection(tmp_path: Path):
    env, log = _guarded_env(tmp_path)
    raw, output = tmp_path / "raw", tmp_path / "output"
    (raw / "inbox").mkdir(parents=True)
    (raw / "inbox" / "zhi-hong-deng-2026-11-26.txt").write_bytes(SEED_PROFILE.read_bytes())
    run = subprocess.run(
        [sys.executable, "-m", "flows", "run", "--raw-dir", str(raw), "--output-dir", str(output)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    home = Path(env["PREFECT_HOME"])
    assert "prefect config set PREFECT_API_URL" in (home / SERVER_LOG_NAME).read_text("utf-8")  # the run's own server ran under the hook too
    assert not log.exists(), f"outbound network attempts:\n{log.read_text()}"
    assert verify_release(output / "latest") == []


def test_the_guard_refuses_and_records_an_outbound_attempt(tmp_path: Path):
    env, log = _guarded_env(tmp_path)
    probe = (
        "import socket\n"
        "probe = socket.socket()\n"
        f"try: probe.connect(('{OUTSIDE_ADDRESS}', 80))\n"
        "except PermissionError: print('refused')\n"
        "try: socket.getaddrinfo('example.com', 443)\n"
        "except PermissionError: print('refused')\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert run.stdout.split() == ["refused", "refused"], run.stderr
    assert f"socket.connect ('{OUTSIDE_ADDRESS}', 80)" in log.read_text()
    assert "socket.getaddrinfo 'example.com'" in log.read_text()


def _guarded_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    log = tmp_path / "network-attempts.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hook_dir), str(REPO_ROOT)]),
        "NO_NETWORK_LOG": str(log),
        "PAPER_PROFILES_STATE_DIR": str(tmp_path / "state"),
        "PREFECT_HOME": str(migrated_home(tmp_path / "state" / "prefect")),  # skip the ~20 s first migration
    }
    env.pop("PREFECT_API_URL", None)  # the default: a local server, started by the run itself
    return env, log
