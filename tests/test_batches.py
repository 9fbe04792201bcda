"""The streaming build: however the captures are split into batches, the release has the same bytes."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import multiprocessing
import time
from pathlib import Path

import pyarrow as pa
import pytest
from prefect.utilities.collections import visit_collection

import schemas
from flows import ids, tables
from flows.extract import Extraction, parse_profile
from flows.ingest import Snapshot
from flows.claims import Claims
from flows.pipeline import BatchJob, BatchJobs

CAPTURED = dt.date(2026, 11, 26)
EARLIER = dt.date(2026, 10, 1)
# On Li's newer page the shared paper is dated after the capture: the listing chosen for the
# paper fails validation, so the paper and both its listings go to rejects.
FAILING_SHARED = "Shared But Broken Paper"
VALID_SHARED = "Shared And Fine Paper"


def block(title: str, date: str, authors: str) -> str:
    return f"LG{date}\n{title}\n\n{authors}\n\nAbstract of {title}."


def capture(name: str, blocks: list[str], captured: dt.date, folder: str | None = None) -> Extraction:
    folder = folder or ids.profile_id(name)
    text = f"{name}\n\nLG\nh-index3\n\n{len(blocks)} Papers\n\n" + "\n\n".join(blocks) + "\n"
    return parse_profile(text, f"profiles/{folder}/{captured.isoformat()}.txt", captured)


def captures() -> list[Extraction]:
    """Folders `li`, `li-wei`, `li-wei-xu`, `lia-chen`: ids and paths sort them differently (`-` < `/`)."""
    impossible = "LGFeb 30, 2023\nAn Impossible Date\n\nAn Author\n\nText."
    return [
        capture("Li", [block(FAILING_SHARED, "Jan 5, 2027", "Mia Park, Li"), block(VALID_SHARED, "Mar 1, 2021", "Li, Mia Park"),
                       block("Only On Li", "Apr 2, 2020", "Li"), impossible], CAPTURED),
        capture("Li", [block("Only On Li", "Apr 2, 2020", "Li")], EARLIER),
        capture("Li Wei", [block("Wei Alone", "May 3, 2019", "Li Wei, Tom Yu"), impossible], CAPTURED),
        capture("Li Wei Xu", [block(VALID_SHARED, "Mar 1, 2021", "Li, Mia Park, Li Wei Xu")], CAPTURED),
        capture("Lia Chen", [block(FAILING_SHARED, "Jan 5, 2026", "Mia Park, Lia Chen"), block("Chen's", "Jun 9, 2022", "Lia Chen")], EARLIER),
    ]


def data_files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()}


def test_profile_batches_keep_hyphenated_folders_together_and_in_key_order() -> None:
    snapshots = [
        Snapshot(folder, CAPTURED, Path(folder), f"profiles/{folder}/{CAPTURED}.txt", "")
        for folder in ("lia-chen", "li", "li-wei-xu", "li-wei", "ab", "li0")
    ]
    batches = tables.profile_batches(snapshots, batch_size=1)
    folders = [[snapshot.profile_id for snapshot in batch] for batch in batches]
    assert sorted(["li-wei", "li-wei-xu", "li"]) in [sorted(batch) for batch in folders]
    # Appended in turn, the batches are sorted both as profile ids and as source files.
    by_id = [max(batch) for batch in folders]
    by_path = [max(f"profiles/{folder}/" for folder in batch) for batch in folders]
    for earlier, later in zip(folders, folders[1:]):
        assert max(earlier) < min(later)
        assert max(f"profiles/{folder}/" for folder in earlier) < min(f"profiles/{folder}/" for folder in later)
    assert by_id == sorted(by_id) and by_path == sorted(by_path)


def test_profile_batches_split_folders_that_only_share_a_first_name() -> None:
    """`ahmad-celik` and `ahmad-deng` sort the same way in both orders: grouping them would let batches grow with N."""
    snapshots = [Snapshot(folder, CAPTURED, Path(folder), f"profiles/{folder}/{CAPTURED}.txt", "") for folder in ("ahmad-celik", "ahmad-deng", "ahmad-li")]
    assert [len(batch) for batch in tables.profile_batches(snapshots, batch_size=1)] == [1, 1, 1]


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_any_batching_publishes_the_bytes_of_one_batch(tmp_path: Path, batch_size: int) -> None:
    whole = tables.build_tables(captures(), tmp_path / "whole")
    split = tables.build_tables(captures(), tmp_path / "split", batch_size=batch_size)
    assert len(tables.profile_batches(captures(), batch_size)) > 1
    assert data_files(split.directory) == data_files(whole.directory)
    assert (split.row_counts, split.accounting, split.rejects_by_reason) == (whole.row_counts, whole.accounting, whole.rejects_by_reason)


def test_a_paper_whose_chosen_listing_fails_is_rejected_on_every_profile(tmp_path: Path) -> None:
    built = tables.build_tables(captures(), tmp_path, batch_size=1)
    papers, authorships, rejects = built.tables["papers"], built.tables["authorships"], built.tables["rejects"]
    failing_id = ids.paper_id(FAILING_SHARED, "Mia Park")
    assert failing_id not in set(papers["paper_id"]) and failing_id not in set(authorships["paper_id"])
    failed = rejects[rejects["reason"].str.contains(f"paper {failing_id} failed validation")]
    assert sorted(failed["source_file"]) == [f"profiles/li/{CAPTURED}.txt", f"profiles/lia-chen/{EARLIER}.txt"]
    # Each listing's own block, though the one on Lia Chen's page passes validation by itself.
    assert sorted(failed["raw_text"].str.split("\n").str[0]) == ["LGJan 5, 2026", "LGJan 5, 2027"]
    shared = papers[papers["title"] == VALID_SHARED].iloc[0]
    assert shared["n_profiles"] == 2
    assert built.accounting["paper_blocks_found"] == built.accounting["published"] + built.accounting["rejected"]
    for name in ("papers", "authorships", "rejects"):
        frame = built.tables[name]
        key = list(schemas.TABLES[name].primary_key)
        assert frame.equals(frame.sort_values(key, kind="stable").reset_index(drop=True)), f"{name} not in key order"


def test_archived_blocks_reads_a_blocks_raw_text_again_from_its_file(tmp_path: Path) -> None:
    text = f"Li\n\nLG\nh-index3\n\n2 Papers\n\n{block('First', 'Jan 5, 2021', 'Li')}\n\n\n{block('Second', 'Feb 6, 2022', 'Li')}\n"
    source_file = f"profiles/li/{CAPTURED}.txt"
    (tmp_path / "profiles" / "li").mkdir(parents=True)
    (tmp_path / source_file).write_text(text, "utf-8")
    blocks = tables.ArchivedBlocks(tmp_path)
    assert blocks(source_file, 16, CAPTURED) == "LGFeb 6, 2022\nSecond\nLi\nAbstract of Second."
    assert blocks(source_file, 8, CAPTURED) == "LGJan 5, 2021\nFirst\nLi\nAbstract of First."
    with pytest.raises(RuntimeError, match=f"^{source_file}:9: expected the paper block staged from this line, found none"):
        blocks(source_file, 9, CAPTURED)


def test_a_hand_made_folder_out_of_key_order_still_builds_the_same_release(tmp_path: Path) -> None:
    """A capture archived by hand under a folder that is not its profile id breaks the batches' key ranges."""
    stray = capture("Li Wei Two", [block("Stray Paper", "Jul 7, 2018", "Li Wei Two")], CAPTURED, folder="zz-hand-made")
    whole = tables.build_tables([*captures(), stray], tmp_path / "whole")
    split = tables.build_tables([*captures(), stray], tmp_path / "split", batch_size=1)
    assert "li-wei-two" in set(split.tables["authorships"]["profile_id"])
    assert data_files(split.directory) == data_files(whole.directory)


def stage_captures(directory: Path) -> list[tables.StagedBatch]:
    """The extract batches of captures(), one folder group each, staged as the pool's workers stage them."""
    extractions = captures()
    current = tables.current_files(extractions)
    groups = tables.profile_batches(extractions, batch_size=1)
    return [tables.stage_batch(group, current, tables.batch_dir(directory, number)) for number, group in enumerate(groups)]


def test_the_papers_table_takes_each_part_as_soon_as_it_is_rendered(tmp_path: Path) -> None:
    directory = tmp_path / "streamed"
    batches = stage_captures(directory)
    ranges = tables.paper_parts()

    def render(buckets: range) -> tables.StagedPapers:
        return tables.stage_papers(buckets, [batch.directory for batch in batches], tables.papers_dir(directory), tables.blocks_of(captures()))

    with tables.PapersTable(directory, ranges) as papers_table:
        first = render(ranges[0])
        deadline = time.monotonic() + 30
        while first.part.path("arrow").exists() and time.monotonic() < deadline:  # appended parts are consumed
            time.sleep(0.01)
        assert not first.part.path("arrow").exists(), "the first part was not taken before the next was rendered"
        parts = [first, *(render(buckets) for buckets in ranges[1:])]
        built = tables.assemble(batches, parts, papers_table, directory)

    assert data_files(built.directory) == data_files(tables.build_tables(captures(), tmp_path / "whole").directory)


def test_leaving_the_papers_table_with_an_error_stops_it_and_removes_its_files(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), tables.PapersTable(tmp_path, tables.paper_parts()):
        raise KeyboardInterrupt  # as a failed task's error leaves the flow's block: no part is ever rendered

    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith("papers.")]


