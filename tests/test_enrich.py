"""Enrichment: the researcher's author role and the rule that decided it, code availability, categories."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections import Counter

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import enrich, ids
from flows.extract import extract_file, parse_profile
from schemas.authorships import AUTHOR_ROLES
from schemas.papers import CODE_HOSTS, CODE_STATUSES
from conftest import SEED_PROFILE

RESEARCHER = "Zhi-Hong Deng"
CAPTURED = dt.date(2026, 11, 26)
SOURCE_FILE = "profiles/zhi-hong-deng/2026-11-26.txt"
SEED_SOURCE_FILE = "profiles/zhi-hong-deng/2026-11-26.txt"

# --- author role: one constant per role --------------------------------------------------------------

SOLE = (["Zhi-Hong Deng"], False, (1, "sole", "exact_name"))
FIRST = (["Zhi-Hong Deng", "Ling Huang", "Chang-Dong Wang"], True, (1, "first", "exact_name"))
FIRST_OF_TWO = (["Zhi-Hong Deng", "Ling Huang"], False, (1, "first", "exact_name"))
# Alone but followed by `et al.`: there are other authors, so not sole.
FIRST_ALONE_ET_AL = (["Zhi-Hong Deng"], True, (1, "first", "exact_name"))
MIDDLE = (["Shibo Jie", "Zhi-Hong Deng", "Ziheng Li"], False, (2, "middle", "exact_name"))
# Last shown of a truncated list (seed: `Haoqing Wang, Xun Guo, Zhi-Hong Deng et al.`): not last.
MIDDLE_LAST_SHOWN = (["Haoqing Wang", "Xun Guo", "Zhi-Hong Deng"], True, (3, "middle", "exact_name"))
LAST = (["Shibo Jie", "Haoqing Wang", "Zhi-Hong Deng"], False, (3, "last", "exact_name"))
LAST_OF_TWO = (["Wei Xia", "Zhi-Hong Deng"], False, (2, "last", "exact_name"))
HIDDEN = (["Haiteng Zhao", "Shuming Ma", "Dongdong Zhang"], True, (None, "hidden", "not_in_truncated_list"))
ABSENT = (["Haiteng Zhao", "Shuming Ma"], False, (None, "absent", "not_in_complete_list"))

ROLE_CASES = {
    "sole": SOLE, "first": FIRST, "first of two": FIRST_OF_TWO, "first alone et al": FIRST_ALONE_ET_AL,
    "middle": MIDDLE, "middle last shown": MIDDLE_LAST_SHOWN, "last": LAST, "last of two": LAST_OF_TWO,
    "hidden": HIDDEN, "absent": ABSENT,
}


@pytest.mark.parametrize("case", list(ROLE_CASES))
def test_author_role(case: str) -> None:
    authors, is_truncated, expected = ROLE_CASES[case]
    assert enrich.author_role(RESEARCHER, authors, is_truncated) == expected


def test_every_role_has_a_case() -> None:
    assert {expected[1] for _, _, expected in ROLE_CASES.values()} == set(enrich.AUTHOR_ROLES)


# --- evidence rules and name matching ------------------------------------------------------------------

# (researcher, authors shown, is_truncated, expected (position, role, evidence))
EXACT = ("Zhi-Hong Deng", ["Wei Xia", "Zhi-Hong Deng"], False, (2, "last", "exact_name"))
CASE_FOLDED = ("Zhi-Hong Deng", ["Wei Xia", "ZHI-HONG DENG"], False, (2, "last", "folded_name"))
HYPHEN_DROPPED = ("Zhi-Hong Deng", ["Zhihong Deng", "Wei Xia"], False, (1, "first", "folded_name"))
HYPHEN_AS_SPACE = ("Zhi-Hong Deng", ["Wei Xia", "Zhi Hong Deng", "Ling Huang"], True, (2, "middle", "folded_name"))
HYPHEN_ADDED = ("Zhihong Deng", ["Wei Xia", "Zhi-Hong Deng"], False, (2, "last", "folded_name"))
DIACRITICS_DROPPED = ("José Pérez", ["Jose Perez", "Wei Xia"], False, (1, "first", "folded_name"))
DIACRITICS_ADDED = ("Jose Perez", ["Wei Xia", "José Pérez"], False, (2, "last", "folded_name"))
ESZETT_SPELLED = ("Matthias Nießner", ["Angela Dai", "Matthias Niessner"], False, (2, "last", "folded_name"))
ESZETT_SHOWN = ("Matthias Niessner", ["Matthias Nießner"], False, (1, "sole", "folded_name"))
APOSTROPHE_CURLY = ("Marc'Aurelio Ranzato", ["Marc\u2019Aurelio Ranzato", "Yann LeCun"], False, (1, "first", "folded_name"))
APOSTROPHE_DROPPED = ("Marc'Aurelio Ranzato", ["Yann LeCun", "MarcAurelio Ranzato"], False, (2, "last", "folded_name"))
APOSTROPHE_AS_SPACE = ("Marc'Aurelio Ranzato", ["Yann LeCun", "Marc Aurelio Ranzato", "Sumit Chopra"], True, (2, "middle", "folded_name"))
SURNAME_FIRST = ("Zhi-Hong Deng", ["Wei Xia", "Deng Zhihong"], False, (2, "last", "reordered_name"))
INITIALS = ("Zhi-Hong Deng", ["Shibo Jie", "Z.-H. Deng"], False, (2, "last", "initials"))
INITIAL = ("Zhi-Hong Deng", ["Z. Deng", "Shibo Jie", "Ling Huang"], True, (1, "first", "initials"))
# Two coauthors sharing the researcher's surname: a surname alone never matches.
SHARED_SURNAME_HIDDEN = ("Zhi-Hong Deng", ["Yu Deng", "Wei Deng", "Ling Huang"], True, (None, "hidden", "not_in_truncated_list"))
SHARED_SURNAME_ABSENT = ("Zhi-Hong Deng", ["Yu Deng", "Wei Deng"], False, (None, "absent", "not_in_complete_list"))
SHARED_SURNAME_SHOWN = ("Zhi-Hong Deng", ["Yu Deng", "Zhi-Hong Deng", "Wei Deng"], False, (2, "middle", "exact_name"))
# Two shown authors fit the initials: the match is ambiguous, so nobody is chosen.
SHARED_SURNAME_AMBIGUOUS_INITIALS = ("Zhi-Hong Deng", ["Z. Deng", "Z.-H. Deng", "Ling Huang"], True, (None, "hidden", "not_in_truncated_list"))
# Initials of another given name (`Y. Deng`) do not fit.
OTHER_INITIALS = ("Zhi-Hong Deng", ["Y. Deng", "Ling Huang"], False, (None, "absent", "not_in_complete_list"))

NAME_CASES = {
    "exact": EXACT, "case": CASE_FOLDED, "hyphen dropped": HYPHEN_DROPPED, "hyphen as space": HYPHEN_AS_SPACE,
    "hyphen added": HYPHEN_ADDED, "diacritics dropped": DIACRITICS_DROPPED, "diacritics added": DIACRITICS_ADDED,
    "eszett spelled": ESZETT_SPELLED, "eszett shown": ESZETT_SHOWN, "apostrophe curly": APOSTROPHE_CURLY,
    "apostrophe dropped": APOSTROPHE_DROPPED, "apostrophe as space": APOSTROPHE_AS_SPACE, "surname first": SURNAME_FIRST,
    "initials": INITIALS, "initial": INITIAL, "shared surname hidden": SHARED_SURNAME_HIDDEN,
    "shared surname absent": SHARED_SURNAME_ABSENT, "shared surname shown": SHARED_SURNAME_SHOWN,
    "shared surname ambiguous initials": SHARED_SURNAME_AMBIGUOUS_INITIALS, "other initials": OTHER_INITIALS,
}


@pytest.mark.parametrize("case", list(NAME_CASES))
def test_name_matching(case: str) -> None:
    researcher, authors, is_truncated, expected = NAME_CASES[case]
    assert enrich.author_role(researcher, authors, is_truncated) == expected


def test_every_evidence_rule_has_a_case() -> None:
    from schemas.authorships import AUTHOR_ROLE_EVIDENCE

    assert {expected[2] for *_, expected in NAME_CASES.values()} == set(AUTHOR_ROLE_EVIDENCE)


def test_name_key_folds_every_variation_to_one_key() -> None:
    assert {ids.name_key(name) for name in ("Zhi-Hong Deng", "Zhihong Deng", "zhi hong deng", "ZHI-HONG DENG")} == {"zhihongdeng"}
    assert ids.name_key("José Nießner") == ids.name_key("Jose Niessner") == "joseniessner"
    assert ids.name_key("Marc'Aurelio") == ids.name_key("Marc\u2019Aurelio") == "marcaurelio"
    assert ids.name_key("Yu Deng") != ids.name_key("Wei Deng")


# The published paper ids of the seed release were made from titles folded as
# `re.sub(r"\s+", " ", nfkc(title).casefold()).strip()`: any other folding must give the same keys.
PUBLISHED_TITLE_FOLDING = lambda title: re.sub(r"\s+", " ", unicodedata.normalize("NFKC", title).casefold()).strip()  # noqa: E731


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(["a", "B", "ß", "ﬁ", " ", "\t", "\n", "\xa0", "\u2003", "\u3000", "\x1c", "\x85", "İ", "-"]), max_size=12))
def test_paper_id_folds_titles_as_the_published_ids_were_folded(title: str) -> None:
    key = f"{PUBLISHED_TITLE_FOLDING(title)}\x1f{ids.name_key('Zhi-Hong Deng')}"
    assert ids.paper_id(title, "Zhi-Hong Deng") == hashlib.sha256(key.encode("utf-8")).hexdigest()[: ids.PAPER_ID_HEX_CHARS]


def test_paper_id_ignores_case_and_runs_of_white_space_only() -> None:
    title = "Parameter-Efficient Transfer Learning"
    assert ids.paper_id(f"  {title.upper()}\u00a0", "Zhi-Hong Deng") == ids.paper_id(title.replace(" ", " \t "), "Zhi-Hong Deng")
    assert ids.paper_id(title, "Zhi-Hong Deng") != ids.paper_id(title.replace(" ", ""), "Zhi-Hong Deng")

# --- code availability -----------------------------------------------------------------------------------

REPO = "https://github.com/JieShibo/PETL-ViT"
# (abstract, expected code_urls)
URL_TRAILING_PERIOD = ("Code: https://github.com/JieShibo/PETL-ViT.", [REPO])
URL_TRAILING_COMMA_PAREN = ("(code: https://github.com/JieShibo/PETL-ViT), and more", [REPO])
URL_LATEX = (r"Code is at \url{https://github.com/JieShibo/PETL-ViT}.", [REPO])
URL_BRACES = ("{https://github.com/JieShibo/PETL-ViT}", [REPO])
URL_TYPOGRAPHIC_QUOTES = ("see \u201chttps://github.com/JieShibo/PETL-ViT\u201d.", [REPO])
URL_NO_SCHEME = ("Code: github.com/JieShibo/PETL-ViT", [REPO])
URL_DUPLICATES = ("https://github.com/JieShibo/PETL-ViT and github.com/JieShibo/PETL-ViT/ and HTTPS://GitHub.com/JieShibo/PETL-ViT", [REPO])
URL_SEVERAL_HOSTS = (
    "Models: https://huggingface.co/a/b; code: https://gitlab.com/c/d, mirror https://codeberg.org/e/f and https://bitbucket.org/g/h!",
    ["https://huggingface.co/a/b", "https://gitlab.com/c/d", "https://codeberg.org/e/f", "https://bitbucket.org/g/h"],
)
URL_HOST_ALONE = ("Hosted on https://github.com.", [])
URL_UNKNOWN_HOST = ("Project page: https://example.com/petl", [])
URL_NONE = ("We study adapters.", [])

URL_CASES = {
    "trailing period": URL_TRAILING_PERIOD, "trailing comma and paren": URL_TRAILING_COMMA_PAREN, "latex url": URL_LATEX,
    "braces": URL_BRACES, "typographic quotes": URL_TYPOGRAPHIC_QUOTES, "no scheme": URL_NO_SCHEME,
    "duplicates": URL_DUPLICATES, "several hosts": URL_SEVERAL_HOSTS, "host alone": URL_HOST_ALONE,
    "unknown host": URL_UNKNOWN_HOST, "none": URL_NONE,
}


@pytest.mark.parametrize("case", list(URL_CASES))
def test_code_urls_normalised(case: str) -> None:
    abstract, expected = URL_CASES[case]
    assert enrich.code_urls(abstract) == expected


def test_code_urls_pass_the_schema_pattern() -> None:
    from schemas.papers import CODE_URL_PATTERN

    for abstract, expected in URL_CASES.values():
        assert all(CODE_URL_PATTERN.match(url) for url in enrich.code_urls(abstract)), abstract


# The seed's abstract with no link and no badge (profile line 257, "Neural Consciousness Flow").
SEED_MENTION = "The reproducible code can be found by the link below."
# (abstract, has_code_badge, expected code_status)
LINKED = (f"Our code is available at {REPO}.", True, "linked")
LINKED_WITHOUT_BADGE = (f"Code: {REPO}", False, "linked")
BADGE_ONLY = ("We steer LLMs without fine-tuning.", True, "badge_only")
BADGE_AND_MENTION = ("Code will be released.", True, "badge_only")
MENTIONED_SEED = (f"We beat the baselines. {SEED_MENTION}", False, "mentioned")
MENTIONED_FUTURE = ("Code will be made publicly available.", False, "mentioned")
MENTIONED_RELEASE = ("We release our code and models to the community.", False, "mentioned")
MENTIONED_OPEN_SOURCED = ("Our implementation is open-sourced.", False, "mentioned")
MENTIONED_OTHER_HOST = ("Code: https://sites.google.com/view/petl", False, "mentioned")
NONE = ("We study adapters.", False, "none")
NONE_NO_ABSTRACT = (None, False, "none")
# An AI-paper site is full of papers *about* code: these mention no code of their own.
NONE_CODE_GENERATION = ("Large language models for code generation have been publicly released.", False, "none")
NONE_CODE_LLMS = ("Code LLMs such as StarCoder are publicly available.", False, "none")
NONE_IMPLEMENTATION_DETAILS = ("Implementation details are provided in the appendix.", False, "none")
NONE_BENCHMARK = ("We release a benchmark for code generation.", False, "none")
NONE_DATASETS = ("We evaluate on publicly available datasets.", False, "none")
NONE_HARD_CODED = ("The encoder is hard-coded and publicly documented.", False, "none")

STATUS_CASES = {
    "linked": LINKED, "linked without badge": LINKED_WITHOUT_BADGE, "badge only": BADGE_ONLY,
    "badge and mention": BADGE_AND_MENTION, "mentioned seed": MENTIONED_SEED, "mentioned future": MENTIONED_FUTURE,
    "mentioned release": MENTIONED_RELEASE, "mentioned open-sourced": MENTIONED_OPEN_SOURCED,
    "mentioned other host": MENTIONED_OTHER_HOST, "none": NONE, "none no abstract": NONE_NO_ABSTRACT,
    "none code generation": NONE_CODE_GENERATION, "none code llms": NONE_CODE_LLMS,
    "none implementation details": NONE_IMPLEMENTATION_DETAILS, "none benchmark": NONE_BENCHMARK,
    "none datasets": NONE_DATASETS, "none hard-coded": NONE_HARD_CODED,
}


@pytest.mark.parametrize("case", list(STATUS_CASES))
def test_code_status(case: str) -> None:
    abstract, has_code_badge, expected = STATUS_CASES[case]
    assert enrich.code_status(enrich.code_urls(abstract), has_code_badge, abstract) == expected


def test_every_code_status_has_a_case() -> None:
    from schemas.papers import CODE_STATUSES

    assert {expected for *_, expected in STATUS_CASES.values()} == set(CODE_STATUSES)


# --- enrich_extraction on hand-made raw text --------------------------------------------------------------

UNKNOWN_CODE = "ZZ"
PROFILE_TEXT = f"""Zhi-Hong Deng

