"""TableWriter: any chunking gives the bytes of `render`; row groups, file facts, empty tables, CSV row counts."""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import time
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from conftest import REPO_ROOT
from flows import diff, formats
from flows.checksums import sha256_file

SEED_LATEST = REPO_ROOT / "output" / "latest"
TABLES = list(schemas.TABLES)
LARGE_ROWS = 360
SMALL_ROW_GROUP = 64  # 360 rows: five full row groups and one of 40
DISTINCT_ABSTRACT_ROWS = 1_000
PARQUET_MAGIC = b"PAR1"
# Text CSV and JSON must quote or escape: quotes, the list separator, line breaks, non-ASCII, empty.
HOSTILE_TEXTS = ('He said "no", twice', "one; two", "first line\nsecond line", "carriage\r\nreturn", "naïve Zoë — 日本語 ✓", "")
HOSTILE_LISTS = ([], ['Ada "The Countess" Lovelace'], ["Zoë Ångström", "李雷"], ["line\nbreak", "comma, inside"])
HOSTILE_NUMBERS = (0.1, 1e-07, 12345.678, -2.5)
# `changes` and `rejects` are empty in the seed release: these rows stand in for theirs.
HAND_MADE_ROWS = {
    "changes": [
        {"release_id": "2026-12-03", "table": "papers", "key": "01f05a58cc7d7672", "field": "has_code_badge",
         "change_type": "modified", "old_value": "false", "new_value": "true"},
        {"release_id": "2026-12-03", "table": "papers", "key": "0a1b2c3d4e5f6071", "field": "*",
         "change_type": "added", "old_value": None, "new_value": '{"title":"A Paper That Appeared After The First Capture"}'},
    ],
    "rejects": [
        {"source_file": "profiles/zhi-hong-deng/2026-11-26.txt", "line": 117, "stage": "extract", "record_type": "paper",
         "reason": "profiles/zhi-hong-deng/2026-11-26.txt:118: expected a date like 'Nov 13, 2025', found 'Nov 31, 2025'",
         "raw_text": "AI\nEfficient Thought Space Exploration\n\nNov 31, 2025"},
    ],
}


def seed_frame(table: str) -> pd.DataFrame:
    """The table as the committed seed release publishes it."""
    return formats.read(table, SEED_LATEST / formats.table_file(table, "parquet"))


@functools.cache
def large_frame(table: str) -> pd.DataFrame:
    """LARGE_ROWS rows with unique keys: seed rows (or hand-made ones) repeated, with hostile values mixed in."""
    seed = seed_frame(table)
    base = seed if len(seed) else schemas.conform(table, pd.DataFrame(HAND_MADE_ROWS[table]))
    rows = base.iloc[[index % len(base) for index in range(LARGE_ROWS)]].reset_index(drop=True)
    key = schemas.TABLES[table].primary_key
    for name, column in schemas.TABLES[table].schema.columns.items():
        rows[name] = pd.Series(_varied(list(rows[name]), column, is_key=name in key), dtype=object)
    return schemas.conform(table, rows)


@functools.cache
def reference(table: str) -> dict[str, bytes]:
    """`render` of the large frame in every format: what any chunked write must give."""
    return {file_format: formats.render(table, large_frame(table), file_format) for file_format in formats.FORMATS}


def write_in_chunks(table: str, frame: pd.DataFrame, cuts: list[int], directory: Path, row_group_rows: int) -> dict[str, formats.WrittenFile]:
    """Write `frame` cut before each row index in `cuts` (repeats and ends give zero-row chunks)."""
    bounds = [0, *sorted(cuts), len(frame)]
    with formats.TableWriter(table, directory, row_group_rows) as writer:
        for start, stop in pairwise(bounds):
            writer.write(frame.iloc[start:stop])
    return writer.close()


def file_bytes(table: str, directory: Path) -> dict[str, bytes]:
    return {file_format: (directory / formats.table_file(table, file_format)).read_bytes() for file_format in formats.FORMATS}


cut_lists = st.lists(st.integers(0, LARGE_ROWS), max_size=6)


@pytest.mark.parametrize("table", TABLES)
def test_write_gives_the_published_seed_files(table: str, tmp_path: Path):
    formats.write(table, seed_frame(table), tmp_path)
    assert file_bytes(table, tmp_path) == file_bytes(table, SEED_LATEST)


