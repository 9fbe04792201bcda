"""Extract: the seed's golden file, every format variation, every malformed block, and the parser's round trip."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, REPO_ROOT, SEED_PROFILE
from flows import extract
from flows.extract import extract_bytes, parse_profile
from flows.synth import SynthPaper, SynthProfile, render_profile

CAPTURED = dt.date(2026, 11, 26)
SOURCE = "profiles/test-person/2026-11-26.txt"
GOOD_BLOCK = """CVJul 31, 2023Code
A Good Paper Title

Ada Lovelace, Charles Babbage · pku

An abstract. Code: https://github.com/a/b"""
HEADER = """Test Person

LG
h-index3
7papers
1,234citations
Novelty50%
AI Score60

{n} Papers
"""


def profile_text(*blocks: str, n: int | None = None) -> str:
    return HEADER.format(n=len(blocks) if n is None else n) + "\n" + "\n\n".join(blocks)


def parse(text: str, captured: dt.date = CAPTURED) -> extract.Extraction:
    return parse_profile(text, SOURCE, captured)


def comparable(papers: list[dict]) -> list[dict]:
    """Paper fields without line numbers and raw text, which legitimately move with blank lines."""
    return [{k: v for k, v in paper.items() if k not in ("source_line", "raw_text", "source_sha256")} for paper in papers]


# --- the real seed ---------------------------------------------------------------------------


def test_seed_matches_reviewed_golden_file():
    """Every field of every one of the 42 seed papers equals tests/fixtures/seed_extraction.golden.json."""
    sys.path.insert(0, str(FIXTURES))
    from regenerate import seed_extraction_json

    golden = (FIXTURES / "seed_extraction.golden.json").read_text("utf-8")
    assert seed_extraction_json() == golden
    document = json.loads(golden)
    assert len(document["papers"]) == 42
    assert document["rejects"] == [] and document["warnings"] == []


def test_seed_header_metrics():
    extraction = extract.extract_file(SEED_PROFILE, SOURCE, CAPTURED)
    assert extraction.profile == {
        "name": "Zhi-Hong Deng", "name_line": 1, "primary_category": "LG", "h_index": 32, "papers_total": 42,
        "citations": 5576, "novelty_pct": 59, "ai_score": 64, "papers_listed": 42, "papers_found": 42,
    }


# --- format variations -----------------------------------------------------------------------

PLAIN = profile_text(GOOD_BLOCK, "LGMar 1, 2023\nSecond Title\n\nGrace Hopper\n\nSecond abstract.")


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(("\ufeff" + PLAIN).encode("utf-8"), id="utf8-bom"),
        pytest.param(PLAIN.replace("\n", "\r\n").encode("utf-8"), id="crlf"),
        pytest.param(PLAIN.replace("\n", "\r").encode("utf-8"), id="cr"),
        pytest.param(PLAIN.replace("\n\n", "\n\n\n\n").encode("utf-8"), id="extra-blank-lines"),
        pytest.param(PLAIN.replace("\n\n", "\n").encode("utf-8"), id="missing-blank-lines"),
        pytest.param(PLAIN.replace("\n", "   \n").encode("utf-8"), id="trailing-spaces"),
        pytest.param(PLAIN.encode("utf-16"), id="utf16-bom"),
    ],
)
def test_format_variations_parse_to_the_same_records(variant: bytes):
    expected = parse(PLAIN)
    got = extract_bytes(variant, SOURCE, CAPTURED)
    assert got.rejects == []
    assert got.profile["name"] == "Test Person"
    assert comparable(got.papers) == comparable(expected.papers)
    assert len(got.papers) == 2


def test_block_parts_no_abstract_no_affiliation_one_author_et_al_several_slugs():
    blocks = [
        "CLMay 2, 2021\nNo Abstract Here\n\nAda Lovelace · eth-zurich, microsoft-research",
        "AIJan 3, 2020\nEt Al Paper\n\nA B, C D, E F et al.\n\nSome abstract.",
    ]
    papers = parse(profile_text(*blocks)).papers
    assert papers[0]["abstract"] is None
    assert papers[0]["authors"] == ["Ada Lovelace"]
    assert papers[0]["affiliations"] == ["eth-zurich", "microsoft-research"]
    assert papers[1]["affiliations"] == []
    assert papers[1]["is_author_list_truncated"] is True
    assert papers[1]["authors"] == ["A B", "C D", "E F"]


