"""Scheduled refreshes: serve the refresh flow as a Prefect deployment with a cron schedule, on a local server if none is set."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from flows import settings

DEPLOYMENT_NAME = "scheduled-refresh"
SERVER_DIRNAME = "prefect-server"
SERVER_HOST = "127.0.0.1"
SERVER_LOG_NAME = "server.log"
# The first start of a server migrates a fresh database: ~8-20 s here, more on a slow disk.
SERVER_STARTUP_TIMEOUT_SECONDS = 180.0
SERVER_STOP_TIMEOUT_SECONDS = 30.0
HEALTH_POLL_SECONDS = 0.5
# Lines a caller (or a test) can look for: the server started, and the API about to be served on.
SERVER_LINE_PREFIX = "Local Prefect server: "
API_URL_LINE_PREFIX = "Prefect API: "
# Telemetry off for the server process too, whatever the environment says.
SERVER_ENV = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}

EXIT_OK = 0
EXIT_SERVER_FAILED = 1
EXIT_USAGE = 2


class ServerStartError(RuntimeError):
    """The local Prefect server exited or did not answer /api/health in time."""


@dataclass(frozen=True)
class LocalServer:
    """A `prefect server` process this run started, and where it answers."""

    process: subprocess.Popen
    api_url: str
    log_path: Path


def serve(cron: str, timezone: str, raw_dir: Path, output_dir: Path) -> int:
    """Serve the refresh deployment until Ctrl-C or SIGTERM; start a local server when PREFECT_API_URL is unset."""
    try:
        schedule = cron_schedule(cron, timezone)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    # Without this, a SIGTERM that arrives before Prefect's runner installs its own handler would
    # kill this process outright and orphan the server it started.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    with contextlib.ExitStack() as started:
        try:
            api_url = configured_api_url()
            if api_url is None:
                print("PREFECT_API_URL is not set: starting a local Prefect server ...", flush=True)
                server = start_local_server(settings.STATE_DIR / SERVER_DIRNAME)
                started.callback(stop_local_server, server)
                api_url = server.api_url
                print(f"{SERVER_LINE_PREFIX}pid {server.process.pid}, UI {api_url.removesuffix('/api')}, log {server.log_path}", flush=True)
            print(f"{API_URL_LINE_PREFIX}{api_url}", flush=True)
            serve_deployment(api_url, schedule, raw_dir, output_dir)
        except ServerStartError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_SERVER_FAILED
        except KeyboardInterrupt:
            pass  # Ctrl-C or SIGTERM before the runner took over: leaving the block stops the server
    return EXIT_OK


def cron_schedule(cron: str, timezone: str):
    """The deployment's schedule; raises ValueError naming a bad cron string or time zone."""
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.schedules import Cron

    # Cron() checks the cron string but accepts any time zone; CronSchedule checks both.
    try:
        CronSchedule(cron=cron, timezone=timezone)
    except ValueError as error:
        messages = [detail["msg"] for detail in getattr(error, "errors", lambda: [])()] or [str(error)]
        raise ValueError("; ".join(message.removeprefix("Value error, ") for message in messages)) from None
    return Cron(cron, timezone=timezone)


def configured_api_url() -> str | None:
    """The Prefect API this process is pointed at (environment or Prefect profile), if any."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def serve_deployment(api_url: str, schedule, raw_dir: Path, output_dir: Path) -> None:
    """Register the deployment with its schedule on `api_url` and run its flow runs until interrupted."""
    from prefect import serve as prefect_serve
    from prefect.deployments.runner import EntrypointType
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.pipeline import refresh

    # Flow runs execute in spawned subprocesses, which read the API from the environment.
    os.environ["PREFECT_API_URL"] = api_url
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        deployment = refresh.to_deployment(
            name=DEPLOYMENT_NAME,
            schedules=[schedule],
            parameters={"raw_dir": str(Path(raw_dir).resolve()), "output_dir": str(Path(output_dir).resolve())},
            description="Refresh the paper-profiles dataset from raw captures on a cron schedule.",
            # A module path loads wherever the project is installed, whatever the working directory.
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        # One run at a time: two refreshes publishing into the same output folder would race.
        prefect_serve(deployment, limit=1)


def start_local_server(home: Path, timeout: float = SERVER_STARTUP_TIMEOUT_SECONDS, extra_args: tuple[str, ...] = ()) -> LocalServer:
    """Start `prefect server` on 127.0.0.1 and a free port, its database in `home`; return once healthy.

    `extra_args` go to `prefect server start` (the tests pass `--no-services --no-ui`).
    """
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log_path = home / SERVER_LOG_NAME
    environment = {**os.environ, **SERVER_ENV, "PREFECT_HOME": str(home)}
    environment.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", SERVER_HOST, "--port", str(port), "--analytics-off", *extra_args]
    with log_path.open("ab") as log:
        # A session of its own: a terminal's Ctrl-C reaches only us, and we stop the server after the runner.
        process = subprocess.Popen(
            command, env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LocalServer(process=process, api_url=f"http://{SERVER_HOST}:{port}/api", log_path=log_path)
    try:
        _wait_until_healthy(server, timeout)
    except BaseException:
        stop_local_server(server)
        raise
    return server


def stop_local_server(server: LocalServer) -> None:
    """Stop the server process (and anything it spawned); kill it if it does not stop in time."""
    if server.process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(SERVER_STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


def is_healthy(api_url: str) -> bool:
    """True when the Prefect API at `api_url` answers /health."""
    # No proxy: the server is on this machine, whatever proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _wait_until_healthy(server: LocalServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not is_healthy(server.api_url):
        if server.process.poll() is not None:
            raise ServerStartError(f"prefect server exited with code {server.process.returncode}; see {server.log_path}")
        if time.monotonic() > deadline:
            raise ServerStartError(f"prefect server did not answer {server.api_url}/health within {timeout:.0f} s; see {server.log_path}")
        time.sleep(HEALTH_POLL_SECONDS)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((SERVER_HOST, 0))
        return probe.getsockname()[1]


def _raise_keyboard_interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt
