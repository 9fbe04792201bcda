"""Record-level comparison of a new release with the previous one: the `changes` table."""

from __future__ import annotations

import bisect
import concurrent.futures
import datetime as dt
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import schemas
from flows import formats
from schemas.changes import SCHEMA_KEY, WHOLE_RECORD

KEY_SEPARATOR = "/"
# Rows read per Parquet batch on each side of a table's diff: with the rows carried from the
# previous window, a side never holds more than one batch, and the next one being read (_read_ahead).
BATCH_ROWS = 20_000
_OLD_ROW, _NEW_ROW = "_old_row", "_new_row"


def diff_release_files(
    release_id: str,
    previous_dir: Path,
    current_dir: Path,
    tables: Iterable[str],
    batch_size: int = BATCH_ROWS,
) -> pd.DataFrame:
    """Every record added, removed or modified per table, and every column added, removed or retyped.

    Reads each table's Parquet file of both releases `batch_size` rows at a time. Both files are
    sorted by the table's primary key, so they are merge-joined in windows that end at the smaller
    of the two sides' last keys read; rows after that cut wait for the next window. Rows equal in
    both releases are dropped in Arrow (_unequal_rows); only the rest are compared field by field
    in pandas. Each side's next batch is decoded by a thread while this one is compared. Memory is
    bounded by two batches per side plus the changes found: those are all kept and sorted at the
    end (schemas.conform), like any published table.

    A table missing from the previous release is compared with an empty one (and has no schema
    changes); a table missing from the current release is not compared. Added and removed rows
    carry the whole record as JSON, so a consumer can bring an old copy up to date by applying
    each release's changes in order.
    """
    rows: list[dict] = []
    for table in tables:
        current_path = current_dir / formats.table_file(table, "parquet")
        if not current_path.exists():
            continue
        previous_path = previous_dir / formats.table_file(table, "parquet")
        previous_batches: Iterator[pa.Table] = iter(())
        previous_schema = current_schema = pq.read_schema(current_path)
        if previous_path.exists():
            previous_schema = pq.read_schema(previous_path)
            rows += _schema_changes(release_id, table, previous_schema, schemas.arrow_schema(table))
            previous_batches = _read_ahead(_key_ordered_batches(table, previous_path, batch_size))
        current_batches = _read_ahead(_key_ordered_batches(table, current_path, batch_size))
        for old, new in _aligned_windows(table, previous_batches, current_batches, previous_schema, current_schema):
            old, new = _unequal_rows(table, old, new)
            if old.num_rows or new.num_rows:
                rows += _record_changes(release_id, table, formats.from_arrow(table, old), formats.from_arrow(table, new))
    return schemas.conform("changes", pd.DataFrame(rows, columns=schemas.TABLES["changes"].columns))


