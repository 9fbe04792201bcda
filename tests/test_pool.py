"""The local task runner's early start (flows/pool.py): a flow run takes the workers started before it, and no others."""

from __future__ import annotations

import os
import time
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.pool import EarlyStartProcessPoolTaskRunner

WORKERS = 2
START_TIMEOUT_SECONDS = 60


def _record_pid(directory: str) -> None:
    """The pool's initializer: leave this worker's pid in `directory`."""
    (Path(directory) / str(os.getpid())).touch()


@task(cache_policy=NO_CACHE)
def _worker_pid(hold_seconds: float) -> int:
    time.sleep(hold_seconds)  # held, so that each task takes a worker of its own
    return os.getpid()


@flow
def _one_task_per_worker() -> set[int]:
    futures = [_worker_pid.submit(1.0) for _ in range(WORKERS)]
    return {future.result() for future in futures}


def test_a_flow_run_takes_the_workers_started_before_it_and_stops_them(tmp_path: Path) -> None:
    runner = EarlyStartProcessPoolTaskRunner(max_workers=WORKERS, initializer=_record_pid, initargs=(str(tmp_path),))
    runner.start_workers(1)
    runner.start_workers()  # the rest of the pool
    started_early = _wait_for_workers(tmp_path, WORKERS)  # each ran the initializer before any flow run

    assert _one_task_per_worker.with_options(task_runner=runner)() == started_early
    assert _pids(tmp_path) == started_early  # the flow run started no worker of its own
    assert not any(_is_running(pid) for pid in started_early)  # stopped with the flow run

    # The next flow run has a pool of its own, started as it goes.
    second = _one_task_per_worker.with_options(task_runner=runner)()
    assert len(second) == WORKERS and not second & started_early


def test_workers_no_flow_run_took_stop_on_close(tmp_path: Path) -> None:
    runner = EarlyStartProcessPoolTaskRunner(max_workers=WORKERS, initializer=_record_pid, initargs=(str(tmp_path),))
    runner.start_workers(1)
    [pid] = _wait_for_workers(tmp_path, 1)

    runner.close()

    assert not _is_running(pid)


def _wait_for_workers(directory: Path, count: int) -> set[int]:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while len(_pids(directory)) < count:
        assert time.monotonic() < deadline, f"{count} worker(s) did not start within {START_TIMEOUT_SECONDS} s"
        time.sleep(0.05)
    return _pids(directory)


def _pids(directory: Path) -> set[int]:
    return {int(path.name) for path in directory.iterdir()}


def _is_running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()
