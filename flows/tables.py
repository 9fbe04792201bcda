"""Extractions to the published tables, streamed: batches are staged in parallel, then assembled in key order.

Memory does not grow with the number of profiles. Each extract batch (a task, in a pool worker)
enriches and validates its rows and spills them to Arrow files: authorships and rejects sorted by
key, and paper listings split into buckets by the first two hex digits of `paper_id`. Paper parts
(tasks too) then choose each paper's row, its newest listing, a few buckets at a time and render
it. The main process only appends the rendered parts in key order: papers part by part, each
as soon as it is rendered (PapersTable), and authorships and rejects batch by batch. Only the
small tables (profiles, profile_snapshots) and per-profile counts are held whole.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import functools
import os
import re
import shutil
import tempfile
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc

import schemas
from flows import enrich, formats, ids, settings, validate
from flows.errors import AccountingError
from flows.extract import RECORD_PAPER, Extraction, extract_file

DATA_TABLES = ("profiles", "papers", "authorships", "profile_snapshots", "rejects")
# Papers are spilled into 256 buckets by the first two hex digits of paper_id: 400,000 papers make
# ~1,600 rows a bucket, 2,000,000 make ~8,000, so one bucket is all the main process holds of them.
PAPER_BUCKETS = 256
_BUCKET_DIGITS = 2
# One task per range of buckets: parts render in parallel, whatever the number of profiles.
PAPER_PARTS = 16
_CANDIDATES_FILE = "listings.arrow"
_SPILL_DIRNAME = ".spill"
# Listings of consecutive buckets are chosen from together up to about this many rows: a chunk's
# fixed costs (sorting, frames, rendering) then weigh little, and memory stays one chunk.
_CHUNK_LISTINGS = 10_000
# How often PapersTable looks for the next rendered part: a few milliseconds of a part's ~0.3-1 s.
_RENDERED_POLL_SECONDS = 0.02
# Paper listings carry what the main process needs to pick each paper's row and count profiles.
_LISTING_EXTRAS = ("profile_id", "author_role", "_failure")
# A paper block's raw text by its file, first line and capture date (see ArchivedBlocks).
BlockTexts = Callable[[str, int, dt.date], str]
_REASON_KIND = re.compile(r"^[^:]+:\d+: (?P<kind>.*?)(?:, found .*|: found .*)?$", re.DOTALL)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\b\d+(?:[.,]\d+)*\b")


@dataclass
class StagedBatch:
    """What one extract batch staged: its spill folder, its validated headers and its counts."""

    directory: Path
    headers: pd.DataFrame
    source_files: list[str]
    current_files: list[str]
    published_profiles: set[str]
    paper_blocks_found: int
    warnings: list[str] = field(default_factory=list)
    table_failures: list[str] = field(default_factory=list)
    rows_checked: Counter = field(default_factory=Counter)
    authorships: formats.Part | None = None
    rejects: formats.Part | None = None
    reject_counts: RejectCounts | None = None
    authorship_keys: tuple[tuple, tuple] | None = None  # first and last key, when any rows
    reject_keys: tuple[tuple, tuple] | None = None

    def relocated(self, directory: Path) -> StagedBatch:
        """The same batch with its spill files in `directory` (restored from a cache)."""
        return dataclasses.replace(
            self, directory=directory,
            authorships=dataclasses.replace(self.authorships, directory=directory) if self.authorships else None,
            rejects=dataclasses.replace(self.rejects, directory=directory) if self.rejects else None,
        )


@dataclass
class RejectCounts:
    """What the report and the profiles table need to know about some rejects, counted where they are rendered."""

    rows: int = 0
    current_paper_rejects: int = 0
    papers_rejected: Counter = field(default_factory=Counter)  # paper rejects per source_file
    by_stage: Counter = field(default_factory=Counter)
    by_record_type: Counter = field(default_factory=Counter)
    by_reason: Counter = field(default_factory=Counter)
    newest_date: str = "0001-01-01"  # newest capture date among their source files

    def add(self, frame: pd.DataFrame, current: set[str]) -> None:
        if not len(frame):
            return  # most batches have no rejects: nothing to count
        self.rows += len(frame)
        papers = frame[frame["record_type"] == RECORD_PAPER]
        self.papers_rejected.update(papers["source_file"].value_counts().to_dict())
        self.current_paper_rejects += int(_is_in(papers["source_file"], current).sum())
        self.by_stage.update(frame["stage"].tolist())
        self.by_record_type.update(frame["record_type"].tolist())
        self.by_reason.update(reason_kind(reason) for reason in frame["reason"])
        dates = frame["source_file"].str.extract(r"(\d{4}-\d{2}-\d{2})", expand=False).dropna()
        if len(dates):
            self.newest_date = max(self.newest_date, str(dates.max()))

    def merge(self, other: RejectCounts) -> None:
        self.rows += other.rows
        self.current_paper_rejects += other.current_paper_rejects
        for mine, theirs in ((self.papers_rejected, other.papers_rejected), (self.by_stage, other.by_stage),
                             (self.by_record_type, other.by_record_type), (self.by_reason, other.by_reason)):
            mine.update(theirs)
        self.newest_date = max(self.newest_date, other.newest_date)


@dataclass
class BuiltTables:
    """The data files of a release, written into `directory`, and what the run should report."""

    directory: Path
    files: dict[str, formats.WrittenFile]
    row_counts: dict[str, int]
    as_of_date: str
    profile_ids: list[str]
    warnings: list[str] = field(default_factory=list)
    accounting: dict[str, int] = field(default_factory=dict)
    rows_checked: dict[str, int] = field(default_factory=dict)
    rejects_by_stage: dict[str, int] = field(default_factory=dict)
    rejects_by_record_type: dict[str, int] = field(default_factory=dict)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        """One table read back whole (for small builds and tests; the pipeline never needs it)."""
        return formats.read(name, self.directory / formats.table_file(name, "parquet"))

    @functools.cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: self.table(name) for name in DATA_TABLES}


def build_tables(extractions: list[Extraction], directory: Path | None = None, batch_size: int | None = None) -> BuiltTables:
    """Build the tables of a release from extractions, in this process: what the flow does with tasks.

    The newest snapshot of each profile provides its papers; every snapshot provides a row of
    `profile_snapshots`. Without `batch_size`, all extractions are one batch. Raises
    TableValidationError (table-level failures) or AccountingError.
    """
    if directory is None:
        (settings.STATE_DIR / "builds").mkdir(parents=True, exist_ok=True)
        directory = Path(tempfile.mkdtemp(prefix="build-", dir=settings.STATE_DIR / "builds"))
    current = current_files(extractions)
    groups = profile_batches(extractions, batch_size) if batch_size else [extractions]
    batches = [stage_batch(group, current, batch_dir(directory, number)) for number, group in enumerate(groups)]
    ranges = paper_parts()
    blocks = blocks_of(extractions)
    with PapersTable(directory, ranges) as papers_table:
        papers = [stage_papers(buckets, [batch.directory for batch in batches], papers_dir(directory), blocks) for buckets in ranges]
        return assemble(batches, papers, papers_table, directory)


def batch_dir(directory: Path, number: int) -> Path:
    """Where extract batch `number` spills its rows while a release is built in `directory`."""
    return directory / _SPILL_DIRNAME / f"batch-{number:05d}"


def claims_dir(directory: Path, stage: str) -> Path:
    """Where the tasks of `stage` claim their pieces of work (flows/claims.py) while a release is built in `directory`."""
    return directory / _SPILL_DIRNAME / "claims" / stage


def papers_dir(directory: Path) -> Path:
    """Where the paper parts are rendered while a release is built in `directory`."""
    return directory / _SPILL_DIRNAME / "papers"


def current_files(snapshots: list) -> set[str]:
    """source_file of the newest capture of each profile (snapshots or extractions): the ones whose papers are published."""
    return {item.source_file for item in _newest_per_profile(snapshots)}


def profile_batches(snapshots: list, batch_size: int) -> list[list]:
    """Snapshots in batches of about `batch_size`, never splitting a folder from the folders named after it.

    A folder and the folders that extend it with a hyphen (`li`, `li-wei`) sort in one order as
    profile ids and in another inside paths (`-` < `/`); keeping such a group in one batch keeps
    every batch's keys in one range for both orders, so the batches can be appended in turn.

    Where a batch ends depends on the folders, not on how many files came before: once a batch
    holds half of `batch_size` files, it ends after a group whose name hashes to a cut (one group
    in half of `batch_size`), or at one and a half times `batch_size` files (a worker's memory
    grows with its batch). A new capture then changes only its own batch, and sometimes the next
    one, and the other batches are reused from the cache (incremental.BatchCache).
    """
    folders = {_folder(snapshot.source_file) for snapshot in snapshots}
    groups: dict[str, list] = {}
    for snapshot in sorted(snapshots, key=lambda item: item.source_file):
        groups.setdefault(_group(_folder(snapshot.source_file), folders), []).append(snapshot)
    half = max(1, batch_size // 2)
    batches: list[list] = [[]]
    for name, group in groups.items():
        batches[-1].extend(group)
        size = len(batches[-1])
        if size >= batch_size + half or (size >= half and zlib.crc32(name.encode("utf-8")) % half == 0):
            batches.append([])
    return [batch for batch in batches if batch]


def _group(folder: str, folders: set[str]) -> str:
    """The shortest archived folder that `folder` extends with hyphens (`li` for `li-wei-xu`), else itself."""
    parts = folder.split("-")
    prefixes = ("-".join(parts[:length]) for length in range(1, len(parts)))
    return next((prefix for prefix in prefixes if prefix in folders), folder)


# --- one batch, in a worker ---------------------------------------------------------------------------


def stage_batch(extractions: list[Extraction], current: set[str], directory: Path) -> StagedBatch:
    """Enrich and validate one batch's rows and spill them, sorted, into `directory`.

    Row-level failures become rejects here; table-level checks that need every batch (keys
    unique across batches, references) are left to `assemble`.
    """
    directory.mkdir(parents=True)
    warnings = [warning for extraction in extractions for warning in extraction.warnings]
    rejects = [
        reject for extraction in extractions for reject in extraction.rejects
        if extraction.source_file in current or reject["record_type"] != RECORD_PAPER
    ]
    rows_checked: Counter = Counter()
    table_failures: list[str] = []

    headers = _header_frame(extractions)
    rows_checked["profile_snapshots"] = len(headers)
    checked_headers = validate.validate_table("profile_snapshots", headers.drop(columns="_name_line"), conformed=True)
    table_failures += checked_headers.table_failures
    failed_header_files = {}
    for index, reasons in checked_headers.row_failures.items():
        row = headers.loc[index]
        failed_header_files[row["source_file"]] = "; ".join(reasons)
        rejects.append(_validation_reject(row["source_file"], row["_name_line"], "profile", reasons, row["name"]))

    listings = enrich.Listings()
    published_profiles: set[str] = set()
    paper_blocks_found = 0
    for extraction in extractions:
        if extraction.source_file not in current:
            continue
        paper_blocks_found += extraction.paper_blocks_found
        if extraction.profile is None:
            continue
        if extraction.source_file in failed_header_files:
            reason = f"profile header failed validation: {failed_header_files[extraction.source_file]}"
            rejects += [
                _validation_reject(paper["source_file"], paper["source_line"], RECORD_PAPER, [reason], paper["raw_text"])
                for paper in extraction.papers
            ]
            continue
        made = enrich.enrich_extraction(extraction, ids.profile_id(extraction.profile["name"]))
        published_profiles.add(ids.profile_id(extraction.profile["name"]))
        listings.extend(made.listings)
        rejects.extend(made.rejects)
        warnings.extend(made.warnings)
    enrich.forget_names()
    listing_frame = _listing_frame(listings)

    rows_checked["authorships"] = len(listing_frame)
    authorships = schemas.conform("authorships", listing_frame)
    checked = validate.validate_table("authorships", authorships, conformed=True)
    table_failures += checked.table_failures
    if checked.row_failures:  # else every listing stays, as in most batches: nothing to look up or take
        rejects.extend(_reject_rows(authorships, checked.row_failures, listing_frame))
        listing_frame = _keep_keys(listing_frame, checked.frame, ["profile_id", "paper_id"])
    authorships = checked.frame.reset_index(drop=True)
    _spill_listings(listing_frame, directory / _CANDIDATES_FILE)

    reject_frame = schemas.conform("rejects", pd.DataFrame(rejects, columns=schemas.TABLES["rejects"].columns))
    if len(reject_frame):  # conform gave an empty frame its declared columns and dtypes: nothing else to check
        table_failures += _failures_as_table_level("rejects", reject_frame, validate.validate_table("rejects", reject_frame, conformed=True))
    reject_counts = RejectCounts()
    reject_counts.add(reject_frame, current)
    return StagedBatch(
        directory=directory,
        headers=checked_headers.frame.reset_index(drop=True),
        source_files=sorted({extraction.source_file for extraction in extractions}),
        current_files=sorted({extraction.source_file for extraction in extractions} & current),
        published_profiles=published_profiles,
        paper_blocks_found=paper_blocks_found,
        warnings=warnings,
        table_failures=table_failures,
        rows_checked=rows_checked,
        authorships=_render_part("authorships", authorships, directory),
        rejects=_render_part("rejects", reject_frame, directory),
        reject_counts=reject_counts,
        authorship_keys=_key_range(authorships, "authorships"),
        reject_keys=_key_range(reject_frame, "rejects"),
    )


def _spill_listings(listings: pd.DataFrame, path: Path) -> None:
    """Paper listings, validated as `papers` rows one by one, sorted by paper_id, one record batch per bucket.

    Which listing becomes the paper's row is decided in `stage_papers`, once every profile's
    listing of the paper is known; each listing keeps the reasons it would fail as that row.
    Their raw text stays out: nearly half the bytes, and needed only for a paper that fails
    (ArchivedBlocks reads it again then).
    """
    extras = listings.drop(columns="raw_text").sort_values("paper_id", kind="stable").reset_index(drop=True)
    candidates = schemas.conform("papers", extras.assign(n_profiles=1))  # in the same order: conform's sort is stable
    checked = validate.validate_rows("papers", candidates, conformed=True)
    failures = pd.Series(None, index=candidates.index, dtype=object)
    for index, reasons in checked.row_failures.items():
        failures[index] = "; ".join(reasons)
    arrow = formats.to_arrow("papers", candidates)
    for name, values in (("profile_id", extras["profile_id"]), ("author_role", extras["author_role"]),
                         ("_failure", failures)):
        arrow = arrow.append_column(name, pa.array(values, pa.string(), from_pandas=True))
    prefixes = np.array(pc.utf8_slice_codeunits(arrow.column("paper_id"), 0, _BUCKET_DIGITS).to_pylist(), dtype=object)
    bounds = list(np.searchsorted(prefixes, [f"{bucket:02x}" for bucket in range(PAPER_BUCKETS)])) + [arrow.num_rows]
    _write_arrow(path, [arrow.slice(bounds[bucket], bounds[bucket + 1] - bounds[bucket]) for bucket in range(PAPER_BUCKETS)], arrow.schema)


# --- papers, in buckets, in a worker -------------------------------------------------------------------


@dataclass
class StagedPapers:
    """What one range of paper buckets staged: the rendered rows and what `assemble` needs to finish."""

    part: formats.Part
    checked: int
    failed_rejects: list[dict]
    failed: set[str]
    profile_counts: Path  # enrich.profile_counts of the part's published listings, an Arrow file

    def read_profile_counts(self) -> pd.DataFrame:
        with pa.ipc.open_file(pa.OSFile(str(self.profile_counts))) as reader:
            return reader.read_pandas().set_index("profile_id")


def paper_parts(parts: int = PAPER_PARTS) -> list[range]:
    """The paper buckets split into `parts` ranges, one task each."""
    step = -(-PAPER_BUCKETS // parts)
    return [range(start, min(start + step, PAPER_BUCKETS)) for start in range(0, PAPER_BUCKETS, step)]


def stage_papers(buckets: range, batch_dirs: list[Path], directory: Path, blocks: BlockTexts) -> StagedPapers:
    """Render the `papers` rows of some buckets: each paper's newest listing (ties: lowest profile_id) is its row.

    A paper whose chosen listing failed validation is not published: each of its listings
    becomes a reject, with its raw text from `blocks`, and `assemble` drops its authorships.
    """
    directory.mkdir(parents=True, exist_ok=True)
    # Plain reads, not memory maps: a mapped file's pages count in the worker's memory while it is open.
    readers = [pyarrow.ipc.open_file(pa.OSFile(str(path / _CANDIDATES_FILE))) for path in batch_dirs]
    checked = 0
    failed: set[str] = set()
    failed_rejects: list[dict] = []
    listed: list[pd.DataFrame] = []  # four short columns per published authorship: counted once, at the end
    writer = formats.PartWriter("papers", directory, _papers_stem(buckets))
    for listings in _bucket_chunks(readers, buckets):
        chosen = _choose_papers(listings, blocks)
        checked += chosen.checked
        failed |= chosen.failed
        failed_rejects += chosen.failed_rejects
        writer.write_arrow(chosen.papers)
        listed.append(chosen.listed)
    columns = ["profile_id", "author_role", "code_status", "year"]
    counts = enrich.profile_counts(pd.concat(listed, ignore_index=True) if listed else pd.DataFrame(columns=columns))
    # A file, not a result: every part counts nearly every profile (~8 MB at 50,000 profiles), and
    # results stay in the main process until the flow ends.
    counts_path = directory / f"profile-counts-{buckets.start:03d}.arrow"
    _write_arrow(counts_path, [pa.Table.from_pandas(counts.reset_index())])
    part = writer.close()
    _mark_rendered(part)
    return StagedPapers(part, checked, failed_rejects, failed, counts_path)


def _papers_stem(buckets: range) -> str:
    return f"papers-{buckets.start:03d}"


def _rendered_marker(directory: Path, stem: str) -> Path:
    """The file that says a part's files are complete (PapersTable waits for it); it holds the part's row count."""
    return directory / f"{stem}.rendered"


def _mark_rendered(part: formats.Part) -> None:
    # Not files.write_atomic: a spill file is not kept across a crash, so it needs no fsync.
    marker = _rendered_marker(part.directory, part.stem)
    temporary = marker.with_suffix(".tmp")
    temporary.write_text(str(part.rows), "ascii")
    os.replace(temporary, marker)  # seen whole or not at all


class PapersTable:
    """The `papers` table written from its parts as each is rendered (stage_papers), in bucket order, by a thread of this process.

    Its Parquet, zstd at level 9 on one thread (~7 s at 10,000 profiles), is the assembly's
    longest piece. Appended as the parts come, it runs while pool workers render the next parts,
    not after the last one. The thread learns that a part is whole from its marker file, so the
    parts can be rendered anywhere that shares the build folder. Leaving the block with an error
    stops the thread, and the files it was writing are removed.
    """

    def __init__(self, directory: Path, parts: list[range]) -> None:
        self._directory = directory
        self._stems = [_papers_stem(buckets) for buckets in parts]
        self._stop = threading.Event()
        self._all_rendered = threading.Event()
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="papers")
        self._written = self._thread.submit(self._write)

    def result(self, parts: list[StagedPapers]) -> dict[str, formats.WrittenFile]:
        """The table's files, once every part (all of `parts`, as their tasks returned them) is in it."""
        self._all_rendered.set()
        written = self._written.result()
        rows, expected = written[formats.table_file("papers", "parquet")].rows, sum(part.part.rows for part in parts)
        if rows != expected:
            raise RuntimeError(f"papers: {rows} rows appended from the rendered parts, their tasks reported {expected}")
        return written

    def __enter__(self) -> PapersTable:
        return self

    def __exit__(self, *error: object) -> None:
        self._stop.set()  # a thread still waiting for a part stops (and removes its files); a finished one has nothing to stop
        self._thread.shutdown(wait=True)

    def _write(self) -> dict[str, formats.WrittenFile]:
        directory = papers_dir(self._directory)
        self._directory.mkdir(parents=True, exist_ok=True)
        with formats.TableWriter("papers", self._directory) as writer:
            for stem in self._stems:
                rows = self._wait_for(_rendered_marker(directory, stem))
                # consume: each part's files are removed once in the table (they are not cached, unlike batches)
                writer.append(formats.Part("papers", directory, stem, rows), consume=True)
        return writer.close()

    def _wait_for(self, marker: Path) -> int:
        """The part's row count, once its marker is there; raises once the block was left."""
        while not self._stop.is_set():
            all_rendered = self._all_rendered.is_set()  # before looking: a part returned by its task was marked before
            if marker.exists():
                return int(marker.read_text("ascii"))
            if all_rendered:
                raise RuntimeError(f"{marker}: missing, though every paper part's task has returned")
            self._stop.wait(_RENDERED_POLL_SECONDS)
        raise RuntimeError(f"papers: stopped before {marker.name}")


