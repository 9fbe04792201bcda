"""The `rejects` table: every raw block or record that was not published, with its reason."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from schemas import fields

STAGES = ("ingest", "extract", "enrich", "validate")
RECORD_TYPES = ("file", "profile_header", "paper", "profile")


class Reject(pa.DataFrameModel):
    """A record kept out of the published tables; key (`source_file`, `line`)."""

    source_file: Series[str] = pa.Field(description="Raw file the record came from, relative to raw/.")
    line: Series[int] = pa.Field(ge=1, description="1-based line where the rejected block or record starts.")
    stage: Series[str] = pa.Field(isin=STAGES, description="Pipeline stage that rejected it.")
    record_type: Series[str] = pa.Field(isin=RECORD_TYPES, description="What was rejected: a whole file, a header line, a paper block or a profile.")
    reason: Series[str] = pa.Field(str_length={"min_value": 1}, description="`file:line: expected ..., found ...`; for validation, the failed check, column and value.")
    raw_text: Series[str] = pa.Field(description="The raw text of the rejected block (empty for an unreadable file).")

    class Config:
        strict = True
        ordered = True
        unique = ["source_file", "line"]
