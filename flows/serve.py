"""Scheduled refreshes: serve the refresh flow as a Prefect deployment with a cron schedule, on a local server if none is set."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

from flows import settings
from flows.local_server import ServerStartError, configured_api_url, start_local_server, stop_local_server

DEPLOYMENT_NAME = "scheduled-refresh"
SERVER_DIRNAME = "prefect-server"
# Lines a caller (or a test) can look for: the server started, and the API about to be served on.
SERVER_LINE_PREFIX = "Local Prefect server: "
API_URL_LINE_PREFIX = "Prefect API: "

EXIT_OK = 0
EXIT_SERVER_FAILED = 1
EXIT_USAGE = 2


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


def _raise_keyboard_interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt
