"""The refresh flow: ingest -> extract -> validate/enrich -> diff/publish -> report. Stages only; logic lives in their modules."""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prefect import Task, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff
from prefect.utilities.annotations import quote, unmapped

from flows import incremental, ingest, lock, memory, report, settings, sources
from flows.claims import Claims
from flows.ingest import IngestResult, Snapshot

# The table-building modules (pandas, pyarrow, pandera, matplotlib: ~1.5 s to import) are imported
# by the stages that use them, so a refresh with nothing new does not pay for them.
if TYPE_CHECKING:
    from flows.publish import PublishResult
    from flows.tables import BuiltTables, PapersTable, StagedBatch, StagedPapers

# Files per extract batch, about (tables.profile_batches cuts between half and 1.5 times this):
# a worker holds one batch's extractions and rows at a time (~400 MB at 250 files).
DEFAULT_BATCH_SIZE = 250


def _fetch_may_succeed_later(task, task_run, state) -> bool:
    return sources.is_transient(state.result(raise_on_failure=False))


@task(
    cache_policy=NO_CACHE,
    # Network I/O: retried with exponential backoff, and only on timeouts, refused connections,
    # 5xx and 429, which often pass on their own; a 404 or an oversized page would fail again.
    retries=sources.FETCH_RETRIES,
    retry_delay_seconds=exponential_backoff(backoff_factor=sources.FETCH_BACKOFF_SECONDS),
    retry_condition_fn=_fetch_may_succeed_later,
)
def fetch_source(source: sources.Source, raw_dir: Path) -> str:
    """Fetch one listed URL into raw/inbox/ (a task per URL, so each is retried on its own)."""
    return sources.fetch_to_inbox(source, raw_dir).name


def fetch_stage(raw_dir: Path) -> list[str]:
    """Fetch the URLs of raw/sources.txt, if any; returns the problems. A failed fetch never stops the run."""
    listed, problems = sources.read_sources(raw_dir / sources.SOURCES_FILENAME)
    futures = fetch_source.map(listed, raw_dir=unmapped(raw_dir)) if listed else []
    for source, future in zip(listed, futures):
        future.wait()
        if not future.state.is_completed():
            problems.append(f"{source.origin}: fetching {source.url} failed: {future.state.result(raise_on_failure=False)}")
    for problem in problems:
        get_run_logger().warning("%s", problem)
    if problems:
        create_markdown_artifact("# URL sources not fetched\n\n" + "\n".join(f"- {problem}" for problem in problems) + "\n",
                                 key="fetch-problems", description="URLs of raw/sources.txt that could not be fetched")
    return problems


@task(cache_policy=NO_CACHE)
def ingest_stage(raw_dir: Path, captured_date: dt.date | None) -> IngestResult:
    """Archive what is in raw/inbox/ (removed from the inbox only once verified)."""
    return ingest.ingest_inbox(raw_dir, captured_date)


@dataclass(frozen=True)
class BatchJob:
    """One extract batch to stage: its archived files, which of them are current, its spill folder and cache key."""

    snapshots: list[Snapshot]
    current: set[str]
    directory: Path
    key: str | None


class BatchJobs:
    """The extract jobs of one task, in a plain object that task runners pass on without looking inside.

    Prefect walks the lists, tuples and dataclasses among a task's parameters looking for futures,
    in the flow and again in the worker: every snapshot of every job, ~1 CPU-second at 10,000
    profiles. `prefect.utilities.annotations.quote` would stop it, but quote is a tuple, and
    the Dask runner's packing unpacks tuples before the task sees them.
    """

    __slots__ = ("jobs",)

    def __init__(self, jobs: list[BatchJob]) -> None:
        self.jobs = jobs


@task(cache_policy=NO_CACHE)
def extract_batches(claims: Claims, jobs: BatchJobs, use_cache: bool) -> dict[int, StagedBatch]:
    """Take extract batches one after another (claims) and stage each: extract, enrich, validate, spill; each kept in the batch cache."""
    cache = incremental.BatchCache(settings.STATE_DIR) if use_cache else None
    staged = {}
    for number in claims:
        job = jobs.jobs[number]
        staged[number] = _stage_batch(job)  # one batch's extractions held at a time
        if cache:
            cache.store(job.key, staged[number])
    return staged


