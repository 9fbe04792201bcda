"""Tests for flows.categories: the arXiv taxonomy table and site-code resolution."""

import re

import pytest

from flows.categories import (
    ARCHIVE_PRECEDENCE,
    ARXIV_CATEGORIES,
    CATEGORY_ALIASES,
    is_known_category,
    resolve_category,
)

MIN_TABLE_SIZE = 150
ARXIV_ID_PATTERN = re.compile(r"^[a-z\-]+(\.[A-Za-z\-]+)?$")
UNKNOWN_CODE = "ZZ"

# Codes the aggregator shows for its AI papers.
AI_SITE_CODES = [
    ("LG", "cs.LG", "Machine Learning"),
    ("CV", "cs.CV", "Computer Vision and Pattern Recognition"),
    ("CL", "cs.CL", "Computation and Language"),
    ("AI", "cs.AI", "Artificial Intelligence"),
    ("IR", "cs.IR", "Information Retrieval"),
    ("ML", "stat.ML", "Machine Learning"),
]

NON_CS_CODES = [
    ("quant-ph", "quant-ph", "Quantum Physics"),
    ("math.OC", "math.OC", "Optimization and Control"),
    ("IV", "eess.IV", "Image and Video Processing"),
    ("NC", "q-bio.NC", "Neurons and Cognition"),  # cs has NE, not NC
    ("hep-th", "hep-th", "High Energy Physics - Theory"),
    ("cond-mat.stat-mech", "cond-mat.stat-mech", "Statistical Mechanics"),
    ("stat-mech", "cond-mat.stat-mech", "Statistical Mechanics"),
    ("GA", "astro-ph.GA", "Astrophysics of Galaxies"),
    ("optics", "physics.optics", "Optics"),
]

# Bare codes shared by several archives -> the archive ARCHIVE_PRECEDENCE tries first.
AMBIGUOUS_BARE_CODES = [
    ("NA", "cs.NA", "Numerical Analysis"),  # cs.NA and math.NA
    ("CO", "stat.CO", "Computation"),  # stat.CO, math.CO, astro-ph.CO
    ("GN", "econ.GN", "General Economics"),  # econ, math, q-bio, q-fin
    ("SP", "eess.SP", "Signal Processing"),  # eess.SP and math.SP
    ("CG", "cs.CG", "Computational Geometry"),  # cs.CG and nlin.CG
]


@pytest.mark.parametrize(("site_code", "arxiv_id", "name"), AI_SITE_CODES)
def test_ai_site_codes_resolve(site_code: str, arxiv_id: str, name: str) -> None:
    assert resolve_category(site_code) == (arxiv_id, name)
    assert is_known_category(site_code)


@pytest.mark.parametrize(("site_code", "arxiv_id", "name"), NON_CS_CODES)
def test_non_cs_codes_resolve(site_code: str, arxiv_id: str, name: str) -> None:
    assert resolve_category(site_code) == (arxiv_id, name)


@pytest.mark.parametrize(("site_code", "arxiv_id", "name"), AMBIGUOUS_BARE_CODES)
def test_ambiguous_bare_code_follows_precedence(site_code: str, arxiv_id: str, name: str) -> None:
    assert resolve_category(site_code) == (arxiv_id, name)


def test_ambiguous_bare_code_picks_earliest_archive_in_precedence() -> None:
    candidates = [cat for cat in ARXIV_CATEGORIES if cat.endswith(".NA")]
    assert sorted(candidates) == ["cs.NA", "math.NA"]
    expected = min(candidates, key=lambda cat: ARCHIVE_PRECEDENCE.index(cat.split(".")[0]))
    assert resolve_category("NA")[0] == expected


def test_full_id_of_shadowed_class_still_resolves_to_itself() -> None:
    assert resolve_category("math.NA") == ("math.NA", "Numerical Analysis")
    assert resolve_category("math.CV") == ("math.CV", "Complex Variables")


def test_unknown_code_kept_verbatim_with_no_name() -> None:
    assert resolve_category(UNKNOWN_CODE) == (UNKNOWN_CODE, None)
    assert not is_known_category(UNKNOWN_CODE)


def test_empty_code_is_unknown_not_an_error() -> None:
    assert resolve_category("") == ("", None)


def test_surrounding_whitespace_is_ignored() -> None:
    assert resolve_category(" LG ") == ("cs.LG", "Machine Learning")


def test_table_is_large_enough() -> None:
    assert len(ARXIV_CATEGORIES) >= MIN_TABLE_SIZE


def test_every_key_is_an_arxiv_id_and_every_name_is_non_empty() -> None:
    bad_keys = [key for key in ARXIV_CATEGORIES if not ARXIV_ID_PATTERN.match(key)]
    empty_names = [key for key, name in ARXIV_CATEGORIES.items() if not name.strip()]
    assert bad_keys == []
    assert empty_names == []


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        ARXIV_CATEGORIES["cs.XX"] = "Nope"  # type: ignore[index]


def test_every_archive_is_in_precedence_once() -> None:
    archives = {key.split(".")[0] for key in ARXIV_CATEGORIES}
    assert archives == set(ARCHIVE_PRECEDENCE)
    assert len(ARCHIVE_PRECEDENCE) == len(set(ARCHIVE_PRECEDENCE))
    assert ARCHIVE_PRECEDENCE[:2] == ("cs", "stat")


def test_every_table_entry_resolves_to_itself() -> None:
    for arxiv_id, name in ARXIV_CATEGORIES.items():
        assert resolve_category(arxiv_id) == (arxiv_id, name)


def test_aliases_resolve_and_point_at_canonical_entries() -> None:
    for alias, canonical in CATEGORY_ALIASES.items():
        # names can differ (q-fin.EC "Economics" vs econ.GN "General Economics")
        assert resolve_category(alias) == (alias, ARXIV_CATEGORIES[alias])
        assert canonical in ARXIV_CATEGORIES
        assert canonical != alias