def _bucket_chunks(readers: list, buckets: range) -> Iterator[pa.Table]:
    """The listings of consecutive whole buckets, up to _CHUNK_LISTINGS rows a chunk (a larger bucket alone).

    A chunk ends before the bucket that would take it over the limit, not after: at 50,000
    profiles a bucket holds ~7,800 listings, and chunks that ran over by up to a bucket held
    ~15,600 listings against ~10,900 at 10,000 profiles, a worker's memory growing with N.
    """
    pending: list[pa.RecordBatch] = []
    rows = 0
    for bucket in buckets:
        batches = [batch for batch in (reader.get_batch(bucket) for reader in readers) if batch.num_rows]
        added = sum(batch.num_rows for batch in batches)
        if pending and rows + added > _CHUNK_LISTINGS:
            yield pa.Table.from_batches(pending)
            pending, rows = [], 0
        pending += batches
        rows += added
    if pending:
        yield pa.Table.from_batches(pending)


@dataclass
class _Chosen:
    papers: pa.Table
    checked: int
    failed: set[str]
    failed_rejects: list[dict]
    listed: pd.DataFrame


_SORT_KEYS = [("paper_id", "ascending"), ("captured_date", "descending"), ("profile_id", "ascending"), ("source_line", "ascending")]


def _choose_papers(listings: pa.Table, blocks: BlockTexts) -> _Chosen:
    """One chunk's listings to its `papers` rows (with n_profiles, in Arrow), failed papers and their rejects.

    Only the key columns are sorted and taken to pandas; the wide columns (abstracts) are taken
    once, for the chosen rows.
    """
    order = pc.sort_indices(listings.select([name for name, _ in _SORT_KEYS]), sort_keys=_SORT_KEYS)
    keys = listings.select(["paper_id", "profile_id", "author_role", "_failure"]).take(order).to_pandas()
    first = ~keys["paper_id"].duplicated()
    bad = keys.loc[first & keys["_failure"].notna()].set_index("paper_id")["_failure"]
    failing = keys["paper_id"].isin(bad.index)
    failed_rejects = [
        _paper_failure_reject(listings, order[index].as_py(), bad[keys.at[index, "paper_id"]], blocks) for index in keys.index[failing]
    ]
    kept = keys[~failing]
    # In Arrow: pandas counts distinct Arrow-backed strings group by group, in Python.
    n_profiles = (pa.table({"paper_id": kept["paper_id"].to_numpy(), "profile_id": kept["profile_id"].to_numpy()})
                  .group_by("paper_id").aggregate([("profile_id", "count_distinct")]).sort_by("paper_id"))
    rows = listings.drop_columns(list(_LISTING_EXTRAS)).take(order.filter(pa.array((first & ~failing).to_numpy())))
    papers = rows.set_column(rows.schema.get_field_index("n_profiles"), "n_profiles", n_profiles.column("profile_id_count_distinct").cast(pa.int64()))
    paper_fields = rows.select(["paper_id", "code_status", "year"]).to_pandas().set_index("paper_id")
    listed = kept[["profile_id", "author_role"]].join(paper_fields, on=kept["paper_id"]).reset_index(drop=True)
    return _Chosen(papers.cast(schemas.arrow_schema("papers")), int(first.sum()), set(bad.index), failed_rejects, listed)


def _paper_failure_reject(listings: pa.Table, index: int, reasons: str, blocks: BlockTexts) -> dict:
    row = listings.slice(index, 1).select(["paper_id", "source_file", "source_line", "captured_date"]).to_pylist()[0]
    return _validation_reject(row["source_file"], row["source_line"], RECORD_PAPER,
                              [f"paper {row['paper_id']} failed validation: {reasons}"],
                              blocks(row["source_file"], row["source_line"], row["captured_date"]))


def blocks_of(extractions: list[Extraction]) -> BlockTexts:
    """BlockTexts from extractions at hand (a build in one process); ArchivedBlocks reads them from raw files instead."""
    texts = {(extraction.source_file, paper["source_line"]): paper["raw_text"] for extraction in extractions for paper in extraction.papers}

    def block_text(source_file: str, source_line: int, captured_date: dt.date) -> str:
        return texts[source_file, source_line]

    return block_text


class ArchivedBlocks:
    """Paper blocks' raw text read again from the archived raw files under `raw_dir` (BlockTexts), for rejects.

    The spilled listings leave it out, and a build needs it only for the listings of a paper
    that fails. The archive is never edited (a batch is cached by its files' recorded sha256),
    so parsing the file again gives the block as it was staged.
    """

    _FILES_KEPT = 16  # a profile's failing papers come a few to a file: each file is parsed once

    def __init__(self, raw_dir: Path) -> None:
        self.raw_dir = raw_dir
        self._files: dict[str, dict[int, str]] = {}

    def __call__(self, source_file: str, source_line: int, captured_date: dt.date) -> str:
        if source_file not in self._files:
            if len(self._files) >= self._FILES_KEPT:
                self._files.clear()
            extraction = extract_file(self.raw_dir / source_file, source_file, captured_date)
            self._files[source_file] = {paper["source_line"]: paper["raw_text"] for paper in extraction.papers}
        text = self._files[source_file].get(source_line)
        if text is None:
            raise RuntimeError(f"{source_file}:{source_line}: expected the paper block staged from this line, found none"
                               " (archived raw text must not be edited)")
        return text


