"""The `profiles` table: one row per researcher profile, from its newest archived snapshot."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas import fields


class ProfileHeader(pa.DataFrameModel):
    """Header metrics as shown on one captured profile page; null where the page shows no value."""

    profile_id: Series[str] = fields.profile_id()
    captured_date: Series[fields.DATE] = fields.captured_date()
    name: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": 200}, description="Researcher's name as shown on the page.")
    primary_category: Series[str] = fields.category_code("Primary category code as shown on the page (`LG`).", nullable=True)
    h_index: Series[fields.NULLABLE_INT] = fields.nullable_count("h-index shown on the page (can exceed the paper count).")
    papers_total: Series[fields.NULLABLE_INT] = fields.nullable_count("Site's total paper count (`42papers`); may differ from the list.")
    citations: Series[fields.NULLABLE_INT] = fields.nullable_count("Site's citation count (`5,576citations`).")
    novelty_pct: Series[fields.NULLABLE_INT] = fields.nullable_pct("Site's novelty score in percent (`Novelty59%`).")
    ai_score: Series[fields.NULLABLE_INT] = fields.nullable_pct("Site's AI score (`AI Score64`).")
    papers_listed: Series[fields.NULLABLE_INT] = fields.nullable_count("Number of papers the page says it lists (`42 Papers`).")
    papers_found: Series[int] = fields.count("Paper blocks found in the raw text.")
    source_file: Series[str] = fields.source_file()
    source_sha256: Series[str] = fields.source_sha256()

    class Config:
        strict = True
        ordered = True


class Profile(ProfileHeader):
    """A profile's newest header plus counts derived from its published papers and authorships."""

    profile_id: Series[str] = fields.profile_id(unique=True)
    papers_extracted: Series[int] = fields.count("Papers of this profile published (rows in `authorships`).")
    papers_rejected: Series[int] = fields.count("Paper blocks of this profile sent to `rejects`.")
    sole_author_papers: Series[int] = fields.count("Papers where the researcher is the only author.")
    first_author_papers: Series[int] = fields.count("Papers where the researcher is the first of several authors.")
    middle_author_papers: Series[int] = fields.count("Papers where the researcher is shown neither first nor last.")
    last_author_papers: Series[int] = fields.count("Papers where the researcher is last of a complete author list.")
    hidden_author_papers: Series[int] = fields.count("Papers where the researcher is not among the names shown of a truncated list.")
    absent_author_papers: Series[int] = fields.count("Papers whose complete author list does not contain the researcher.")
    papers_with_code: Series[int] = fields.count("Papers with code: `code_status` linked or badge_only.")
    papers_code_linked: Series[int] = fields.count("Papers whose abstract links a code repository.")
    papers_code_badge_only: Series[int] = fields.count("Papers with the site's Code badge but no repository link.")
    papers_code_mentioned: Series[int] = fields.count("Papers whose abstract mentions code without a link or badge.")
    first_year: Series[fields.NULLABLE_INT] = pa.Field(nullable=True, ge=1900, description="Year of the earliest published paper.")
    last_year: Series[fields.NULLABLE_INT] = pa.Field(nullable=True, ge=1900, description="Year of the latest published paper.")
    snapshots_archived: Series[int] = pa.Field(ge=1, description="Archived captures of this profile (rows in `profile_snapshots`).")

    @fields.row_check(error="papers_extracted must equal the sum of papers by author role")
    def role_counts_add_up(cls, df: pd.DataFrame) -> pd.Series:
        roles = ["sole", "first", "middle", "last", "hidden", "absent"]
        return df[[f"{role}_author_papers" for role in roles]].sum(axis=1) == df["papers_extracted"]

    @fields.row_check(error="first_year must not be after last_year")
    def years_ordered(cls, df: pd.DataFrame) -> pd.Series:
        return (df["first_year"] <= df["last_year"]).fillna(True).astype(bool)
