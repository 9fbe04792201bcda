"""Every check declared in schemas/: a known-good frame passes, and a known-bad frame fails exactly that check.

Each `BadCase` names one check (`column:check_name`, or `*:check_name` for a dataframe-level
check) and the smallest change to the second good row that breaks it. The enumeration test reads
every check of every model from `schemas.TABLES[...].schema`, so a check added without a bad case
here fails the suite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import pandera.errors
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from flows import validate
from schemas.papers import AFFILIATION_PATTERN, CODE_URL_PATTERN, Paper

CAPTURED = dt.date(2026, 11, 26)
PROFILE_ID = "zhi-hong-deng"
OTHER_PROFILE_ID = "jose-niessner"
SOURCE_FILE = f"profiles/{PROFILE_ID}/2026-11-26.txt"
OTHER_SOURCE_FILE = f"profiles/{OTHER_PROFILE_ID}/2026-11-26.txt"
SHA256 = "f7de9e5b8ea682587041f37fa83298b697bbec1fd2fd40389665d48d7e0600d7"
PAPER_ID = "0123456789abcdef"
OTHER_PAPER_ID = "fedcba9876543210"
CODE_URL = "https://github.com/JieShibo/PETL-ViT"

# Structural checks pandera adds from the model's Config and annotations rather than from a Field.
NOT_NULLABLE = "not_nullable"
DTYPE = "dtype"
REQUIRED = "column_in_dataframe"
STRICT = "column_in_schema"
ORDERED = "column_ordered"
FIELD_UNIQUE = "field_uniqueness"
CONFIG_UNIQUE = "multiple_fields_uniqueness"
TABLE_LEVEL = (DTYPE, REQUIRED, STRICT, ORDERED, FIELD_UNIQUE, CONFIG_UNIQUE)

_HEADER = {
    "profile_id": PROFILE_ID, "captured_date": CAPTURED, "name": "Zhi-Hong Deng", "primary_category": "LG",
    "h_index": 32, "papers_total": 42, "citations": 5576, "novelty_pct": 59, "ai_score": 64, "papers_listed": 42,
    "papers_found": 3, "source_file": SOURCE_FILE, "source_sha256": SHA256,
}
_OTHER_HEADER = {
    **_HEADER, "profile_id": OTHER_PROFILE_ID, "name": "José Nießner", "primary_category": None, "h_index": None,
    "papers_total": None, "citations": None, "novelty_pct": None, "ai_score": None, "papers_listed": None,
    "source_file": OTHER_SOURCE_FILE,
}
# 3 papers: 1 first, 1 last, 1 hidden; 1 with a linked repository.
_COUNTS = {
    "papers_extracted": 3, "papers_rejected": 0, "sole_author_papers": 0, "first_author_papers": 1,
    "middle_author_papers": 0, "last_author_papers": 1, "hidden_author_papers": 1, "absent_author_papers": 0,
    "papers_with_code": 1, "papers_code_linked": 1, "papers_code_badge_only": 0, "papers_code_mentioned": 0,
    "first_year": 2019, "last_year": 2023, "snapshots_archived": 1,
}
LINKED_PAPER = {
    "paper_id": PAPER_ID, "title": "Revisiting the Parameter Efficiency of Adapters", "abstract": f"Code: {CODE_URL}",
    "category": "CV", "arxiv_category": "cs.CV", "category_name": "Computer Vision and Pattern Recognition",
    "published_date": dt.date(2023, 7, 31), "year": 2023, "is_year_inferred": False,
    "authors": ["Shibo Jie", "Haoqing Wang", "Zhi-Hong Deng"], "is_author_list_truncated": False, "n_authors_shown": 3,
    "first_author": "Shibo Jie", "affiliations": ["pku"], "has_code_badge": True, "code_urls": [CODE_URL],
    "code_status": "linked", "n_profiles": 1, "captured_date": CAPTURED, "source_file": SOURCE_FILE, "source_line": 19,
}
# An unknown site code is kept verbatim with no name; a year-less date takes the capture's year.
UNKNOWN_CATEGORY_PAPER = {
    **LINKED_PAPER, "paper_id": OTHER_PAPER_ID, "title": "MemTrain", "abstract": None, "category": "ZZ",
    "arxiv_category": "ZZ", "category_name": None, "published_date": dt.date(2026, 6, 2), "year": 2026,
    "is_year_inferred": True, "authors": ["Ziheng Li", "Xingrun Xing", "Haoqing Wang"], "is_author_list_truncated": True,
    "first_author": "Ziheng Li", "affiliations": [], "has_code_badge": False, "code_urls": [], "code_status": "none",
    "n_profiles": 2, "source_line": 40,
}
LAST_AUTHORSHIP = {
    "profile_id": PROFILE_ID, "paper_id": PAPER_ID, "author_position": 3, "author_role": "last",
    "author_role_evidence": "exact_name", "is_first_author": False, "is_author_list_truncated": False,
    "site_score": None, "captured_date": CAPTURED, "source_file": SOURCE_FILE, "source_sha256": SHA256, "source_line": 19,
}
HIDDEN_AUTHORSHIP = {
    **LAST_AUTHORSHIP, "paper_id": OTHER_PAPER_ID, "author_position": None, "author_role": "hidden",
    "author_role_evidence": "not_in_truncated_list", "is_author_list_truncated": True, "site_score": 32.9, "source_line": 40,
}
CHANGE = {"release_id": "2026-11-26", "table": "papers", "key": PAPER_ID, "field": "title", "change_type": "modified",
          "old_value": '"Old title"', "new_value": '"New title"'}
REJECT = {"source_file": SOURCE_FILE, "line": 47, "stage": "extract", "record_type": "paper",
          "reason": f"{SOURCE_FILE}:47: expected a valid calendar date, found 'Feb 30, 2023'", "raw_text": "LGFeb 30, 2023"}

# Two good rows per table; every bad case changes the second one.
GOOD_ROWS: dict[str, list[dict]] = {
    "profiles": [{**_HEADER, **_COUNTS}, {**_OTHER_HEADER, **_COUNTS, "first_year": None, "last_year": None}],
    "papers": [LINKED_PAPER, UNKNOWN_CATEGORY_PAPER],
    "authorships": [LAST_AUTHORSHIP, HIDDEN_AUTHORSHIP],
    "profile_snapshots": [_HEADER, {**_HEADER, "captured_date": dt.date(2026, 1, 5)}],
    "changes": [CHANGE, {**CHANGE, "field": "abstract"}],
    "rejects": [REJECT, {**REJECT, "line": 1, "stage": "ingest", "record_type": "file", "raw_text": ""}],
}


@dataclass(frozen=True)
class BadCase:
    """A known-bad frame: the second good row with `changes` (or the good frame through `reshape`)."""

    table: str
    check: str  # `column:check_name` or `*:check_name`
    why: str
    changes: dict = field(default_factory=dict)
    reshape: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    also: tuple[str, ...] = ()  # other checks the same bad value necessarily breaks

    @property
    def id(self) -> str:
        return f"{self.table}-{self.check}-{self.why}"

    def frame(self) -> pd.DataFrame:
        good, bad = GOOD_ROWS[self.table]
        frame = schemas.conform(self.table, pd.DataFrame([good, {**bad, **self.changes}]))
        return self.reshape(frame) if self.reshape else frame


def _count_cases(table: str, columns: list[str], role_columns: tuple[str, ...] = ()) -> list[BadCase]:
    return [
        BadCase(table, f"{column}:greater_than_or_equal_to", "negative", {column: -1},
                also=("*:role_counts_add_up",) if column in role_columns else ())
        for column in columns
    ]


def _header_cases(table: str) -> list[BadCase]:
    return [
        BadCase(table, "profile_id:str_matches", "path tricks", {"profile_id": "../etc"}),
        BadCase(table, "profile_id:str_matches", "not ascii", {"profile_id": "josé-nießner"}),
        BadCase(table, "name:str_length", "empty", {"name": ""}),
        BadCase(table, "name:str_length", "too long", {"name": "x" * 201}),
        BadCase(table, "primary_category:str_matches", "digit", {"primary_category": "L1"}),
        BadCase(table, "novelty_pct:in_range", "over 100", {"novelty_pct": 101}),
        BadCase(table, "novelty_pct:in_range", "negative", {"novelty_pct": -1}),
        BadCase(table, "ai_score:in_range", "over 100", {"ai_score": 101}),
        BadCase(table, "source_file:str_matches", "outside the archive", {"source_file": "../secret.txt"}),
        BadCase(table, "source_file:str_matches", "inbox file", {"source_file": "inbox/zhi-hong-deng.txt"}),
        BadCase(table, "source_sha256:str_matches", "short", {"source_sha256": "f7de9e5b"}),
        BadCase(table, "source_sha256:str_matches", "upper case", {"source_sha256": SHA256.upper()}),
        *_count_cases(table, ["h_index", "papers_total", "citations", "papers_listed", "papers_found"]),
    ]


def _swap_first_columns(frame: pd.DataFrame) -> pd.DataFrame:
    columns = list(frame.columns)
    return frame[[columns[1], columns[0], *columns[2:]]]


def _duplicate_first_row(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[[0]]], ignore_index=True)


def _structural_cases(table: str) -> list[BadCase]:
    return [
        BadCase(table, f"*:{STRICT}", "undeclared column", reshape=lambda frame: frame.assign(undeclared=1)),
        BadCase(table, f"*:{ORDERED}", "columns swapped", reshape=_swap_first_columns),
    ]


_ROLE_COLUMNS = tuple(f"{role}_author_papers" for role in ("sole", "first", "middle", "last", "hidden", "absent"))
_PROFILE_COUNTS = ["papers_extracted", "papers_rejected", *_ROLE_COLUMNS, "papers_with_code", "papers_code_linked",
                   "papers_code_badge_only", "papers_code_mentioned"]

BAD_CASES: list[BadCase] = [
    # profiles
    *_header_cases("profiles"),
    *_count_cases("profiles", _PROFILE_COUNTS, role_columns=(*_ROLE_COLUMNS, "papers_extracted")),
    BadCase("profiles", "first_year:greater_than_or_equal_to", "before 1900", {"first_year": 1899, "last_year": 2023}),
    BadCase("profiles", "last_year:greater_than_or_equal_to", "before 1900", {"first_year": 1899, "last_year": 1899},
            also=("first_year:greater_than_or_equal_to",)),
    BadCase("profiles", "snapshots_archived:greater_than_or_equal_to", "zero", {"snapshots_archived": 0}),
    BadCase("profiles", f"profile_id:{FIELD_UNIQUE}", "same profile twice", {"profile_id": PROFILE_ID}),
    BadCase("profiles", "*:role_counts_add_up", "one paper with no role", {"papers_extracted": 4}),
    BadCase("profiles", "*:years_ordered", "first after last", {"first_year": 2024, "last_year": 2023}),
    *_structural_cases("profiles"),
    # papers
    BadCase("papers", "paper_id:str_matches", "not hex", {"paper_id": "0123456789abcdeX"}),
    BadCase("papers", "paper_id:str_matches", "too short", {"paper_id": "0123"}),
    BadCase("papers", f"paper_id:{FIELD_UNIQUE}", "same paper twice", {"paper_id": PAPER_ID}),
    BadCase("papers", "title:str_length", "empty", {"title": ""}),
    BadCase("papers", "category:str_matches", "two dots", {"category": "cs.LG.x", "arxiv_category": "cs.LG"}),
    BadCase("papers", "arxiv_category:str_matches", "space", {"arxiv_category": "cs LG"}),
    BadCase("papers", "published_date:published_date_not_before_1900", "1899",
            {"published_date": dt.date(1899, 12, 31), "year": 1899}, also=("year:greater_than_or_equal_to",)),
    BadCase("papers", "year:greater_than_or_equal_to", "1899", {"year": 1899}, also=("*:year_matches_published_date",)),
    BadCase("papers", "*:year_matches_published_date", "off by one", {"year": 2025}),
    BadCase("papers", "*:published_date_not_after_capture", "day after capture",
            {"published_date": CAPTURED + dt.timedelta(days=1), "year": CAPTURED.year}),
    BadCase("papers", "authors:authors_are_names", "empty name", {"authors": ["Ziheng Li", ""], "n_authors_shown": 2}),
    BadCase("papers", "authors:authors_are_names", "four names",
            {"authors": ["Ziheng Li", "A B", "C D", "E F"], "n_authors_shown": 4},
            also=("n_authors_shown:in_range",)),
    BadCase("papers", "authors:authors_are_names", "no names", {"authors": []}, also=("*:author_counts_consistent",)),
    BadCase("papers", "n_authors_shown:in_range", "zero", {"n_authors_shown": 0}, also=("*:author_counts_consistent",)),
    BadCase("papers", "first_author:str_length", "empty", {"first_author": ""}, also=("*:author_counts_consistent",)),
    BadCase("papers", "*:author_counts_consistent", "count differs", {"n_authors_shown": 2}),
    BadCase("papers", "*:author_counts_consistent", "first author differs", {"first_author": "Xingrun Xing"}),
    BadCase("papers", "affiliations:affiliations_are_slugs", "spaces and capitals", {"affiliations": ["ETH Zurich"]}),
    BadCase("papers", "code_urls:code_urls_on_code_hosts", "unknown host",
            {"code_urls": ["https://example.com/a/b"], "code_status": "linked"}),
    BadCase("papers", "code_urls:code_urls_on_code_hosts", "trailing period",
            {"code_urls": [CODE_URL + "."], "code_status": "linked"}),
    BadCase("papers", "code_urls:code_urls_on_code_hosts", "brace remnant",
            {"code_urls": [CODE_URL + "}"], "code_status": "linked"}),
    BadCase("papers", "code_urls:code_urls_on_code_hosts", "typographic quote",
            {"code_urls": [CODE_URL + "\u201d"], "code_status": "linked"}),
    BadCase("papers", "code_urls:code_urls_on_code_hosts", "no scheme",
            {"code_urls": ["github.com/JieShibo/PETL-ViT"], "code_status": "linked"}),
    BadCase("papers", "code_urls:code_urls_on_code_hosts", "host alone",
            {"code_urls": ["https://github.com/"], "code_status": "linked"}),
    BadCase("papers", "code_urls:code_urls_on_code_hosts", "duplicate",
            {"code_urls": [CODE_URL, CODE_URL], "code_status": "linked"}),
    BadCase("papers", "code_status:isin", "not a status", {"code_status": "available"}),
    BadCase("papers", "*:code_status_consistent", "linked without url", {"code_status": "linked"}),
    BadCase("papers", "*:code_status_consistent", "url but none", {"code_urls": [CODE_URL], "code_status": "none"}),
    BadCase("papers", "*:code_status_consistent", "badge_only without badge", {"code_status": "badge_only"}),
    BadCase("papers", "*:code_status_consistent", "mentioned with badge", {"code_status": "mentioned", "has_code_badge": True}),
    BadCase("papers", "*:code_status_consistent", "none with badge", {"has_code_badge": True}),
    BadCase("papers", "n_profiles:greater_than_or_equal_to", "zero", {"n_profiles": 0}),
    BadCase("papers", "source_file:str_matches", "absolute path", {"source_file": "/etc/passwd"}),
    BadCase("papers", "source_line:greater_than_or_equal_to", "zero", {"source_line": 0}),
    *_structural_cases("papers"),
    # authorships
    BadCase("authorships", "profile_id:str_matches", "upper case", {"profile_id": "Zhi-Hong-Deng"}),
    BadCase("authorships", "paper_id:str_matches", "upper case", {"paper_id": OTHER_PAPER_ID.upper()}),
    BadCase("authorships", "author_position:in_range", "fourth name",
            {"author_position": 4, "author_role": "last", "is_author_list_truncated": False}),
    BadCase("authorships", "author_role:isin", "not a role", {"author_role": "corresponding", "author_position": 2, "author_role_evidence": "exact_name"}),
    BadCase("authorships", "author_role_evidence:isin", "not a rule", {"author_role_evidence": "guess"}),
    BadCase("authorships", "site_score:greater_than_or_equal_to", "negative", {"site_score": -0.5}),
    BadCase("authorships", "source_file:str_matches", "outside the archive", {"source_file": "../x.txt"}),
    BadCase("authorships", "source_sha256:str_matches", "empty", {"source_sha256": ""}),
    BadCase("authorships", "source_line:greater_than_or_equal_to", "zero", {"source_line": 0}),
    BadCase("authorships", f"*:{CONFIG_UNIQUE}", "same paper twice on a profile", {"paper_id": PAPER_ID}),
    BadCase("authorships", "*:author_role_consistent", "hidden with a position", {"author_position": 2}),
    BadCase("authorships", "*:author_role_consistent", "hidden on a complete list", {"is_author_list_truncated": False}),
    BadCase("authorships", "*:author_role_consistent", "absent on a truncated list",
            {"author_role": "absent", "author_role_evidence": "not_in_complete_list"}),
    BadCase("authorships", "*:author_role_consistent", "placed role without position", {"author_role": "middle"}),
    BadCase("authorships", "*:author_role_consistent", "last on a truncated list",
            {"author_role": "last", "author_position": 3, "author_role_evidence": "exact_name"}),
    BadCase("authorships", "*:author_role_consistent", "last at position 1",
            {"author_role": "last", "author_position": 1, "is_first_author": True, "is_author_list_truncated": False,
             "author_role_evidence": "exact_name"}),
    BadCase("authorships", "*:author_role_consistent", "sole on a truncated list",
            {"author_role": "sole", "author_position": 1, "is_first_author": True, "author_role_evidence": "exact_name"}),
    BadCase("authorships", "*:author_role_consistent", "first at position 2",
            {"author_role": "first", "author_position": 2, "author_role_evidence": "exact_name"}),
    BadCase("authorships", "*:author_role_consistent", "middle at position 1",
            {"author_role": "middle", "author_position": 1, "is_first_author": True, "author_role_evidence": "exact_name"}),
    BadCase("authorships", "*:author_role_consistent", "is_first_author at position 2",
            {"author_role": "middle", "author_position": 2, "is_first_author": True, "author_role_evidence": "exact_name"}),
    BadCase("authorships", "*:author_role_consistent", "first but not is_first_author",
            {"author_role": "first", "author_position": 1, "is_first_author": False, "author_role_evidence": "exact_name"}),
    *_structural_cases("authorships"),
    # profile_snapshots
    *_header_cases("profile_snapshots"),
    BadCase("profile_snapshots", f"*:{CONFIG_UNIQUE}", "same capture twice", {"captured_date": CAPTURED}),
    *_structural_cases("profile_snapshots"),
    # changes
    BadCase("changes", "change_type:isin", "not a change", {"change_type": "renamed"}),
    BadCase("changes", f"*:{CONFIG_UNIQUE}", "same field twice", {"field": "title"}),
    *_structural_cases("changes"),
    # rejects
    BadCase("rejects", "line:greater_than_or_equal_to", "zero", {"line": 0}),
    BadCase("rejects", "stage:isin", "not a stage", {"stage": "publish"}),
    BadCase("rejects", "record_type:isin", "not a record type", {"record_type": "abstract"}),
    BadCase("rejects", "reason:str_length", "no reason", {"reason": ""}),
    BadCase("rejects", f"*:{CONFIG_UNIQUE}", "same line twice", {"line": 47, "stage": "extract"}),
    *_structural_cases("rejects"),
]


def declared_checks(table: str) -> list[str]:
    """Every check of a table's schema, named as the bad cases name them."""
    schema = schemas.TABLES[table].schema
    checks = [f"*:{check.name}" for check in schema.checks]
    for name, column in schema.columns.items():
        checks += [f"{name}:{check.name}" for check in column.checks]
        if column.unique:
            checks.append(f"{name}:{FIELD_UNIQUE}")
    if schema.unique:
        checks.append(f"*:{CONFIG_UNIQUE}")
    if schema.strict:
        checks.append(f"*:{STRICT}")
    if schema.ordered:
        checks.append(f"*:{ORDERED}")
    return checks