# --- every batch, in the main process -----------------------------------------------------------------


def assemble(batches: list[StagedBatch], papers: list[StagedPapers], papers_table: PapersTable, directory: Path) -> BuiltTables:
    """Write the data tables from the staged parts into `directory`, in key order, a part at a time; `papers_table` is writing `papers`.

    Raises TableValidationError (table-level failures) or AccountingError; removes the spill files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    warnings = [warning for batch in batches for warning in batch.warnings]
    failures = [failure for batch in batches for failure in batch.table_failures]
    rows_checked = sum((batch.rows_checked for batch in batches), Counter())
    headers = [batch.headers for batch in batches] or [schemas.empty_frame("profile_snapshots")]
    snapshots = schemas.conform("profile_snapshots", pd.concat(headers, ignore_index=True))
    failures += validate.validate_table("profile_snapshots", snapshots).table_failures
    validate.raise_table_failures(sorted(set(failures)))
    current = {file for batch in batches for file in batch.current_files}
    failed_papers = set().union(*(part.failed for part in papers))

    # `papers`, the largest table, is being written by a thread of its own (PapersTable) while
    # this one writes the others: both spend most of their time in Parquet encoding, copying and
    # hashing, which release the GIL, so assembling takes both cores.
    authorships = _write_authorships(batches, directory, failed_papers)
    rejects = _write_rejects(batches, directory, [reject for part in papers for reject in part.failed_rejects], current)
    rows_checked["papers"] = sum(part.checked for part in papers)

    published_profiles = set(authorships.per_profile.index).union(*(batch.published_profiles for batch in batches))
    published = _is_in(snapshots["profile_id"], published_profiles)
    current_headers = snapshots[_is_in(snapshots["source_file"], current) & published]
    snapshots = snapshots[published].reset_index(drop=True)
    counts = papers[0].read_profile_counts()  # one part's counts at a time (paper_parts: never none)
    for part in papers[1:]:
        counts = enrich.combine_profile_counts([counts, part.read_profile_counts()])
    profiles = schemas.conform("profiles", enrich.profiles_frame(current_headers, counts, rejects.counts.papers_rejected, snapshots))
    small = {"profiles": profiles, "profile_snapshots": snapshots}
    failures = []
    for name, frame in small.items():
        rows_checked[name] = len(frame)
        failures += _failures_as_table_level(name, frame, validate.validate_table(name, frame))
    # Authorships by profile stand in for the table: its paper_ids are papers' by construction (stage_papers).
    referring = {**small, "authorships": pd.DataFrame({"profile_id": pd.Series(authorships.per_profile.index, dtype="str")})}
    validate.raise_table_failures(failures + validate.check_references(referring, authorships.per_profile))
    small_files = {}
    for name, frame in small.items():
        small_files.update(formats.write(name, frame, directory))
    files = {**papers_table.result(papers), **authorships.files, **rejects.files, **small_files}
    rows_checked["rejects"] = rejects.counts.rows

    accounting = {
        "paper_blocks_found": sum(batch.paper_blocks_found for batch in batches),
        "published": authorships.rows,
        "rejected": rejects.counts.current_paper_rejects,
    }
    if accounting["paper_blocks_found"] != accounting["published"] + accounting["rejected"]:
        raise AccountingError(
            f"accounting does not balance: {accounting['paper_blocks_found']} paper blocks found,"
            f" {accounting['published']} published + {accounting['rejected']} rejected"
        )
    shutil.rmtree(directory / _SPILL_DIRNAME, ignore_errors=True)
    captured = snapshots["captured_date"]
    counts = rejects.counts
    return BuiltTables(
        directory=directory,
        files=files,
        row_counts={
            "profiles": len(profiles), "papers": files[formats.table_file("papers", "parquet")].rows,
            "authorships": authorships.rows, "profile_snapshots": len(snapshots), "rejects": counts.rows,
        },
        as_of_date=str(captured.max()) if len(captured) else counts.newest_date,
        profile_ids=list(profiles["profile_id"]),
        warnings=warnings,
        accounting=accounting,
        rows_checked=dict(sorted(rows_checked.items())),
        rejects_by_stage=dict(sorted(counts.by_stage.items())),
        rejects_by_record_type=dict(sorted(counts.by_record_type.items())),
        rejects_by_reason=dict(sorted(counts.by_reason.items(), key=lambda item: (-item[1], item[0]))),
    )


def reason_kind(reason: str) -> str:
    """A reject reason without file, line and values: `expected a valid calendar date`."""
    match = _REASON_KIND.match(reason)
    kind = match["kind"] if match else reason
    return _QUOTED.sub("…", kind).strip()


@dataclass
class _Authorships:
    files: dict[str, formats.WrittenFile]
    rows: int
    per_profile: pd.Series


def _write_authorships(batches: list[StagedBatch], directory: Path, failed_papers: set[str]) -> _Authorships:
    """Batch by batch in key order, as rendered in the workers; a batch with authorships of failed papers is rendered again without them."""
    per_profile: Counter = Counter()

    def without_failed(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[~_is_in(frame["paper_id"], failed_papers)].reset_index(drop=True) if failed_papers else frame

    failed_ids = pa.array(sorted(failed_papers), pa.string())
    with formats.TableWriter("authorships", directory) as writer:
        order = _key_order([batch.authorship_keys for batch in batches])
        if order is None:
            frame = without_failed(_merged("authorships", [batch.authorships for batch in batches]))
            writer.write(frame)
            per_profile.update(frame["profile_id"].value_counts().to_dict())
        for number in order or []:
            part = batches[number].authorships
            arrow = part.read_arrow()
            if failed_papers and pc.any(pc.is_in(arrow.column("paper_id"), failed_ids)).as_py():
                frame = without_failed(formats.from_arrow("authorships", arrow))
                writer.write(frame)
                arrow = formats.to_arrow("authorships", frame)
            else:
                writer.append(part)
            counted = pc.value_counts(arrow.column("profile_id"))
            per_profile.update(dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist())))
    files = writer.close()
    rows = files[formats.table_file("authorships", "parquet")].rows
    return _Authorships(files, rows, pd.Series(per_profile, dtype="int64").sort_index())


@dataclass
class _Rejects:
    files: dict[str, formats.WrittenFile]
    counts: RejectCounts


def _write_rejects(batches: list[StagedBatch], directory: Path, extra: list[dict], current: set[str]) -> _Rejects:
    """Batch by batch in key order, as rendered in the workers; a batch that `assemble` added rejects to is rendered again."""
    batch_of = {source_file: number for number, batch in enumerate(batches) for source_file in batch.source_files}
    added: dict[int, list[dict]] = {}
    for reject in extra:
        added.setdefault(batch_of[reject["source_file"]], []).append(reject)
    counts = RejectCounts()
    failures: list[str] = []
    ranges = [_widen("rejects", batch.reject_keys, added.get(number, [])) for number, batch in enumerate(batches)]
    with formats.TableWriter("rejects", directory) as writer:
        order = _key_order(ranges)
        if order is None:
            frame = _merged("rejects", [batch.rejects for batch in batches], extra)
            failures += _failures_as_table_level("rejects", frame, validate.validate_table("rejects", frame))
            writer.write(frame)
            counts.add(frame, current)
        for number in order or []:
            batch = batches[number]
            if number in added:
                frame = _merged("rejects", [batch.rejects], added[number])
                failures += _failures_as_table_level("rejects", frame, validate.validate_table("rejects", frame))
                writer.write(frame)
                counts.add(frame, current)
            else:
                writer.append(batch.rejects)
                counts.merge(batch.reject_counts)
    validate.raise_table_failures(sorted(set(failures)))
    return _Rejects(writer.close(), counts)


def _key_order(ranges: list[tuple[tuple, tuple] | None]) -> list[int] | None:
    """Batches with rows in key order, or None when their key ranges overlap.

    Batches cover disjoint key ranges (see profile_batches) unless hand-made archive folders
    break that; then the caller reads and sorts every batch at once: correct, not bounded in memory.
    """
    spans = sorted((span, number) for number, span in enumerate(ranges) if span is not None)
    if all(before[0][1] < after[0][0] for before, after in zip(spans, spans[1:])):
        return [number for _, number in spans]
    return None


def _merged(table: str, parts: list[formats.Part | None], added: list[dict] = ()) -> pd.DataFrame:
    """Parts and added rows as one sorted frame, its keys checked for uniqueness."""
    frames = [formats.from_arrow(table, part.read_arrow()) for part in parts if part is not None]
    frames.append(pd.DataFrame(list(added), columns=schemas.TABLES[table].columns))
    frame = schemas.conform(table, pd.concat(frames, ignore_index=True))
    validate.raise_table_failures(validate.validate_table(table, frame).table_failures)
    return frame


def _widen(table: str, span: tuple[tuple, tuple] | None, rows: list[dict]) -> tuple[tuple, tuple] | None:
    """A batch's key range including rows added to it."""
    key = schemas.TABLES[table].primary_key
    keys = [tuple(row[column] for column in key) for row in rows] + (list(span) if span else [])
    return (min(keys), max(keys)) if keys else None