@pytest.mark.parametrize("table", TABLES)
@settings(max_examples=15, deadline=None)
@given(cuts=cut_lists)
def test_any_chunking_gives_the_bytes_of_render(table: str, cuts: list[int], tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp(table)
    write_in_chunks(table, large_frame(table), cuts, directory, row_group_rows=LARGE_ROWS + 1)
    assert file_bytes(table, directory) == reference(table)


@pytest.mark.parametrize("table", TABLES)
@settings(max_examples=5, deadline=None)
@given(first=cut_lists, second=cut_lists)
def test_row_groups_do_not_depend_on_chunking(table: str, first: list[int], second: list[int], tmp_path_factory: pytest.TempPathFactory):
    frame = large_frame(table)
    one_shot = pa.BufferOutputStream()
    pq.write_table(formats.to_arrow(table, frame), one_shot, row_group_size=SMALL_ROW_GROUP, **formats.PARQUET_OPTIONS)
    for cuts in (first, second):
        directory = tmp_path_factory.mktemp(table)
        write_in_chunks(table, frame, cuts, directory, row_group_rows=SMALL_ROW_GROUP)
        path = directory / formats.table_file(table, "parquet")
        assert path.read_bytes() == one_shot.getvalue().to_pybytes()
    metadata = pq.ParquetFile(path).metadata
    assert [metadata.row_group(index).num_rows for index in range(metadata.num_row_groups)] == [64, 64, 64, 64, 64, 40]
    pd.testing.assert_frame_equal(formats.read(table, path), frame)


def test_chunk_edges_do_not_change_parquet_pages(tmp_path: Path):
    # Over 1 MB of distinct abstracts: the column's dictionary outgrows its page and the writer
    # falls back to plain pages at a point that moves with the Arrow chunk edges it is given.
    seed = seed_frame("papers")
    rows = seed.iloc[[index % len(seed) for index in range(DISTINCT_ABSTRACT_ROWS)]].reset_index(drop=True)
    rows["paper_id"] = [f"{paper_id}-{index:04d}" for index, paper_id in enumerate(rows["paper_id"])]
    rows["abstract"] = [f"{abstract} (variant {index})" for index, abstract in enumerate(rows["abstract"])]
    papers = schemas.conform("papers", rows)
    write_in_chunks("papers", papers, list(range(0, DISTINCT_ABSTRACT_ROWS, 97)), tmp_path, row_group_rows=DISTINCT_ABSTRACT_ROWS)
    assert (tmp_path / "papers.parquet").read_bytes() == formats.render("papers", papers, "parquet")


def test_full_row_groups_reach_the_disk_before_close(tmp_path: Path):
    frame = large_frame("papers")
    path = tmp_path / "papers.parquet"
    with formats.TableWriter("papers", tmp_path, row_group_rows=SMALL_ROW_GROUP) as writer:
        writer.write(frame.iloc[:60])
        assert path.read_bytes() == PARQUET_MAGIC  # less than a row group: still buffered
        writer.write(frame.iloc[60:200])
        three_row_groups = path.read_bytes()
        writer.write(frame.iloc[200:])
    assert len(three_row_groups) > len(PARQUET_MAGIC)
    assert path.read_bytes().startswith(three_row_groups)


@pytest.mark.parametrize("table", TABLES)
def test_written_files_describe_the_files_on_disk(table: str, tmp_path: Path):
    written = write_in_chunks(table, large_frame(table), [100, 100, 250], tmp_path, row_group_rows=SMALL_ROW_GROUP)
    assert set(written) == {formats.table_file(table, file_format) for file_format in formats.FORMATS}
    for name, file in written.items():
        path = tmp_path / name
        assert file == formats.WrittenFile(rows=LARGE_ROWS, bytes=path.stat().st_size, sha256=sha256_file(path))
        assert formats.count_rows(path) == LARGE_ROWS


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("empty_chunks", [0, 2])
def test_an_empty_table_gives_the_bytes_of_an_empty_frame(table: str, empty_chunks: int, tmp_path: Path):
    empty = schemas.empty_frame(table)
    with formats.TableWriter(table, tmp_path) as writer:
        for _ in range(empty_chunks):
            writer.write(empty)
    assert file_bytes(table, tmp_path) == {file_format: formats.render(table, empty, file_format) for file_format in formats.FORMATS}
    assert {file.rows for file in writer.close().values()} == {0}


def test_a_chunk_missing_a_column_fails_and_leaves_no_files(tmp_path: Path):
    frame = large_frame("papers")
    with pytest.raises(KeyError, match="abstract"):
        with formats.TableWriter("papers", tmp_path, row_group_rows=SMALL_ROW_GROUP) as writer:
            writer.write(frame.iloc[:200])  # three row groups on disk already
            writer.write(frame.iloc[200:].drop(columns="abstract"))
    assert list(tmp_path.iterdir()) == []


def test_writing_after_close_is_refused(tmp_path: Path):
    writer = formats.TableWriter("papers", tmp_path)
    writer.write(large_frame("papers"))
    writer.close()
    with pytest.raises(ValueError, match="write after close"):
        writer.write(large_frame("papers"))


def _write_calls() -> int:
    """write() system calls this process has made so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError("no syscw in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="counts write() calls in /proc/self/io (Linux)")
def test_large_writes_reach_the_os_a_megabyte_at_a_time(tmp_path: Path):
    large = bytes(range(256)) * (5 * 4096 + 7)  # 5 MB and a bit
    arrow = pa.table({"text": ["x" * 3000] * 2000})  # one 6 MB buffer for the Arrow writer

    before = _write_calls()
    with formats.open_for_writing(tmp_path / "large") as handle:
        handle.write(b"head,")
        handle.write(large)
        handle.write(memoryview(b",tail"))
    calls = _write_calls() - before
    with formats.open_for_writing(tmp_path / "arrow") as sink, pa.ipc.new_file(sink, arrow.schema) as writer:
        writer.write_table(arrow)

    assert (tmp_path / "large").read_bytes() == b"head," + large + b",tail"
    assert calls >= len(large) // formats._WRITE_BYTES + 1
    assert pa.ipc.open_file(pa.OSFile(str(tmp_path / "arrow"))).read_all().equals(arrow)


@pytest.mark.parametrize("table", TABLES)
def test_frame_of_values_is_the_frame_the_values_came_from(table: str):
    # Python values of every kind, nulls and hostile text among them, back in the declared dtypes.
    frame = large_frame(table)
    columns = schemas.TABLES[table].schema.columns
    pd.testing.assert_frame_equal(formats.frame_of_values(columns, formats.to_arrow(table, frame).to_pydict()), frame)
    pd.testing.assert_frame_equal(formats.frame_of_values(columns, {}), schemas.empty_frame(table))


def test_count_rows_reads_a_csv_whose_values_change_kind_after_the_first_block(tmp_path: Path):
    # Over 1 MB of old values that look like integers, then text: a reader that guesses column
    # types from its first block fails on the last rows.
    count = 25_000
    changes = pd.DataFrame(
        {
            "release_id": "2026-12-03", "table": "papers", "key": [f"{index:016x}" for index in range(count)],
            "field": "n_profiles", "change_type": "modified",
            "old_value": [str(index) if index < count - 1 else "not a number" for index in range(count)],
            "new_value": [str(index + 1) for index in range(count)],
        }
    )
    formats.write("changes", schemas.conform("changes", changes), tmp_path)
    path = tmp_path / "changes.csv"
    assert path.stat().st_size > 1_000_000
    assert formats.count_rows(path) == count


def test_count_rows_rejects_a_csv_row_with_too_many_fields(tmp_path: Path):
    formats.write("papers", large_frame("papers"), tmp_path)
    path = tmp_path / "papers.csv"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("one,field,too,many" + "," * len(schemas.TABLES["papers"].columns) + "\n")
    with pytest.raises(pa.ArrowInvalid, match="Expected 21 columns"):
        formats.count_rows(path)


def _varied(values: list, column, is_key: bool) -> list:
    """The values of one column: unique for a key column, else mixed with nulls and hard-to-render values."""
    arrow_type = schemas.arrow_type(column)
    if schemas.is_list_column(column):
        return [HOSTILE_LISTS[index % len(HOSTILE_LISTS)] if index % 3 else list(value) for index, value in enumerate(values)]
    if is_key:
        return [_shifted(value, index, arrow_type) for index, value in enumerate(values)]
    varied = [_hostile(value, index, arrow_type) for index, value in enumerate(values)]
    return [None if column.nullable and index % 7 == 3 else value for index, value in enumerate(varied)]


def _shifted(value, index: int, arrow_type: pa.DataType):
    """A key value made unique by its row index."""
    if pa.types.is_string(arrow_type):
        return f"{value}-{index:04d}"
    if pa.types.is_integer(arrow_type):
        return int(value) + index
    if pa.types.is_date32(arrow_type):
        return value + dt.timedelta(days=index)
    raise AssertionError(f"no unique values for a key of type {arrow_type}")


def _hostile(value, index: int, arrow_type: pa.DataType):
    """Every other string a hard one; numbers, flags and dates varied by row."""
    if pa.types.is_floating(arrow_type):
        return HOSTILE_NUMBERS[index % len(HOSTILE_NUMBERS)]
    if pd.isna(value):
        return value
    if pa.types.is_string(arrow_type):
        return HOSTILE_TEXTS[index % len(HOSTILE_TEXTS)] if index % 2 else value
    if pa.types.is_boolean(arrow_type):
        return bool(value) != (index % 2 == 1)
    return _shifted(value, index, arrow_type)


@pytest.mark.parametrize("table", TABLES)
def test_json_lines_are_what_json_dumps_gives_for_each_row(table: str):
    """The column-wise JSON Lines encoder against the plain json.dumps of each row as a dict."""
    frame = large_frame(table)
    expected = "".join(
        json.dumps({name: diff.json_value(value) for name, value in row.items()}, ensure_ascii=False, separators=(",", ":")) + "\n"
        for row in frame.to_dict("records")
    )
    assert formats.render(table, frame, "jsonl").decode("utf-8") == expected


def pandas_csv(table: str, frame: pd.DataFrame) -> bytes:
    """The CSV text as pandas' to_csv writes the frame: how every published CSV file was first written."""
    out = frame.copy()
    for name, column in schemas.TABLES[table].schema.columns.items():
        if schemas.is_list_column(column):
            out[name] = out[name].map(formats.LIST_SEPARATOR.join)
        elif out[name].dtype == bool:
            out[name] = out[name].map({True: "true", False: "false"})
        elif isinstance(out[name].dtype, pd.ArrowDtype):
            out[name] = out[name].astype(str).where(out[name].notna(), "")
        elif isinstance(out[name].dtype, pd.BooleanDtype):
            out[name] = out[name].map({True: "true", False: "false"}, na_action="ignore")
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")


@pytest.mark.parametrize("table", TABLES)
def test_csv_is_what_pandas_to_csv_gives(table: str):
    """The column-wise Arrow CSV encoder against pandas, which wrote the CSV files of earlier releases."""
    frame = large_frame(table)
    assert formats.render(table, frame, "csv") == pandas_csv(table, frame)


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(max_size=40), min_size=1, max_size=8), lists=st.lists(st.lists(st.text(max_size=12), max_size=3), min_size=8, max_size=8),
       scores=st.lists(st.none() | st.floats(min_value=0, allow_infinity=False), min_size=8, max_size=8))