def failed_checks(table: str, frame: pd.DataFrame) -> set[str]:
    """The checks a frame fails, named like `declared_checks`; empty when it passes."""
    try:
        schemas.TABLES[table].model.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        return {_check_id(table, case) for case in errors.failure_cases.itertuples(index=False)}
    return set()


def _check_id(table: str, case) -> str:
    schema = schemas.TABLES[table].schema
    label = str(case.check)
    if label.startswith("dtype("):
        return f"{case.column}:{DTYPE}"
    if case.schema_context == "Column":
        by_label = {check.error or check.name: check.name for check in schema.columns[case.column].checks}
        return f"{case.column}:{by_label.get(label, label)}"
    by_label = {check.error or check.name: check.name for check in schema.checks}
    return f"*:{by_label.get(label, label)}"


def _structural_checks(table: str) -> list[tuple[str, str]]:
    """Checks every column carries by its annotation: its dtype, non-nullability and presence."""
    out = []
    for name, column in schemas.TABLES[table].schema.columns.items():
        out.append((table, f"{name}:{REQUIRED}"))
        if not column.nullable:
            out.append((table, f"{name}:{NOT_NULLABLE}"))
        if not schemas.is_list_column(column):
            out.append((table, f"{name}:{DTYPE}"))
    return out


STRUCTURAL_CHECKS = [case for table in schemas.TABLES for case in _structural_checks(table)]


