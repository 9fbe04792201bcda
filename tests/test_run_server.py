"""A run's own Prefect API (flows/__main__.py: prefect_api): started before Prefect is imported, used, stopped.

Each test runs `python -m flows run` on the seed profile with no PREFECT_API_URL in its
environment, and reads which API the flow run used from its "View at" line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, SEED_PROFILE
from flows import local_server
from prefect_server import migrated_home, server_url

RUN_TIMEOUT_SECONDS = 600
PREFECT_OWN_SERVER_LINE = "Starting temporary server"


def test_a_run_with_no_api_configured_starts_a_server_of_its_own_and_stops_it(tmp_path: Path) -> None:
    home = migrated_home(tmp_path / "prefect")
    run = _run(tmp_path, home)

    api_url = _api_used(run) + "/api"
    assert api_url != server_url()
    assert f"PREFECT_API_URL={api_url}" in (home / local_server.SERVER_LOG_NAME).read_text("utf-8")  # its own `prefect server`
    assert PREFECT_OWN_SERVER_LINE not in run  # Prefect never started its embedded one, not even at exit
    assert not local_server.is_healthy(api_url)  # stopped with the run


def test_a_run_uses_the_api_its_prefect_profile_names(tmp_path: Path) -> None:
    home = migrated_home(tmp_path / "prefect")
    (home / "profiles.toml").write_text(f'active = "shared"\n\n[profiles.shared]\nPREFECT_API_URL = "{server_url()}"\n', "utf-8")
    run = _run(tmp_path, home)

    assert _api_used(run) + "/api" == server_url()
    assert PREFECT_OWN_SERVER_LINE not in run


def _run(tmp_path: Path, home: Path) -> str:
    raw = tmp_path / "raw"
    (raw / "inbox").mkdir(parents=True)
    (raw / "inbox" / "zhi-hong-deng-2026-11-26.txt").write_bytes(SEED_PROFILE.read_bytes())
    env = {**os.environ, "PAPER_PROFILES_STATE_DIR": str(tmp_path / "state"), "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_PROFILE", None)
    run = subprocess.run(
        [sys.executable, "-m", "flows", "run", "--raw-dir", str(raw), "--output-dir", str(tmp_path / "output")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    return output


def _api_used(output: str) -> str:
    """The server the flow run was recorded on: Prefect logs its address when the run begins."""
    match = re.search(r"View at (http://127\.0\.0\.1:\d+)/runs/flow-run/", output)
    assert match, output[-3000:]
    return match[1]