def _failures_as_table_level(table: str, frame: pd.DataFrame, checked: validate.Validated) -> list[str]:
    """A row failure of a table built by the pipeline itself (profiles, rejects) is our bug: it stops the run."""
    return checked.table_failures + [
        f"{table}: row {frame.iloc[index].iloc[0]}: {'; '.join(reasons)}" for index, reasons in checked.row_failures.items()
    ]


def _render_part(table: str, frame: pd.DataFrame, directory: Path) -> formats.Part:
    writer = formats.PartWriter(table, directory, table)
    writer.write(frame)
    return writer.close()


# --- shared helpers --------------------------------------------------------------------------------------


def _newest_per_profile(items: list) -> list:
    newest: dict[str, object] = {}
    for item in sorted(items, key=lambda item: (str(item.captured_date), item.source_file)):
        # Archive folder = profile id; a file whose name line could not be read still counts.
        newest[_folder(item.source_file)] = item
    return [newest[folder] for folder in sorted(newest)]


def _folder(source_file: str) -> str:
    return source_file.rsplit("/", 2)[-2] if "/" in source_file else source_file


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


def _listing_frame(listings: enrich.Listings) -> pd.DataFrame:
    """The listings as one frame: the columns of `authorships` and `papers` (but n_profiles) and raw_text, in their declared dtypes."""
    return formats.frame_of_values(_LISTING_COLUMNS, listings.columns())


