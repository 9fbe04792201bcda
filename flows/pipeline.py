"""The refresh flow: ingest -> extract -> validate/enrich -> diff/publish -> report. Stages only; logic lives in their modules."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import incremental, ingest, publish, report, settings, site
from flows.extract import Extraction
from flows.ingest import IngestResult, Snapshot
from flows.publish import PublishResult
from flows.tables import BuiltTables, build_tables

DEFAULT_BATCH_SIZE = 500


@task(cache_policy=NO_CACHE)
def ingest_stage(raw_dir: Path, captured_date: dt.date | None) -> IngestResult:
    """Archive what is in raw/inbox/ (removed from the inbox only once verified)."""
    return ingest.ingest_inbox(raw_dir, captured_date)


@task(cache_policy=NO_CACHE)
def extract_batch(snapshots: list[Snapshot], use_cache: bool) -> tuple[list[Extraction], int]:
    """Extract one batch of archived files (cached per file content)."""
    cache = incremental.ExtractionCache(settings.STATE_DIR) if use_cache else None
    extractions, parsed = incremental.extract_snapshots(snapshots, cache)
    get_run_logger().info("batch of %d files: %d parsed, %d from cache", len(snapshots), parsed, len(snapshots) - parsed)
    return extractions, parsed


@task(cache_policy=NO_CACHE)
def build_stage(extractions: list[Extraction]) -> BuiltTables:
    """Validate headers, enrich, validate rows (failing rows to rejects), check keys and references."""
    return build_tables(extractions)


@task(cache_policy=NO_CACHE)
def publish_stage(built: BuiltTables, output_dir: Path, fingerprint: str, allow_shrink: bool, max_shrink: float) -> PublishResult:
    """Diff against the previous release and publish atomically, unless nothing changed."""
    result = publish.publish_release(
        built, output_dir, inputs_fingerprint=fingerprint, allow_shrink=allow_shrink, max_shrink=max_shrink
    )
    site.write_site(output_dir)
    return result


@task(cache_policy=NO_CACHE)
def report_stage(summary: dict) -> None:
    """Log the run summary and attach it to the flow run as artifacts."""
    report.publish_report(summary)


@flow(name="paper-profiles-refresh", log_prints=False)
def refresh(
    raw_dir: str = str(settings.DEFAULT_RAW_DIR),
    output_dir: str = str(settings.DEFAULT_OUTPUT_DIR),
    captured_date: dt.date | None = None,
    allow_shrink: bool = False,
    max_shrink: float = settings.DEFAULT_MAX_SHRINK,
    batch_size: int = DEFAULT_BATCH_SIZE,
    use_cache: bool = True,
) -> dict:
    """Refresh the dataset from raw captures; publishes a release only when something changed."""
    raw, output = Path(raw_dir), Path(output_dir)
    ingested = ingest_stage(raw, captured_date)
    snapshots = ingest.list_snapshots(raw)
    fingerprint = incremental.inputs_fingerprint(snapshots)
    if use_cache and report.is_up_to_date(settings.STATE_DIR, output, fingerprint):
        summary = report.summary_nothing_new(ingested, snapshots)
    else:
        batches = [snapshots[start : start + batch_size] for start in range(0, len(snapshots), batch_size)]
        results = extract_batch.map(batches, use_cache=use_cache).result() if batches else []
        extractions = [extraction for batch, _ in results for extraction in batch]
        built = build_stage(extractions)
        published = publish_stage(built, output, fingerprint, allow_shrink, max_shrink)
        incremental.record_build(settings.STATE_DIR, output, fingerprint, published.release_id)
        summary = report.summary(ingested, snapshots, sum(parsed for _, parsed in results), math.ceil(len(snapshots) / batch_size), built, published)
    report_stage(summary)
    return summary