# --- good frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(schemas.TABLES))
def test_good_frame_passes(table: str) -> None:
    frame = schemas.conform(table, pd.DataFrame(GOOD_ROWS[table]))
    assert failed_checks(table, frame) == set()
    assert validate.validate_table(table, frame).row_failures == {}


GOOD_VARIANTS = [
    # The site's h-index can exceed its paper count (a researcher with older papers not listed).
    ("profiles", "h-index above paper count", {"h_index": 80, "papers_total": 42}),
    ("profiles", "every metric missing", {"primary_category": None, "h_index": None, "novelty_pct": None}),
    ("profiles", "percentages at the bounds", {"novelty_pct": 0, "ai_score": 100}),
    ("profiles", "full arXiv id as category", {"primary_category": "cond-mat.stat-mech"}),
    ("papers", "badge only", {"has_code_badge": True, "code_status": "badge_only"}),
    ("papers", "mentioned", {"code_status": "mentioned"}),
    ("papers", "several hosts", {"code_urls": ["https://gitlab.com/a/b", "http://www.huggingface.co/c/d"], "code_status": "linked"}),
    ("papers", "sole author", {"authors": ["Ziheng Li"], "n_authors_shown": 1, "is_author_list_truncated": False}),
    ("papers", "published on the capture day", {"published_date": CAPTURED, "year": CAPTURED.year}),
    ("papers", "published on 1900-01-01", {"published_date": dt.date(1900, 1, 1), "year": 1900}),
    ("authorships", "sole", {"author_role": "sole", "author_position": 1, "is_first_author": True,
                             "is_author_list_truncated": False, "author_role_evidence": "exact_name"}),
    ("authorships", "first of a truncated list", {"author_role": "first", "author_position": 1, "is_first_author": True,
                                                  "author_role_evidence": "folded_name"}),
    ("authorships", "middle, last shown of a truncated list", {"author_role": "middle", "author_position": 3,
                                                               "author_role_evidence": "initials"}),
    ("authorships", "absent", {"author_role": "absent", "is_author_list_truncated": False,
                               "author_role_evidence": "not_in_complete_list"}),
]