def test_any_text_is_quoted_and_escaped_as_pandas_and_json_dumps_do(texts: list[str], lists: list[list[str]], scores: list[float | None]):
    """Any Unicode text (control characters, quotes, commas, line breaks) in CSV and JSON Lines, and any score."""
    papers = large_frame("papers").iloc[:8].copy()
    papers["title"] = [texts[index % len(texts)] for index in range(8)]
    papers["authors"] = lists
    papers = schemas.conform("papers", papers)
    authorships = large_frame("authorships").iloc[:8].copy()
    authorships["source_file"] = [texts[index % len(texts)] for index in range(8)]
    authorships["site_score"] = pd.array(scores, dtype="Float64")
    for table, frame in (("papers", papers), ("authorships", authorships)):
        assert formats.render(table, frame, "csv") == pandas_csv(table, frame)
        expected = "".join(
            json.dumps({name: diff.json_value(value) for name, value in row.items()}, ensure_ascii=False, separators=(",", ":")) + "\n"
            for row in frame.to_dict("records")
        )
        assert formats.render(table, frame, "jsonl").decode("utf-8") == expected


@pytest.mark.parametrize("table", TABLES)
def test_parts_rendered_ahead_append_to_the_bytes_of_one_write(table: str, tmp_path: Path):
    """Rows rendered by PartWriter (in pool workers) and appended give the files of writing them at once."""
    frame = large_frame(table)
    parts = []
    for number, (start, stop) in enumerate([(0, 100), (100, 100), (100, LARGE_ROWS)]):
        writer = formats.PartWriter(table, tmp_path, f"part-{number}")
        writer.write(frame.iloc[start:stop])
        parts.append(writer.close())
    (tmp_path / "appended").mkdir()
    with formats.TableWriter(table, tmp_path / "appended", SMALL_ROW_GROUP) as writer:
        writer.write(frame.iloc[:0])
        for part in parts:
            writer.append(part)
    appended = writer.close()
    (tmp_path / "whole").mkdir()
    whole = write_in_chunks(table, frame, [], tmp_path / "whole", SMALL_ROW_GROUP)
    assert file_bytes(table, tmp_path / "appended") == file_bytes(table, tmp_path / "whole")
    assert appended == whole


