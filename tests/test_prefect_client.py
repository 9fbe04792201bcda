"""The test session's clean-up of Prefect's client (tests/conftest.py): after a flow run in the test process, nothing draws from `random`."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

from conftest import REPO_ROOT
from flows.__main__ import send_pending_logs_and_events
from flows.pipeline import refresh

# The events worker's websocket sends a keepalive ping every 20 s (websockets' default), each
# with a payload from random.getrandbits.
WATCH_SECONDS = 21


def test_after_the_client_workers_stop_no_thread_draws_from_random(tmp_path: Path):
    shutil.copytree(REPO_ROOT / "raw" / "profiles", tmp_path / "raw" / "profiles")
    assert refresh(raw_dir=str(tmp_path / "raw"), output_dir=str(tmp_path / "output"))["release_id"]

    send_pending_logs_and_events()  # what tests/conftest.py does after each test

    state = random.getstate()
    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.5)
        assert random.getstate() == state, "a thread drew from the global random module after the client workers stopped"