def _stage_batch(job: BatchJob) -> StagedBatch:
    from flows import tables

    extractions = incremental.extract_snapshots(job.snapshots)
    get_run_logger().info("batch of %d files: parsed", len(job.snapshots))
    return tables.stage_batch(extractions, job.current, job.directory)


def prepare_pool_worker() -> None:
    """Each pool worker's set-up (the task runner's initializer): exit with the run, keep freed memory, collect garbage less often, load what its tasks use, and exit without collecting."""
    from flows.pool import exit_with_parent

    exit_with_parent()
    memory.keep_freed_memory_for_reuse()
    memory.exit_without_collecting()
    memory.collect_less_often()
    load_table_modules()


def load_table_modules(publishing: bool = False) -> None:
    """Import the table-building modules (and with `publishing`, the release's and landing page's), let pandera load its backends, and set what is loaded aside from the garbage collector.

    Call it after any other module the process will keep: everything alive then is set aside
    (memory.keep_loaded_from_collections).
    """
    with _imports_refused(PANDERA_UNUSED_IMPORTS):
        import schemas
        from flows import tables, validate  # noqa: F401 (imported for the tasks)

        if publishing:
            from flows import publish, site  # noqa: F401
        validate.validate_table("profile_snapshots", schemas.empty_frame("profile_snapshots"))  # pandera loads its backends on first use
    memory.keep_loaded_from_collections()


# pandera imports these when they are installed, as they are here: dask for `--runner dask`,
# hypothesis for the tests. It uses them to recognise Dask frames and to synthesise data; a build
# validates pandas frames and synthesises nothing, and they took ~0.55 s of each pool worker's start.
PANDERA_UNUSED_IMPORTS = ("dask.dataframe", "hypothesis")


@contextlib.contextmanager
def _imports_refused(names: tuple[str, ...]) -> Iterator[None]:
    """`import NAME` raises ImportError inside the block, for each NAME not yet imported (Python's own None entry in sys.modules)."""
    refused = [name for name in names if name not in sys.modules]
    sys.modules.update(dict.fromkeys(refused))
    try:
        yield
    finally:
        for name in refused:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


@dataclass
class Extracted:
    """What the extract batches staged (restored or made), the files parsed, the batches reused, and the batches' cache keys."""

    batches: list[StagedBatch]
    files_parsed: int
    batches_reused: int
    cache_keys: set[str | None]


def extract_stage(snapshots: list[Snapshot], batch_size: int, use_cache: bool, build_dir: Path, workers: int) -> Extracted:
    """Extract, enrich and validate every snapshot in batches of files, in a task per worker that takes batches in turn (Claims).

    A batch an earlier build staged from the same files and code is restored here, in the flow
    (linking its spill files takes milliseconds); the others are the pieces the tasks claim.
    """
    from flows import tables

    batches = tables.profile_batches(snapshots, batch_size)
    current = tables.current_files(snapshots)
    currents = [{snapshot.source_file for snapshot in batch} & current for batch in batches]
    directories = [tables.batch_dir(build_dir, number) for number in range(len(batches))]
    keys = [incremental.BatchCache.key(batch, batch_current) for batch, batch_current in zip(batches, currents)]
    cache = incremental.BatchCache(settings.STATE_DIR) if use_cache else None
    staged = [cache.restore(key, directory) if cache else None for key, directory in zip(keys, directories)]
    todo = [number for number, batch in enumerate(staged) if batch is None]
    reused = len(batches) - len(todo)
    if reused:
        get_run_logger().info("%d of %d batches reused as an earlier build staged them", reused, len(batches))
    if todo:
        jobs = BatchJobs([BatchJob(batches[number], currents[number], directories[number], keys[number]) for number in todo])
        # Largest batches first: batches hold 0.5-1.5 times batch_size files, and a large one
        # taken last kept one worker busy alone for up to a second at 10,000 profiles. Sized by
        # files, not bytes: nearly as even, and stat-ing every file would delay the workers' start.
        largest_first = sorted(range(len(todo)), key=lambda job: -len(batches[todo[job]]))
        claims = Claims(tables.claims_dir(build_dir, "extract"), len(todo), tuple(largest_first))
        # A task per worker even when fewer batches need staging (a refresh with one new capture
        # re-stages one): the pool starts a worker per task it is given, and the paper parts
        # after this use every worker. A task that finds no batch left returns at once, its
        # worker started (~2.5 CPU-s: Python, Prefect, pandas, pyarrow, pandera) while the others stage.
        tasks = min(workers, max(len(todo), len(tables.paper_parts())))
        for number, batch in zip(todo, _on_every_worker(extract_batches, claims, tasks, jobs, use_cache)):
            staged[number] = batch
    return Extracted(
        batches=staged,
        files_parsed=sum(len(batches[number]) for number in todo),
        batches_reused=reused,
        cache_keys=set(keys),
    )


