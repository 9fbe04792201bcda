"""A run's own Prefect API (flows/__main__.py: prefect_api): started before Prefect is imported, used, stopped.

Each test runs `python -m flows run` on the seed profile with no PREFECT_API_URL in its
environment, then looks for its flow run in the databases of the servers it could have used.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import REPO_ROOT, SEED_PROFILE
from flows import local_server
from prefect_server import migrated_home, server_home, server_url

RUN_TIMEOUT_SECONDS = 600
PREFECT_OWN_SERVER_LINE = "Starting temporary server"


def test_a_run_with_no_api_configured_starts_a_server_of_its_own_and_stops_it(tmp_path: Path) -> None:
    home = migrated_home(tmp_path / "prefect")
    raw, output = _run(tmp_path, home)

    api_url = _server_url_in(home)  # where `prefect server start` said it listens
    assert _flow_runs_of(raw, home) == 1  # recorded by the run's own server, in the run's Prefect home
    assert {"extract_batches", "papers_parts", "publish_stage"} <= _task_names_of(raw, home)  # its task runs too
    assert _flow_runs_of(raw, server_home()) == 0
    assert not local_server.is_healthy(api_url)  # stopped with the run
    assert PREFECT_OWN_SERVER_LINE not in output  # Prefect never started its embedded server, not even at exit
    assert "View at" not in output  # no link to a UI the server does not serve


def test_a_run_uses_the_api_its_prefect_profile_names(tmp_path: Path) -> None:
    home = migrated_home(tmp_path / "prefect")
    (home / "profiles.toml").write_text(f'active = "shared"\n\n[profiles.shared]\nPREFECT_API_URL = "{server_url()}"\n', "utf-8")
    raw, output = _run(tmp_path, home)

    assert _flow_runs_of(raw, server_home()) == 1
    assert _flow_runs_of(raw, home) == 0
    assert PREFECT_OWN_SERVER_LINE not in output


def _run(tmp_path: Path, home: Path) -> tuple[Path, str]:
    raw = _seed_raw(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "flows", "run", "--raw-dir", str(raw), "--output-dir", str(tmp_path / "output")],
        cwd=REPO_ROOT, env=_env_without_api(tmp_path, home), capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    return raw, output


def _seed_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    (raw / "inbox").mkdir(parents=True)
    (raw / "inbox" / "zhi-hong-deng-2026-11-26.txt").write_bytes(SEED_PROFILE.read_bytes())
    return raw


def _env_without_api(tmp_path: Path, home: Path) -> dict[str, str]:
    env = {**os.environ, "PAPER_PROFILES_STATE_DIR": str(tmp_path / "state"), "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_PROFILE", None)
    return env


def _task_names_of(raw: Path, home: Path) -> set[str]:
    """The tasks whose runs a Prefect server with this home recorded for a refresh of `raw`."""
    with closing(sqlite3.connect(home / "prefect.db")) as database:
        rows = database.execute(
            "SELECT task_run.name FROM task_run JOIN flow_run ON task_run.flow_run_id = flow_run.id WHERE flow_run.parameters LIKE ?",
            (f"%{raw}%",),
        ).fetchall()
    return {name.rpartition("-")[0] for (name,) in rows}


def _flow_runs_of(raw: Path, home: Path) -> int:
    """Flow runs that a Prefect server with this home recorded for a refresh of `raw`."""
    with closing(sqlite3.connect(home / "prefect.db")) as database:
        [(count,)] = database.execute("SELECT count(*) FROM flow_run WHERE parameters LIKE ?", (f"%{raw}%",))
    return count


def test_a_killed_run_takes_its_server_and_its_pool_workers_with_it(tmp_path: Path) -> None:
    home = migrated_home(tmp_path / "prefect")
    raw = _seed_raw(tmp_path)
    log = tmp_path / "run.log"
    with log.open("wb") as output:
        run = subprocess.Popen(
            [sys.executable, "-m", "flows", "run", "--raw-dir", str(raw), "--output-dir", str(tmp_path / "output")],
            cwd=REPO_ROOT, env=_env_without_api(tmp_path, home), stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        api_url = _wait_for(lambda: _server_url_in(home), "the run's server to say where it listens")
        _wait_for(lambda: local_server.is_healthy(api_url), "the run's server to answer")
        # A first build: the run starts a pool worker while its server starts (flows/pool.py).
        workers = _wait_for(lambda: _pool_workers_of(run.pid), "the run's first pool worker")
    finally:
        run.kill()  # SIGKILL: the run cannot stop its server or its workers itself
        run.wait()
    _wait_for(lambda: not local_server.is_healthy(api_url), "the server to stop after its run was killed")
    _wait_for(lambda: not any(_is_running(pid) for pid in workers), "the pool's workers to exit after their run was killed")


def test_a_launched_server_holds_its_port_from_the_start(tmp_path: Path) -> None:
    """No other process can take the port between the launch and the server binding it (the port race)."""
    server = local_server.launch_local_server(migrated_home(tmp_path / "prefect"), ("--no-services", "--no-ui"))
    try:
        port = urlsplit(server.api_url).port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other, pytest.raises(OSError) as refused:
            other.bind((local_server.SERVER_HOST, port))  # the server process has not bound it yet: it is still starting
        assert refused.value.errno == errno.EADDRINUSE
        local_server.wait_until_healthy(server)  # the reservation does not keep the server itself from the port
    finally:
        local_server.stop_local_server(server)
    assert server.port_reservation.fileno() == -1  # let go with the server
    assert not local_server.is_healthy(server.api_url)


def _wait_for(condition, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


def _pool_workers_of(pid: int) -> list[int]:
    """The live processes `pid` started with multiprocessing's spawn (its pool's workers)."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid and b"multiprocessing.spawn" in command:
            workers.append(int(stat.parent.name))
    return workers


def _is_running(pid: int) -> bool:
    """Whether `pid` exists and has not exited (a zombie has exited, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _server_url_in(home: Path) -> str | None:
    log = home / local_server.SERVER_LOG_NAME
    found = re.findall(r"PREFECT_API_URL=(\S+)", log.read_text("utf-8")) if log.exists() else []
    return found[-1] if found else None
