"""End to end on tests/fixtures/mixed/: good records published, every malformed block rejected with file, line and reason.

The fixture inbox mixes good and malformed captures (one kind of damage each, noted below); the
real flow runs in-process into a temporary raw and output folder.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import FIXTURES
from flows import formats, package, report
from flows.pipeline import refresh

MIXED_INBOX = FIXTURES / "mixed" / "inbox"
CAPTURED = dt.date(2026, 11, 26)
DENG = "profiles/zhi-hong-deng/2026-11-26.txt"
JIE = "profiles/shibo-jie/2026-11-26.txt"
WANG = "profiles/haoqing-wang/2026-11-26.txt"  # UTF-8 with a byte-order mark and CRLF line ends
LI = "profiles/ziheng-li/2026-11-26.txt"  # header shows Novelty150%

# (source_file, line of the block, stage, record_type, text the reason must contain)
EXPECTED_REJECTS = [
    (DENG, 19, "extract", "paper", f"{DENG}:19: expected a valid calendar date, found 'Feb 30, 2023'"),
    (JIE, 19, "extract", "paper", f"{JIE}:19: expected a title line after the paper header"),  # header, no title
    (JIE, 21, "extract", "paper", f"{JIE}:24: expected an authors line"),  # title, then the abstract
    (JIE, 33, "extract", "paper", f"{JIE}:34: expected an authors line after the title"),  # file ends mid-block
    (WANG, 8, "validate", "paper", "failed check published_date after captured_date on row:"
     " found published_date=datetime.date(2027, 12, 31), captured_date=datetime.date(2026, 11, 26)"),  # Dec 31, 2027
    (LI, 1, "validate", "profile", f"{LI}:1: failed check in_range(0, 100) on column novelty_pct: found 150"),
    (LI, 8, "validate", "paper", f"{LI}:8: profile header failed validation"),
]
# Refused at ingest and left in the inbox: they cannot be archived, so they never reach extract.
EXPECTED_INBOX_PROBLEMS = [
    "inbox/empty.txt:1: expected a profile name on the first non-blank line, found none",
    "inbox/jose-perez-latin1.txt:1: expected UTF-8 text, found byte 0xE9 at column 4",
]
UNKNOWN_CATEGORY_TITLE = "A Paper in a Category arXiv Does Not Have"
SHARED_TITLE = "FacT: Factor-Tuning for Lightweight Adaptation on Vision Transformer"
# (profile_id, title, author_role, code_status)
EXPECTED_PUBLISHED = [
    ("haoqing-wang", "Cross-Domain Few-Shot Classification via Adversarial Task Augmentation", "first", "linked"),
    ("haoqing-wang", "Few-shot Learning with LSSVM Base Learner and Transductive Modules", "first", "none"),
    ("shibo-jie", SHARED_TITLE, "first", "none"),
    # Shibo Jie's page lists a paper whose complete author list does not name him.
    ("shibo-jie", "SDA: Steering-Driven Distribution Alignment for Open LLMs without Fine-Tuning", "absent", "badge_only"),
    ("zhi-hong-deng", UNKNOWN_CATEGORY_TITLE, "sole", "none"),
    ("zhi-hong-deng", SHARED_TITLE, "last", "none"),
    ("zhi-hong-deng", "Keyword-Centric Prompting for One-Shot Event Detection", "last", "none"),
    ("zhi-hong-deng", "Neural Consciousness Flow", "hidden", "mentioned"),
    ("zhi-hong-deng", "Revisiting the Parameter Efficiency of Adapters from the Perspective of Precision Redundancy", "last", "linked"),
]
# 6 + 5 + 3 + 1 blocks in the four archived files.
EXPECTED_ACCOUNTING = {"paper_blocks_found": 15, "published": 9, "rejected": 6}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    root = tmp_path_factory.mktemp("mixed")
    raw_dir, output_dir = root / "raw", root / "output"
    shutil.copytree(MIXED_INBOX, raw_dir / "inbox")
    summary = refresh(raw_dir=str(raw_dir), output_dir=str(output_dir), captured_date=CAPTURED)
    return summary, raw_dir, output_dir


def _table(output_dir: Path, table: str) -> pd.DataFrame:
    return formats.read(table, output_dir / "latest" / formats.table_file(table, "parquet"))


def test_release_published(run: tuple[dict, Path, Path]) -> None:
    summary, _, output_dir = run
    assert summary["release_id"] == CAPTURED.isoformat()
    assert summary["row_counts"]["profiles"] == 3
    assert summary["row_counts"]["papers"] == 8
    assert summary["row_counts"]["authorships"] == 9
    assert package.verify_release(output_dir / "latest") == []


def test_good_records_published(run: tuple[dict, Path, Path]) -> None:
    _, _, output_dir = run
    joined = _table(output_dir, "authorships").merge(_table(output_dir, "papers"), on="paper_id", suffixes=("", "_paper"))
    published = sorted(joined[["profile_id", "title", "author_role", "code_status"]].itertuples(index=False, name=None))
    assert published == sorted(EXPECTED_PUBLISHED)
    assert sorted(_table(output_dir, "profiles")["profile_id"]) == ["haoqing-wang", "shibo-jie", "zhi-hong-deng"]


def test_shared_paper_is_one_row(run: tuple[dict, Path, Path]) -> None:
    _, _, output_dir = run
    papers = _table(output_dir, "papers")
    shared = papers[papers["title"] == SHARED_TITLE]
    assert len(shared) == 1 and shared["n_profiles"].iloc[0] == 2


def test_unknown_category_kept_verbatim(run: tuple[dict, Path, Path]) -> None:
    summary, _, output_dir = run
    papers = _table(output_dir, "papers")
    paper = papers[papers["title"] == UNKNOWN_CATEGORY_TITLE].iloc[0]
    assert (paper["category"], paper["arxiv_category"]) == ("ZZ", "ZZ")
    assert pd.isna(paper["category_name"])
    assert f"{DENG}:33: unknown category code 'ZZ' kept verbatim" in summary["warnings"]


def test_each_malformed_block_rejected_with_file_line_and_reason(run: tuple[dict, Path, Path]) -> None:
    _, _, output_dir = run
    rejects = _table(output_dir, "rejects")
    assert len(rejects) == len(EXPECTED_REJECTS), rejects[["source_file", "line", "reason"]].to_string()
    for source_file, line, stage, record_type, reason in EXPECTED_REJECTS:
        row = rejects[(rejects["source_file"] == source_file) & (rejects["line"] == line)]
        assert len(row) == 1, (source_file, line)
        assert (row["stage"].iloc[0], row["record_type"].iloc[0]) == (stage, record_type)
        assert row["reason"].iloc[0].startswith(f"{source_file}:")
        assert reason in row["reason"].iloc[0]
        assert row["raw_text"].iloc[0], "the rejected block's raw text is kept"


def test_a_paper_that_fails_validation_keeps_its_raw_text(run: tuple[dict, Path, Path]) -> None:
    """Its reject is made where paper parts are rendered, after its listing was spilled without raw text: read again from the archive."""
    _, raw_dir, output_dir = run
    rejects = _table(output_dir, "rejects")
    row = rejects[(rejects["source_file"] == WANG) & (rejects["line"] == 8)].iloc[0]
    block = raw_dir.joinpath(WANG).read_text("utf-8-sig").splitlines()[7:13]
    assert row["raw_text"] == "\n".join(line for line in block if line), row["raw_text"]
    assert row["raw_text"].startswith("LGDec 31, 2027\nA Paper From the Future\nHaoqing Wang, Zhi-Hong Deng\n")


def test_unreadable_files_stay_in_the_inbox_with_file_line_and_reason(run: tuple[dict, Path, Path]) -> None:
    summary, raw_dir, _ = run
    assert len(summary["inbox_problems"]) == len(EXPECTED_INBOX_PROBLEMS)
    for expected, problem in zip(EXPECTED_INBOX_PROBLEMS, sorted(summary["inbox_problems"])):
        assert problem.startswith(expected)
    assert sorted(path.name for path in (raw_dir / "inbox").iterdir()) == ["empty.txt", "jose-perez-latin1.txt"]
    assert sorted(path.name for path in (raw_dir / "profiles").iterdir()) == ["haoqing-wang", "shibo-jie", "zhi-hong-deng", "ziheng-li"]


def test_accounting_balance_in_summary_and_validation_report(run: tuple[dict, Path, Path]) -> None:
    summary, _, output_dir = run
    assert summary["accounting"] == EXPECTED_ACCOUNTING
    assert "Accounting: 15 paper blocks found = 9 published + 6 rejected." in report.render_markdown(summary)
    validation = json.loads((output_dir / "latest" / package.VALIDATION_REPORT).read_text("utf-8"))
    assert validation["accounting"] == EXPECTED_ACCOUNTING
    assert validation["rejects_by_stage"] == {"extract": 4, "validate": 3}
    # 15 blocks - 4 refused by extract - 1 whose profile header failed; 1 more fails a row check.
    assert validation["rows_checked"]["authorships"] == 10
    assert validation["rows_published"]["authorships"] == 9
    assert any("'Shibo Jie' is not in the complete author list" in warning for warning in validation["warnings"])
    profiles = _table(output_dir, "profiles").set_index("profile_id")
    assert (profiles["papers_extracted"] + profiles["papers_rejected"] == profiles["papers_found"]).all()
