"""Command line: `python -m flows run | check | verify | serve | docs`."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from flows import memory, settings

if TYPE_CHECKING:  # Prefect is imported once the run's server is starting (prefect_api)
    from prefect.task_runners import TaskRunner

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_GATE_REFUSED = 3
EXIT_LOCKED = 4
# How long a run waits, at its end, for Prefect to send its last logs and events to the run's own server.
SEND_TIMEOUT_SECONDS = 10


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    memory.exit_without_collecting()
    return args.handler(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flows", description="Build and check the paper-profiles dataset.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="ingest raw/inbox, rebuild the tables and publish a release if anything changed")
    run.add_argument("--raw-dir", type=Path, default=settings.DEFAULT_RAW_DIR, help="raw folder with inbox/ and profiles/ (default: raw)")
    run.add_argument("--output-dir", type=Path, default=settings.DEFAULT_OUTPUT_DIR, help="where releases are published (default: output)")
    run.add_argument("--captured-date", type=dt.date.fromisoformat, default=None,
                     help="capture date of the files in raw/inbox (YYYY-MM-DD); default: a date in the file name, else today")
    run.add_argument("--allow-shrink", action="store_true", help="publish even if a table loses rows or a profile disappears")
    run.add_argument("--max-shrink", type=float, default=settings.DEFAULT_MAX_SHRINK,
                     help="largest share of a table's rows a release may lose without --allow-shrink (default: 0.10)")
    run.add_argument("--runner", choices=("local", "dask"), default="local",
                     help="task runner: local (a pool on this machine, the default) or dask (a Dask cluster)")
    run.add_argument("--dask-address", default=None,
                     help="scheduler address of an existing Dask cluster (tcp://HOST:PORT); default: start a LocalCluster")
    run.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel workers: the local or LocalCluster runner's processes, and the tasks each parallel stage runs (default: CPU count)")
    run.add_argument("--batch-size", type=int, default=None, help="raw files per extract batch, on average (default: 250)")
    run.add_argument("--no-cache", action="store_true", help="parse every file again instead of reusing cached extractions")
    run.set_defaults(handler=_run)

    check = commands.add_parser("check", help="lint raw files: print every problem as file:line: message")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE", help="raw profile text files")
    check.add_argument("--captured-date", type=dt.date.fromisoformat, default=None,
                       help="capture date for year-less dates (YYYY-MM-DD); default: a date in the file name, else today")
    check.set_defaults(handler=_check)

    verify = commands.add_parser("verify", help="check a downloaded release against its checksums and row counts")
    verify.add_argument("directory", nargs="?", type=Path, default=settings.DEFAULT_OUTPUT_DIR / "latest",
                        metavar="DIR", help="release folder (default: output/latest)")
    verify.set_defaults(handler=_verify)

    serve = commands.add_parser("serve", help="schedule refreshes: serve a Prefect deployment with a cron schedule")
    serve.add_argument("--cron", default="0 6 * * *", help="cron schedule of the refresh (default: daily at 06:00)")
    serve.add_argument("--timezone", default="UTC", help="time zone of the cron schedule (default: UTC)")
    serve.add_argument("--raw-dir", type=Path, default=settings.DEFAULT_RAW_DIR, help="raw folder the refresh reads (default: raw)")
    serve.add_argument("--output-dir", type=Path, default=settings.DEFAULT_OUTPUT_DIR, help="output folder the refresh publishes to (default: output)")
    serve.set_defaults(handler=_serve)

    docs = commands.add_parser("docs", help="regenerate the data dictionary in README.md from schemas/")
    docs.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date instead of writing it")
    docs.set_defaults(handler=_docs)
    return parser


def _run(args: argparse.Namespace) -> int:
    from flows.local_server import ServerStartError

    early_pool = None

    def while_the_server_starts() -> None:
        nonlocal early_pool
        _load_build_modules()
        from flows.pipeline import may_build

        if args.runner == "local" and may_build(args.raw_dir, args.output_dir, use_cache=not args.no_cache):
            early_pool = _task_runner(args)
            # One worker now, on the core the server's start leaves idle: a second would slow that
            # start as much as it gains (bench/results.md).
            early_pool.start_workers(1)

    try:
        with prefect_api(while_starting=while_the_server_starts):
            if early_pool is not None:
                early_pool.start_workers()  # the others, while the flow starts on this process's core
            return _run_flow(args, early_pool or _task_runner(args))
    except ServerStartError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        if early_pool is not None:
            early_pool.close()  # its workers, if the flow never took them


def _run_flow(args: argparse.Namespace, task_runner: TaskRunner) -> int:
    from flows import pipeline
    from flows.errors import AccountingError, PublishGateError, TableValidationError
    from flows.lock import RunLockedError

    flow = pipeline.refresh.with_options(task_runner=task_runner)
    try:
        summary = flow(
            raw_dir=str(args.raw_dir),
            output_dir=str(args.output_dir),
            captured_date=args.captured_date,
            allow_shrink=args.allow_shrink,
            max_shrink=args.max_shrink,
            batch_size=args.batch_size or pipeline.DEFAULT_BATCH_SIZE,
            use_cache=not args.no_cache,
            workers=args.workers,
        )
    except PublishGateError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_GATE_REFUSED
    except RunLockedError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_LOCKED
    except (TableValidationError, AccountingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(summary["message"])
    problems = summary["fetch_problems"] + summary["inbox_problems"]
    for problem in problems:
        print(problem, file=sys.stderr)
    return EXIT_PROBLEMS if problems else EXIT_OK


def _task_runner(args: argparse.Namespace) -> TaskRunner:
    """The task runner `args` ask for."""
    if args.runner == "dask":
        from prefect_dask import DaskTaskRunner

        if args.dask_address:
            return DaskTaskRunner(address=args.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": args.workers, "threads_per_worker": 1, "processes": True})
    from flows.pipeline import prepare_pool_worker
    from flows.pool import EarlyStartProcessPoolTaskRunner

    # Processes, not threads: parsing and enrichment are pure Python, so threads share one core (GIL).
    return EarlyStartProcessPoolTaskRunner(max_workers=args.workers, initializer=prepare_pool_worker)


@contextlib.contextmanager
def prefect_api(while_starting: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Run the block against Prefect's API: the one configured, else a local server started before this process imports Prefect.

    Left to itself, Prefect starts an embedded server on first use: it imports the server's own
    modules into this process (~1.6 s), then waits ~3 s for the server to answer. This starts
    the same kind of server (`prefect server start` with the embedded server's services, no UI)
    at once, in a process of its own; meanwhile this process imports Prefect and, if it started
    the server, runs `while_starting` on the other core. The server stops when the block ends.
    """
    from flows.local_server import EMBEDDED_SERVICES_ENV, configured_api_url, launch_local_server, stop_local_server, wait_until_healthy

    # An API set in the environment is known before Prefect is imported; one set in a profile, only after.
    set_in_environment = bool(os.environ.get("PREFECT_API_URL"))
    server = None if set_in_environment else launch_local_server(
        Path(os.environ["PREFECT_HOME"]), ("--no-ui",), EMBEDDED_SERVICES_ENV, with_this_process=True
    )
    try:
        if server is not None and configured_api_url():  # an API set in a Prefect profile: use it
            stop_local_server(server)
            server = None
        if server is None:
            yield
        else:
            while_starting()
            wait_until_healthy(server)
            with _pointed_at(server.api_url):
                yield
    finally:
        if server is not None:
            stop_local_server(server)