_LISTING_COLUMNS = {
    **schemas.TABLES["authorships"].schema.columns,
    **{name: column for name, column in schemas.TABLES["papers"].schema.columns.items() if name != "n_profiles"},
    "raw_text": schemas.TABLES["rejects"].schema.columns["raw_text"],
}


def _is_in(values: pd.Series, members: set[str]) -> np.ndarray:
    """`values.isin(members)` for strings, in one Arrow call: pandas makes an Arrow scalar of each member first (~5 µs each)."""
    return pc.is_in(pa.array(values), value_set=pa.array(list(members), pa.string())).to_numpy(zero_copy_only=False)


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


def _key_range(frame: pd.DataFrame, table: str) -> tuple[tuple, tuple] | None:
    if not len(frame):
        return None
    key = list(schemas.TABLES[table].primary_key)
    return tuple(frame[key].iloc[0].tolist()), tuple(frame[key].iloc[-1].tolist())


def _write_arrow(path: Path, tables: list[pa.Table], schema: pa.Schema | None = None) -> None:
    """An Arrow IPC file with exactly one record batch per table given (empty ones too: batch i is bucket i)."""
    schema = schema or tables[0].schema
    with formats.open_for_arrow(path) as sink, pyarrow.ipc.new_file(sink, schema) as writer:
        for table in tables:
            batches = table.combine_chunks().to_batches()
            writer.write_batch(batches[0] if batches else pa.RecordBatch.from_pylist([], schema=schema))
