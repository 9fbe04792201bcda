"""build_tables: one row per paper, quarantine of failing rows, table-level failures, accounting."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

import schemas
from flows import ids, validate
from flows.extract import Extraction, parse_profile
from flows.settings import PROJECT_ROOT
from flows.tables import AccountingError, BuiltTables, build_tables
from flows.validate import TableValidationError

CAPTURED = dt.date(2026, 11, 26)
EARLIER_CAPTURE = dt.date(2022, 12, 20)

DENG = "Zhi-Hong Deng"
JIE = "Shibo Jie"
# On both profiles: Jie first, Deng last. Deng's page shows the full date; Jie's older capture
# shows it year-less (`Dec 6`, inferred from the capture in 2022), so the date is not in the id.
SHARED_TITLE = "FacT: Factor-Tuning for Lightweight Adaptation on Vision Transformer"
SHARED_ON_DENG = f"CVDec 6, 2022\n{SHARED_TITLE}\n\nShibo Jie, Zhi-Hong Deng · pku\n\nRecent work has explored PETL."
SHARED_ON_JIE = f"CVDec 6\n{SHARED_TITLE}\n\nShibo Jie, Zhi-Hong Deng · pku\n\nRecent work has explored PETL."
DENG_ONLY = "LGJan 15, 2019\nDeepCF: A Unified Framework\n\nZhi-Hong Deng, Ling Huang, Chang-Dong Wang et al.\n\nIn general, recommendation."
JIE_ONLY = "CVMay 9, 2022Code\nMemory-Space Visual Prompting\n\nShibo Jie, Yehui Tang, Ning Ding et al.\n\nCode: https://github.com/JieShibo/MemVP"
HIDDEN_ON_DENG = "LGMar 1, 2023\nAre More Layers Beneficial to Graph Transformers?\n\nHaiteng Zhao, Shuming Ma, Dongdong Zhang et al.\n\nDespite that."

# Blocks that parse but fail a pandera check once enriched.
BAD_CATEGORY = "a.b.c"
BAD_CATEGORY_BLOCK = f"{BAD_CATEGORY}Mar 3, 2021\nA Paper With a Malformed Category\n\nZhi-Hong Deng\n\nAn abstract."
AFTER_CAPTURE_BLOCK = "LGDec 31, 2027\nA Paper From the Future\n\nZhi-Hong Deng, Ling Huang\n\nAn abstract."


def profile_text(name: str, blocks: list[str], h_index: int = 32, novelty: int = 59) -> str:
    """A raw profile page as the site shows it: name, header metrics, then paper blocks."""
    header = f"{name}\n\nLG\nh-index{h_index}\n42papers\n5,576citations\nNovelty{novelty}%\nAI Score64\n\n{len(blocks)} Papers\n\n"
    return header + "\n\n".join(blocks) + "\n"


def extraction(name: str, blocks: list[str], captured: dt.date = CAPTURED, **header) -> Extraction:
    source_file = f"profiles/{ids.profile_id(name)}/{captured.isoformat()}.txt"
    return parse_profile(profile_text(name, blocks, **header), source_file, captured)


def block_line(extracted: Extraction, title: str) -> int:
    """1-based header line of the block with `title` (found in the raw text, not hard-coded)."""
    return next(paper["source_line"] for paper in extracted.papers if paper["title"] == title)


def reject_for(built: BuiltTables, source_file: str, line: int) -> pd.Series:
    rejects = built.tables["rejects"]
    found = rejects[(rejects["source_file"] == source_file) & (rejects["line"] == line)]
    assert len(found) == 1, rejects.to_string()
    return found.iloc[0]


def assert_accounting_balances(built: BuiltTables) -> None:
    accounting = built.accounting
    assert accounting["paper_blocks_found"] == accounting["published"] + accounting["rejected"]


# --- one row per paper -----------------------------------------------------------------------------------


def _shared_paper_tables(order: int = 1) -> BuiltTables:
    deng = extraction(DENG, [SHARED_ON_DENG, DENG_ONLY])
    jie = extraction(JIE, [JIE_ONLY, SHARED_ON_JIE], captured=EARLIER_CAPTURE)
    return build_tables([deng, jie][::order])


def test_paper_on_two_profiles_is_one_papers_row_and_two_authorships() -> None:
    built = _shared_paper_tables()
    papers, authorships = built.tables["papers"], built.tables["authorships"]
    shared = papers[papers["title"] == SHARED_TITLE]
    assert len(shared) == 1
    paper_id = shared["paper_id"].iloc[0]
    assert paper_id == ids.paper_id(SHARED_TITLE, JIE)
    rows = authorships[authorships["paper_id"] == paper_id].set_index("profile_id")
    assert sorted(rows.index) == ["shibo-jie", "zhi-hong-deng"]
    assert rows.loc["shibo-jie", "author_role"] == "first"
    assert rows.loc["zhi-hong-deng", "author_role"] == "last"
    # The newest listing's fields win: Deng's 2026 capture with the full date.
    assert shared["n_profiles"].iloc[0] == 2
    assert shared["captured_date"].iloc[0] == CAPTURED
    assert shared["published_date"].iloc[0] == dt.date(2022, 12, 6)
    assert len(papers) == 3 and len(authorships) == 4
    assert_accounting_balances(built)


def test_paper_id_is_the_same_in_separate_runs() -> None:
    first, reversed_order = _shared_paper_tables(), _shared_paper_tables(order=-1)
    deng_alone = build_tables([extraction(DENG, [SHARED_ON_DENG])])
    jie_alone = build_tables([extraction(JIE, [SHARED_ON_JIE], captured=EARLIER_CAPTURE)])
    ids_by_run = [
        set(run.tables["papers"].loc[run.tables["papers"]["title"] == SHARED_TITLE, "paper_id"])
        for run in (first, reversed_order, deng_alone, jie_alone)
    ]
    assert len(set.union(*ids_by_run)) == 1
    pd.testing.assert_frame_equal(first.tables["papers"], reversed_order.tables["papers"])


def test_paper_id_is_the_same_in_another_process() -> None:
    """A new interpreter with another hash seed derives the same id: nothing depends on process state."""
    script = (
        "import datetime as dt, json; from flows.extract import parse_profile; from flows.tables import build_tables; "
        f"text = {profile_text(DENG, [SHARED_ON_DENG])!r}; "
        "built = build_tables([parse_profile(text, 'profiles/zhi-hong-deng/2026-11-26.txt', dt.date(2026, 11, 26))]); "
        "print(json.dumps(sorted(built.tables['papers']['paper_id'])))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    output = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True)
    in_process = build_tables([extraction(DENG, [SHARED_ON_DENG])]).tables["papers"]["paper_id"]
    assert json.loads(output.stdout) == sorted(in_process)


def test_same_paper_twice_in_one_profile_is_one_authorship_a_reject_and_a_warning() -> None:
    deng = extraction(DENG, [SHARED_ON_DENG, DENG_ONLY, SHARED_ON_DENG])
    first_line, repeat_line = [paper["source_line"] for paper in deng.papers if paper["title"] == SHARED_TITLE]
    built = build_tables([deng])
    assert len(built.tables["authorships"]) == 2
    assert (built.tables["authorships"]["source_line"] == first_line).sum() == 1
    reject = reject_for(built, deng.source_file, repeat_line)
    assert reject["stage"] == "enrich" and reject["record_type"] == "paper"
    assert f"found a repeat of the paper at line {first_line}" in reject["reason"]
    assert reject["raw_text"].startswith("CVDec 6, 2022\n" + SHARED_TITLE)
    assert any(f"{deng.source_file}:{repeat_line}:" in warning and "repeat" in warning for warning in built.warnings)
    assert built.accounting == {"paper_blocks_found": 3, "published": 2, "rejected": 1}
    assert built.tables["profiles"]["papers_rejected"].iloc[0] == 1


# --- quarantine: a failing row is rejected, the rest is published --------------------------------------------


def test_failing_rows_go_to_rejects_with_check_column_and_value() -> None:
    deng = extraction(DENG, [DENG_ONLY, BAD_CATEGORY_BLOCK, HIDDEN_ON_DENG, AFTER_CAPTURE_BLOCK])
    bad_category_line = block_line(deng, "A Paper With a Malformed Category")
    future_line = block_line(deng, "A Paper From the Future")
    built = build_tables([deng])

    reject = reject_for(built, deng.source_file, bad_category_line)
    assert (reject["stage"], reject["record_type"]) == ("validate", "paper")
    assert reject["reason"].startswith(f"{deng.source_file}:{bad_category_line}: ")
    assert "failed check str_matches" in reject["reason"]
    assert f"on column category: found '{BAD_CATEGORY}'" in reject["reason"]
    assert reject["raw_text"].startswith(f"{BAD_CATEGORY}Mar 3, 2021\n")

    reject = reject_for(built, deng.source_file, future_line)
    assert "failed check published_date after captured_date" in reject["reason"]
    assert "published_date=datetime.date(2027, 12, 31)" in reject["reason"]
    assert "captured_date=datetime.date(2026, 11, 26)" in reject["reason"]

    # The other two papers are published, and the profile counts only them.
    assert sorted(built.tables["papers"]["title"]) == ["Are More Layers Beneficial to Graph Transformers?", "DeepCF: A Unified Framework"]
    profile = built.tables["profiles"].iloc[0]
    assert (profile["papers_found"], profile["papers_extracted"], profile["papers_rejected"]) == (4, 2, 2)
    assert built.accounting == {"paper_blocks_found": 4, "published": 2, "rejected": 2}
    assert built.rows_checked["authorships"] == 4


def test_a_listing_failing_only_an_authorships_check_publishes_neither_row() -> None:
    # site_score is an authorships column alone; the parser reads no negative score, so one is set here.
    deng = extraction(DENG, [DENG_ONLY, HIDDEN_ON_DENG])
    negative = next(paper for paper in deng.papers if paper["title"] == "DeepCF: A Unified Framework")
    negative["site_score"] = -1.5
    built = build_tables([deng])

    reject = reject_for(built, deng.source_file, negative["source_line"])
    assert "on column site_score: found -1.5" in reject["reason"]
    assert list(built.tables["papers"]["title"]) == ["Are More Layers Beneficial to Graph Transformers?"]
    assert list(built.tables["authorships"]["paper_id"]) == list(built.tables["papers"]["paper_id"])
    assert built.accounting == {"paper_blocks_found": 2, "published": 1, "rejected": 1}


def test_profile_header_failing_a_check_rejects_the_profile_and_each_of_its_papers() -> None:
    novelty_over_100 = extraction(DENG, [DENG_ONLY, HIDDEN_ON_DENG], novelty=150)
    good = extraction(JIE, [JIE_ONLY])
    built = build_tables([novelty_over_100, good])
    rejects = built.tables["rejects"]
    profile_reject = reject_for(built, novelty_over_100.source_file, 1)
    assert profile_reject["record_type"] == "profile"
    assert "on column novelty_pct: found 150" in profile_reject["reason"]
    paper_rejects = rejects[(rejects["source_file"] == novelty_over_100.source_file) & (rejects["record_type"] == "paper")]
    assert len(paper_rejects) == 2
    assert all("profile header failed validation" in reason for reason in paper_rejects["reason"])
    assert list(built.tables["profiles"]["profile_id"]) == ["shibo-jie"]
    assert_accounting_balances(built)


# --- table-level failures stop the run -----------------------------------------------------------------------


def test_duplicate_key_raises_naming_the_key() -> None:
    papers = _shared_paper_tables().tables["papers"]
    duplicated = schemas.conform("papers", pd.concat([papers, papers.iloc[[0]]], ignore_index=True))
    result = validate.validate_table("papers", duplicated)
    assert result.row_failures == {}
    duplicate_id = papers["paper_id"].iloc[0]
    with pytest.raises(TableValidationError, match="nothing was published") as raised:
        validate.raise_table_failures(result.table_failures)
    assert f"papers: failed check field_uniqueness: duplicate key paper_id {duplicate_id}" in str(raised.value)


def test_composite_duplicate_key_raises_naming_both_parts() -> None:
    authorships = _shared_paper_tables().tables["authorships"]
    duplicated = schemas.conform("authorships", pd.concat([authorships, authorships.iloc[[0]]], ignore_index=True))
    result = validate.validate_table("authorships", duplicated)
    first = authorships.iloc[0]
    assert result.table_failures == [
        f"authorships: failed check multiple_fields_uniqueness: duplicate key profile_id/paper_id {first['profile_id']}/{first['paper_id']}"
    ]


def test_broken_references_raise_naming_the_keys() -> None:
    tables = dict(_shared_paper_tables().tables)
    missing_paper = tables["papers"]["paper_id"].iloc[0]
    tables["papers"] = tables["papers"].iloc[1:]
    tables["profiles"] = tables["profiles"][tables["profiles"]["profile_id"] != "shibo-jie"]
    failures = validate.check_references(tables)
    assert any(f"authorships: 1 row(s) point at no papers row: {missing_paper}" in failure for failure in failures), failures
    assert any("authorships: 2 row(s) point at no profiles row: shibo-jie" in failure for failure in failures), failures
    assert any("profile_snapshots: 1 row(s) point at no profiles row: shibo-jie" in failure for failure in failures), failures
    with pytest.raises(TableValidationError, match=missing_paper):
        validate.raise_table_failures(failures)


def test_papers_extracted_must_match_the_authorships() -> None:
    tables = dict(_shared_paper_tables().tables)
    assert validate.check_references(tables) == []
    tables["profiles"] = tables["profiles"].assign(papers_extracted=[2, 3])
    failures = validate.check_references(tables)
    assert failures == ["profiles: papers_extracted differs from the number of authorships for zhi-hong-deng (3 vs 2)"]


def test_two_profile_folders_with_one_researcher_fail_the_run() -> None:
    """The same name archived under two folders would give two profile rows with one key."""
    deng = extraction(DENG, [DENG_ONLY])
    copy = parse_profile(profile_text(DENG, [HIDDEN_ON_DENG]), "profiles/zhi-hong-deng-copy/2026-11-26.txt", CAPTURED)
    with pytest.raises(TableValidationError, match="zhi-hong-deng/2026-11-26"):
        build_tables([deng, copy])


# --- accounting ---------------------------------------------------------------------------------------------


def test_accounting_balances_over_published_and_rejected_blocks() -> None:
    deng = extraction(DENG, [DENG_ONLY, BAD_CATEGORY_BLOCK, "LGFeb 30, 2023\nAn Impossible Date\n\nZhi-Hong Deng\n\nText."])
    built = build_tables([deng])
    assert built.accounting == {"paper_blocks_found": 3, "published": 1, "rejected": 2}
    assert set(built.tables["rejects"]["stage"]) == {"extract", "validate"}


def test_accounting_error_when_a_block_is_lost() -> None:
    deng = extraction(DENG, [DENG_ONLY, HIDDEN_ON_DENG])
    # A parser that counted a block but produced neither a record nor a reject for it.
    deng.paper_blocks_found += 1
    with pytest.raises(AccountingError, match="3 paper blocks found, 2 published \\+ 0 rejected"):
        build_tables([deng])


# --- history: every snapshot's header, the newest one's papers ---------------------------------------------------


def test_older_snapshot_is_history_only() -> None:
    old = extraction(DENG, [DENG_ONLY], captured=EARLIER_CAPTURE, h_index=20)
    new = extraction(DENG, [DENG_ONLY, HIDDEN_ON_DENG], h_index=32)
    built = build_tables([new, old])
    snapshots = built.tables["profile_snapshots"]
    assert list(snapshots["captured_date"]) == [EARLIER_CAPTURE, CAPTURED]
    assert list(snapshots["h_index"]) == [20, 32]
    profile = built.tables["profiles"].iloc[0]
    assert (profile["h_index"], profile["snapshots_archived"], profile["papers_extracted"]) == (32, 2, 2)
    assert set(built.tables["authorships"]["source_file"]) == {new.source_file}
    assert built.accounting == {"paper_blocks_found": 2, "published": 2, "rejected": 0}
