"""Every published table declared once: columns, types, descriptions, checks, keys.

Column order, dtypes, the Arrow schema of each file, the data dictionary and the Frictionless
Table Schema are all derived from the pandera models here; no other code lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
import pyarrow

from schemas.authorships import Authorship
from schemas.changes import Change
from schemas.fields import LIST
from schemas.papers import Paper
from schemas.profile_snapshots import ProfileSnapshot
from schemas.profiles import Profile
from schemas.rejects import Reject


@dataclass(frozen=True)
class Table:
    """A published table: its model, primary key, foreign keys and a one-line description."""

    name: str
    model: type[pa.DataFrameModel]
    primary_key: tuple[str, ...]
    description: str
    foreign_keys: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...] = ()

    @property
    def schema(self) -> pa.DataFrameSchema:
        return _SCHEMAS[self.name]

    @property
    def columns(self) -> list[str]:
        return list(self.schema.columns)


TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table("profiles", Profile, ("profile_id",), "One row per researcher profile, from its newest capture, with derived counts."),
        Table("papers", Paper, ("paper_id",), "One row per paper, however many profiles list it."),
        Table(
            "authorships", Authorship, ("profile_id", "paper_id"),
            "One row per paper on a profile: the researcher's author role on it.",
            foreign_keys=((("profile_id",), "profiles", ("profile_id",)), (("paper_id",), "papers", ("paper_id",))),
        ),
        Table(
            "profile_snapshots", ProfileSnapshot, ("profile_id", "captured_date"),
            "Header metrics of every archived capture of every profile: the metric history.",
            foreign_keys=((("profile_id",), "profiles", ("profile_id",)),),
        ),
        Table("changes", Change, ("release_id", "table", "key", "field"), "Every record added, removed or modified against the previous release."),
        Table("rejects", Reject, ("source_file", "line"), "Every raw block or record not published, with the reason."),
    )
}
_SCHEMAS = {name: table.model.to_schema() for name, table in TABLES.items()}


def provenance_columns(table: str) -> list[str]:
    """Columns that say where a record was read from rather than what it says."""
    return [name for name, column in TABLES[table].schema.columns.items() if (column.metadata or {}).get("provenance")]


def is_list_column(column: pa.Column) -> bool:
    return (column.metadata or {}).get("logical_type") == LIST["logical_type"]


def arrow_type(column: pa.Column) -> pyarrow.DataType:
    """The Arrow type a column is written with."""
    if is_list_column(column):
        return pyarrow.list_(pyarrow.string())
    dtype = column.dtype.type
    if isinstance(dtype, pd.ArrowDtype):
        return dtype.pyarrow_dtype
    if str(dtype) in ("str", "string", "string[pyarrow]", "string[python]"):
        return pyarrow.string()
    return pyarrow.from_numpy_dtype(dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else dtype)


def arrow_schema(table: str) -> pyarrow.Schema:
    """Arrow schema of a table, with each column's description as field metadata."""
    columns = TABLES[table].schema.columns
    return pyarrow.schema(
        [
            pyarrow.field(
                name, arrow_type(column), nullable=bool(column.nullable),
                metadata={"description": column.description or ""},
            )
            for name, column in columns.items()
        ]
    )


def empty_frame(table: str) -> pd.DataFrame:
    """A zero-row frame with the table's columns and dtypes."""
    return conform(table, pd.DataFrame({name: pd.Series([], dtype=object) for name in TABLES[table].columns}))


def conform(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Select the table's columns in their declared order, cast to declared dtypes, sort by key."""
    schema = TABLES[table].schema
    out = frame.loc[:, list(schema.columns)]  # a copy, copied only where it changes (pandas' copy-on-write)
    for name, column in schema.columns.items():
        if is_list_column(column):
            out[name] = out[name].astype(object)
        else:
            out[name] = out[name].astype(column.dtype.type)
    key = list(TABLES[table].primary_key)
    in_order = len(key) == 1 and out[key[0]].is_monotonic_increasing  # a stable sort would keep every row in place
    return out.sort_values(key, kind="stable").reset_index(drop=True) if len(out) and not in_order else out.reset_index(drop=True)


def dictionary() -> list[dict]:
    """The data dictionary: one entry per table column, in published order."""
    entries = []
    for name, table in TABLES.items():
        for column_name, column in table.schema.columns.items():
            entries.append(
                {
                    "table": name,
                    "column": column_name,
                    "type": logical_type(column),
                    "nullable": bool(column.nullable),
                    "is_key": column_name in table.primary_key,
                    "description": column.description or "",
                }
            )
    return entries


def logical_type(column: pa.Column) -> str:
    """Human type name: string, integer, number, boolean, date or list of strings."""
    arrow = arrow_type(column)
    if pyarrow.types.is_list(arrow):
        return "list of strings"
    if pyarrow.types.is_date32(arrow):
        return "date"
    if pyarrow.types.is_boolean(arrow):
        return "boolean"
    if pyarrow.types.is_integer(arrow):
        return "integer"
    if pyarrow.types.is_floating(arrow):
        return "number"
    return "string"