@task(cache_policy=NO_CACHE)
def papers_parts(claims: Claims, parts: list[range], batch_dirs: list[Path], build_dir: Path, raw_dir: Path) -> dict[int, StagedPapers]:
    """Take ranges of paper_id buckets one after another (claims) and choose and render the `papers` rows of each."""
    from flows import tables

    blocks = tables.ArchivedBlocks(raw_dir)
    staged = {number: tables.stage_papers(parts[number], batch_dirs, tables.papers_dir(build_dir), blocks) for number in claims}
    # The worker may stay idle while the main process assembles, the build's peak: it gives the
    # heap it freed back first (~0.25 GB at 50,000 profiles), once, not after every part.
    memory.release_freed_memory()
    return staged


def _on_every_worker(stage_task: Task, claims: Claims, tasks: int, *arguments: object) -> list:
    """Run `stage_task(claims, *arguments)` as `tasks` tasks (one per worker), which take the pieces in turn; the pieces' results in order."""
    futures = [stage_task.submit(claims, *arguments) for _ in range(tasks)]
    return claims.gather([future.result() for future in futures])


@task(cache_policy=NO_CACHE)
def assemble_stage(batches: list[StagedBatch], parts: list[StagedPapers], papers_table: PapersTable, build_dir: Path) -> BuiltTables:
    """Write every table in key order from the staged parts (`papers_table` is writing `papers`); check keys, references and accounting."""
    from flows import tables

    built = tables.assemble(batches, parts, papers_table, build_dir)
    # Publishing reads the new files again (verify, landing page) while the pool's workers still
    # hold their memory: at 50,000 profiles the run peaked there, the main process still holding
    # ~330 MB of assembling buffers it had freed.
    memory.release_freed_memory()
    return built


def build_stage(batches: list[StagedBatch], build_dir: Path, raw_dir: Path, workers: int) -> BuiltTables:
    """Render papers in parallel parts (a task per worker that takes parts in turn: Claims), then assemble the tables.

    This process appends each rendered part to the `papers` table (PapersTable) while the workers
    render the next ones.

    The parts are submitted from the flow, not from inside a task: a task's context, parameters
    included, goes to the pool with every task submitted from it, and the staged batches grow
    with the number of profiles (at 50,000 profiles that was 400 MB more in the main process).
    """
    from flows import tables

    batch_dirs = [batch.directory for batch in batches]
    ranges = tables.paper_parts()
    claims = Claims(tables.claims_dir(build_dir, "papers"), len(ranges))
    with tables.PapersTable(build_dir, ranges) as papers_table:
        parts = _on_every_worker(papers_parts, claims, min(workers, len(ranges)), ranges, batch_dirs, build_dir, raw_dir)
        # quote: Prefect would otherwise walk every header frame of every batch looking for futures.
        return assemble_stage(quote(batches), quote(parts), quote(papers_table), build_dir)


