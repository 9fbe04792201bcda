"""Field declarations shared by several tables: ids, provenance, dates and counts, declared once."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow

# Column types. Dates are Arrow date32 so Parquet keeps them as dates; lists are Python lists
# in an object column whose Arrow type is declared with LIST metadata.
DATE = pd.ArrowDtype(pa_arrow.date32())
NULLABLE_INT = pd.Int64Dtype()
NULLABLE_FLOAT = pd.Float64Dtype()
LIST = {"logical_type": "list"}
# Provenance columns say where a record was read from. A recapture moves them without changing
# the record, so the changelog lists them only alongside a change of the record's content.
PROVENANCE = {"provenance": True}

PROFILE_ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
PAPER_ID_PATTERN = r"^[0-9a-f]{16}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
# The site's short code (`LG`, `ML`) or a full arXiv id (`quant-ph`, `math.OC`, `cond-mat.stat-mech`).
CATEGORY_PATTERN = r"^[A-Za-z][A-Za-z\-]*(?:\.[A-Za-z\-]+)?$"
SOURCE_FILE_PATTERN = r"^profiles/[a-z0-9]+(?:-[a-z0-9]+)*/\d{4}-\d{2}-\d{2}\.txt$"
EARLIEST_DATE = "1900-01-01"


def row_check(**options) -> object:
    """`pa.dataframe_check` for a check of each row, without pandera's `ignore_na`.

    With it, pandera tests every value of the frame for null once per check, to pass rows whose
    every value is null (~3 ms a check on 10,000 `papers` rows, most of it in the list columns).
    No table here can hold such a row: its required columns fail first.
    """
    return pa.dataframe_check(ignore_na=False, **options)


def profile_id(description: str = "Profile id: the ASCII slug of the researcher's name.", **checks) -> object:
    return pa.Field(str_matches=PROFILE_ID_PATTERN, description=description, **checks)


def paper_id(description: str = "Paper id: 16 hex digits of sha256 over the folded title and first author.", **checks) -> object:
    return pa.Field(str_matches=PAPER_ID_PATTERN, description=description, **checks)


def captured_date(description: str = "Date the raw profile page was captured.") -> object:
    return pa.Field(description=description, metadata=PROVENANCE)


def source_file(description: str = "Archived raw file the record was read from, relative to raw/.") -> object:
    return pa.Field(str_matches=SOURCE_FILE_PATTERN, description=description, metadata=PROVENANCE)


def source_sha256(description: str = "sha256 of the archived raw file.") -> object:
    return pa.Field(str_matches=SHA256_PATTERN, description=description, metadata=PROVENANCE)


def source_line(description: str = "1-based line of the paper's header line in `source_file`.") -> object:
    return pa.Field(ge=1, description=description, metadata=PROVENANCE)


def count(description: str) -> object:
    return pa.Field(ge=0, description=description)


def nullable_count(description: str) -> object:
    return pa.Field(ge=0, nullable=True, description=description)


def nullable_pct(description: str) -> object:
    return pa.Field(in_range={"min_value": 0, "max_value": 100}, nullable=True, description=description)


def category_code(description: str, nullable: bool = False) -> object:
    return pa.Field(str_matches=CATEGORY_PATTERN, nullable=nullable, description=description)


def string_list(description: str) -> object:
    return pa.Field(metadata=LIST, description=description)