def json_value(value: object) -> object:
    """A cell as a JSON-ready value: dates ISO, missing values null, lists as lists."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.isoformat()[:10]
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value


def _dumps(value: object) -> str:
    return json.dumps(json_value(value), ensure_ascii=False, separators=(",", ":"))


def _record_changes(release_id: str, table: str, old: pd.DataFrame, new: pd.DataFrame) -> list[dict]:
    key = list(schemas.TABLES[table].primary_key)
    shared_columns = [column for column in new.columns if column in old.columns and column not in key]
    old_keyed = old.assign(_key=_key_strings(old, key)).set_index("_key")
    new_keyed = new.assign(_key=_key_strings(new, key)).set_index("_key")
    rows = []
    for record_key in new_keyed.index.difference(old_keyed.index):
        rows.append(_change(release_id, table, record_key, WHOLE_RECORD, "added", None, _record_json(new_keyed.loc[record_key])))
    for record_key in old_keyed.index.difference(new_keyed.index):
        rows.append(_change(release_id, table, record_key, WHOLE_RECORD, "removed", _record_json(old_keyed.loc[record_key]), None))
    common = new_keyed.index.intersection(old_keyed.index)
    if len(common):
        old_common = old_keyed.loc[common, shared_columns]
        new_common = new_keyed.loc[common, shared_columns]
        differs = pd.DataFrame({column: _differs(old_common[column], new_common[column]) for column in shared_columns}, index=common)
        content = [column for column in shared_columns if column not in schemas.provenance_columns(table)]
        # A recapture that only moved provenance (new file, new line numbers) is no change.
        changed_records = differs[content].any(axis=1) if content else pd.Series(False, index=common)
        for column in shared_columns:
            for record_key in common[differs[column] & changed_records]:
                rows.append(
                    _change(release_id, table, record_key, column, "modified",
                            _dumps(old_common.at[record_key, column]), _dumps(new_common.at[record_key, column]))
                )
    return rows


def _schema_changes(release_id: str, table: str, old: pa.Schema, new: pa.Schema) -> list[dict]:
    rows = []
    for name in new.names:
        if name not in old.names:
            rows.append(_change(release_id, table, SCHEMA_KEY, name, "added", None, json.dumps(str(new.field(name).type))))
        elif old.field(name).type != new.field(name).type:
            rows.append(_change(release_id, table, SCHEMA_KEY, name, "modified",
                                json.dumps(str(old.field(name).type)), json.dumps(str(new.field(name).type))))
    for name in old.names:
        if name not in new.names:
            rows.append(_change(release_id, table, SCHEMA_KEY, name, "removed", json.dumps(str(old.field(name).type)), None))
    return rows


def _differs(old: pd.Series, new: pd.Series) -> pd.Series:
    """Element-wise 'not equal', where two missing values are equal and lists compare by content."""
    if old.dtype == object or new.dtype == object:
        return pd.Series([_dumps(a) != _dumps(b) for a, b in zip(old, new)], index=old.index)
    both_missing = old.isna() & new.isna()
    equal = (old == new).fillna(False).astype(bool)
    return ~(equal | both_missing)


def _key_strings(frame: pd.DataFrame, key: list[str]) -> pd.Index:
    # .astype(str): on an empty frame .map keeps the column's dtype (int64 `line` of rejects),
    # and str + int64 raises.
    parts = [frame[column].map(_key_part).astype(str) for column in key]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + KEY_SEPARATOR + part
    return pd.Index(joined, dtype=object)


def _record_json(record: pd.Series) -> str:
    return json.dumps({name: json_value(value) for name, value in record.items()}, ensure_ascii=False, separators=(",", ":"))


def _change(release_id: str, table: str, key: str, field: str, change_type: str, old: str | None, new: str | None) -> dict:
    return {"release_id": release_id, "table": table, "key": key, "field": field,
            "change_type": change_type, "old_value": old, "new_value": new}


def _aligned_windows(
    table: str, previous: Iterator[pa.Table], current: Iterator[pa.Table], previous_schema: pa.Schema, current_schema: pa.Schema
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """(previous rows, current rows) of consecutive key ranges, each ending at the smaller last key read.

    Every row of either side up to the cut is in hand: a side's next batch starts after its last
    key read, which is at or after the cut. The rows after the cut are carried into the next
    window, and only a side with nothing carried reads its next batch.
    """
    key = list(schemas.TABLES[table].primary_key)
    old_rest, new_rest = previous_schema.empty_table(), current_schema.empty_table()
    while True:
        # A side still empty after reading is exhausted: the readers yield no empty batches.
        old_rest = old_rest if old_rest.num_rows else next(previous, old_rest)
        new_rest = new_rest if new_rest.num_rows else next(current, new_rest)
        if not old_rest.num_rows and not new_rest.num_rows:
            return
        cut = min(_row_key(rest, key, rest.num_rows - 1) for rest in (old_rest, new_rest) if rest.num_rows)
        old_count, new_count = _rows_up_to(old_rest, key, cut), _rows_up_to(new_rest, key, cut)
        yield old_rest.slice(0, old_count), new_rest.slice(0, new_count)
        old_rest, new_rest = old_rest.slice(old_count), new_rest.slice(new_count)


def _unequal_rows(table: str, old: pa.Table, new: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The rows of a window that can hold a change: keys on one side only, and shared keys with any value unequal.

    Arrow's equality is stricter than _record_changes' (NaN is never equal), so a row dropped
    here has no change; a column added, removed or retyped between releases keeps every row.
    """
    if old.schema != new.schema or not old.num_rows or not new.num_rows:
        return old, new
    key = list(schemas.TABLES[table].primary_key)
    if old.num_rows == new.num_rows and all(old.column(name).equals(new.column(name)) for name in key):
        # The same records in the same order, as in nearly every window of a refresh: rows pair
        # by position, with no join and no copy of every column (one new capture at 10,000
        # profiles: the whole diff 3.5-4.1 s with them, 2.2-2.9 s without).
        unequal = _unequal_fields(old.drop_columns(key), new.drop_columns(key))
        return old.filter(unequal), new.filter(unequal)
    pairs = (old.select(key).append_column(_OLD_ROW, pa.array(range(old.num_rows), pa.int64()))
             .join(new.select(key).append_column(_NEW_ROW, pa.array(range(new.num_rows), pa.int64())), key, join_type="inner"))
    old_rows, new_rows = pairs.column(_OLD_ROW).combine_chunks(), pairs.column(_NEW_ROW).combine_chunks()
    unequal = _unequal_fields(old.drop_columns(key).take(old_rows), new.drop_columns(key).take(new_rows))
    keep_old = _without(old.num_rows, old_rows.filter(pc.invert(unequal)))
    keep_new = _without(new.num_rows, new_rows.filter(pc.invert(unequal)))
    return old.filter(keep_old), new.filter(keep_new)


