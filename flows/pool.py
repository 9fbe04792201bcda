"""The local task runner: Prefect's process pool, whose workers can start before the flow run that takes it."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
from typing import Any

from prefect.task_runners import ProcessPoolTaskRunner


def exit_with_parent() -> None:
    """Have this pool worker exit as soon as the process that started it dies (call it in the worker's initializer).

    An idle worker waits for its next call on a queue whose write end it holds too, so after a
    run killed with SIGKILL it would wait forever: workers a run starts while its server starts
    (EarlyStartProcessPoolTaskRunner) outlived every run killed then. A daemon thread waits on
    the parent's sentinel, which spawn hands each worker and which ends with the parent.
    """
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing
        return

    def exit_when_parent_ends() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=exit_when_parent_ends, name="exit-with-parent", daemon=True).start()


class EarlyStartProcessPoolTaskRunner(ProcessPoolTaskRunner):
    """Prefect's ProcessPoolTaskRunner, plus `start_workers`: start the pool's workers now, for the next flow run to take.

    A pool worker takes ~2 CPU-seconds to start (Python, Prefect, pandas, pyarrow, pandera and
    the table modules: prepare_pool_worker), and Prefect's pool starts one per task when the flow
    first submits. A run can start them while it waits for its Prefect server, on the core the
    server leaves idle, so the flow's first tasks find them ready.

    The flow engine runs a copy of the flow's runner (`duplicate`): the copy whose workers were
    started is that copy, entered already. Not started, this behaves as ProcessPoolTaskRunner.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._started_early: EarlyStartProcessPoolTaskRunner | None = None  # the copy the next flow run takes
        self._entered_early = False

    def start_workers(self, count: int | None = None) -> None:
        """Start up to `count` of the pool's workers (default: all) now; each runs the initializer, then waits for tasks."""
        if self._started_early is None:
            self._started_early = super().duplicate()
            ProcessPoolTaskRunner.__enter__(self._started_early)
            self._started_early._entered_early = True
        # The executor starts a worker per call it is given while none is idle, up to max_workers.
        for _ in range(min(count or self._max_workers, self._max_workers)):
            self._started_early._executor.submit(int)

    def close(self) -> None:
        """Stop the workers `start_workers` started, if no flow run took them (a run that ends before its flow)."""
        if self._started_early is not None:
            runner, self._started_early = self._started_early, None
            runner.__exit__(None, None, None)

    def duplicate(self) -> EarlyStartProcessPoolTaskRunner:
        if self._started_early is None:
            return super().duplicate()
        runner, self._started_early = self._started_early, None
        return runner

    def __enter__(self) -> EarlyStartProcessPoolTaskRunner:
        if self._entered_early:
            self._entered_early = False  # taken: the flow run's exit stops it
            return self
        return super().__enter__()
