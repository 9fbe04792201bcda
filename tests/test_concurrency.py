"""Concurrent runs: one run per project at a time; a second one waits (or gives up with a clear message), never a mixed release.

The lock (flows/lock.py) is tested on its own first, then with real `python -m flows run`
processes started together on one project. `PAPER_PROFILES_CONCURRENT_TRIALS=N` runs more pairs.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flows import formats, publish, synth
from flows.lock import RunLockedError, lock_holder, run_lock
from flows.package import verify_release
from prefect_server import flow_env, kill_group, start_run

CONCURRENT_TRIALS = int(os.environ.get("PAPER_PROFILES_CONCURRENT_TRIALS", 3))
PROFILES = 8
FIRST_CAPTURE = dt.date(2026, 11, 26)
HOLD_SECONDS = 0.5
RUN_TIMEOUT_SECONDS = 600
EXIT_LOCKED = 4
WAITING = "waiting up to"
PUBLISHED = "published release"
NOTHING_TO_DO = ("nothing new since the last build", "no change since release")


def test_a_second_holder_waits_for_the_first(tmp_path: Path):
    waits: list[str] = []
    order: list[str] = []
    with run_lock(tmp_path):
        second = threading.Thread(target=_hold, args=(tmp_path, order, waits))
        second.start()
        time.sleep(HOLD_SECONDS)
        order.append("first released")
    second.join(timeout=30)
    assert order == ["first released", "second acquired"]
    assert len(waits) == 1 and f"held by pid {os.getpid()}" in waits[0]


def test_a_holder_that_will_not_wait_gets_a_clear_message(tmp_path: Path):
    with run_lock(tmp_path):
        with pytest.raises(RunLockedError) as refused:
            with run_lock(tmp_path, timeout=0):
                pytest.fail("two holders at once")
    message = str(refused.value)
    assert f"another run holds the lock on {tmp_path.resolve()} (pid {os.getpid()} (" in message
    assert "PAPER_PROFILES_LOCK_TIMEOUT_SECONDS" in message


def test_the_lock_of_a_killed_holder_is_taken_at_once(tmp_path: Path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from flows.lock import run_lock\n"
         "with run_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(600)", str(tmp_path)],
        cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        assert lock_holder(tmp_path).startswith(f"pid {holder.pid} (")
        with pytest.raises(RunLockedError):
            with run_lock(tmp_path, timeout=0):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_lock(tmp_path, timeout=0):
        assert lock_holder(tmp_path).startswith(f"pid {os.getpid()} (")
    assert os.listdir(tmp_path) == []  # no lock file to go stale


def test_two_runs_started_together_publish_one_whole_release(tmp_path: Path):
    raw, output = tmp_path / "raw", tmp_path / "output"
    env = flow_env(tmp_path / "state")  # one project: one raw/, one output/, one state folder
    for trial in range(1, CONCURRENT_TRIALS + 1):
        captured = _drop_capture(raw, tmp_path / "generated", trial)
        releases_before = publish.read_releases(output)
        logs = [tmp_path / f"trial-{trial}-run-{run}.log" for run in "ab"]
        # Both runs queue on a lock the test holds, then race for it the moment it is released.
        with run_lock(raw, output):
            runs = [start_run(raw, output, env, log, "--allow-shrink") for log in logs]  # each capture has new papers
            _wait_until(lambda: all(WAITING in log.read_text(errors="replace") for log in logs), runs)
        outputs = [_finish(run, log) for run, log in zip(runs, logs)]
        assert [run.returncode for run in runs] == [0, 0], outputs
        published = [text for text in outputs if PUBLISHED in text]
        assert len(published) == 1, f"trial {trial}: expected one run to publish:\n" + "\n---\n".join(outputs)
        loser = next(text for text in outputs if text is not published[0])
        assert any(message in loser for message in NOTHING_TO_DO), loser
        releases = publish.read_releases(output)
        assert len(releases) == len(releases_before) + 1 and releases[0]["as_of_date"] == captured.isoformat()
        assert verify_release(output / "latest") == []
        profiles = formats.read("profiles", output / "latest" / "profiles.parquet")
        assert len(profiles) == PROFILES and set(profiles["captured_date"].astype(str)) == {captured.isoformat()}
        assert os.listdir(raw / "inbox") == []


def test_a_run_that_will_not_wait_exits_with_code_4_and_says_why(tmp_path: Path):
    raw, output = tmp_path / "raw", tmp_path / "output"
    _drop_capture(raw, tmp_path / "generated", 1)
    env = flow_env(tmp_path / "state", PAPER_PROFILES_LOCK_TIMEOUT_SECONDS="0")
    log = tmp_path / "run.log"
    with run_lock(raw, output):
        run = start_run(raw, output, env, log)
        text = _finish(run, log)
    assert run.returncode == EXIT_LOCKED, text
    first_locked = min(raw.resolve(), output.resolve())  # locks are taken in path order
    assert f"error: another run holds the lock on {first_locked} (pid {os.getpid()} (" in text
    assert len(os.listdir(raw / "inbox")) == PROFILES and not (output / publish.RELEASES_FEED).exists()


def _hold(directory: Path, order: list[str], waits: list[str]) -> None:
    with run_lock(directory, timeout=30, on_wait=waits.append):
        order.append("second acquired")


def _drop_capture(raw: Path, generated: Path, trial: int) -> dt.date:
    captured = FIRST_CAPTURE + dt.timedelta(days=trial)
    inbox = raw / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for path in synth.write_profiles(generated / str(trial), PROFILES, seed=trial, captured_date=captured):
        path.rename(inbox / f"{path.stem}-{captured.isoformat()}.txt")
    return captured


def _wait_until(condition, runs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while not condition():
        if any(run.poll() is not None for run in runs) or time.monotonic() > deadline:
            for run in runs:
                kill_group(run)
            pytest.fail("a run ended or hung before reaching the lock")
        time.sleep(0.05)


def _finish(run: subprocess.Popen, log: Path) -> str:
    try:
        run.wait(timeout=RUN_TIMEOUT_SECONDS)
    finally:
        kill_group(run)
    return log.read_text(errors="replace")

