"""Test session set-up: a private state folder (Prefect home, caches) so runs never share a database."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Must happen before anything imports flows (which reads these) or prefect.
_SESSION_STATE = Path(tempfile.mkdtemp(prefix="paper-profiles-test-state-"))
# Removed at exit, after the Prefect servers the session started have stopped (atexit runs the
# handlers registered later first).
atexit.register(shutil.rmtree, _SESSION_STATE, ignore_errors=True)
os.environ["PAPER_PROFILES_STATE_DIR"] = str(_SESSION_STATE)
os.environ["PREFECT_HOME"] = str(_SESSION_STATE / "prefect")

import logging  # noqa: E402

# Prefect reads its settings when first imported: the project's defaults (flows/settings.py: the
# embedded server's start-up timeout among them) must be set before any test module imports it.
import flows  # noqa: E402, F401

import pytest  # noqa: E402

# Prefect's embedded server logs "Stopping temporary server" at interpreter exit, after pytest
# has closed the captured streams; without this the run would end in a logging traceback.
logging.raiseExceptions = False

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED_PROFILE = REPO_ROOT / "raw" / "profiles" / "zhi-hong-deng" / "2026-11-26.txt"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def state_dir() -> Path:
    return _SESSION_STATE


@pytest.fixture(autouse=True)
def _prefect_client_workers_stopped():
    """After a test that ran a flow in this process, stop the Prefect client's workers it left running.

    The events worker keeps a websocket open to the API, and its pings (every 10-20 s, on
    Prefect's event-loop thread) draw from the global `random` module: a Hypothesis draw that
    spans one is reported as a strategy using `random` (the intermittent warning of earlier
    runs, now an error: pyproject.toml). tests/test_prefect_client.py holds this to it.
    """
    yield
    if "prefect.events.worker" in sys.modules:  # else no flow ran in this process
        from flows.__main__ import send_pending_logs_and_events

        send_pending_logs_and_events()
