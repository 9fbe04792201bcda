"""Prefect's own cost: a one-task flow on the same API (prefect_api) and task runner as `python -m flows run`."""

from __future__ import annotations

import sys

from flows import settings

settings.apply_prefect_env_defaults()


def main() -> int:
    from flows.__main__ import _task_runner, build_parser, prefect_api

    # As a run does: the server starts before this process imports Prefect (prefect_api).
    with prefect_api():
        from prefect import flow, task
        from prefect.cache_policies import NO_CACHE

        @task(cache_policy=NO_CACHE)
        def one_task() -> int:
            return 1

        @flow(name="paper-profiles-prefect-floor")
        def prefect_floor() -> int:
            return one_task()

        print(prefect_floor.with_options(task_runner=_task_runner(build_parser().parse_args(["run"])))())
    return 0


if __name__ == "__main__":
    sys.exit(main())