@contextlib.contextmanager
def _pointed_at(api_url: str) -> Iterator[None]:
    """Point this process and the processes it starts at `api_url` for the block, then send what Prefect still holds for it.

    The environment is for the pool's workers; Prefect's process-wide settings are for every
    thread of this process (a settings context would reach this thread only). No UI address:
    the server serves none and stops with the run, so "View at" would be a dead link.
    """
    from prefect.context import refresh_global_settings_context

    pointed = {"PREFECT_API_URL": api_url, "PREFECT_UI_URL": ""}
    before = {name: os.environ.get(name) for name in pointed}
    os.environ.update(pointed)
    refresh_global_settings_context()
    try:
        yield
    finally:
        send_pending_logs_and_events()
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
        refresh_global_settings_context()


def send_pending_logs_and_events() -> None:
    """Wait until Prefect's log and event workers have sent what they hold, and stop them; the next flow run starts new ones.

    Before the server they send to stops: Prefect's own test server does the same; otherwise the
    workers would send at interpreter exit, to a server gone (or, the URL unset again, start an
    embedded one).
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=SEND_TIMEOUT_SECONDS, at_exit=False)
    EventsWorker.drain_all(timeout=SEND_TIMEOUT_SECONDS, at_exit=False)


def _load_build_modules() -> None:
    """Import the table-building modules (pandas, pyarrow, pandera, jinja2, matplotlib), let pandera load its backends, and set them aside from the garbage collector.

    ~1.2 CPU-seconds a build would otherwise spend later, with the pool's workers waiting or
    the main process alone: its first validation alone loads pandera's backends (~0.4 s). They
    end before the server answers (prefect_api), so a refresh with nothing new takes no longer
    for them.
    """
    from flows.pipeline import load_table_modules

    load_table_modules(publishing=True)


def _check(args: argparse.Namespace) -> int:
    from flows.extract import RawFileError, extract_bytes, read_raw_file
    from flows.ingest import capture_date_for

    failed = False
    for path in args.files:
        display = str(path)
        try:
            data, _ = read_raw_file(path)  # refuses a file over the size limit before reading it
        except OSError as error:
            print(f"{display}:1: cannot read: {error.strerror}")
            failed = True
            continue
        except RawFileError as error:
            print(f"{display}:{error.line}: {error.message}")
            failed = True
            continue
        extraction = extract_bytes(data, display, capture_date_for(path, args.captured_date))
        for problem in extraction.problems():
            print(problem)
        failed = failed or bool(extraction.rejects)
    return EXIT_PROBLEMS if failed else EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from flows.package import verify_release

    problems = verify_release(args.directory)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{args.directory}: OK")
    return EXIT_PROBLEMS if problems else EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from flows.serve import serve

    return serve(cron=args.cron, timezone=args.timezone, raw_dir=args.raw_dir, output_dir=args.output_dir)


def _docs(args: argparse.Namespace) -> int:
    from flows.docs import readme_is_current, update_readme

    if args.check:
        if readme_is_current():
            return EXIT_OK
        print("README.md is out of date: run `python -m flows docs`", file=sys.stderr)
        return EXIT_PROBLEMS
    update_readme()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
