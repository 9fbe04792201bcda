"""Record-level comparison of a new release with the previous one: the `changes` table."""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import schemas
from flows import formats
from schemas.changes import SCHEMA_KEY, WHOLE_RECORD

KEY_SEPARATOR = "/"
# Rows read per Parquet batch on each side of a table's diff: with the rows carried from the
# previous window, a side never holds more than one batch.
BATCH_ROWS = 20_000


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
    of the two sides' last keys read; rows after that cut wait for the next window. Memory is
    bounded by one batch per side plus the changes found: those are all kept and sorted at the
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
        previous_batches: Iterator[pd.DataFrame] = iter(())
        if previous_path.exists():
            rows += _schema_changes(release_id, table, pq.read_schema(previous_path), schemas.arrow_schema(table))
            previous_batches = _key_ordered_batches(table, previous_path, batch_size)
        current_batches = _key_ordered_batches(table, current_path, batch_size)
        for old, new in _aligned_windows(table, previous_batches, current_batches):
            rows += _record_changes(release_id, table, old, new)
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
    parts = [frame[column].map(lambda value: str(json_value(value))).astype(str) for column in key]
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
    table: str, previous: Iterator[pd.DataFrame], current: Iterator[pd.DataFrame]
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(previous rows, current rows) of consecutive key ranges, each ending at the smaller last key read.

    Every row of either side up to the cut is in hand: a side's next batch starts after its last
    key read, which is at or after the cut. The rows after the cut are carried into the next
    window, and only a side with nothing carried reads its next batch.
    """
    key = list(schemas.TABLES[table].primary_key)
    empty = schemas.empty_frame(table)
    old_rest = new_rest = empty
    while True:
        # A side still empty after reading is exhausted: the readers yield no empty batches.
        old_rest = old_rest if len(old_rest) else next(previous, empty)
        new_rest = new_rest if len(new_rest) else next(current, empty)
        if not len(old_rest) and not len(new_rest):
            return
        cut = min(_row_key(rest, key, len(rest) - 1) for rest in (old_rest, new_rest) if len(rest))
        old_count, new_count = _rows_up_to(old_rest, key, cut), _rows_up_to(new_rest, key, cut)
        yield old_rest.iloc[:old_count], new_rest.iloc[:new_count]
        old_rest, new_rest = old_rest.iloc[old_count:], new_rest.iloc[new_count:]


def _key_ordered_batches(table: str, path: Path, batch_size: int) -> Iterator[pd.DataFrame]:
    """The non-empty batches of a table file, refusing a file whose batches are out of key order.

    Each batch comes back sorted (schemas.conform); a batch that starts at or before the end of
    the one before means the file is not sorted by key, and merge-joining it would silently
    report rows as added and removed.
    """
    key = list(schemas.TABLES[table].primary_key)
    last_row = None
    for batch in _read_parquet_batches(table, path, batch_size):
        if not len(batch):
            continue
        if last_row is not None and _row_key(batch, key, 0) <= _row_key(last_row, key, 0):
            raise ValueError(
                f"{path}: rows are not sorted by {', '.join(key)}: "
                f"{_key_strings(batch.iloc[:1], key)[0]} comes after {_key_strings(last_row, key)[0]}"
            )
        last_row = batch.iloc[-1:]
        yield batch


def _read_parquet_batches(table: str, path: Path, batch_size: int) -> Iterator[pd.DataFrame]:
    """formats.read of a Parquet file, `batch_size` rows at a time: the same columns, dtypes, lists and dates."""
    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=batch_size):
            yield formats.from_arrow(table, pa.Table.from_batches([batch]))


def _rows_up_to(frame: pd.DataFrame, key: list[str], cut: tuple) -> int:
    """How many leading rows of a key-sorted frame have a key at or before `cut`."""
    return bisect.bisect_right(range(len(frame)), cut, key=lambda position: _row_key(frame, key, position))


def _row_key(frame: pd.DataFrame, key: list[str], position: int) -> tuple:
    """A row's primary key as a tuple, which orders as sort_values(key) does.

    Strings compare by code point, ints numerically (line 9 before line 10), dates chronologically.
    """
    return tuple(frame[column].iat[position] for column in key)
