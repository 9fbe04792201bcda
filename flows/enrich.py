"""Derived fields: the researcher's author role, code availability, categories, ids, and the table rows built from them."""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pandas as pd

from flows import ids
from flows.categories import resolve_category
from flows.extract import Extraction
from schemas.authorships import AUTHOR_ROLES
from schemas.papers import CODE_HOSTS

STAGE = "enrich"

# `Code: https://github.com/JieShibo/PETL-ViT`, `\url{https://github.com/a/b}`, `github.com/a/b`
# (no scheme): the path stops at white space, quotes (typographic ones too: LaTeX ``quotes''
# render as `“https://github.com/a/b”`), braces and backslashes.
_CODE_URL = re.compile(
    r"(?P<scheme>https?://)?(?P<host>(?:www\.)?(?:" + "|".join(re.escape(host) for host in CODE_HOSTS) + r"))"
    r"(?P<path>/[^\s<>\"{}\\|^`“”‘’«»]*)",
    re.IGNORECASE,
)
_URL_TRAILING_PUNCTUATION = ".,;:!?)]}'\"*"
# "The reproducible code can be found by the link below." (seed, no link, no badge) and the
# usual "code will be made publicly available" / "we release our code". The code noun must be the
# subject or object of the statement: on an AI-paper site "code generation models have been
# publicly released" and "implementation details are provided" are about something else.
_CODE_NOUN = r"(?:source\s+)?(?:code|codes|implementations?|codebase)"
_AVAILABLE = r"(?:available|released|public|publicly|found|accessible|open[- ]?sourced?|provided|shared|downloaded|obtained|hosted)"
_CODE_MENTION = re.compile(
    # `Our code and models are publicly available`, `The reproducible code can be found ...`
    rf"\b{_CODE_NOUN}(?:\s+(?:and|&)\s+[\w-]+(?:\s+[\w-]+)?)?\s+(?:is|are|will|would|has|have|can|could|shall|may|should)\b"
    rf"[^.]{{0,60}}?\b{_AVAILABLE}\b"
    # `we release our code`, `we open-source the implementation` (not `the code generation benchmark`)
    rf"|\b(?:release[sd]?|releasing|open[- ]?sourced?|publish(?:es)?|shares?|makes?)\s+(?:our|the|all|its|their)\s+(?:\w+\s+)?"
    rf"{_CODE_NOUN}\b(?!\s+(?:generation|completion|models?|llms?|tasks?|benchmarks?|datasets?|search|review|summari[sz]ation|snippets?))"
    # `Code: https://sites.google.com/...`: a link, but not to a known code host
    rf"|\b{_CODE_NOUN}\s*(?::|is\s+at|at)\s*(?:https?://|www\.)",
    re.IGNORECASE,
)
_NAME_TOKEN = re.compile(r"[a-z0-9]+")
# Both regexes above scan every position of a 1,200-character abstract (~80 µs each), so a
# substring test on the lower-cased text rules out most abstracts first. Under IGNORECASE these
# also match ASCII letters (`gıthub.com`) but do not lower-case to them; fold them beforehand so the
# pre-test never refuses what the regex would accept.
_IGNORECASE_ASCII_TWINS = str.maketrans({"İ": "i", "ı": "i", "ſ": "s"})
_CODE_MENTION_WORDS = ("code", "implementation")
# Every match of _CODE_MENTION also holds one of these: an availability word (first branch), a
# release verb (second) or a link (third). Most abstracts that mention code lack all of them.
_CODE_MENTION_CONTEXT = ("available", "releas", "public", "found", "accessible", "open", "provided", "share",
                         "downloaded", "obtained", "hosted", "publish", "make", "http", "www.")
_LONGEST_URL_PREFIX = len("https://www.")
# Every code host holds one of these (`.co` in `github.com` and `huggingface.co`, `.org` in
# `codeberg.org`): two substring tests, not one per host, rule out an abstract with no link.
_HOST_ENDINGS = {host[host.rfind("."):] if "." in host else host for host in CODE_HOSTS}
_HOST_HINTS = tuple(sorted(ending for ending in _HOST_ENDINGS if not any(other != ending and other in ending for other in _HOST_ENDINGS)))


# What enrichment adds to a paper block's fields to make its listing, in the order of Listings.derived.
DERIVED_FIELDS = (
    "profile_id", "paper_id", "arxiv_category", "category_name", "year", "n_authors_shown", "first_author",
    "code_urls", "code_status", "author_position", "author_role", "author_role_evidence", "is_first_author",
)


