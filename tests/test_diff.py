"""The streamed release diff: merge-joining two releases' Parquet files batch by batch gives the whole-table diff."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from flows import diff, formats
from flows.tables import DATA_TABLES
from schemas.changes import SCHEMA_KEY

SEED_RELEASE = Path(__file__).resolve().parent.parent / "output" / "latest"
RELEASE_ID = "2027-01-01"
BATCH_SIZES = (1, 2, 7)
# Rows of each seed table the generated releases start from: enough for windows to interleave
# at every batch size, few enough that each example (three diffs of batch size 1 to 7) is quick.
SEED_ROWS = 10
# The seed release rejects nothing. These share a file, so `line` alone orders them, and
# numerically: line 9 comes before line 10 (as text, "10" < "9").
SEED_REJECTS = [
    {"source_file": "profiles/ada-lovelace/2026-11-26.txt", "line": line, "stage": "extract",
     "record_type": "paper", "reason": f"profiles/ada-lovelace/2026-11-26.txt:{line}: expected a date line, found 'x'",
     "raw_text": "x"}
    for line in (2, 9, 10, 100)
]
NEW_PAPER_ID = "ffffffffffffffff"
NEW_TITLE = "A Retitled Paper"
MOVED_SOURCE_LINE = 999
# Text drawn for new keys, which order by code point ("0" < "Z" < "a" < "é" < "😀"); no `/`, which
# joins the parts of a composite key.
KEY_TEXT = st.text(alphabet="aZ09-é😀", min_size=1, max_size=3)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=5)


def seed(table: str) -> pd.DataFrame:
    """The first SEED_ROWS rows of a table of the committed seed release (rejects: SEED_REJECTS)."""
    if table == "rejects":
        return schemas.conform(table, pd.DataFrame(SEED_REJECTS))
    return formats.read(table, SEED_RELEASE / formats.table_file(table, "parquet")).head(SEED_ROWS)


def whole_table_changes(table: str, previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """The reference: both whole tables compared in one window, as the in-memory diff did."""
    return changes_frame(diff._record_changes(RELEASE_ID, table, previous, current))


def changes_frame(rows: list[dict]) -> pd.DataFrame:
    return schemas.conform("changes", pd.DataFrame(rows, columns=schemas.TABLES["changes"].columns))


def write_release(directory: Path, tables: dict[str, pd.DataFrame]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for table, frame in tables.items():
        formats.write(table, frame, directory)
    return directory


def values(column: pandera.Column, *, is_key: bool = False) -> st.SearchStrategy:
    """Values a column's type can hold, null included where the column is nullable."""
    arrow_type = schemas.arrow_type(column)
    if pa.types.is_list(arrow_type):
        strategy = st.lists(TEXT, max_size=3)
    elif pa.types.is_date32(arrow_type):
        strategy = st.dates(dt.date(2026, 11, 1), dt.date(2026, 12, 31))
    elif pa.types.is_boolean(arrow_type):
        strategy = st.booleans()
    elif pa.types.is_integer(arrow_type):
        strategy = st.integers(1, 120)
    elif pa.types.is_floating(arrow_type):
        strategy = st.floats(0, 100, allow_nan=False)
    else:
        strategy = KEY_TEXT if is_key else TEXT
    return strategy | st.none() if column.nullable and not is_key else strategy


@st.composite
def altered(draw, table: str, same_records: bool = False) -> pd.DataFrame:
    """The seed table with rows dropped, altered copies added under new keys, and fields changed.

    Changed fields may be content, provenance, lists or nulls; a copy keeps some parts of its
    composite key, so new keys fall between old ones. With `same_records`, no row is dropped or
    added: every window of a diff then holds the same keys on both sides, as in most refreshes.
    """
    base = seed(table).to_dict("records")
    columns = schemas.TABLES[table].schema.columns
    key = list(schemas.TABLES[table].primary_key)
    fields = [name for name in columns if name not in key]
    if same_records:
        kept, copies = [dict(record) for record in base], []
    else:
        kept = [dict(record) for record in base if draw(st.booleans())]
        copies = [dict(record) for record in draw(st.lists(st.sampled_from(base), max_size=3))]
    for copy in copies:
        for name in key:
            if draw(st.booleans()):
                copy[name] = draw(values(columns[name], is_key=True))
    for record in kept + copies:
        for name in draw(st.lists(st.sampled_from(fields), max_size=2)):
            record[name] = draw(values(columns[name]))
    # A copy whose key is already taken is dropped: a release has one row per key.
    return schemas.conform(table, pd.DataFrame(kept + copies, columns=list(columns)).drop_duplicates(key))


@pytest.mark.parametrize("same_records", [False, True], ids=["records-added-and-removed", "same-records"])
@pytest.mark.parametrize("table", DATA_TABLES)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_streamed_diff_equals_the_whole_table_diff(table: str, same_records: bool, data: st.DataObject):
    previous = data.draw(altered(table, same_records), "previous")
    current = data.draw(altered(table, same_records), "current")
    with tempfile.TemporaryDirectory() as folder:
        previous_dir = write_release(Path(folder) / "previous", {table: previous})
        current_dir = write_release(Path(folder) / "current", {table: current})
        # As publish did: the previous release read back from its files, the new one as built.
        expected = whole_table_changes(table, formats.read(table, previous_dir / formats.table_file(table, "parquet")), current)
        for batch_size in BATCH_SIZES:
            changes = diff.diff_release_files(RELEASE_ID, previous_dir, current_dir, [table], batch_size)
            pd.testing.assert_frame_equal(changes, expected, obj=f"changes at batch size {batch_size}")


def test_records_added_removed_and_modified_but_not_provenance_only_moves(tmp_path: Path):
    papers = seed("papers")
    removed_id, retitled_id, moved_id = papers["paper_id"].iloc[:3]
    current = papers[papers["paper_id"] != removed_id].copy()
    current.loc[current["paper_id"] == retitled_id, ["title", "source_line"]] = [NEW_TITLE, MOVED_SOURCE_LINE]
    current.loc[current["paper_id"] == moved_id, "source_line"] = MOVED_SOURCE_LINE
    current = schemas.conform("papers", pd.concat([current, papers.iloc[[3]].assign(paper_id=NEW_PAPER_ID)]))
    previous_dir = write_release(tmp_path / "previous", {"papers": papers})
    current_dir = write_release(tmp_path / "current", {"papers": current})

    changes = diff.diff_release_files(RELEASE_ID, previous_dir, current_dir, ["papers"], batch_size=1)

    old_title = papers.loc[papers["paper_id"] == retitled_id, "title"].iloc[0]
    old_line = papers.loc[papers["paper_id"] == retitled_id, "source_line"].iloc[0]
    assert changes.loc[changes["change_type"] == "modified", ["key", "field", "old_value", "new_value"]].values.tolist() == [
        [retitled_id, "source_line", str(old_line), str(MOVED_SOURCE_LINE)],
        [retitled_id, "title", json.dumps(old_title, ensure_ascii=False), json.dumps(NEW_TITLE)],
    ]
    assert sorted(changes.loc[changes["change_type"] != "modified", ["key", "change_type"]].values.tolist()) == sorted(
        [[removed_id, "removed"], [NEW_PAPER_ID, "added"]]
    )


def test_an_extra_or_retyped_previous_column_is_a_schema_change(tmp_path: Path):
    papers = seed("papers")
    previous_dir = write_release(tmp_path / "previous", {"papers": papers})
    current_dir = write_release(tmp_path / "current", {"papers": papers})
    previous_path = previous_dir / formats.table_file("papers", "parquet")
    arrow = pq.read_table(previous_path)
    arrow = arrow.set_column(arrow.schema.get_field_index("n_profiles"), "n_profiles", arrow["n_profiles"].cast(pa.int32()))
    pq.write_table(arrow.append_column("legacy_score", pa.array(range(len(papers)), pa.int64())), previous_path)

    changes = diff.diff_release_files(RELEASE_ID, previous_dir, current_dir, ["papers"], batch_size=2)

    schema_change = {"release_id": RELEASE_ID, "table": "papers", "key": SCHEMA_KEY}
    pd.testing.assert_frame_equal(changes, changes_frame([
        {**schema_change, "field": "legacy_score", "change_type": "removed", "old_value": '"int64"', "new_value": None},
        {**schema_change, "field": "n_profiles", "change_type": "modified", "old_value": '"int32"', "new_value": '"int64"'},
    ]))


