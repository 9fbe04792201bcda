"""A Prefect API server shared by the tests that start `python -m flows run` processes, and their environment.

Without it every such process starts Prefect's embedded server on its own (~8 s) and two at once
would share one SQLite file. The server is started once per test session, on 127.0.0.1, and
stopped when the session ends.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from functools import lru_cache
from pathlib import Path

from flows.local_server import start_local_server, stop_local_server

REPO_ROOT = Path(__file__).resolve().parent.parent
# The first start of a fresh home migrates its database (~20 s; longer on a busy machine).
STARTUP_TIMEOUT_SECONDS = 240


def server_url() -> str:
    """Start the session's server (once) and return its API URL."""
    return _server()[0]


def server_home() -> Path:
    """The Prefect home of the session's server (its database is `prefect.db` there)."""
    return _server()[1]


def migrated_home(target: Path) -> Path:
    """A Prefect home whose database is already migrated (a consistent copy of the server's), for an embedded server."""
    target.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(_server()[1] / "prefect.db")) as source, closing(sqlite3.connect(target / "prefect.db")) as copy:
        source.backup(copy)
    return target


@lru_cache(maxsize=1)
def _server() -> tuple[str, Path]:
    home = Path(tempfile.mkdtemp(prefix="paper-profiles-test-prefect-server-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)  # after the server stops (registered below, so run first)
    # The tests need the API only: no scheduler services, no UI.
    server = start_local_server(home, timeout=STARTUP_TIMEOUT_SECONDS, extra_args=("--no-services", "--no-ui"))
    atexit.register(stop_local_server, server)
    return server.api_url, home


def flow_env(state_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a `python -m flows` process: the shared server and its own state folder."""
    env = {
        **os.environ,
        "PREFECT_API_URL": server_url(),
        "PAPER_PROFILES_STATE_DIR": str(state_dir),
        "PREFECT_HOME": str(state_dir / "prefect"),
        **extra,
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    return env


def start_run(raw_dir: Path, output_dir: Path, env: dict[str, str], log: Path, *options: str) -> subprocess.Popen:
    """Start `python -m flows run` in its own process group (so a kill takes its pool workers too)."""
    with open(log, "wb") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "flows", "run", "--raw-dir", str(raw_dir), "--output-dir", str(output_dir), *options],
            cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the run and every process it started, and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
