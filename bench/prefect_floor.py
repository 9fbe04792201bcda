"""Prefect's own cost: a one-task flow on the same embedded API and task runner as `python -m flows run`."""

from __future__ import annotations

import sys

from flows import settings

settings.apply_prefect_env_defaults()

from prefect import flow, task  # noqa: E402  (Prefect reads its settings from the environment on import)
from prefect.cache_policies import NO_CACHE  # noqa: E402


@task(cache_policy=NO_CACHE)
def one_task() -> int:
    return 1


@flow(name="paper-profiles-prefect-floor")
def prefect_floor() -> int:
    return one_task()


def main() -> int:
    from flows.__main__ import build_parser, _task_runner

    runner = _task_runner(build_parser().parse_args(["run"]))
    print(prefect_floor.with_options(task_runner=runner)())
    return 0


if __name__ == "__main__":
    sys.exit(main())