@pytest.mark.parametrize("table", TABLES)
def test_consumed_parts_are_removed_once_appended_and_give_the_same_bytes(table: str, tmp_path: Path):
    """append(consume=True) removes each part's files, and the table's files are those of keeping them."""
    frame = large_frame(table)
    parts = {}
    for consume in (False, True):
        parts[consume] = []
        for number, (start, stop) in enumerate([(0, 100), (100, LARGE_ROWS)]):
            (tmp_path / f"parts-{consume}").mkdir(exist_ok=True)
            writer = formats.PartWriter(table, tmp_path / f"parts-{consume}", f"part-{number}")
            writer.write(frame.iloc[start:stop])
            parts[consume].append(writer.close())
        (tmp_path / f"table-{consume}").mkdir()
        with formats.TableWriter(table, tmp_path / f"table-{consume}", SMALL_ROW_GROUP) as writer:
            for part in parts[consume]:
                writer.append(part, consume=consume)
        writer.close()
    assert file_bytes(table, tmp_path / "table-True") == file_bytes(table, tmp_path / "table-False")
    assert [path.name for path in (tmp_path / "parts-True").iterdir()] == []
    assert all(part.path(kind).exists() for part in parts[False] for kind in ("csv", "jsonl", "arrow"))


@pytest.mark.parametrize("text", [b"", b"a", b"a\n", b"a\nb", b"\n\n", b"x" * (1 << 20) + b"\ny", b"x" * ((1 << 20) - 1) + b"\n"])
def test_count_rows_counts_json_lines_as_iterating_the_file_does(text: bytes, tmp_path: Path):
    """JSON Lines are counted by their line ends, block by block; a last line without one counts too."""
    path = tmp_path / "rows.jsonl"
    path.write_bytes(text)
    with open(path, "rb") as handle:
        assert formats.count_rows(path) == sum(1 for _ in handle)


