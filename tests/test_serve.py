"""Scheduled refreshes on a real Prefect server: `python -m flows serve` and the prefect.yaml deployment."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
from prefect.client.schemas.objects import FlowRun

from flows import local_server, serve
from flows.__main__ import build_parser
from flows.pipeline import refresh
from flows.synth import write_profiles

REPO_ROOT = Path(__file__).resolve().parent.parent
CAPTURED_DATE = dt.date(2026, 11, 26)
# Daily at 06:00 in a zone that is not UTC, to see the time zone reach the server's schedule.
CRON = "0 6 * * *"
TIMEZONE = "Europe/Paris"
# Generous: a fresh server migrates its database (~20 s), each new process imports Prefect, and
# the machine may be busy with other test sessions.
STARTUP_TIMEOUT_SECONDS = 300
RUN_TIMEOUT_SECONDS = 300
STOP_TIMEOUT_SECONDS = 90
POLL_SECONDS = 1.0


def test_serve_schedules_the_refresh_on_a_local_server_and_runs_it(tmp_path: Path) -> None:
    raw_dir, output_dir, state_dir = tmp_path / "raw", tmp_path / "output", tmp_path / "state"
    [profile] = write_profiles(raw_dir / "inbox", 1, seed=5, captured_date=CAPTURED_DATE)
    profile.rename(profile.with_name(f"{profile.stem}-{CAPTURED_DATE.isoformat()}.txt"))  # ingest reads the date from the name
    environment = {**os.environ, "PAPER_PROFILES_STATE_DIR": str(state_dir), "PREFECT_HOME": str(state_dir / "prefect"), "PYTHONUNBUFFERED": "1"}
    environment.pop("PREFECT_API_URL", None)
    log_path = tmp_path / "serve.log"
    server_pid = None
    with log_path.open("wb") as log, _ctrl_c_reaches_children():
        # Started from an unrelated folder: the deployment must not depend on the working directory.
        serving = subprocess.Popen(
            [sys.executable, "-m", "flows", "serve", "--cron", CRON, "--timezone", TIMEZONE,
             "--raw-dir", str(raw_dir), "--output-dir", str(output_dir)],
            cwd=tmp_path, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        server_pid = int(_wait_for_line(log_path, serving, rf"{serve.SERVER_LINE_PREFIX}pid (\d+)"))
        api_url = _wait_for_line(log_path, serving, rf"{serve.API_URL_LINE_PREFIX}(\S+)")
        assert api_url.startswith(f"http://{local_server.SERVER_HOST}:")
        assert (state_dir / serve.SERVER_DIRNAME / "prefect.db").exists()  # the server's database is in the state folder

        deployment = asyncio.run(_wait_for_deployment(api_url, f"{refresh.name}/{serve.DEPLOYMENT_NAME}"))
        [schedule] = deployment.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.active) == (CRON, TIMEZONE, True)
        assert deployment.parameters == {"raw_dir": str(raw_dir), "output_dir": str(output_dir)}

        scheduled = asyncio.run(_wait_for_scheduled_runs(api_url, deployment.id))
        for run in scheduled:
            local_start = run.expected_start_time.astimezone(zoneinfo.ZoneInfo(TIMEZONE))
            assert (local_start.hour, local_start.minute) == (6, 0)

        finished = asyncio.run(_trigger_and_wait(api_url, deployment.id))
        assert finished.state.is_completed(), f"{finished.state}; see {log_path}"
        assert (output_dir / "releases" / CAPTURED_DATE.isoformat() / "SHA256SUMS").is_file()
        feed = json.loads((output_dir / "releases.json").read_text("utf-8"))
        assert [release["release_id"] for release in feed["releases"]] == [CAPTURED_DATE.isoformat()]
        assert not list((raw_dir / "inbox").iterdir())  # the capture went through ingest

        serving.send_signal(signal.SIGINT)  # Ctrl-C
        assert serving.wait(STOP_TIMEOUT_SECONDS) == serve.EXIT_OK
        assert not _is_running(server_pid), "Ctrl-C left the Prefect server running"
        assert not local_server.is_healthy(api_url)
    finally:
        if serving.poll() is None:
            serving.kill()
            serving.wait()
        if server_pid is not None and _is_running(server_pid):
            os.killpg(server_pid, signal.SIGKILL)


def test_prefect_yaml_deploys_the_same_schedule_to_a_process_work_pool(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text("utf-8"))
    [entry] = config["deployments"]
    serve_defaults = build_parser().parse_args(["serve"])
    server = local_server.start_local_server(tmp_path / "prefect-server")
    try:
        asyncio.run(_create_process_pool(server.api_url, entry["work_pool"]["name"]))
        environment = {**os.environ, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp_path / "prefect-client")}
        deploy = subprocess.run(
            [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
            cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=STARTUP_TIMEOUT_SECONDS,
        )
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr

        deployment = asyncio.run(_read_deployment(server.api_url, f"{refresh.name}/{entry['name']}"))
        assert deployment.entrypoint == "flows/pipeline.py:refresh"
        assert deployment.work_pool_name == entry["work_pool"]["name"]
        [schedule] = deployment.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == (serve_defaults.cron, serve_defaults.timezone)
        # The process worker runs the flow in the repository that `prefect deploy` was run from.
        assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_ROOT)}}]
    finally:
        local_server.stop_local_server(server)
    assert not local_server.is_healthy(server.api_url)


@pytest.mark.parametrize(
    ("cron", "timezone", "problem"),
    [("0 6 * *", "UTC", "Invalid cron string"), ("0 6 * * *", "Mars/Olympus_Mons", "Invalid timezone")],
)
def test_serve_refuses_a_bad_schedule_before_starting_anything(tmp_path: Path, capsys, cron: str, timezone: str, problem: str) -> None:
    code = serve.serve(cron=cron, timezone=timezone, raw_dir=tmp_path / "raw", output_dir=tmp_path / "output")

    assert code == serve.EXIT_USAGE
    assert problem in capsys.readouterr().err
    assert not (tmp_path / "output").exists()


def test_good_schedule_keeps_cron_and_time_zone() -> None:
    schedule = serve.cron_schedule(CRON, TIMEZONE)

    assert (schedule.cron, schedule.timezone) == (CRON, TIMEZONE)


@contextlib.contextmanager
def _ctrl_c_reaches_children() -> Iterator[None]:
    """Processes started in the block do not ignore SIGINT, even if this one does.

    A test run started in the background by a non-interactive shell (`make test &` in a script)
    ignores SIGINT, and its children inherit that: Ctrl-C could not stop `flows serve`, and the
    test would wait out STOP_TIMEOUT_SECONDS. A handled SIGINT is reset to the default in a child.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_for_line(log_path: Path, process: subprocess.Popen, pattern: str) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        match = re.search(pattern, log_path.read_text("utf-8", errors="replace"))
        if match:
            return match.group(1)
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{log_path.read_text('utf-8', errors='replace')}")
        time.sleep(POLL_SECONDS)
    pytest.fail(f"no line matching {pattern!r} within {STARTUP_TIMEOUT_SECONDS} s:\n{log_path.read_text('utf-8', errors='replace')}")


