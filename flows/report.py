"""The run report: what a refresh did, as a log summary and Prefect artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows import incremental, releases
from flows.ingest import IngestResult, Snapshot

if TYPE_CHECKING:  # for annotations only: a refresh with nothing new never imports the table-building modules
    from flows.pipeline import Extracted
    from flows.publish import PublishResult
    from flows.tables import BuiltTables

_WARNINGS_SHOWN = 20


def is_up_to_date(state_dir: Path, output_dir: Path, fingerprint: str) -> bool:
    """True when `output_dir` already holds the build of exactly these inputs and this code."""
    last = incremental.last_build(state_dir, output_dir)
    if last is None or last["inputs_fingerprint"] != fingerprint:
        return False
    published = releases.read_releases(output_dir)
    newest = published[0]["release_id"] if published else None
    return newest == last["release_id"] or (last["release_id"] is None and newest is not None)


def summary_nothing_new(ingested: IngestResult, snapshots: list[Snapshot]) -> dict:
    """Summary of a refresh that found nothing new: nothing parsed, nothing written."""
    return {
        "release_id": None,
        "message": "nothing new since the last build: nothing parsed, nothing published",
        "files_archived": ingested.archived,
        "inbox_duplicates": ingested.duplicates,
        "inbox_problems": [reject["reason"] for reject in ingested.rejects],
        "snapshots": len(snapshots),
        "files_parsed": 0,
        "batches": 0,
        "batches_reused": 0,
        "row_counts": {},
        "change_counts": {},
        "accounting": {},
        "rejects_by_reason": {},
        "warnings": [],
    }


def summary(ingested: IngestResult, snapshots: list[Snapshot], extracted: Extracted, built: BuiltTables, published: PublishResult) -> dict:
    """Summary of a refresh that built the tables (and published a release if anything changed)."""
    return {
        "release_id": published.release_id,
        "message": published.message,
        "files_archived": ingested.archived,
        "inbox_duplicates": ingested.duplicates,
        "inbox_problems": [reject["reason"] for reject in ingested.rejects],
        "snapshots": len(snapshots),
        "files_parsed": extracted.files_parsed,
        "batches": len(extracted.batches),
        "batches_reused": extracted.batches_reused,
        "row_counts": published.row_counts or built.row_counts,
        "change_counts": published.change_counts,
        "accounting": built.accounting,
        "rejects_by_reason": built.rejects_by_reason,
        "warnings": sorted(built.warnings),
    }


def render_markdown(summary: dict) -> str:
    """The summary as Markdown: release, rows per table, accounting, rejects by reason, changes, warnings."""
    lines = [f"# paper-profiles refresh: {summary['message']}", ""]
    if summary["files_archived"]:
        lines.append(f"Archived from the inbox: {', '.join(summary['files_archived'])}")
    for problem in summary["inbox_problems"]:
        lines.append(f"- inbox file left in place: {problem}")
    lines.append(f"Snapshots: {summary['snapshots']}, files parsed: {summary['files_parsed']} in {summary['batches']} batch(es),"
                 f" {summary['batches_reused']} of them reused as an earlier build staged them.")
    if summary["row_counts"]:
        lines += ["", "| table | rows |", "|---|---:|"]
        lines += [f"| {table} | {count:,} |" for table, count in summary["row_counts"].items()]
    accounting = summary["accounting"]
    if accounting:
        lines += ["", f"Accounting: {accounting['paper_blocks_found']} paper blocks found = "
                      f"{accounting['published']} published + {accounting['rejected']} rejected."]
    if summary["rejects_by_reason"]:
        lines += ["", "Rejects by reason:"] + [f"- {count} × {reason}" for reason, count in summary["rejects_by_reason"].items()]
    changed = {table: counts for table, counts in summary["change_counts"].items() if any(counts.values())}
    if changed:
        lines += ["", "Changes:"] + [
            f"- {table}: +{counts['added']} −{counts['removed']} ~{counts['modified']}" for table, counts in changed.items()
        ]
    warnings = summary["warnings"]
    if warnings:
        lines += ["", f"Warnings ({len(warnings)}):"] + [f"- {warning}" for warning in warnings[:_WARNINGS_SHOWN]]
        if len(warnings) > _WARNINGS_SHOWN:
            lines.append(f"- … and {len(warnings) - _WARNINGS_SHOWN} more in validation.json")
    return "\n".join(lines) + "\n"


def publish_report(summary: dict) -> None:
    """Log the summary and attach it to the flow run as a markdown and a table artifact."""
    markdown = render_markdown(summary)
    get_run_logger().info("%s", markdown)
    create_markdown_artifact(markdown=markdown, key="refresh-summary", description="What this refresh did")
    if summary["row_counts"]:
        create_table_artifact(
            table=[{"table": table, "rows": rows} for table, rows in summary["row_counts"].items()],
            key="row-counts",
            description="Rows per published table",
        )