@pytest.mark.parametrize(("table", "why", "changes"), GOOD_VARIANTS, ids=[f"{t}-{w}" for t, w, _ in GOOD_VARIANTS])
def test_good_variant_passes(table: str, why: str, changes: dict) -> None:
    good, other = GOOD_ROWS[table]
    frame = schemas.conform(table, pd.DataFrame([good, {**other, **changes}]))
    assert failed_checks(table, frame) == set()


# --- every check has a bad frame ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "check"), [(table, check) for table in schemas.TABLES for check in declared_checks(table)],
    ids=[f"{table}-{check}" for table in schemas.TABLES for check in declared_checks(table)],
)
def test_every_declared_check_has_a_bad_case(table: str, check: str) -> None:
    covered = {case.check for case in BAD_CASES if case.table == table}
    assert check in covered, f"{table}: check {check} has no BadCase in tests/test_schemas.py"


def test_every_bad_case_names_a_declared_check() -> None:
    declared = {(table, check) for table in schemas.TABLES for check in declared_checks(table)}
    stale = [case.id for case in BAD_CASES if (case.table, case.check) not in declared]
    assert stale == []


@pytest.mark.parametrize("case", BAD_CASES, ids=[case.id for case in BAD_CASES])
def test_bad_frame_fails_exactly_its_check(case: BadCase) -> None:
    assert failed_checks(case.table, case.frame()) == {case.check, *case.also}


@pytest.mark.parametrize("case", BAD_CASES, ids=[case.id for case in BAD_CASES])
def test_validator_routes_bad_frame(case: BadCase) -> None:
    """Row-level failures reject only the bad row, naming check, column and value; the rest stay table-level."""
    frame = case.frame()
    result = validate.validate_table(case.table, frame)
    if case.check.split(":")[1] in TABLE_LEVEL:
        assert result.table_failures, case.id
        return
    assert result.table_failures == []
    key = list(schemas.TABLES[case.table].primary_key)
    bad_key = tuple(schemas.conform(case.table, pd.DataFrame([{**GOOD_ROWS[case.table][1], **case.changes}]))[key].iloc[0])
    bad_index = next(index for index, row in frame[key].iterrows() if tuple(row) == bad_key)
    assert list(result.row_failures) == [bad_index]
    assert len(result.frame) == len(frame) - 1
    reason = " ".join(result.row_failures[bad_index])
    column, check_name = case.check.split(":")
    if column != "*":
        assert f"column {column}" in reason
        assert repr(case.changes[column])[:40] in reason
    else:  # a dataframe check names the values of the columns its message names
        assert any(f"{name}={case.changes[name]!r}"[:40] in reason for name in case.changes), reason


@pytest.mark.parametrize("case", BAD_CASES, ids=[case.id for case in BAD_CASES])
def test_conformed_validation_finds_what_the_whole_schema_finds(case: BadCase) -> None:
    """`conformed=True` skips only the dtype checks, which a frame straight from schemas.conform passes."""
    frame = case.frame()
    for validated in (validate.validate_table, validate.validate_rows):
        whole, conformed = validated(case.table, frame), validated(case.table, frame, conformed=True)
        assert (conformed.row_failures, conformed.table_failures) == (whole.row_failures, whole.table_failures)
        assert conformed.frame.equals(whole.frame)


# --- structural checks: dtype, nullability, presence ------------------------------------------------

_WRONG_DTYPE_VALUES = {"string": [1, 2], "int": [1.5, 2.5], "float": ["1", "2"], "bool": ["yes", "no"], "date": ["2026-11-26"] * 2}


def _wrong_dtype(column) -> list:
    logical = schemas.logical_type(column)
    return _WRONG_DTYPE_VALUES[{"integer": "int", "number": "float", "boolean": "bool", "date": "date"}.get(logical, "string")]


def _nulled(series: pd.Series) -> pd.Series:
    # int64 and bool cannot hold a null: use their nullable twins, so only nullability is at stake.
    dtype = {"int64": "Int64", "bool": "boolean"}.get(str(series.dtype), series.dtype)
    values = series.astype(dtype).copy() if dtype != "object" else series.copy()
    values.iloc[1] = None
    return values


@pytest.mark.parametrize(("table", "check"), STRUCTURAL_CHECKS, ids=[f"{t}-{c}" for t, c in STRUCTURAL_CHECKS])
def test_structural_check_fails_on_bad_frame(table: str, check: str) -> None:
    column_name, kind = check.split(":")
    frame = schemas.conform(table, pd.DataFrame(GOOD_ROWS[table]))
    column = schemas.TABLES[table].schema.columns[column_name]
    if kind == REQUIRED:
        frame = frame.drop(columns=column_name)
        expected = f"*:{REQUIRED}"
    elif kind == NOT_NULLABLE:
        frame[column_name] = _nulled(frame[column_name])
        expected = check
    else:
        frame[column_name] = pd.Series(_wrong_dtype(column), index=frame.index)
        expected = check
    assert expected in failed_checks(table, frame)
    if kind == NOT_NULLABLE:
        # A null in a required column is a bad record, not a broken table: it is rejected alone.
        for result in (validate.validate_table(table, frame), validate.validate_table(table, frame, conformed=True)):
            assert list(result.row_failures) == [1]
            assert any(f"not_nullable on column {column_name}" in reason for reason in result.row_failures[1])
    else:
        assert validate.validate_table(table, frame).table_failures