def test_a_file_out_of_key_order_is_refused(tmp_path: Path):
    papers = seed("papers")
    previous_dir = write_release(tmp_path / "previous", {"papers": papers})
    current_dir = write_release(tmp_path / "current", {"papers": papers})
    reversed_papers = papers.iloc[::-1].reset_index(drop=True)
    pq.write_table(formats.to_arrow("papers", reversed_papers), previous_dir / formats.table_file("papers", "parquet"))

    with pytest.raises(ValueError, match=r"papers\.parquet: rows are not sorted by paper_id"):
        diff.diff_release_files(RELEASE_ID, previous_dir, current_dir, ["papers"], batch_size=2)


def test_batches_are_read_one_ahead_in_order_and_a_read_error_comes_after_the_batches_before_it():
    pulled = []

    def batches():
        for number in range(5):
            pulled.append(number)
            if number == 3:
                raise ValueError("batch 3 unreadable")
            yield number

    received = []
    with pytest.raises(ValueError, match="batch 3 unreadable"):
        for batch in diff._read_ahead(batches()):
            # Bounded memory: while the caller holds batch n, at most batch n + 1 has been read.
            assert max(pulled) <= batch + 1
            received.append(batch)
    assert received == [0, 1, 2]


@pytest.mark.parametrize("previous_file", ["empty", "missing"])
def test_a_table_new_in_this_release_is_all_added(tmp_path: Path, previous_file: str):
    authorships = seed("authorships")
    previous_dir = write_release(tmp_path / "previous", {"authorships": schemas.empty_frame("authorships")} if previous_file == "empty" else {})
    current_dir = write_release(tmp_path / "current", {"authorships": authorships})

    changes = diff.diff_release_files(RELEASE_ID, previous_dir, current_dir, ["authorships"], batch_size=7)

    assert changes["change_type"].tolist() == ["added"] * len(authorships)
    pd.testing.assert_frame_equal(changes, whole_table_changes("authorships", schemas.empty_frame("authorships"), authorships))


def test_a_table_missing_from_the_current_release_is_not_compared(tmp_path: Path):
    previous_dir = write_release(tmp_path / "previous", {"papers": seed("papers"), "profiles": seed("profiles")})
    current_dir = write_release(tmp_path / "current", {"profiles": seed("profiles")})

    changes = diff.diff_release_files(RELEASE_ID, previous_dir, current_dir, ["papers", "profiles"], batch_size=1)

    pd.testing.assert_frame_equal(changes, schemas.empty_frame("changes"))


def test_identical_releases_have_no_changes():
    changes = diff.diff_release_files(RELEASE_ID, SEED_RELEASE, SEED_RELEASE, DATA_TABLES, batch_size=2)

    pd.testing.assert_frame_equal(changes, schemas.empty_frame("changes"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.none() | st.lists(st.none() | TEXT, max_size=3), st.none() | st.lists(st.none() | TEXT, max_size=3)), max_size=12))
def test_lists_are_unequal_exactly_when_python_says_so(pairs: list[tuple[list | None, list | None]]):
    """The Arrow comparison of list cells that decides which rows the field-by-field diff sees."""
    list_type = pa.list_(pa.string())
    old = pa.array([old for old, _ in pairs], list_type)
    new = pa.array([new for _, new in pairs], list_type)
    assert diff._unequal_lists(old, new).to_pylist() == [old != new for old, new in pairs]