def test_a_part_reported_rendered_without_its_marker_is_an_error_not_a_wait(tmp_path: Path) -> None:
    with tables.PapersTable(tmp_path, tables.paper_parts()) as papers_table:
        with pytest.raises(RuntimeError, match=r"papers-000\.rendered: missing, though every paper part's task has returned"):
            papers_table.result([])


def test_tasks_sharing_claims_take_pieces_in_turn_first_come_first_served(tmp_path: Path) -> None:
    claims = Claims(tmp_path / "claims", 5)
    early, late = iter(claims), iter(Claims(tmp_path / "claims", 5))  # two tasks, as the stage gives each the same pieces

    assert [next(early), next(late), next(early), next(early)] == [0, 1, 2, 3]
    assert list(late) == [4]
    assert list(early) == [] and list(claims) == []
    assert claims.gather([{1: "b", 4: "e"}, {0: "a", 2: "c", 3: "d"}, {}]) == ["a", "b", "c", "d", "e"]


def test_claims_given_an_order_are_taken_in_that_order(tmp_path: Path) -> None:
    order = (3, 0, 4, 1, 2)  # largest piece first, as the extract stage gives them
    early, late = iter(Claims(tmp_path / "claims", 5, order)), iter(Claims(tmp_path / "claims", 5, order))

    assert [next(early), next(late), next(late)] == [3, 0, 4]
    assert list(early) == [1, 2] and list(late) == []
    with pytest.raises(ValueError, match="not an order of pieces 0 to 4"):
        Claims(tmp_path / "other", 5, (0, 1, 2, 3, 3))


def _take_all(directory: Path, count: int) -> list[int]:
    return list(Claims(directory, count))


def test_processes_racing_for_claims_take_every_piece_exactly_once(tmp_path: Path) -> None:
    count, takers = 3000, 4
    with concurrent.futures.ProcessPoolExecutor(takers, mp_context=multiprocessing.get_context("spawn")) as pool:
        taken = list(pool.map(_take_all, [tmp_path / "claims"] * takers, [count] * takers))

    assert sorted(piece for pieces in taken for piece in pieces) == list(range(count))
    assert all(pieces == sorted(pieces) for pieces in taken)


def test_gathering_claims_refuses_a_piece_not_done_or_done_twice(tmp_path: Path) -> None:
    claims = Claims(tmp_path / "claims", 3)
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "000001").touch()  # left by an earlier stage in the same folder
    done = {number: str(number) for number in claims}

    assert done == {0: "0", 2: "2"}
    with pytest.raises(RuntimeError, match=r"pieces \[1\] .* claimed but not done"):
        claims.gather([done])
    with pytest.raises(RuntimeError, match="piece 2 .* done twice"):
        claims.gather([{0: "0", 1: "1", 2: "2"}, {2: "2"}])


def test_prefect_does_not_walk_the_snapshots_of_extract_jobs() -> None:
    """Prefect looks for futures in every list and dataclass of a task's parameters: 250 snapshots a batch."""
    snapshots = [Snapshot("li", CAPTURED, Path("li"), f"profiles/li/{CAPTURED}.txt", "") for _ in range(250)]
    jobs = [BatchJob(snapshots, set(), Path("batch"), None) for _ in range(4)]
    visited: list[object] = []

    visit_collection(BatchJobs(jobs), visited.append, return_data=False)

    assert len(visited) == 1
    visit_collection(jobs, visited.append, return_data=False)  # what a plain list of jobs costs
    assert len(visited) > 1000


@pytest.mark.parametrize("limit", [1, 5, 7, 100])
def test_bucket_chunks_hold_whole_buckets_in_order_and_pass_the_limit_only_with_one_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    monkeypatch.setattr(tables, "_CHUNK_LISTINGS", limit)
    sizes = [[3, 0, 2, 6, 0, 1], [1, 4, 0, 2, 0, 0]]  # rows of each bucket in two batches' spill files
    paths = []
    for number, batch_sizes in enumerate(sizes):
        rows = [pa.table({"bucket": [bucket] * size}) for bucket, size in enumerate(batch_sizes)]
        paths.append(tmp_path / f"batch-{number}.arrow")
        tables._write_arrow(paths[-1], rows)
    readers = [pa.ipc.open_file(pa.OSFile(str(path))) for path in paths]

    chunks = [chunk.column("bucket").to_pylist() for chunk in tables._bucket_chunks(readers, range(1, 6))]

    assert sorted(bucket for chunk in chunks for bucket in chunk) == [b for b in range(1, 6) for _ in range(sizes[0][b] + sizes[1][b])]
    assert all(max(chunk) < min(later) for chunk, later in zip(chunks, chunks[1:]))  # whole buckets, in order
    assert all(len(chunk) <= limit or len(set(chunk)) == 1 for chunk in chunks)
    # Full: adding the next bucket would have passed the limit.
    assert all(len(chunk) + later.count(later[0]) > limit for chunk, later in zip(chunks, chunks[1:]))
