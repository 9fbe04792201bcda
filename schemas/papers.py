"""The `papers` table: one row per paper, however many profiles list it."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas import fields

CODE_STATUSES = ("linked", "badge_only", "mentioned", "none")
CODE_HOSTS = ("github.com", "gitlab.com", "bitbucket.org", "codeberg.org", "huggingface.co")
_CODE_URL = (
    r"https?://(?:www\.)?(?:" + "|".join(re.escape(host) for host in CODE_HOSTS) + r")/[^\s{}\\<>\"“”‘’«»]+[^\s{}\\<>\"“”‘’«».,;:!?)\]']"
)
_SLUG = r"[a-z0-9][a-z0-9._\-]*"
CODE_URL_PATTERN = re.compile(f"^{_CODE_URL}$")
AFFILIATION_PATTERN = re.compile(f"^{_SLUG}$")
# The same, for every item of a column at once, one item per line: neither matches a line feed,
# so when the joined lines match and hold no more line feeds than the joins, each item matches.
_CODE_URL_LINES = re.compile(f"{_CODE_URL}(?:\n{_CODE_URL})*")
_SLUG_LINES = re.compile(f"{_SLUG}(?:\n{_SLUG})*")


class Paper(pa.DataFrameModel):
    """A paper as shown on the site, with derived category, date and code fields; key `paper_id`."""

    paper_id: Series[str] = fields.paper_id(unique=True)
    title: Series[str] = pa.Field(str_length={"min_value": 1}, description="Title as shown (one line, verbatim).")
    abstract: Series[str] = pa.Field(nullable=True, description="Abstract as shown; null when the page shows none.")
    category: Series[str] = fields.category_code("Category as shown on the site (`LG`).")
    arxiv_category: Series[str] = fields.category_code("arXiv category id (`cs.LG`); the site code verbatim when unknown.")
    category_name: Series[str] = pa.Field(nullable=True, description="arXiv category name (`Machine Learning`); null when the code is unknown.")
    published_date: Series[fields.DATE] = pa.Field(description="Date shown on the site, ISO; year-less dates take the capture's year.")
    year: Series[int] = pa.Field(ge=1900, description="Year of `published_date`.")
    is_year_inferred: Series[bool] = pa.Field(description="True when the site showed no year and it was inferred from the capture date.")
    authors: Series[object] = fields.string_list("Authors as shown (at most 3), in order.")
    is_author_list_truncated: Series[bool] = pa.Field(description="True when the site shows `et al.` after the names.")
    n_authors_shown: Series[int] = pa.Field(in_range={"min_value": 1, "max_value": 3}, description="Number of author names shown.")
    first_author: Series[str] = pa.Field(str_length={"min_value": 1}, description="First author shown.")
    affiliations: Series[object] = fields.string_list("Affiliation slugs shown after `·` (`pku`, `eth-zurich`).")
    has_code_badge: Series[bool] = pa.Field(description="True when the site shows its `Code` badge.")
    code_urls: Series[object] = fields.string_list("Code repository URLs found in the abstract (normalised, de-duplicated).")
    code_status: Series[str] = pa.Field(isin=CODE_STATUSES, description="linked (a URL), badge_only (badge, no URL), mentioned (abstract says code is available, no link), none.")
    n_profiles: Series[int] = pa.Field(ge=1, description="Number of published profiles listing this paper.")
    captured_date: Series[fields.DATE] = fields.captured_date("Capture date of the listing the fields were read from (the newest).")
    source_file: Series[str] = fields.source_file("Archived raw file the fields were read from.")
    source_line: Series[int] = fields.source_line()

    class Config:
        strict = True
        ordered = True

    @pa.check("published_date", name="published_date_not_before_1900", error=f"published_date before {fields.EARLIEST_DATE}")
    def published_after_1900(cls, dates: pd.Series) -> pd.Series:
        return dates >= pd.Timestamp(fields.EARLIEST_DATE).date()

    @fields.row_check(name="published_date_not_after_capture", error="published_date after captured_date")
    def published_before_capture(cls, df: pd.DataFrame) -> pd.Series:
        return df["published_date"] <= df["captured_date"]

    @fields.row_check(name="year_matches_published_date", error="year differs from the year of published_date")
    def year_matches_date(cls, df: pd.DataFrame) -> pd.Series:
        return df["published_date"].dt.year.astype("int64") == df["year"]

    # The list checks first try the whole column at once, which holds when every row passes (as
    # nearly all do), and otherwise decide row by row with the definition that follows.

    @pa.check("authors", name="authors_are_names", error="authors must be a list of 1 to 3 non-empty names")
    def authors_are_names(cls, authors: pd.Series) -> pd.Series:
        names = _strings_in_lists(authors)
        if names is not None and "" not in names:
            return _lengths(authors).between(1, 3)
        return authors.map(lambda names: isinstance(names, list) and 1 <= len(names) <= 3 and all(isinstance(n, str) and n for n in names))

    @fields.row_check(name="author_counts_consistent", error="n_authors_shown and first_author must agree with authors")
    def authors_consistent(cls, df: pd.DataFrame) -> pd.Series:
        authors = df["authors"]
        if _all_lists(authors):
            first = pd.Series([names[0] if names else None for names in authors], index=df.index, dtype=object)
            return (_lengths(authors) == df["n_authors_shown"]) & (first == df["first_author"])
        return (authors.map(len) == df["n_authors_shown"]) & (authors.str[0] == df["first_author"])

    @pa.check("affiliations", name="affiliations_are_slugs", error="affiliations must be slugs like `eth-zurich`")
    def affiliations_are_slugs(cls, affiliations: pd.Series) -> pd.Series:
        slugs = _strings_in_lists(affiliations)
        if slugs is not None and _each_matches(_SLUG_LINES, slugs):
            return pd.Series(True, index=affiliations.index)
        return affiliations.map(lambda slugs: isinstance(slugs, list) and all(AFFILIATION_PATTERN.match(s) for s in slugs))

    @pa.check("code_urls", name="code_urls_on_code_hosts", error="code_urls must be http(s) URLs on a known code host")
    def code_urls_on_hosts(cls, urls: pd.Series) -> pd.Series:
        every_url = _strings_in_lists(urls)
        if (every_url is not None and _each_matches(_CODE_URL_LINES, every_url)
                and all(len(set(values)) == len(values) for values in urls if len(values) > 1)):
            return pd.Series(True, index=urls.index)
        return urls.map(lambda values: isinstance(values, list) and len(set(values)) == len(values) and all(CODE_URL_PATTERN.match(u) for u in values))

    @fields.row_check(name="code_status_consistent", error="code_status must follow code_urls and has_code_badge")
    def code_status_consistent(cls, df: pd.DataFrame) -> pd.Series:
        has_urls = _lengths(df["code_urls"]) > 0
        status = df["code_status"]
        return (
            (has_urls == (status == "linked"))
            & ((status == "badge_only") <= df["has_code_badge"])
            & ~((status == "mentioned") & df["has_code_badge"])
            & ~((status == "none") & df["has_code_badge"])
        )


def _strings_in_lists(values: pd.Series) -> list[str] | None:
    """Every item of every row, when each row is a list of strings (tested without a Python call per row); else None."""
    if not _all_lists(values):
        return None
    items = list(itertools.chain.from_iterable(values))
    return items if set(map(type, items)) <= {str} else None


def _all_lists(values: pd.Series) -> bool:
    return set(map(type, values)) <= {list}


def _lengths(values: pd.Series) -> pd.Series:
    return pd.Series(np.fromiter(map(len, values), np.int64, count=len(values)), index=values.index)


def _each_matches(lines: re.Pattern, items: list[str]) -> bool:
    """Whether each item matches the pattern that `lines` repeats line by line."""
    text = "\n".join(items)
    return not items or (text.count("\n") == len(items) - 1 and lines.fullmatch(text) is not None)
