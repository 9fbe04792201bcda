"""Record-level comparison of a new release with the previous one: the `changes` table."""

from __future__ import annotations

import datetime as dt
import json
import math

import pandas as pd
import pyarrow as pa

import schemas
from schemas.changes import SCHEMA_KEY, WHOLE_RECORD

KEY_SEPARATOR = "/"


def diff_tables(
    release_id: str,
    previous: dict[str, pd.DataFrame],
    current: dict[str, pd.DataFrame],
    previous_schemas: dict[str, pa.Schema] | None = None,
) -> pd.DataFrame:
    """Every record added, removed or modified per table, and every column added, removed or retyped.

    Added and removed rows carry the whole record as JSON, so a consumer can bring an old copy up
    to date by applying each release's changes in order.
    """
    rows: list[dict] = []
    for table, frame in current.items():
        if table == "changes":
            continue
        old = previous.get(table)
        if previous_schemas is not None and table in previous_schemas:
            rows += _schema_changes(release_id, table, previous_schemas[table], schemas.arrow_schema(table))
        if old is None:
            old = schemas.empty_frame(table)
        rows += _record_changes(release_id, table, old, frame)
    changes = pd.DataFrame(rows, columns=schemas.TABLES["changes"].columns)
    return schemas.conform("changes", changes)


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
