"""Run the pandera schemas lazily: failing rows become rejects, table-level failures stop the run."""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.api.pandas.container
import pandera.errors

import schemas
from flows.errors import TableValidationError

STAGE = "validate"
# Failures that are about the table as a whole, not one row: a duplicate key is two rows each
# fine on their own, and a wrong column or dtype is a bug in our code, not bad data.
_TABLE_LEVEL_CHECKS = ("field_uniqueness", "multiple_fields_uniqueness", "unique", "column_in_schema",
                       "column_in_dataframe", "column_ordered", "dtype(", "coerce_dtype")
_UNIQUENESS_CHECKS = ("field_uniqueness", "multiple_fields_uniqueness")
_MAX_VALUE_CHARS = 80
_MAX_KEYS_SHOWN = 20


@dataclass
class Validated:
    """A validated table and, per failing row index, the reasons it failed."""

    frame: pd.DataFrame
    row_failures: dict[int, list[str]] = field(default_factory=dict)
    table_failures: list[str] = field(default_factory=list)


def validate_table(table: str, frame: pd.DataFrame, conformed: bool = False) -> Validated:
    """Validate lazily (every failure in one pass); split failing rows from the rest.

    `conformed`: the frame comes from `schemas.conform`, which cast every column to its declared
    dtype (or raised), so pandera's dtype checks (a fifth to a third of a validation) are skipped.
    """
    return _validate(table, _schema(table, rows_only=False, conformed=conformed), frame)


def validate_rows(table: str, frame: pd.DataFrame, conformed: bool = False) -> Validated:
    """Every check that looks at one row at a time; key uniqueness is left to whoever sees the whole table."""
    return _validate(table, _schema(table, rows_only=True, conformed=conformed), frame)


@functools.lru_cache(maxsize=None)
def _schema(table: str, rows_only: bool, conformed: bool) -> pandera.api.pandas.container.DataFrameSchema:
    schema = schemas.TABLES[table].schema
    if not (rows_only or conformed):
        return schema
    schema = copy.deepcopy(schema)
    changes: dict[str, object] = {}
    if rows_only:
        schema.unique = None
        changes["unique"] = False
    if conformed:
        changes["dtype"] = None
    return schema.update_columns({name: changes for name in schema.columns})


def _validate(table: str, schema, frame: pd.DataFrame) -> Validated:
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        return _split_failures(table, frame, errors.failure_cases)
    return Validated(frame)


def raise_table_failures(failures: list[str]) -> None:
    """Stop the run with one readable report of every table-level failure."""
    if failures:
        raise TableValidationError("validation failed; nothing was published:\n  " + "\n  ".join(failures))


def check_references(tables: dict[str, pd.DataFrame], authorships_per_profile: pd.Series | None = None) -> list[str]:
    """Cross-table checks: foreign keys resolve, and each profile's papers_extracted matches its authorships.

    Foreign keys are checked between the tables given. `authorships_per_profile` (rows of
    `authorships` by profile_id) stands in for the authorships table when it was not held whole.
    """
    failures: list[str] = []
    for name, table in schemas.TABLES.items():
        for columns, target, target_columns in table.foreign_keys:
            if name not in tables or target not in tables:
                continue
            target_keys = tables[target][list(target_columns)].drop_duplicates()
            target_keys.columns = list(columns)
            missing = tables[name][list(columns)].merge(target_keys, how="left", indicator=True)
            missing = missing[missing["_merge"] == "left_only"]
            if len(missing):
                keys = missing[list(columns)].drop_duplicates().head(_MAX_KEYS_SHOWN)
                shown = ", ".join("/".join(map(str, row)) for row in keys.itertuples(index=False))
                failures.append(f"{name}: {len(missing)} row(s) point at no {target} row: {shown}")
    if authorships_per_profile is None and "authorships" in tables:
        authorships_per_profile = tables["authorships"].groupby("profile_id").size()
    if "profiles" in tables and authorships_per_profile is not None:
        profiles = tables["profiles"].set_index("profile_id")
        expected = authorships_per_profile.reindex(profiles.index, fill_value=0)
        wrong = profiles.index[profiles["papers_extracted"] != expected]
        if len(wrong):
            failures.append(
                "profiles: papers_extracted differs from the number of authorships for "
                + ", ".join(f"{pid} ({profiles.at[pid, 'papers_extracted']} vs {expected[pid]})" for pid in wrong[:_MAX_KEYS_SHOWN])
            )
    return failures


def _split_failures(table: str, frame: pd.DataFrame, failure_cases: pd.DataFrame) -> Validated:
    key = list(schemas.TABLES[table].primary_key)
    row_failures: dict[int, list[str]] = {}
    table_failures: list[str] = []
    columns = tuple(frame.columns)
    for case in failure_cases.itertuples(index=False):
        check = str(case.check)
        column = case.column if isinstance(case.column, str) else None
        is_row = case.index is not None and not pd.isna(case.index) and not check.startswith(_TABLE_LEVEL_CHECKS)
        if is_row:
            index = int(case.index)
            where = f"column {column}" if column and case.schema_context == "Column" else "row"
            reasons = row_failures.setdefault(index, [])
            if where == "row" and any(r.startswith(f"failed check {check} on row") for r in reasons):
                continue  # a dataframe-level check reports one case per column; name it once per row
            found = _short(case.failure_case) if where != "row" else _row_values(frame, index, _named_columns(check, columns, column))
            reason = f"failed check {check} on {where}: found {found}"
            if reason not in reasons:
                reasons.append(reason)
        else:
            keys = ""
            # A missing key column is itself a failure; the other failures then cannot name their key.
            if (case.index is not None and not pd.isna(case.index) and int(case.index) in frame.index
                    and set(key) <= set(frame.columns)):
                keys = " at key " + "/".join(str(frame.at[int(case.index), column_name]) for column_name in key)
            if keys and check in _UNIQUENESS_CHECKS:
                # Reported once per key column and row; one line per duplicated key says it all.
                table_failures.append(f"{table}: failed check {check}: duplicate key {'/'.join(key)}{keys.replace(' at key', '')}")
            else:
                table_failures.append(f"{table}: failed check {check} on {column or 'table'}{keys}: found {_short(case.failure_case)}")
    clean = frame.drop(index=list(row_failures))
    return Validated(clean, row_failures, sorted(set(table_failures)))


@functools.lru_cache(maxsize=256)
def _named_columns(check: str, columns: tuple[str, ...], column: str | None) -> tuple[str, ...]:
    """The columns a dataframe check's message names (`year differs from ... published_date`), else the one reported."""
    named = tuple(name for name in columns if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", check))
    return named or ((column,) if column in columns else ())


def _row_values(frame: pd.DataFrame, index: int, columns: tuple[str, ...]) -> str:
    """The row's values of `columns`: `year=2025, published_date=datetime.date(2026, 6, 2)`."""
    return ", ".join(f"{name}={_short(frame.at[index, name])}" for name in columns) or "the row"


def _short(value: object) -> str:
    # `4`, not `np.int64(4)`: the reason is read by people.
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"