@task(cache_policy=NO_CACHE)
def publish_stage(built: BuiltTables, output_dir: Path, allow_shrink: bool, max_shrink: float) -> PublishResult:
    """Diff against the previous release and publish atomically, unless nothing changed."""
    from flows import publish, site

    # The landing page's charts are drawn from the new data files while the release is verified
    # and flushed: matplotlib takes one core, hashing leaves the GIL. Read first, in this thread:
    # publishing moves the staged folder.
    chart_data = site.read_chart_data(built.directory)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="charts") as drawing:
        drawn = drawing.submit(site.draw_charts, chart_data)
        result = publish.publish_release(
            built, output_dir, allow_shrink=allow_shrink, max_shrink=max_shrink
        )
        charts = drawn.result()
    memory.release_freed_memory()  # what verifying the release read, before the landing page reads again
    # Unpublished (no change), the newest release is another one; its own data are drawn then.
    site.write_site(output_dir, charts if result.release_id else None)
    return result


@task(cache_policy=NO_CACHE)
def report_stage(summary: dict) -> None:
    """Log the run summary and attach it to the flow run as artifacts."""
    report.publish_report(summary)


def may_build(raw_dir: Path, output_dir: Path, use_cache: bool = True) -> bool:
    """Whether a refresh is likely to build, from what costs nothing to see before it runs: a hint for starting its pool's workers early.

    Likely: files in the inbox, URLs to fetch, no cache, or no earlier build into `output_dir`.
    The refresh itself decides, after fetching and ingesting; what this cannot see (a code
    change, an archive edited by hand) builds too, its workers starting as the flow asks for
    them. Comparing the inputs' fingerprint here would read every snapshot's metadata: ~1 s at
    10,000 profiles, on the core the workers would start on.
    """
    inbox = raw_dir / settings.INBOX_DIRNAME
    return (
        not use_cache
        or (raw_dir / sources.SOURCES_FILENAME).exists()
        or (inbox.is_dir() and any(inbox.iterdir()))
        or incremental.last_build(settings.STATE_DIR, output_dir) is None
    )


@flow(name="paper-profiles-refresh", log_prints=False)
def refresh(
    raw_dir: str = str(settings.DEFAULT_RAW_DIR),
    output_dir: str = str(settings.DEFAULT_OUTPUT_DIR),
    captured_date: dt.date | None = None,
    allow_shrink: bool = False,
    max_shrink: float = settings.DEFAULT_MAX_SHRINK,
    batch_size: int = DEFAULT_BATCH_SIZE,
    use_cache: bool = True,
    workers: int | None = None,
) -> dict:
    """Refresh the dataset from raw captures; publishes a release only when something changed.

    `workers`: how many tasks share each parallel stage, the task runner's workers (default: this
    machine's CPU count).
    """
    raw, output = Path(raw_dir), Path(output_dir)
    # One run per project at a time; a second run waits for the first (see flows/lock.py).
    with lock.run_lock(raw, output, on_wait=get_run_logger().warning):
        fetch_problems = fetch_stage(raw)
        ingested = ingest_stage(raw, captured_date)
        snapshots = ingest.list_snapshots(raw)
        fingerprint = incremental.inputs_fingerprint(snapshots)
        if use_cache and report.is_up_to_date(settings.STATE_DIR, output, fingerprint):
            summary = report.summary_nothing_new(ingested, snapshots)
        else:
            from flows import publish

            publish.recover(output)  # before building into output/: a killed run may have left a staging folder
            build_dir = publish.staging_dir(output)
            workers = workers or os.cpu_count() or 1
            extracted = extract_stage(snapshots, batch_size, use_cache, build_dir, workers)
            built = build_stage(extracted.batches, build_dir, raw, workers)
            if use_cache:
                incremental.BatchCache(settings.STATE_DIR).prune(extracted.cache_keys)
            published = publish_stage(built, output, allow_shrink, max_shrink)
            incremental.record_build(settings.STATE_DIR, output, fingerprint, published.release_id)
            summary = report.summary(ingested, snapshots, extracted, built, published)
        summary = {**summary, "fetch_problems": fetch_problems}
        report_stage(summary)
    return summary