def _unequal_fields(old: pa.Table, new: pa.Table) -> pa.Array:
    """Row by row, whether any column differs between two tables of the same columns whose rows are paired by position."""
    unequal = pa.array(np.zeros(new.num_rows, dtype=bool))
    for name in new.column_names:
        unequal = pc.or_(unequal, _unequal(old.column(name), new.column(name)))
    return unequal


def _unequal(old: pa.ChunkedArray, new: pa.ChunkedArray) -> pa.Array:
    """Element-wise: the values differ (two nulls are equal; lists compare item by item)."""
    if pa.types.is_list(new.type):
        return _unequal_lists(old.combine_chunks(), new.combine_chunks())
    both_null = pc.and_(old.is_null(), new.is_null())
    return pc.invert(pc.or_(pc.fill_null(pc.equal(old, new), False), both_null)).combine_chunks()


def _unequal_lists(old: pa.ListArray, new: pa.ListArray) -> pa.Array:
    """Lists differ in length (a null list has none) or in an item at the same place."""
    lengths = [pc.fill_null(pc.list_value_length(values), -1) for values in (old, new)]
    same_length = pc.equal(*lengths)
    rows = pc.indices_nonzero(same_length)
    old_lists = old.take(rows)
    old_items, new_items = pc.list_flatten(old_lists), pc.list_flatten(new.take(rows))
    items_equal = pc.or_(pc.fill_null(pc.equal(old_items, new_items), False), pc.and_(old_items.is_null(), new_items.is_null()))
    unequal = pc.invert(same_length).to_numpy(zero_copy_only=False).copy()
    differing_items = pc.list_parent_indices(old_lists).filter(pc.invert(items_equal))
    unequal[rows.take(differing_items).to_numpy(zero_copy_only=False)] = True
    return pa.array(unequal)


def _without(rows: int, dropped: pa.Array) -> pa.Array:
    """A mask of `rows` rows, false at the positions in `dropped`."""
    mask = np.ones(rows, dtype=bool)
    mask[dropped.to_numpy(zero_copy_only=False)] = False
    return pa.array(mask)


def _key_ordered_batches(table: str, path: Path, batch_size: int) -> Iterator[pa.Table]:
    """The non-empty batches of a table file, refusing a file whose batches are out of key order.

    A batch that starts at or before the end of the one before means the file is not sorted by
    key, and merge-joining it would silently report rows as added and removed.
    """
    key = list(schemas.TABLES[table].primary_key)
    last_row = None
    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=batch_size):
            if not batch.num_rows:
                continue
            batch = pa.Table.from_batches([batch])
            if last_row is not None and _row_key(batch, key, 0) <= _row_key(last_row, key, 0):
                raise ValueError(
                    f"{path}: rows are not sorted by {', '.join(key)}: "
                    f"{_key_text(batch, key, 0)} comes after {_key_text(last_row, key, 0)}"
                )
            last_row = batch.slice(batch.num_rows - 1)
            yield batch


def _read_ahead(batches: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """The same batches, the next one read by a thread of its own while the caller compares this one.

    Decoding Parquet leaves the GIL, and the comparison is many short Arrow calls: side by side,
    the diff of a 10,000-profile refresh took 1.5-1.7 s instead of 1.9-2.9 s. One batch ahead, no more.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader:
        upcoming = reader.submit(next, batches, None)
        while (batch := upcoming.result()) is not None:
            upcoming = reader.submit(next, batches, None)
            yield batch


def _rows_up_to(rows: pa.Table, key: list[str], cut: tuple) -> int:
    """How many leading rows of a key-sorted table have a key at or before `cut`."""
    return bisect.bisect_right(range(rows.num_rows), cut, key=lambda position: _row_key(rows, key, position))


def _row_key(rows: pa.Table, key: list[str], position: int) -> tuple:
    """A row's primary key as a tuple, which orders as the files are sorted.

    Strings compare by code point, ints numerically (line 9 before line 10), dates chronologically.
    """
    return tuple(rows.column(column)[position].as_py() for column in key)


def _key_text(rows: pa.Table, key: list[str], position: int) -> str:
    """One row's key as _key_strings writes it, for messages."""
    return KEY_SEPARATOR.join(_key_part(value) for value in _row_key(rows, key, position))


def _key_part(value: object) -> str:
    return str(json_value(value))
