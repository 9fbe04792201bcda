"""Tests for the synthetic profile generator: exact rendering, determinism, variations and CLI."""

import datetime
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flows.synth import (
    SynthPaper,
    SynthProfile,
    _profile_name,
    _slug,
    generate_profile,
    render_profile,
    write_profiles,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_PROFILE = Path(__file__).resolve().parent.parent / "raw" / "profiles" / "zhi-hong-deng" / "2026-11-26.txt"
CAPTURED_DATE = datetime.date(2026, 11, 26)

# The line shapes of a captured page, written from the real file, so a renderer drift shows up here.
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
META_LINE = rf"(?:\d+\.\d)?[A-Za-z][A-Za-z.-]*{_MONTH} \d{{1,2}}(?:, \d{{4}})?(?:Code)?"
AUTHOR_LINE = r"[^\n,\u00b7]+(?:, [^\n,\u00b7]+){0,2}(?: et al\.)?(?: \u00b7 [a-z0-9-]+(?:, [a-z0-9-]+)*)?"
HEADER_BLOCK = (
    r"(?:(?=[^\n])(?:[A-Za-z][A-Za-z.-]*\n)?(?:h-index\d+\n)?(?:\d+papers\n)?"
    r"(?:\d{1,3}(?:,\d{3})*citations\n)?(?:Novelty\d+%\n)?(?:AI Score\d+\n)?\n)?"
)
PAPER_BLOCK = rf"{META_LINE}\n[^\n]+\n\n{AUTHOR_LINE}(?:\n\n[^\n]+)?"
PAGE = re.compile(rf"[^\n]+\n\n{HEADER_BLOCK}(\d+) Papers(?:\n\n{PAPER_BLOCK})*")
META_LINE_AT_START = re.compile(rf"^{META_LINE}$", re.MULTILINE)

NAMED_PAPER = SynthPaper(
    site_score=32.9,
    category="CL",
    published_date=datetime.date(2026, 5, 27),
    show_year=False,
    has_code_badge=True,
    title="G$^3$SR: Global Graph <b>Guided</b> Session-based Recommendation",
    authors=("Zhi-Hong Deng", "José García", "Marc'Aurelio Nießner"),
    is_author_list_truncated=True,
    affiliations=("eth-zurich", "microsoft-research"),
    abstract="We study sessions. Code: https://github.com/x/y",
)
PAPER_WITHOUT_ABSTRACT = SynthPaper(
    site_score=None,
    category="math.OC",
    published_date=datetime.date(2023, 7, 31),
    show_year=True,
    has_code_badge=False,
    title="Are More Layers Beneficial?",
    authors=("Marc'Aurelio Nießner",),
    is_author_list_truncated=False,
    affiliations=(),
    abstract=None,
)
PAPER_WITH_GITLAB_URL = SynthPaper(
    site_score=None,
    category="CV",
    published_date=datetime.date(2019, 1, 5),
    show_year=True,
    has_code_badge=True,
    title="Zoë's Adapters, Revisited",
    authors=("Zoë O'Brien", "Marc'Aurelio Nießner"),
    is_author_list_truncated=False,
    affiliations=("pku",),
    abstract="Code will be made available at https://gitlab.com/a/b.",
)
HAND_BUILT_PROFILE = SynthProfile(
    name="Marc'Aurelio Nießner",
    primary_category="LG",
    h_index=None,
    papers_total=12,
    citations=5576,
    novelty_pct=59,
    ai_score=64,
    captured_date=CAPTURED_DATE,
    papers=(NAMED_PAPER, PAPER_WITHOUT_ABSTRACT, PAPER_WITH_GITLAB_URL),
)
# No h-index line, a score prefix, a year-less date, "et al.", two affiliations, a paper with no
# abstract line, and no newline after the last line (as in the real capture).
HAND_BUILT_TEXT = """\
Marc'Aurelio Nießner

LG
12papers
5,576citations
Novelty59%
AI Score64

3 Papers

32.9CLMay 27Code
G$^3$SR: Global Graph <b>Guided</b> Session-based Recommendation

Zhi-Hong Deng, José García, Marc'Aurelio Nießner et al. · eth-zurich, microsoft-research

We study sessions. Code: https://github.com/x/y

math.OCJul 31, 2023
Are More Layers Beneficial?

Marc'Aurelio Nießner

CVJan 5, 2019Code
Zoë's Adapters, Revisited

Zoë O'Brien, Marc'Aurelio Nießner · pku

Code will be made available at https://gitlab.com/a/b."""


def test_render_hand_built_profile_exactly():
    assert render_profile(HAND_BUILT_PROFILE) == HAND_BUILT_TEXT


def test_render_crlf_and_bom():
    rendered = render_profile(HAND_BUILT_PROFILE, line_ending="\r\n", bom=True)
    assert rendered == "\ufeff" + HAND_BUILT_TEXT.replace("\n", "\r\n")


def test_render_extra_blank_lines_only_adds_blank_lines():
    rendered = render_profile(HAND_BUILT_PROFILE, extra_blank_lines=True)
    assert rendered != HAND_BUILT_TEXT
    assert "\n\n\n" in rendered
    assert re.sub(r"\n{3,}", "\n\n", rendered).rstrip("\n") == HAND_BUILT_TEXT


def test_render_profile_without_header_metrics():
    bare = SynthProfile(
        name="Zoë O'Brien",
        primary_category=None,
        h_index=None,
        papers_total=None,
        citations=None,
        novelty_pct=None,
        ai_score=None,
        captured_date=CAPTURED_DATE,
        papers=(PAPER_WITHOUT_ABSTRACT,),
    )
    assert render_profile(bare) == (
        "Zoë O'Brien\n\n1 Papers\n\nmath.OCJul 31, 2023\nAre More Layers Beneficial?\n\nMarc'Aurelio Nießner"
    )


def test_hand_built_text_has_the_real_page_shape():
    match = PAGE.fullmatch(HAND_BUILT_TEXT)
    assert match is not None
    assert len(META_LINE_AT_START.findall(HAND_BUILT_TEXT)) == int(match.group(1)) == 3


def test_page_shape_matches_the_real_capture():
    real_text = REAL_PROFILE.read_text(encoding="utf-8")
    match = PAGE.fullmatch(real_text)
    assert match is not None
    assert len(META_LINE_AT_START.findall(real_text)) == int(match.group(1)) == 42


def test_generated_profiles_have_the_real_page_shape():
    for index in range(30):
        profile = generate_profile(random.Random(index), CAPTURED_DATE, index=index)
        text = render_profile(profile)
        match = PAGE.fullmatch(text)
        assert match is not None, profile.name
        assert len(META_LINE_AT_START.findall(text)) == int(match.group(1)) == len(profile.papers)


def test_truncated_list_needs_three_names():
    with pytest.raises(ValueError, match="et al"):
        SynthPaper(
            site_score=None,
            category="LG",
            published_date=datetime.date(2020, 1, 1),
            show_year=True,
            has_code_badge=False,
            title="A title",
            authors=("Ana López", "Wei Xu"),
            is_author_list_truncated=True,
            affiliations=(),
            abstract=None,
        )


def test_year_less_date_outside_capture_year_is_rejected():
    # NAMED_PAPER hides the year of 2026-05-27; captured in 2027 it would read as May 27, 2027.
    with pytest.raises(ValueError, match="hides the year"):
        SynthProfile(
            name="Wei Xu",
            primary_category="LG",
            h_index=1,
            papers_total=1,
            citations=1,
            novelty_pct=1,
            ai_score=1,
            captured_date=datetime.date(2027, 1, 2),
            papers=(NAMED_PAPER,),
        )


def test_paper_after_capture_date_is_rejected():
    with pytest.raises(ValueError, match="after capture"):
        SynthProfile(
            name="Wei Xu",
            primary_category="LG",
            h_index=1,
            papers_total=1,
            citations=1,
            novelty_pct=1,
            ai_score=1,
            captured_date=datetime.date(2026, 5, 1),
            papers=(NAMED_PAPER,),
        )


def test_generated_profiles_are_realistic():
    profiles = [generate_profile(random.Random(index), CAPTURED_DATE, index=index) for index in range(200)]
    papers = [(profile, paper) for profile in profiles for paper in profile.papers]
    assert all(5 <= len(profile.papers) <= 80 for profile in profiles)
    assert 30 <= len(papers) / len(profiles) <= 50
    assert all(paper.published_date <= CAPTURED_DATE for _, paper in papers)
    assert all(paper.show_year or paper.published_date.year == CAPTURED_DATE.year for _, paper in papers)
    assert any(not paper.show_year for _, paper in papers)
    assert any(paper.published_date.year < 2017 for _, paper in papers)
    assert [paper.published_date for paper in profiles[0].papers] != sorted(paper.published_date for paper in profiles[0].papers)
    # The researcher is on every complete list, and missing from some truncated ones.
    assert all(profile.name in paper.authors for profile, paper in papers if not paper.is_author_list_truncated)
    assert any(profile.name not in paper.authors for profile, paper in papers)
    roles = {
        "sole": any(paper.authors == (profile.name,) for profile, paper in papers),
        "first": any(len(paper.authors) > 1 and paper.authors[0] == profile.name for profile, paper in papers),
        "last": any(len(paper.authors) > 1 and paper.authors[-1] == profile.name for profile, paper in papers),
        "middle": any(paper.authors[1:-1].count(profile.name) for profile, paper in papers),
    }
    assert all(roles.values()), roles
    assert any(paper.abstract is None for _, paper in papers)
    assert any(not paper.affiliations for _, paper in papers)
    assert any(len(paper.affiliations) > 1 for _, paper in papers)
    assert any(paper.site_score is not None for _, paper in papers)
    assert any(profile.h_index is None for profile in profiles)
    assert {"LG", "CV", "CL", "AI", "IR"} <= {paper.category for _, paper in papers}
    abstracts = [paper.abstract for _, paper in papers if paper.abstract]
    assert 1000 <= sum(map(len, abstracts)) / len(abstracts) <= 1500
    assert any("https://github.com/" in abstract for abstract in abstracts)
    assert any("https://gitlab.com/" in abstract for abstract in abstracts)
    assert any("will be made" in abstract and "http" not in abstract for abstract in abstracts)
    titles = [paper.title for _, paper in papers]
    assert any("<b>" in title for title in titles) and any("$^" in title for title in titles)
    assert len(set(titles)) > 0.99 * len(titles)


def test_same_seed_writes_identical_bytes(tmp_path):
    first = write_profiles(tmp_path / "a", 25, seed=7)
    second = write_profiles(tmp_path / "b", 25, seed=7)
    assert [path.name for path in first] == [path.name for path in second]
    assert [path.read_bytes() for path in first] == [path.read_bytes() for path in second]


def test_different_seed_writes_different_bytes(tmp_path):
    first = write_profiles(tmp_path / "a", 5, seed=7)
    second = write_profiles(tmp_path / "b", 5, seed=8)
    assert [path.name for path in first] == [path.name for path in second]
    assert all(a.read_bytes() != b.read_bytes() for a, b in zip(first, second))


def test_smaller_run_writes_a_prefix_of_a_larger_one(tmp_path):
    small = {path.name: path.read_bytes() for path in write_profiles(tmp_path / "small", 10, seed=3)}
    large = {path.name: path.read_bytes() for path in write_profiles(tmp_path / "large", 40, seed=3)}
    assert small.items() <= large.items()


def test_two_hundred_profiles_get_distinct_ascii_slugs(tmp_path):
    paths = write_profiles(tmp_path, 200, seed=1)
    assert len(paths) == len({path.name for path in paths}) == 200
    assert paths == sorted(paths)
    assert all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*\.txt", path.name) for path in paths)


def test_fifty_thousand_names_and_slugs_are_distinct():
    names = [_profile_name(index) for index in range(50_000)]
    assert len(set(names)) == 50_000
    assert len({_slug(name) for name in names}) == 50_000


def test_slug_folds_letters_nfkd_keeps():
    assert _slug("Łukasz Nießner-Ødegaard") == "lukasz-niessner-odegaard"
    assert _slug("Marc'Aurelio Bækgaard") == "marc-aurelio-baekgaard"
    assert _slug("  Đorđe  Dvořák ") == "dorde-dvorak"


def test_variations_reach_a_minority_of_files(tmp_path):
    texts = [path.read_bytes() for path in write_profiles(tmp_path, 200, seed=1)]
    crlf = [text for text in texts if b"\r\n" in text]
    bom = [text for text in texts if text.startswith(b"\xef\xbb\xbf")]
    trailing = [text for text in texts if re.search(rb" +\r?\n", text)]
    extra_blank = [text for text in texts if re.search(rb"(?:\r?\n){3}", text)]
    varied = {id(text) for text in crlf + bom + trailing + extra_blank}
    assert crlf and bom and trailing and extra_blank
    assert 0 < len(varied) < len(texts) / 2


def test_no_variations_writes_plain_files(tmp_path):
    texts = [path.read_bytes() for path in write_profiles(tmp_path, 200, seed=1, variations=False)]
    assert not any(b"\r" in text or text.startswith(b"\xef\xbb\xbf") or re.search(rb" \n|\n\n\n", text) for text in texts)


def test_cli_writes_n_files(tmp_path):
    out_dir = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "flows.synth", str(out_dir), "7", "--seed", "3", "--captured-date", "2025-06-30"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    paths = sorted(out_dir.glob("*.txt"))
    assert len(paths) == 7
    assert "wrote 7 files" in result.stdout
    assert f"{sum(path.stat().st_size for path in paths):,} bytes" in result.stdout
    assert [path.read_bytes() for path in paths] == [
        path.read_bytes() for path in write_profiles(tmp_path / "api", 7, seed=3, captured_date=datetime.date(2025, 6, 30))
    ]


def test_cli_rejects_a_bad_date(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "flows.synth", str(tmp_path), "1", "--captured-date", "26/11/2026"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "expected YYYY-MM-DD" in result.stderr
    assert not list(tmp_path.glob("*.txt"))


def test_cli_help_describes_every_option():
    result = subprocess.run(
        [sys.executable, "-m", "flows.synth", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    for option in ("out_dir", "n", "--seed", "--captured-date", "--no-variations"):
        assert re.search(rf"^\s+{re.escape(option)}\b.*\S", result.stdout, re.MULTILINE), option