def test_decimal_score_glued_before_category():
    paper = parse(profile_text("32.9CLMay 27Code\nScored\n\nAda Lovelace\n\nAbs.")).papers[0]
    assert (paper["site_score"], paper["category"], paper["has_code_badge"]) == (32.9, "CL", True)
    assert paper["published_date"] == dt.date(2026, 5, 27)


@pytest.mark.parametrize("code", ["quant-ph", "math.OC", "ZZ", "cond-mat.stat-mech", "IV"])
def test_any_subject_code_is_read_verbatim(code: str):
    paper = parse(profile_text(f"{code}Mar 3, 2021\nT\n\nAda Lovelace\n\nA.")).papers[0]
    assert paper["category"] == code


def test_year_less_date_takes_capture_year_and_is_never_after_capture():
    papers = parse(profile_text(
        "CLJun 2\nEarlier This Year\n\nAda Lovelace", "CLDec 30\nLate Last Year\n\nAda Lovelace",
        "CLNov 26\nOn Capture Day\n\nAda Lovelace",
    )).papers
    assert [p["published_date"] for p in papers] == [dt.date(2026, 6, 2), dt.date(2025, 12, 30), dt.date(2026, 11, 26)]
    assert all(p["is_year_inferred"] for p in papers)


def test_missing_header_lines_are_null_not_zero():
    text = "Jane Roe\n\nh-index7\n\n1 Papers\n\n" + GOOD_BLOCK
    profile = parse(text).profile
    assert profile["h_index"] == 7
    assert profile["primary_category"] is None
    assert profile["citations"] is None and profile["novelty_pct"] is None and profile["ai_score"] is None


def test_listed_count_disagreeing_with_blocks_is_a_warning_not_a_failure():
    extraction = parse(profile_text(GOOD_BLOCK, n=5))
    assert len(extraction.papers) == 1 and extraction.rejects == []
    assert extraction.warnings == [f"{SOURCE}:10: header lists 5 papers, found 1 paper blocks"]


# --- malformed input: each reject names file, line and reason; good blocks survive ------------


def _line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


@pytest.mark.parametrize(
    ("bad_block", "bad_line", "reason"),
    [
        ("LGFeb 30, 2023\nImpossible Date\n\nAda Lovelace\n\nA.", "LGFeb 30, 2023",
         "expected a valid calendar date, found 'Feb 30, 2023'"),
        ("LGMar 3, 2023", "LGMar 3, 2023", "expected a title line after the paper header, found the end of the block"),
        ("LGMar 4, 2023\nTitle Without Authors\n\nThis abstract is long, and it reads like prose rather than a list of names.",
         "This abstract is long, and it reads like prose rather than a list of names.",
         "expected an authors line '<up to 3 names>[ et al.][ · <slugs>]', found 'This abstract is long"),
        ("Mar 5, 2023\nDamaged Header\n\nAda Lovelace\n\nA.", "Mar 5, 2023",
         "expected a paper header '<CAT><Mon> <D>[, <YYYY>][Code]', found 'Mar 5, 2023'"),
    ],
    ids=["impossible-date", "header-without-title", "authors-line-missing", "damaged-header"],
)
def test_malformed_block_is_rejected_and_its_neighbours_survive(bad_block: str, bad_line: str, reason: str):
    text = profile_text(GOOD_BLOCK, bad_block, GOOD_BLOCK.replace("A Good Paper Title", "Another Good Title"))
    extraction = parse(text)
    assert [p["title"] for p in extraction.papers] == ["A Good Paper Title", "Another Good Title"]
    [reject] = extraction.rejects
    header_line = _line_of(text, bad_block.splitlines()[0])
    assert (reject["source_file"], reject["line"], reject["record_type"]) == (SOURCE, header_line, "paper")
    assert reject["reason"].startswith(f"{SOURCE}:{_line_of(text, bad_line)}: {reason}")
    assert reject["raw_text"].splitlines()[0] == bad_block.splitlines()[0]