def test_published_tables_are_strict_ordered_and_keyed() -> None:
    for name, table in schemas.TABLES.items():
        assert table.schema.strict is True, name
        assert table.schema.ordered is True, name
        assert set(table.primary_key) <= set(table.columns), name
        key_is_unique = table.schema.unique is not None or all(table.schema.columns[c].unique for c in table.primary_key)
        assert key_is_unique, f"{name}: primary key {table.primary_key} is not declared unique"
        for column_name in table.primary_key:
            assert not table.schema.columns[column_name].nullable, f"{name}.{column_name}"


# --- the list checks of `papers`, decided for a whole column at once -------------------------------


def _columns(good: st.SearchStrategy, bad: list) -> st.SearchStrategy:
    """Columns of lists of mostly good items, with now and then an item near an edge of the check, or a row that is no list."""
    items = st.one_of(good, good, good, st.sampled_from(bad))
    rows = st.one_of(st.lists(items, max_size=3), st.lists(good, max_size=3), st.none())
    return st.lists(rows, max_size=6)


_SLUGS = st.from_regex(r"[a-z0-9][a-z0-9._\-]{0,5}", fullmatch=True)
_URLS = st.sampled_from([CODE_URL, "https://gitlab.com/a/b", "http://www.huggingface.co/m/n", "https://github.com/x"])
_NAMES = st.sampled_from(["Zhi-Hong Deng", "A B", "C"])
# Line feeds inside and at the end of an item (`$` accepts one there), empty items, repeats, others.
_LIST_CHECKS = {
    "authors": (Paper.authors_are_names, _NAMES, ["", 7, None, "A B\n"],
                lambda names: 1 <= len(names) <= 3 and all(isinstance(n, str) and n for n in names)),
    "affiliations": (Paper.affiliations_are_slugs, _SLUGS, ["pku\n", "pku\neth", "\n", "", "ETH", "a b"],
                     lambda slugs: all(AFFILIATION_PATTERN.match(s) for s in slugs)),
    "code_urls": (Paper.code_urls_on_hosts, _URLS, [CODE_URL + "\n", CODE_URL + "\n" + CODE_URL, CODE_URL + ".", CODE_URL, "https://example.com/a"],
                  lambda urls: len(set(urls)) == len(urls) and all(CODE_URL_PATTERN.match(u) for u in urls)),
}


