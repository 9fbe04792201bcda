"""A local Prefect API server in a process of its own, on 127.0.0.1 and a free port.

`python -m flows serve` starts one for its deployment when no API is configured, and
`python -m flows run` one for its flow run (flows/__main__.py: prefect_api).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SERVER_HOST = "127.0.0.1"
SERVER_LOG_NAME = "server.log"
# The first start of a server migrates a fresh database: ~8-20 s here, more on a slow disk.
SERVER_STARTUP_TIMEOUT_SECONDS = 180.0
SERVER_STOP_TIMEOUT_SECONDS = 30.0
# A started server answers after ~2.5 s; a run waits for it, so it looks often.
HEALTH_POLL_SECONDS = 0.05
# Telemetry off for the server process too, whatever the environment says.
SERVER_ENV = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
# The services of Prefect's own embedded server, and only those: the task run recorder and the
# event persister among them (`--no-services` records no task run), no scheduler. Prefect sets
# this variable for the embedded server it starts (prefect.server.api.server.SubprocessASGIServer);
# a Prefect that ignored it would run every service, still recording task runs.
EMBEDDED_SERVICES_ENV = {"PREFECT__SERVER_EPHEMERAL": "1"}


class ServerStartError(RuntimeError):
    """The local Prefect server exited or did not answer /api/health in time."""


@dataclass(frozen=True)
class LocalServer:
    """A `prefect server` process this run started, and where it answers."""

    process: subprocess.Popen
    api_url: str
    log_path: Path
    own_session: bool = True  # its own process group (stopped with killpg), or this process's
    port_reservation: socket.socket | None = None  # holds the port from before the server binds it until it stops (_reserved_port)


def configured_api_url() -> str | None:
    """The Prefect API this process is pointed at (environment or Prefect profile), if any."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def start_local_server(home: Path, timeout: float = SERVER_STARTUP_TIMEOUT_SECONDS, extra_args: tuple[str, ...] = ()) -> LocalServer:
    """Start `prefect server` (launch_local_server) and return once it is healthy."""
    server = launch_local_server(home, extra_args)
    try:
        wait_until_healthy(server, timeout)
    except BaseException:
        stop_local_server(server)
        raise
    return server


def launch_local_server(
    home: Path, extra_args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None, with_this_process: bool = False
) -> LocalServer:
    """Start `prefect server` on 127.0.0.1 and a free port, its database in `home`, and return at once.

    `extra_args` go to `prefect server start` (the tests pass `--no-services --no-ui`), and
    `extra_env` to its environment. The server runs in a session of its own, so that a
    terminal's Ctrl-C reaches only this process, which stops the server after what uses it;
    `with_this_process` keeps it in this process's group instead, and has it terminated if this
    process dies, even killed (Linux): a run's server must not outlive the run.
    """
    home.mkdir(parents=True, exist_ok=True)
    reservation = _reserved_port()
    port = reservation.getsockname()[1]
    log_path = home / SERVER_LOG_NAME
    environment = {**os.environ, **SERVER_ENV, **(extra_env or {}), "PREFECT_HOME": str(home)}
    environment.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", SERVER_HOST, "--port", str(port), "--analytics-off", *extra_args]
    try:
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command, env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=not with_this_process, preexec_fn=_terminated_with_this_process() if with_this_process else None,
            )
    except BaseException:
        reservation.close()
        raise
    return LocalServer(process=process, api_url=f"http://{SERVER_HOST}:{port}/api", log_path=log_path,
                       own_session=not with_this_process, port_reservation=reservation)


def wait_until_healthy(server: LocalServer, timeout: float = SERVER_STARTUP_TIMEOUT_SECONDS) -> None:
    """Return once the server answers /api/health; raise ServerStartError if it exits or takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while not is_healthy(server.api_url):
        if server.process.poll() is not None:
            raise ServerStartError(f"prefect server exited with code {server.process.returncode}; see {server.log_path}")
        if time.monotonic() > deadline:
            raise ServerStartError(f"prefect server did not answer {server.api_url}/health within {timeout:.0f} s; see {server.log_path}")
        time.sleep(HEALTH_POLL_SECONDS)


def stop_local_server(server: LocalServer) -> None:
    """Stop the server process (and anything it spawned); kill it if it does not stop in time. Its port is free again after."""
    try:
        if server.process.poll() is not None:
            return
        _signal(server, signal.SIGTERM)
        try:
            server.process.wait(SERVER_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            _signal(server, signal.SIGKILL)
            server.process.wait()
    finally:
        if server.port_reservation is not None:
            server.port_reservation.close()


def _signal(server: LocalServer, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        if server.own_session:
            os.killpg(server.process.pid, signum)
        else:
            server.process.send_signal(signum)


def is_healthy(api_url: str) -> bool:
    """True when the Prefect API at `api_url` answers /health."""
    # No proxy: the server is on this machine, whatever proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


# prctl(PR_SET_PDEATHSIG, ...): the kernel signals the child when the thread that started it ends.
_PR_SET_PDEATHSIG = 1


def _terminated_with_this_process() -> Callable[[], None] | None:
    """A preexec_fn that has the child sent SIGTERM when this process dies; None where prctl is missing (not Linux).

    prctl is looked up here, in the parent: the child, forked from a process that may run
    threads, only calls it.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return in_child


def _reserved_port() -> socket.socket:
    """A socket bound to a free port of SERVER_HOST, never listening: the port stays ours while the server starts.

    A port found free and let go before the server binds it could be handed to another process
    meanwhile (another run starting its own server, say), and this run would then wait for, or
    talk to, a server that is not its own. Bound with SO_REUSEADDR, as the server binds its own
    socket (asyncio's default), it lets the server bind the port and listen, and no one else:
    the kernel hands out no port in use to a bind to port 0, and refuses an explicit bind of it.
    """
    reservation = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reservation.bind((SERVER_HOST, 0))
    except BaseException:
        reservation.close()
        raise
    return reservation