LG

2 Papers

{UNKNOWN_CODE}Mar 3, 2021
A Paper in an Unknown Category

Zhi-Hong Deng

An abstract.

MLMay 27Code
A Statistics Paper

Yu Deng, Wei Deng · pku

Code will be released.
"""
UNKNOWN_CODE_LINE = 7
ML_LINE = 14


def _enriched(text: str = PROFILE_TEXT) -> enrich.Enriched:
    extraction = parse_profile(text, SOURCE_FILE, CAPTURED)
    assert extraction.rejects == []
    return enrich.enrich_extraction(extraction, ids.profile_id(extraction.profile["name"]))


def test_unknown_category_kept_verbatim_with_null_name_and_warning() -> None:
    enriched = _enriched()
    listing = next(row for row in enriched.listings if row["source_line"] == UNKNOWN_CODE_LINE)
    assert (listing["category"], listing["arxiv_category"], listing["category_name"]) == (UNKNOWN_CODE, UNKNOWN_CODE, None)
    assert f"{SOURCE_FILE}:{UNKNOWN_CODE_LINE}: unknown category code 'ZZ' kept verbatim" in enriched.warnings
    assert listing["author_role"] == "sole"


def test_known_category_resolved() -> None:
    listing = next(row for row in _enriched().listings if row["source_line"] == ML_LINE)
    assert (listing["arxiv_category"], listing["category_name"]) == ("stat.ML", "Machine Learning")
    # Year-less `May 27` captured on 2026-11-26: this year's May 27.
    assert (listing["published_date"], listing["year"], listing["is_year_inferred"]) == (dt.date(2026, 5, 27), 2026, True)


def test_absent_researcher_is_a_warning() -> None:
    enriched = _enriched()
    listing = next(row for row in enriched.listings if row["source_line"] == ML_LINE)
    assert (listing["author_role"], listing["author_position"], listing["is_first_author"]) == ("absent", None, False)
    assert any(warning.startswith(f"{SOURCE_FILE}:{ML_LINE}: 'Zhi-Hong Deng' is not in the complete author list") for warning in enriched.warnings)
    # Badge and a mention, no link: the badge decides.
    assert (listing["has_code_badge"], listing["code_urls"], listing["code_status"]) == (True, [], "badge_only")


# --- the seed profile ---------------------------------------------------------------------------------------

SEED_MENTIONED_TITLE = "Neural Consciousness Flow"
SEED_BADGE_ONLY_TITLE = "SDA: Steering-Driven Distribution Alignment for Open LLMs without Fine-Tuning"
# Reviewed by hand against raw/profiles/zhi-hong-deng/2026-11-26.txt: every `hidden` list is
# truncated and shows 3 names, none of them Zhi-Hong Deng; the 8 linked abstracts each end in a
# github.com URL; line 131 has the badge and no link; line 257 says the code is "found by the
# link below" and shows none.
SEED_ROLE_COUNTS = {"sole": 0, "first": 2, "middle": 6, "last": 11, "hidden": 23, "absent": 0}
SEED_CODE_STATUS_COUNTS = {"linked": 8, "badge_only": 1, "mentioned": 1, "none": 32}


@pytest.fixture(scope="module")
def seed_listings() -> enrich.Listings:
    extraction = extract_file(SEED_PROFILE, SEED_SOURCE_FILE, CAPTURED)
    return enrich.enrich_extraction(extraction, "zhi-hong-deng").listings


def _by_title(listings: enrich.Listings, title: str) -> dict:
    return next(row for row in listings if row["title"] == title)


def test_seed_mentioned_without_link_or_badge(seed_listings: enrich.Listings) -> None:
    listing = _by_title(seed_listings, SEED_MENTIONED_TITLE)
    assert SEED_MENTION in listing["abstract"]
    assert (listing["has_code_badge"], listing["code_urls"], listing["code_status"]) == (False, [], "mentioned")


def test_seed_badge_without_link(seed_listings: enrich.Listings) -> None:
    listing = _by_title(seed_listings, SEED_BADGE_ONLY_TITLE)
    assert (listing["has_code_badge"], listing["code_urls"], listing["code_status"]) == (True, [], "badge_only")
    assert (listing["author_role"], listing["author_position"]) == ("last", 2)


def test_seed_counts_per_role_and_code_status(seed_listings: enrich.Listings) -> None:
    roles = Counter(row["author_role"] for row in seed_listings)
    statuses = Counter(row["code_status"] for row in seed_listings)
    assert {role: roles.get(role, 0) for role in SEED_ROLE_COUNTS} == SEED_ROLE_COUNTS
    assert {status: statuses.get(status, 0) for status in SEED_CODE_STATUS_COUNTS} == SEED_CODE_STATUS_COUNTS


def test_seed_hidden_means_not_among_the_names_shown(seed_listings: enrich.Listings) -> None:
    hidden = [row for row in seed_listings if row["author_role"] == "hidden"]
    assert hidden
    for row in hidden:
        assert row["is_author_list_truncated"] and len(row["authors"]) == 3
        assert all("deng" not in ids.name_key(author) for author in row["authors"]), row["authors"]


def test_seed_linked_urls_are_the_abstracts_github_links(seed_listings: enrich.Listings) -> None:
    for row in seed_listings:
        if row["code_status"] == "linked":
            assert len(row["code_urls"]) == 1 and row["code_urls"][0] in row["abstract"]
            assert row["code_urls"][0].startswith("https://github.com/")


def test_seed_listing_columns_hold_each_listing_in_order(seed_listings: enrich.Listings) -> None:
    rows = list(seed_listings)
    columns = seed_listings.columns()
    assert set(columns) == set(rows[0]) and len(rows) == len(seed_listings) == 42
    for name, values in columns.items():
        assert list(values) == [row[name] for row in rows], name
    assert enrich.Listings().columns() == {}


# The code-mention regex's words by role, with twins that IGNORECASE matches but lower() does
# not give (`ı`, `İ`, `ſ`, the Kelvin sign), in the orders its branches accept and in others.
_MENTION_SLOTS = {
    "noun": ["code", "Code", "CODE", "source code", "implementation", "implementations", "codebase", "codes", "coDe"],
    "aux": ["is", "are", "will be", "can be", "ıs", "İs", "has been"],
    "available": ["available", "publicly available", "released", "public", "open-source", "open sourced", "found", "provided",
                  "shared", "hosted", "obtained", "downloaded", "accessible", "avaılable", "ſhared"],
    "verb": ["release", "released", "releasing", "open-source", "publish", "publishes", "share", "shares", "make", "makes",
             "maKe".replace("K", "\u212a"), "relea\u017fe"],
    "determiner": ["our", "the", "all", "its", "their"],
    "link": [": https://x.org", "at www.y.com", "is at http://z.net", ":www.w.io"],
    "filler": ["models", "generation", "and data", "we", "here", ".", ",", "new"],
}
_MENTION_ORDERS = [("noun", "aux", "available"), ("noun", "aux", "filler", "available"), ("verb", "determiner", "noun"),
                   ("verb", "determiner", "filler", "noun"), ("noun", "link"), ("verb", "determiner", "noun", "filler"),
                   ("filler", "noun", "filler"), ("available", "noun"), ("noun", "aux", "filler")]


@st.composite
def _mention_texts(draw) -> str:
    order = draw(st.sampled_from(_MENTION_ORDERS))
    words = [draw(st.sampled_from(_MENTION_SLOTS[slot])) for slot in order]
    separator = draw(st.sampled_from([" ", "  ", "\n", ""]))
    return draw(st.text(max_size=5)) + " " + separator.join(words) + draw(st.sampled_from(["", ".", " now"]))


@st.composite
def _mention_abstracts(draw) -> str:
    """One to four mention texts as sentences, ASCII mostly (the path that searches sentence by sentence)."""
    texts = draw(st.lists(_mention_texts(), min_size=1, max_size=4))
    if draw(st.booleans()):
        texts = [text.encode("ascii", "ignore").decode() for text in texts]
    return "".join(text + draw(st.sampled_from([". ", ".", " ", ".\n", "www."])) for text in texts)


@settings(max_examples=1500, deadline=None)
@given(_mention_abstracts())
def test_code_mention_pre_tests_never_refuse_what_the_regex_finds(abstract: str) -> None:
    """The substring pre-tests and the sentence-by-sentence search only skip work: code_status is what the regex says."""
    expected = "mentioned" if enrich._CODE_MENTION.search(abstract) else "none"
    assert enrich.code_status([], False, abstract) == expected


# Hosts as IGNORECASE matches them: any case, and the twins `ı`, `İ`, `ſ` that lower() does not fold.
_HOSTS_WRITTEN = [*CODE_HOSTS, "GitHub.com", "GITLAB.COM", "HuggingFace.Co", "gıthub.com", "gİtlab.com", "bitbucket.org",
                  "www.github.com", "github.co", "gitlab.org", "codeberg.com"]


@st.composite
def _url_abstracts(draw) -> str:
    """Text around links to code hosts (and near misses), ASCII mostly (the path that starts the scan at the first host)."""
    pieces = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        scheme = draw(st.sampled_from(["", "http://", "https://", "HTTPS://"]))
        path = draw(st.sampled_from(["", "/", "/a/b", "/a/b.", "/a/b)", "/a(b)/c", "/x/y/"]))
        pieces.append(draw(st.text(max_size=6)) + " " + scheme + draw(st.sampled_from(_HOSTS_WRITTEN)) + path)
    if draw(st.booleans()):
        pieces = [piece.encode("ascii", "ignore").decode() for piece in pieces]
    return draw(st.sampled_from([" ", ". ", "\n"])).join(pieces) + draw(st.sampled_from(["", ".", " here"]))


@settings(max_examples=1500, deadline=None)
@given(_url_abstracts())
def test_code_url_pre_tests_never_refuse_what_the_regex_finds(abstract: str) -> None:
    """The substring pre-tests and the scan from the first host only skip work: code_urls is what the regex finds."""
    assert enrich.code_urls(abstract) == enrich._normalised_urls(enrich._CODE_URL.finditer(abstract))


_LISTED = st.tuples(st.sampled_from(["li", "li-wei", "zhi-hong-deng"]), st.sampled_from(AUTHOR_ROLES),
                    st.sampled_from(CODE_STATUSES), st.integers(min_value=1990, max_value=2026))


@settings(max_examples=200, deadline=None)
@given(st.lists(_LISTED, max_size=40))
def test_profile_counts_count_each_profiles_roles_code_statuses_and_years(rows: list[tuple]) -> None:
    counts = enrich.profile_counts(pd.DataFrame(rows, columns=["profile_id", "author_role", "code_status", "year"]))

    assert list(counts.index) == sorted({row[0] for row in rows})
    for profile_id, counted in counts.iterrows():
        mine = [row for row in rows if row[0] == profile_id]
        assert counted["papers_extracted"] == len(mine)
        for role in AUTHOR_ROLES:
            assert counted[f"{role}_author_papers"] == sum(row[1] == role for row in mine)
        for status, column in enrich._COUNTED_CODE_STATUSES.items():
            assert counted[column] == sum(row[2] == status for row in mine)
        assert (counted["first_year"], counted["last_year"]) == (min(row[3] for row in mine), max(row[3] for row in mine))