async def _wait_for_deployment(api_url: str, name: str):
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    async with PrefectClient(api=api_url) as client:
        while True:
            try:
                return await client.read_deployment_by_name(name)
            except ObjectNotFound:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(POLL_SECONDS)


async def _read_deployment(api_url: str, name: str):
    async with PrefectClient(api=api_url) as client:
        return await client.read_deployment_by_name(name)


async def _wait_for_scheduled_runs(api_url: str, deployment_id) -> list[FlowRun]:
    """The runs the server's scheduler created from the deployment's schedule (it looks every few seconds)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    async with PrefectClient(api=api_url) as client:
        while True:
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id])))
            scheduled = [run for run in runs if run.state is not None and run.state.is_scheduled()]
            if scheduled:
                return scheduled
            assert time.monotonic() < deadline, "the server created no scheduled runs"
            await asyncio.sleep(POLL_SECONDS)


async def _trigger_and_wait(api_url: str, deployment_id) -> FlowRun:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    async with PrefectClient(api=api_url) as client:
        run = await client.create_flow_run_from_deployment(deployment_id)
        while True:
            run = await client.read_flow_run(run.id)
            if run.state is not None and run.state.is_final():
                return run
            assert time.monotonic() < deadline, f"flow run still {run.state} after {RUN_TIMEOUT_SECONDS} s"
            await asyncio.sleep(POLL_SECONDS)


async def _create_process_pool(api_url: str, name: str) -> None:
    async with PrefectClient(api=api_url) as client:
        await client.create_work_pool(WorkPoolCreate(name=name, type="process"))


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    return True