def test_parts_and_chunks_interleaved_keep_their_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Parts are copied by the writer's own thread; a chunk written after them still comes after their text."""
    copy_text = formats.TableWriter._copy_text

    def slow_copy(writer: formats.TableWriter, part: formats.Part, consume: bool) -> None:
        time.sleep(0.2)  # a chunk written without waiting for the copies would overtake them
        copy_text(writer, part, consume)

    monkeypatch.setattr(formats.TableWriter, "_copy_text", slow_copy)
    table = "papers"
    frame = large_frame(table)
    cuts = [0, 40, 90, 150, 200, LARGE_ROWS]
    (tmp_path / "interleaved").mkdir()
    with formats.TableWriter(table, tmp_path / "interleaved", SMALL_ROW_GROUP) as writer:
        for number, (start, stop) in enumerate(zip(cuts, cuts[1:])):
            if number % 2:
                part_writer = formats.PartWriter(table, tmp_path, f"part-{number}")
                part_writer.write(frame.iloc[start:stop])
                writer.append(part_writer.close())
            else:
                writer.write(frame.iloc[start:stop])
    (tmp_path / "whole").mkdir()
    write_in_chunks(table, frame, [], tmp_path / "whole", SMALL_ROW_GROUP)
    assert file_bytes(table, tmp_path / "interleaved") == file_bytes(table, tmp_path / "whole")


def test_a_part_that_cannot_be_copied_fails_and_leaves_no_files(tmp_path: Path):
    part_writer = formats.PartWriter("papers", tmp_path, "part")
    part_writer.write(large_frame("papers"))
    part = part_writer.close()
    part.path("jsonl").unlink()  # lost before the main process appends it
    (tmp_path / "table").mkdir()
    with pytest.raises(FileNotFoundError, match="part.jsonl"):
        with formats.TableWriter("papers", tmp_path / "table") as writer:
            writer.append(part)
    assert list((tmp_path / "table").iterdir()) == []