def test_truncated_last_block_is_rejected():
    text = profile_text(GOOD_BLOCK, "LGMar 6, 2023\nCut Off Mid")
    extraction = parse(text)
    assert len(extraction.papers) == 1
    [reject] = extraction.rejects
    assert reject["line"] == _line_of(text, "LGMar 6, 2023")
    assert "expected an authors line after the title 'Cut Off Mid', found the end of the block" in reject["reason"]


def test_file_not_utf8_is_rejected_whole_naming_line_and_column():
    data = profile_text(GOOD_BLOCK).replace("Ada Lovelace", "Ad\u00e9 Lovelace").encode("latin-1")
    extraction = extract_bytes(data, SOURCE, CAPTURED)
    assert extraction.papers == [] and extraction.profile is None
    [reject] = extraction.rejects
    line = profile_text(GOOD_BLOCK).splitlines().index("Ada Lovelace, Charles Babbage · pku") + 1
    assert reject["reason"] == f"{SOURCE}:{line}: expected UTF-8 text, found byte 0xE9 at column 3 (re-save the capture as UTF-8)"
    assert reject["record_type"] == "file"


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", "\ufeff".encode()], ids=["empty", "blank", "bom-only"])
def test_empty_file_is_a_reject_not_a_crash(data: bytes):
    extraction = extract_bytes(data, SOURCE, CAPTURED)
    assert extraction.profile is None
    assert [r["reason"] for r in extraction.rejects] == [f"{SOURCE}:1: expected a profile name on the first line, found an empty file"]


def test_file_without_name_line_rejects_every_block_with_its_line():
    text = GOOD_BLOCK + "\n\n" + GOOD_BLOCK.replace("A Good Paper Title", "Second")
    extraction = parse(text)
    assert extraction.profile is None and extraction.papers == []
    assert [(r["line"], r["record_type"]) for r in extraction.rejects] == [(1, "paper"), (8, "paper")]
    assert all("expected a profile name before the papers" in r["reason"] for r in extraction.rejects)


def test_unreadable_header_line_is_rejected_and_the_metric_stays_null():
    text = profile_text(GOOD_BLOCK).replace("h-index3", "h-indexabc")
    extraction = parse(text)
    assert extraction.profile["h_index"] is None
    [reject] = extraction.rejects
    assert (reject["line"], reject["record_type"]) == (4, "profile_header")
    assert "found 'h-indexabc'" in reject["reason"]
    assert len(extraction.papers) == 1


def test_line_over_the_length_limit_rejects_its_block(monkeypatch):
    monkeypatch.setattr(extract, "MAX_LINE_CHARS", 50)
    text = profile_text(GOOD_BLOCK.replace("An abstract.", "x" * 60), "LGMar 1, 2023\nShort\n\nAda Lovelace")
    extraction = parse(text)
    assert [p["title"] for p in extraction.papers] == ["Short"]
    assert "expected lines of at most 50 characters, found" in extraction.rejects[0]["reason"]


# --- python -m flows check -------------------------------------------------------------------


def test_check_cli_prints_every_problem_and_exits_1(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(profile_text(GOOD_BLOCK, "LGFeb 30, 2023\nX\n\nAda Lovelace", n=3), encoding="utf-8")
    good = tmp_path / "good.txt"
    good.write_text(profile_text(GOOD_BLOCK), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "flows", "check", str(good), str(bad), "--captured-date", "2026-11-26"],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
    )
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{bad}:19: expected a valid calendar date, found 'Feb 30, 2023'",
        f"{bad}:10: header lists 3 papers, found 2 paper blocks",
    ]