@pytest.mark.parametrize("column", list(_LIST_CHECKS))
def test_list_checks_decide_each_row_as_their_row_by_row_definition(column: str) -> None:
    check, good, bad, definition = _LIST_CHECKS[column]

    @settings(max_examples=300, deadline=None)
    @given(_columns(good, bad))
    def decides_as_defined(rows: list) -> None:
        expected = [isinstance(row, list) and bool(definition(row)) for row in rows]
        assert check(pd.Series(rows, dtype=object)).tolist() == expected

    decides_as_defined()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from(["A B", "C D", ""]), max_size=4), st.integers(0, 4), st.sampled_from(["A B", "C D", ""])), max_size=6))
def test_author_counts_check_compares_every_row(rows: list) -> None:
    frame = pd.DataFrame(rows, columns=["authors", "n_authors_shown", "first_author"])
    expected = [len(authors) == shown and bool(authors) and authors[0] == first for authors, shown, first in rows]
    assert Paper.authors_consistent(frame).tolist() == expected


def test_row_checks_do_not_test_every_value_for_null() -> None:
    """pandera's ignore_na on a dataframe check nulls-tests the whole frame each time (fields.row_check)."""
    checks = [check for table in schemas.TABLES.values() for check in table.schema.checks]
    assert checks
    assert [check.name for check in checks if check.ignore_na] == []
