"""Extractions to the published tables: validate headers, enrich, validate rows, quarantine, account."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

import schemas
from flows import enrich, ids, validate
from flows.extract import RECORD_PAPER, Extraction

DATA_TABLES = ("profiles", "papers", "authorships", "profile_snapshots", "rejects")


class AccountingError(RuntimeError):
    """A paper block that is neither published nor rejected: the run must not publish."""


@dataclass
class BuiltTables:
    """The validated tables of a release (without `changes`) and what the run should report."""

    tables: dict[str, pd.DataFrame]
    warnings: list[str] = field(default_factory=list)
    accounting: dict[str, int] = field(default_factory=dict)
    rows_checked: dict[str, int] = field(default_factory=dict)


def build_tables(extractions: list[Extraction], enriched: dict[str, enrich.Enriched] | None = None) -> BuiltTables:
    """Turn every archived snapshot's extraction into the validated tables of a release.

    The newest snapshot of each profile provides its papers; every snapshot provides a row of
    `profile_snapshots`. `enriched` holds enrichments already made in the extract batches (by
    source_file, see enrich_current); any current capture missing from it is enriched here.
    Raises TableValidationError (table-level failures) or AccountingError.
    """
    enriched = enriched or {}
    warnings = [warning for extraction in extractions for warning in extraction.warnings]
    current = _newest_per_profile(extractions)
    current_files = {extraction.source_file for extraction in current}
    rejects: list[dict] = [
        reject for extraction in extractions for reject in extraction.rejects
        if extraction.source_file in current_files or reject["record_type"] != RECORD_PAPER
    ]
    rows_checked: dict[str, int] = {}

    headers = _header_frame(extractions)
    rows_checked["profile_snapshots"] = len(headers)
    checked_headers = validate.validate_table("profile_snapshots", headers.drop(columns="_name_line"))
    validate.raise_table_failures(checked_headers.table_failures)
    failed_header_files = {}
    for index, reasons in checked_headers.row_failures.items():
        row = headers.loc[index]
        failed_header_files[row["source_file"]] = "; ".join(reasons)
        rejects.append(_validation_reject(row["source_file"], row["_name_line"], "profile", reasons, row["name"]))
    snapshots = checked_headers.frame

    listings: list[dict] = []
    for extraction in current:
        if extraction.profile is None:
            continue
        if extraction.source_file in failed_header_files:
            for paper in extraction.papers:
                rejects.append(
                    _validation_reject(
                        paper["source_file"], paper["source_line"], RECORD_PAPER,
                        [f"profile header failed validation: {failed_header_files[extraction.source_file]}"], paper["raw_text"],
                    )
                )
            continue
        made = enriched.get(extraction.source_file) or enrich.enrich_extraction(extraction, ids.profile_id(extraction.profile["name"]))
        listings.extend(made.listings)
        rejects.extend(made.rejects)
        warnings.extend(made.warnings)
    listing_frame = _listing_frame(listings)

    rows_checked["authorships"] = len(listing_frame)
    authorships = schemas.conform("authorships", listing_frame)
    checked = validate.validate_table("authorships", authorships)
    validate.raise_table_failures(checked.table_failures)
    rejects.extend(_reject_rows(authorships, checked.row_failures, listing_frame))
    listing_frame = _keep_keys(listing_frame, checked.frame, ["profile_id", "paper_id"])

    papers = enrich.papers_frame(listing_frame) if len(listing_frame) else listing_frame.assign(n_profiles=[])
    papers = schemas.conform("papers", papers)
    rows_checked["papers"] = len(papers)
    checked_papers = validate.validate_table("papers", papers)
    validate.raise_table_failures(checked_papers.table_failures)
    failed_paper_ids = {papers.at[index, "paper_id"]: reasons for index, reasons in checked_papers.row_failures.items()}
    for listing in listing_frame[listing_frame["paper_id"].isin(failed_paper_ids)].itertuples(index=False):
        rejects.append(
            _validation_reject(listing.source_file, listing.source_line, RECORD_PAPER,
                               [f"paper {listing.paper_id} failed validation: " + "; ".join(failed_paper_ids[listing.paper_id])],
                               listing.raw_text)
        )
    listing_frame = listing_frame[~listing_frame["paper_id"].isin(failed_paper_ids)]
    papers = checked_papers.frame.reset_index(drop=True)
    authorships = _keep_keys(checked.frame, listing_frame, ["profile_id", "paper_id"]).reset_index(drop=True)

    published_profiles = set(authorships["profile_id"]) | {
        ids.profile_id(e.profile["name"]) for e in current if e.profile is not None and e.source_file not in failed_header_files
    }
    current_headers = snapshots[snapshots["source_file"].isin(current_files) & snapshots["profile_id"].isin(published_profiles)]
    snapshots = snapshots[snapshots["profile_id"].isin(published_profiles)]
    reject_frame = schemas.conform("rejects", pd.DataFrame(rejects, columns=schemas.TABLES["rejects"].columns))
    profiles = schemas.conform(
        "profiles", enrich.profiles_frame(current_headers, authorships, papers, reject_frame, snapshots)
    )
    tables = {
        "profiles": profiles,
        "papers": papers,
        "authorships": authorships,
        "profile_snapshots": schemas.conform("profile_snapshots", snapshots),
        "rejects": reject_frame,
    }
    failures = []
    for name in ("profiles", "profile_snapshots", "rejects"):
        rows_checked[name] = len(tables[name])
        result = validate.validate_table(name, tables[name])
        failures += result.table_failures + [
            f"{name}: row {tables[name].iloc[index].iloc[0]}: {'; '.join(reasons)}" for index, reasons in result.row_failures.items()
        ]
    validate.raise_table_failures(failures + validate.check_references(tables))
    accounting = _account(current, tables)
    return BuiltTables(tables, warnings, accounting, rows_checked)


def current_files(snapshots: list) -> set[str]:
    """source_file of the newest capture of each profile (snapshots or extractions): the ones whose papers are published."""
    return {item.source_file for item in _newest_per_profile(snapshots)}


def enrich_current(extractions: list[Extraction], current: set[str]) -> dict[str, enrich.Enriched]:
    """Enrich the current captures among `extractions`, by source_file: per profile, so extract batches can do it in parallel."""
    return {
        extraction.source_file: enrich.enrich_extraction(extraction, ids.profile_id(extraction.profile["name"]))
        for extraction in extractions
        if extraction.source_file in current and extraction.profile is not None
    }


def _newest_per_profile(extractions: list[Extraction]) -> list[Extraction]:
    newest: dict[str, Extraction] = {}
    for extraction in sorted(extractions, key=lambda e: (e.captured_date, e.source_file)):
        # Archive folder = profile id; a file whose name line could not be read still counts.
        folder = extraction.source_file.rsplit("/", 2)[-2] if "/" in extraction.source_file else extraction.source_file
        newest[folder] = extraction
    return [newest[folder] for folder in sorted(newest)]


def _header_frame(extractions: list[Extraction]) -> pd.DataFrame:
    rows = [
        {
            **extraction.profile,
            "profile_id": ids.profile_id(extraction.profile["name"]),
            "captured_date": extraction.captured_date,
            "source_file": extraction.source_file,
            "source_sha256": extraction.source_sha256,
            "_name_line": extraction.profile["name_line"],
        }
        for extraction in extractions
        if extraction.profile is not None
    ]
    columns = [*schemas.TABLES["profile_snapshots"].columns, "_name_line"]
    frame = pd.DataFrame(rows, columns=columns)
    typed = schemas.conform("profile_snapshots", frame) if len(frame) else schemas.empty_frame("profile_snapshots")
    # conform sorts by key; keep the helper column aligned by re-sorting the same way.
    frame = frame.sort_values(list(schemas.TABLES["profile_snapshots"].primary_key), kind="stable").reset_index(drop=True)
    typed["_name_line"] = frame["_name_line"].astype("int64") if len(frame) else pd.Series([], dtype="int64")
    return typed


def _listing_frame(listings: list[dict]) -> pd.DataFrame:
    extra = ["raw_text", "source_sha256", "abstract", "title", "category", "authors", "affiliations"]
    columns = list(dict.fromkeys([*schemas.TABLES["authorships"].columns, *schemas.TABLES["papers"].columns, *extra]))
    columns.remove("n_profiles")
    frame = pd.DataFrame(listings, columns=columns)
    frame["published_date"] = frame["published_date"].astype(schemas.TABLES["papers"].schema.columns["published_date"].dtype.type)
    frame["captured_date"] = frame["captured_date"].astype(schemas.TABLES["papers"].schema.columns["captured_date"].dtype.type)
    return frame.reset_index(drop=True)


def _keep_keys(frame: pd.DataFrame, keep: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    kept = pd.MultiIndex.from_frame(keep[key])
    return frame[pd.MultiIndex.from_frame(frame[key]).isin(kept)]


def _reject_rows(table: pd.DataFrame, row_failures: dict[int, list[str]], listings: pd.DataFrame) -> list[dict]:
    raw_by_key = listings.set_index(["profile_id", "paper_id"])["raw_text"]
    return [
        _validation_reject(
            table.at[index, "source_file"], int(table.at[index, "source_line"]), RECORD_PAPER, reasons,
            raw_by_key.get((table.at[index, "profile_id"], table.at[index, "paper_id"]), ""),
        )
        for index, reasons in row_failures.items()
    ]


def _validation_reject(source_file: str, line: int, record_type: str, reasons: list[str], raw_text: str) -> dict:
    return {
        "source_file": source_file, "line": int(line), "stage": validate.STAGE, "record_type": record_type,
        "reason": f"{source_file}:{line}: " + "; ".join(reasons), "raw_text": raw_text,
    }


def _account(current: list[Extraction], tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Every paper block of a current snapshot is in exactly one of authorships or rejects."""
    files = {extraction.source_file for extraction in current}
    found = sum(extraction.paper_blocks_found for extraction in current)
    published = int(tables["authorships"]["source_file"].isin(files).sum())
    rejects = tables["rejects"]
    rejected = int(((rejects["record_type"] == RECORD_PAPER) & rejects["source_file"].isin(files)).sum())
    accounting = {"paper_blocks_found": found, "published": published, "rejected": rejected}
    if found != published + rejected:
        raise AccountingError(
            f"accounting does not balance: {found} paper blocks found, {published} published + {rejected} rejected"
        )
    return accounting