class Listings:
    """Listing rows: each paper block's fields (the parser's dict, not copied) and the fields derived from them (a tuple).

    A batch's listings are taken field by field (`columns`), which makes no dict per listing:
    a merged dict per listing, and pandas reading ~35 keys back out of each, cost ~10 % more
    instructions to enrich a batch and build its frame (bench/results.md).
    """

    def __init__(self) -> None:
        self.papers: list[dict] = []
        self.derived: list[tuple] = []  # DERIVED_FIELDS of each paper

    def __len__(self) -> int:
        return len(self.papers)

    def __iter__(self) -> Iterator[dict]:
        """Each listing as one dict (for reading a few; a batch's rows are taken by `columns`)."""
        for paper, derived in zip(self.papers, self.derived):
            yield {**paper, **dict(zip(DERIVED_FIELDS, derived))}

    def add(self, paper: dict, derived: tuple) -> None:
        """One listing: its paper block's fields and its DERIVED_FIELDS, in that order."""
        self.papers.append(paper)
        self.derived.append(derived)

    def extend(self, other: Listings) -> None:
        self.papers += other.papers
        self.derived += other.derived

    def columns(self) -> dict[str, list]:
        """Every field's values, a list per field, in listing order (none without listings)."""
        if not self.papers:
            return {}
        # Every paper block has the fields of the first (extract.py). A pass over the rows per
        # field is faster than transposing them all at once with zip(*rows).
        columns = {key: list(map(operator.itemgetter(key), self.papers)) for key in self.papers[0]}
        columns.update((name, list(map(operator.itemgetter(index), self.derived))) for index, name in enumerate(DERIVED_FIELDS))
        return columns


@dataclass
class Enriched:
    """Rows derived from the current capture of each profile, before validation."""

    profiles: list[dict] = field(default_factory=list)
    listings: Listings = field(default_factory=Listings)
    rejects: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def author_role(researcher: str, authors: list[str], is_truncated: bool) -> tuple[int | None, str, str]:
    """The researcher's (author_position, author_role, author_role_evidence) among the names shown.

    `last` only for a complete list; `hidden` when a truncated list does not show the researcher;
    `absent` when a complete list does not contain them (a data problem worth a warning).
    """
    position, evidence = find_author(researcher, authors)
    if position is None:
        if is_truncated:
            return None, "hidden", "not_in_truncated_list"
        return None, "absent", "not_in_complete_list"
    if len(authors) == 1 and not is_truncated:
        role = "sole"
    elif position == 1:
        role = "first"
    elif position == len(authors) and not is_truncated:
        role = "last"
    else:
        role = "middle"
    return position, role, evidence


def find_author(researcher: str, authors: list[str]) -> tuple[int | None, str]:
    """1-based position of the researcher among `authors` and the rule that matched, strictest first."""
    for position, author in enumerate(authors, start=1):
        if author == researcher:
            return position, "exact_name"
    researcher_key = ids.name_key(researcher)
    keys = [ids.name_key(author) for author in authors]
    if researcher_key in keys:
        return keys.index(researcher_key) + 1, "folded_name"
    tokens = _name_tokens(researcher)
    if len(tokens) >= 2:
        # `Deng Zhi-Hong` / `Deng Zhihong`: the surname written first.
        surname_first = "".join([tokens[-1], *tokens[:-1]])
        if surname_first in keys:
            return keys.index(surname_first) + 1, "reordered_name"
        initials = [position for position, author in enumerate(authors, start=1) if _initials_match(tokens, _name_tokens(author))]
        # Only when exactly one shown author fits: two coauthors may share a surname.
        if len(initials) == 1:
            return initials[0], "initials"
    return None, ""


def code_urls(abstract: str | None) -> list[str]:
    """Repository URLs on known code hosts in an abstract, normalised and de-duplicated in order."""
    return _code_urls(abstract, _folded(abstract)) if abstract else []


def code_status(urls: list[str], has_code_badge: bool, abstract: str | None) -> str:
    """linked (a URL), badge_only (badge, no URL), mentioned (code said to be available, no link), none."""
    return _code_status(urls, has_code_badge, abstract, _folded(abstract) if abstract else "")


def _code_urls(abstract: str | None, folded: str) -> list[str]:
    """code_urls, given the abstract's _folded text (computed once for this and _code_status)."""
    if not abstract or not _holds_any(folded, _HOST_HINTS) or not _holds_any(folded, CODE_HOSTS):
        return []
    # No match starts more than `https://www.` before the first host; in ASCII text positions in
    # `folded` are positions in `abstract`, so the scan can start there instead of at 0.
    first_host = min(at for at in map(folded.find, CODE_HOSTS) if at >= 0)
    start = max(0, first_host - _LONGEST_URL_PREFIX) if abstract.isascii() else 0
    return _normalised_urls(_CODE_URL.finditer(abstract, start))