def test_check_cli_exits_0_on_a_clean_file():
    result = subprocess.run([sys.executable, "-m", "flows", "check", str(SEED_PROFILE)], capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert (result.returncode, result.stdout) == (0, "")


# --- round trip: records -> raw text -> records ----------------------------------------------

_GIVEN = st.sampled_from(["Ada", "José", "Zoë", "Jean-Luc", "Marc'Aurelio", "Zhi-Hong", "Łukasz", "Matthias", "Ng"])
_FAMILY = st.sampled_from(["Lovelace", "Nießner", "O'Brien", "Deng", "Müller-Lüdenscheidt", "Ødegaard", "d'Alembert", "Li"])
_NAME = st.builds(lambda given, family: f"{given} {family}", _GIVEN, _FAMILY)
_TEXT = st.text(
    alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :?!,.-()$^<>&'\"éü")),
    min_size=1, max_size=80,
).map(str.strip).filter(lambda text: bool(text) and not extract._starts_block(text))
_CODES = st.sampled_from(["LG", "CV", "CL", "AI", "IR", "ML", "quant-ph", "math.OC", "ZZ"])
_SLUGS = st.lists(st.sampled_from(["pku", "eth-zurich", "microsoft-research", "mit"]), max_size=3, unique=True)


@st.composite
def _papers(draw, captured: dt.date) -> SynthPaper:
    published = draw(st.dates(min_value=dt.date(1995, 1, 1), max_value=captured))
    n_authors = draw(st.integers(1, 3))
    return SynthPaper(
        site_score=draw(st.none() | st.integers(0, 999).map(lambda tenths: tenths / 10)),
        category=draw(_CODES),
        published_date=published,
        show_year=draw(st.booleans()) if published.year == captured.year else True,
        has_code_badge=draw(st.booleans()),
        title=draw(_TEXT),
        authors=tuple(draw(st.lists(_NAME, min_size=n_authors, max_size=n_authors))),
        is_author_list_truncated=draw(st.booleans()) if n_authors == 3 else False,
        affiliations=tuple(draw(_SLUGS)),
        abstract=draw(st.none() | _TEXT),
    )


@st.composite
def _profiles(draw) -> SynthProfile:
    captured = draw(st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31)))
    optional_count = st.none() | st.integers(0, 100_000)
    return SynthProfile(
        name=draw(_NAME),
        primary_category=draw(st.none() | _CODES),
        h_index=draw(st.none() | st.integers(0, 300)),
        papers_total=draw(optional_count),
        citations=draw(optional_count),
        novelty_pct=draw(st.none() | st.integers(0, 100)),
        ai_score=draw(st.none() | st.integers(0, 100)),
        captured_date=captured,
        papers=tuple(draw(st.lists(_papers(captured), min_size=0, max_size=6))),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=_profiles(), line_ending=st.sampled_from(["\n", "\r\n"]), bom=st.booleans(), extra_blank_lines=st.booleans())
def test_round_trip_records_render_and_parse_back_equal(profile: SynthProfile, line_ending: str, bom: bool, extra_blank_lines: bool):
    text = render_profile(profile, line_ending=line_ending, bom=bom, extra_blank_lines=extra_blank_lines)
    extraction = extract_bytes(text.encode("utf-8"), SOURCE, profile.captured_date)
    assert extraction.rejects == []
    header = {key: value for key, value in extraction.profile.items() if key not in ("name_line", "papers_found")}
    assert header == {
        "name": profile.name, "primary_category": profile.primary_category, "h_index": profile.h_index,
        "papers_total": profile.papers_total, "citations": profile.citations, "novelty_pct": profile.novelty_pct,
        "ai_score": profile.ai_score, "papers_listed": len(profile.papers),
    }
    parsed = [
        SynthPaper(
            site_score=paper["site_score"], category=paper["category"], published_date=paper["published_date"],
            show_year=not paper["is_year_inferred"], has_code_badge=paper["has_code_badge"], title=paper["title"],
            authors=tuple(paper["authors"]), is_author_list_truncated=paper["is_author_list_truncated"],
            affiliations=tuple(paper["affiliations"]), abstract=paper["abstract"],
        )
        for paper in extraction.papers
    ]
    assert parsed == list(profile.papers)


@given(st.lists(st.sampled_from(["a", " ", "\t", "\r", "\n", "\r\n", "\x00", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "é"])).map("".join))
def test_lines_end_at_crlf_cr_or_lf_only_with_or_without_a_cr_in_the_text(text: str) -> None:
    assert extract.split_lines(text) == [line.rstrip() for line in re.split(r"\r\n|\r|\n", text)]
