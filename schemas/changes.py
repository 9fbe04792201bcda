"""The `changes` table: record-level differences between a release and the one before it."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

CHANGE_TYPES = ("added", "removed", "modified")
WHOLE_RECORD = "*"
SCHEMA_KEY = "(schema)"


class Change(pa.DataFrameModel):
    """One changed field (or whole record) of one table; key (`release_id`, `table`, `key`, `field`)."""

    release_id: Series[str] = pa.Field(description="Release that made the change.")
    table: Series[str] = pa.Field(description="Table changed.")
    key: Series[str] = pa.Field(description="Record key, composite keys joined by `/`; `(schema)` for a column change.")
    field: Series[str] = pa.Field(description="Column changed; `*` for a whole record added or removed.")
    change_type: Series[str] = pa.Field(isin=CHANGE_TYPES, description="added, removed or modified.")
    old_value: Series[str] = pa.Field(nullable=True, description="Previous value as JSON (whole record for a removal); null when added.")
    new_value: Series[str] = pa.Field(nullable=True, description="New value as JSON (whole record for an addition); null when removed.")

    class Config:
        strict = True
        ordered = True
        unique = ["release_id", "table", "key", "field"]