def _normalised_urls(matches: Iterator[re.Match]) -> list[str]:
    urls: list[str] = []
    for match in matches:
        path = match["path"].rstrip(_URL_TRAILING_PUNCTUATION).rstrip("/")
        if path.count("(") < path.count(")"):  # `(see https://github.com/a/b)` closed inside the path
            path = path[: path.rfind(")")]
        if len(path) <= 1:
            continue  # `https://github.com` alone names no repository
        scheme = (match["scheme"] or "https://").lower()
        url = f"{scheme}{match['host'].lower()}{path}"
        if url not in urls:
            urls.append(url)
    return urls


def _code_status(urls: list[str], has_code_badge: bool, abstract: str | None, folded: str) -> str:
    if urls:
        return "linked"
    if has_code_badge:
        return "badge_only"
    if abstract and _mentions_code(abstract, folded):
        return "mentioned"
    return "none"


def _mentions_code(abstract: str, folded: str) -> bool:
    """_CODE_MENTION.search(abstract), searched only in the sentences that could hold a match.

    A match holds a code noun (`code` or `implementation` in it) and no `.` but the one ending
    `www.`, so it lies within the text from the `.` before one of those nouns to the `.` after it:
    in ASCII text, where positions in the folded text are positions in the abstract, only those
    stretches are searched (an abstract has ~8 sentences; one or two mention code).
    """
    if not _may_mention_code(folded):
        return False
    if not abstract.isascii():
        return _CODE_MENTION.search(abstract) is not None
    searched: set[int] = set()
    for word in _CODE_MENTION_WORDS:
        at = folded.find(word)
        while at >= 0:
            start = folded.rfind(".", 0, at) + 1
            end = folded.find(".", at)
            end = len(folded) if end < 0 else end + 1
            # search(pos, endpos) looks at the text before `pos` for \b, as in the whole abstract;
            # the sentence ends after a `.` or at the end, where \b sees what it sees in the whole.
            if start not in searched and _may_mention_code(folded[start:end]):
                searched.add(start)
                if _CODE_MENTION.search(abstract, start, end):
                    return True
            at = folded.find(word, at + len(word))
    return False


def forget_names() -> None:
    """Empty the caches of folded names (ids.name_key, _name_tokens): a batch's names rarely recur in the next batch.

    A worker stages batch after batch; entries kept across them would be long-lived objects
    scattered among each batch's freed ones, keeping Python's memory arenas from being released.
    """
    ids.name_key.cache_clear()
    _name_tokens.cache_clear()


def enrich_extraction(extraction: Extraction, profile_id: str) -> Enriched:
    """Listing rows (one per paper block, paper fields plus authorship fields) for one current capture."""
    enriched = Enriched()
    researcher = extraction.profile["name"]
    seen: dict[str, int] = {}
    for paper in extraction.papers:
        authors = paper["authors"]
        paper_id = ids.paper_id(paper["title"], authors[0])
        if paper_id in seen:
            enriched.rejects.append(
                {
                    "source_file": paper["source_file"], "line": paper["source_line"], "stage": STAGE,
                    "record_type": "paper",
                    "reason": f"{paper['source_file']}:{paper['source_line']}: expected each paper once per profile,"
                    f" found a repeat of the paper at line {seen[paper_id]} (same title and first author)",
                    "raw_text": paper["raw_text"],
                }
            )
            enriched.warnings.append(enriched.rejects[-1]["reason"])
            continue
        seen[paper_id] = paper["source_line"]
        position, role, evidence = author_role(researcher, authors, paper["is_author_list_truncated"])
        if role == "absent":
            enriched.warnings.append(
                f"{paper['source_file']}:{paper['source_line']}: {researcher!r} is not in the complete author list"
                f" {authors!r} (author_role absent)"
            )
        arxiv_category, category_name = resolve_category(paper["category"])
        if category_name is None:
            enriched.warnings.append(
                f"{paper['source_file']}:{paper['source_line']}: unknown category code {paper['category']!r} kept verbatim"
            )
        abstract = paper["abstract"]
        folded = _folded(abstract) if abstract else ""
        urls = _code_urls(abstract, folded)
        enriched.listings.add(
            paper,
            (  # DERIVED_FIELDS
                profile_id, paper_id, arxiv_category, category_name, paper["published_date"].year, len(authors), authors[0],
                urls, _code_status(urls, paper["has_code_badge"], abstract, folded), position, role, evidence, position == 1,
            ),
        )
    return enriched


