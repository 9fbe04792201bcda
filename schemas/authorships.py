"""The `authorships` table: the profiled researcher's place on each paper of their profile."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas import fields

AUTHOR_ROLES = ("sole", "first", "middle", "last", "hidden", "absent")
AUTHOR_ROLE_EVIDENCE = (
    "exact_name",          # the shown name equals the profile name
    "folded_name",         # equal after folding case, diacritics, hyphens, spaces, apostrophes
    "reordered_name",      # the same name parts in another order (`Deng Zhi-Hong`)
    "initials",            # `Z.-H. Deng` / `Z. Deng`: initials and surname agree, and no other shown author fits
    "not_in_truncated_list",
    "not_in_complete_list",
)


class Authorship(pa.DataFrameModel):
    """One paper on one profile; key (`profile_id`, `paper_id`)."""

    profile_id: Series[str] = fields.profile_id()
    paper_id: Series[str] = fields.paper_id()
    author_position: Series[fields.NULLABLE_INT] = pa.Field(nullable=True, in_range={"min_value": 1, "max_value": 3}, description="1-based place of the researcher among the names shown; null when hidden or absent.")
    author_role: Series[str] = pa.Field(isin=AUTHOR_ROLES, description="sole, first, middle, last (complete list only), hidden (not among names shown of a truncated list), absent (complete list without the researcher).")
    author_role_evidence: Series[str] = pa.Field(isin=AUTHOR_ROLE_EVIDENCE, description="Rule that decided author_role: how the name matched, or why it did not.")
    is_first_author: Series[bool] = pa.Field(description="True when the researcher is the first (or only) author shown.")
    is_author_list_truncated: Series[bool] = pa.Field(description="True when the listing shows `et al.` (copied from the listing for the role checks).")
    site_score: Series[fields.NULLABLE_FLOAT] = pa.Field(nullable=True, ge=0, description="Decimal score that leads some entries on this profile's page (`32.9CLMay 27`); null when absent.")
    captured_date: Series[fields.DATE] = fields.captured_date()
    source_file: Series[str] = fields.source_file()
    source_sha256: Series[str] = fields.source_sha256()
    source_line: Series[int] = fields.source_line()

    class Config:
        strict = True
        ordered = True
        unique = ["profile_id", "paper_id"]

    @fields.row_check(name="author_role_consistent", error="author_role disagrees with author_position, is_first_author or is_author_list_truncated")
    def role_consistent(cls, df: pd.DataFrame) -> pd.Series:
        role = df["author_role"]
        position = df["author_position"]
        truncated = df["is_author_list_truncated"]
        unplaced = role.isin(["hidden", "absent"])
        return (
            (unplaced == position.isna())
            & (df["is_first_author"] == (position == 1).fillna(False).astype(bool))
            & ((role != "sole") | ((position == 1).fillna(False) & ~truncated))
            & ((role != "first") | (position == 1).fillna(False))
            & ((role != "middle") | (position > 1).fillna(False))
            & ((role != "last") | (~truncated & (position > 1).fillna(False)))
            & ((role != "hidden") | truncated)
            & ((role != "absent") | ~truncated)
        ).astype(bool)