_COUNTED_CODE_STATUSES = {"linked": "papers_code_linked", "badge_only": "papers_code_badge_only", "mentioned": "papers_code_mentioned"}
PROFILE_COUNT_COLUMNS = ["papers_extracted", *(f"{role}_author_papers" for role in AUTHOR_ROLES), *_COUNTED_CODE_STATUSES.values()]


def profile_counts(listed: pd.DataFrame) -> pd.DataFrame:
    """Per profile_id: published papers, by author role and by code status, and first and last year.

    `listed` has one row per published authorship: profile_id, author_role, and the code_status
    and year of its paper's row. Counts of parts of the listings add up (combine_profile_counts).
    """
    by_profile = listed.groupby("profile_id")
    counts = pd.DataFrame({"papers_extracted": by_profile.size()})
    roles = _counts_by(listed, "author_role", counts.index, AUTHOR_ROLES)
    statuses = _counts_by(listed, "code_status", counts.index, _COUNTED_CODE_STATUSES)
    for role in AUTHOR_ROLES:
        counts[f"{role}_author_papers"] = roles[role]
    for status, column in _COUNTED_CODE_STATUSES.items():
        counts[column] = statuses[status]
    counts["first_year"] = by_profile["year"].min()
    counts["last_year"] = by_profile["year"].max()
    return counts.rename_axis("profile_id")


def _counts_by(listed: pd.DataFrame, column: str, profiles: pd.Index, values) -> pd.DataFrame:
    """Rows per profile and value of `column`, one column per value (pd.crosstab counts group by group in Python)."""
    sizes = listed.groupby(["profile_id", column]).size()
    if not len(sizes):
        return pd.DataFrame(0, index=profiles, columns=list(values))
    return sizes.unstack(fill_value=0).reindex(index=profiles, columns=list(values), fill_value=0)


def combine_profile_counts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """profile_counts of several sets of listings, as one: counts summed, years the earliest and latest."""
    joined = pd.concat(parts)
    by_profile = joined.groupby(level="profile_id")
    combined = by_profile[PROFILE_COUNT_COLUMNS].sum()
    combined["first_year"] = by_profile["first_year"].min()
    combined["last_year"] = by_profile["last_year"].max()
    return combined


def profiles_frame(headers: pd.DataFrame, counts: pd.DataFrame, papers_rejected: Mapping[str, int], snapshots: pd.DataFrame) -> pd.DataFrame:
    """Newest header of each profile plus its counts (profile_counts), paper rejects per source_file and snapshots."""
    profiles = headers.set_index("profile_id").join(counts)
    profiles["papers_with_code"] = profiles["papers_code_linked"] + profiles["papers_code_badge_only"]
    profiles["papers_rejected"] = profiles["source_file"].map(pd.Series(dict(papers_rejected), dtype="int64"))
    profiles["snapshots_archived"] = snapshots.groupby("profile_id").size()
    count_columns = [*PROFILE_COUNT_COLUMNS, "papers_with_code", "papers_rejected"]
    profiles[count_columns] = profiles[count_columns].fillna(0).astype("int64")
    profiles[["first_year", "last_year"]] = profiles[["first_year", "last_year"]].astype("Int64")
    return profiles.reset_index()


def _folded(text: str) -> str:
    """Lower-cased text for substring pre-tests that must accept whatever the IGNORECASE regexes accept."""
    return text.lower() if text.isascii() else text.translate(_IGNORECASE_ASCII_TWINS).lower()


def _may_mention_code(folded: str) -> bool:
    return _holds_any(folded, _CODE_MENTION_WORDS) and _holds_any(folded, _CODE_MENTION_CONTEXT)


def _holds_any(text: str, words: tuple[str, ...]) -> bool:
    return any(map(text.__contains__, words))  # map, not a generator: no Python frame per word


@functools.lru_cache(maxsize=1 << 16)
def _name_tokens(name: str) -> tuple[str, ...]:
    return tuple(_NAME_TOKEN.findall(ids.ascii_fold(name).casefold()))


def _initials_match(researcher_tokens: tuple[str, ...], author_tokens: tuple[str, ...]) -> bool:
    """`Z.-H. Deng` or `Z. Deng` for `Zhi-Hong Deng`: same surname, given names abbreviated to initials."""
    if len(author_tokens) < 2 or author_tokens[-1] != researcher_tokens[-1]:
        return False
    given = author_tokens[:-1]
    if not all(len(token) == 1 for token in given):
        return False
    researcher_initials = "".join(token[0] for token in researcher_tokens[:-1])
    return researcher_initials.startswith("".join(given))
