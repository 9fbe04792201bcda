"""Deterministic synthetic researcher profiles in the site's raw text format, for tests and benchmarks."""

from __future__ import annotations

import argparse
import datetime
import functools
import itertools
import random
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

DEFAULT_CAPTURED_DATE = datetime.date(2026, 11, 26)
EARLIEST_PUBLISHED_YEAR = 2015
MIN_PAPERS = 5
MAX_PAPERS = 80
MEAN_PAPERS = 40
MEAN_ABSTRACT_CHARS = 1200

MONTH_ABBREVIATIONS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
AFFILIATION_SEPARATOR = " · "
TRUNCATION_MARKER = " et al."
CODE_BADGE = "Code"
BOM = "\ufeff"

# Site category codes with rough frequencies: the five big cs codes dominate, but any arXiv
# subject code can show up, including dotted and hyphenated ones ("math.OCMar 1, 2023").
CATEGORY_WEIGHTS = {
    "LG": 30, "CV": 22, "CL": 18, "AI": 10, "IR": 6,
    "ML": 3, "RO": 2, "IV": 1.5, "NC": 1, "SD": 1, "CR": 1, "HC": 1, "MA": 0.5, "DS": 0.5,
    "quant-ph": 0.5, "math.OC": 0.5, "eess.SP": 0.3, "q-bio.NC": 0.3, "stat.ME": 0.3,
    "physics.comp-ph": 0.2, "cond-mat.dis-nn": 0.2,
}

# Name parts: every part has a distinct ASCII slug, so index-derived combinations of them give
# distinct file names (see _profile_name). They carry the spellings real pages show:
# "Zhi-Hong Deng", "Marc'Aurelio", "Nießner", "Zoë".
FIRST_NAMES = (
    "Zhi-Hong", "Jean-Luc", "José", "Zoë", "Marc'Aurelio", "Søren", "Łukasz", "Đorđe", "Björn",
    "Chloé", "François", "Jürgen", "Mónica", "Haoqing", "Shibo", "Ziheng", "Yehui", "Ana-María",
    "Priya", "Arjun", "Olumide", "Chiamaka", "Hyun-Woo", "Seo-yeon", "Takeshi", "Yuki", "Nguyên",
    "Thảo", "Mehmet", "Ayşe", "Dmitry", "Ekaterina", "Aleksander", "Małgorzata", "Pierre-Yves",
    "Renée", "Íñigo", "Joaquín", "Sebastián", "Fatima", "Omar", "Leïla", "Siobhán", "Eoin",
    "Niamh", "Kai", "Wei", "Xiaochi", "Jian-Yun", "Chang-Dong", "Ingrid", "Astrid", "Håkon",
    "Matthias", "Grace", "Daniel", "Sarah", "Michael", "Emily", "David", "Laura", "Tomás",
    "Ruth", "Ahmad",
)
LAST_NAMES = (
    "Deng", "Nießner", "O'Brien", "García", "Müller", "Wang", "Ødegaard", "Kowalczyk", "Dvořák",
    "Nguyễn", "Çelik", "Şahin", "Bækgaard", "Jiménez", "Zhao", "Li", "Xu", "Chen", "Huang",
    "Sun", "Jie", "Tang", "Kim", "Park", "Tanaka", "Suzuki", "Sharma", "Iyer", "Okafor",
    "Adeyemi", "Ivanov", "Petrova", "Lewandowski", "Wójcik", "Dubois", "Lefèvre", "Martínez",
    "Fernández", "Rossi", "Esposito", "Schäfer", "Weiß", "Andersen", "Johansson", "Lindqvist",
    "Haddad", "Khalil", "D'Souza", "MacLeod", "Ó Súilleabháin", "Smith", "Johnson", "Brown",
    "Taylor", "Miller", "Davis", "Wilson", "Anderson", "Thompson", "Moore", "Kaur", "Singh-Rao",
    "Mbeki", "Łaski",
)
MIDDLE_INITIALS = tuple(f"{letter}." for letter in "ABCDEFGHIJKLMNOPRSTVW")

AFFILIATION_SLUGS = (
    "pku", "tsinghua", "eth-zurich", "microsoft-research", "google-deepmind", "meta-ai",
    "stanford", "mit", "cmu", "uc-berkeley", "oxford", "cambridge", "epfl", "tum", "inria", "mila",
    "kaist", "nvidia", "alibaba", "baidu", "huawei", "tencent", "ucl", "nyu", "mpi-is",
    "university-of-tokyo", "iit-bombay", "uw", "sjtu", "zju", "ntu-singapore", "kth",
    "university-of-amsterdam", "allen-institute-for-ai", "samsung-research",
)

_TITLE_METHODS = (
    "DeepGraph", "FacT", "RotatE", "GIMLET", "BioMaze", "SpeCache", "MemTrain", "DivGraphPointer",
    "Leap-LSTM", "DeepCF", "BCFNet", "ToCom", "MemVP", "SDA", "PETL", "UniDiff", "FlowSeg",
)
_TITLE_ADJECTIVES = (
    "Efficient", "Scalable", "Robust", "Certified", "Self-Supervised", "Contrastive", "Sparse",
    "Unified", "Hierarchical", "Adaptive", "Cross-Domain", "Few-Shot", "Zero-Shot", "Multi-Scale",
    "Parameter-Efficient", "Causal", "Continual", "Differentiable", "Federated", "Probabilistic",
)
_TITLE_NOUNS = (
    "Graph Transformers", "Vision Transformers", "Adapters", "Diffusion Models", "Language Models",
    "Mixture of Experts", "Knowledge Graph Embedding", "Session-based Recommendation",
    "Word Segmentation", "Keyphrase Extraction", "Domain Adaptation", "Token Compression",
    "Representation Learning", "Message Passing Networks", "Reward Models", "Retrieval",
    "Point Clouds", "Speech Enhancement", "Policy Optimization", "Neural Radiance Fields",
)
_TITLE_TASKS = (
    "Molecule Property Prediction", "Long-Context Generation", "Image Classification",
    "Event Detection", "Class-Incremental Learning", "Biological Pathway Reasoning",
    "Text Categorization", "Open-Vocabulary Segmentation", "Machine Translation",
    "Knowledge Graph Reasoning", "Robotic Manipulation", "Time Series Forecasting",
    "Question Answering", "3D Reconstruction", "Drug Discovery", "Code Generation",
)
# Every template names a method ("RotatE: ...", "G$^3$SR: ..."): random acronyms keep titles
# distinct across millions of papers, since the pipeline derives paper ids from content.
_TITLE_TEMPLATES = (
    "{method}: {adjective} {noun} for {task}",
    "{method}: Are More Layers Beneficial to {noun}?",
    "Revisiting {noun} from the Perspective of {task} with {method}",
    "{method}: Rethinking {noun} in {task}",
    "When Do {noun} Help? {method} and {adjective} {task}",
    "Beyond {noun}: {adjective} {method} for {task}",
    "{method}: A {adjective} Framework for {task} with {noun}",
    "On the Limits of {adjective} {noun}: Evidence from {method}",
    "{method}$^{power}$: {adjective} {noun} Guided {task}",
    "{method}: Learning to Compose {noun} via {adjective} Priors",
    "{method}: <b>{adjective}</b> {noun} for {task}",
    "{method}, Revisited: {adjective} {noun} & {task}",
)
# Relative weights of _TITLE_TEMPLATES: HTML-looking and $^n$ titles stay rare.
_TITLE_TEMPLATE_WEIGHTS = (40, 3, 6, 8, 5, 6, 8, 4, 2, 4, 1, 3)

_ABSTRACT_OPENINGS = (
    "Despite the success of {noun} in many applications, existing approaches remain limited on {task}.",
    "Recent advancements in {noun} have increasingly focused on {task}.",
    "{task} is a long-standing problem that {noun} address only partially.",
    "Current state-of-the-art results in {task} depend in part on fine-tuning large pre-trained {noun}.",
    "We study a practical setting of {task}: adapting {noun} continually under a fixed budget.",
    "The ability of intelligent agents to solve {task} is crucial, yet {noun} struggle with it.",
)
_ABSTRACT_SENTENCES = (
    "In this work, we explore whether {adjective} {noun} are beneficial to {task}, and find that current methods suffer from a bottleneck.",
    "Our further analysis reveals that the reason is the vanishing capacity of global attention, which restricts the model from focusing on the critical substructure.",
    "To this end, we propose {method}, a {adjective} approach that explicitly models the structure of the input and applies local attention on related elements.",
    "However, with the exponential growth of model sizes, conventional full fine-tuning leads to increasingly huge storage and transmission overhead.",
    "Inspired by the observation that the parameters converge at flat local minima, we show that {noun} are resistant to noise in parameter space.",
    "Extensive experiments on four publicly available datasets demonstrate the effectiveness of {method} on {task}.",
    "The experimental results demonstrate that {method} outperforms all other {adjective} methods while requiring the smallest storage size.",
    "We further provide a theoretical analysis showing that the proposed objective is a lower bound of the mutual information (MI) between views.",
    "Unlike prior work, our method does not require labeled data, e.g., annotations or rationales, and scales to millions of examples.",
    "Our findings show, for the first time, the significant potential of {adjective} techniques in {task}.",
    "We evaluate on standard benchmarks (e.g., VTAB-1K, ImageNet-1K and COCO) and report gains of up to 4.3% in accuracy.",
    "In each iteration, the model revises the currently available actions based on the errors identified in unsuccessful episodes.",
    "Ablation studies confirm that each component contributes to the final performance, and that the improvements are consistent across scales.",
    "Moreover, {method} reduces inference cost by 37% without re-tuning, which makes it practical for real-world deployment.",
    "We also release a new benchmark for {task} with 12,000 human-verified examples and a leaderboard.",
    "Compared with {adjective} baselines, {method} achieves state-of-the-art performance across various {task} benchmarks with fewer parameters.",
)
_CODE_USERS = ("JieShibo", "Haoqing-Wang", "zhao-ht", "ChillingDream", "ran1812", "lab-ml", "deng-group", "opendata-ai")
# How abstracts point at code, as seen on real pages: a bare "Code: <url>", a sentence ending in
# "<url>." and a promise without a URL.
_CODE_LINK_TEMPLATES = (
    "Code: https://github.com/{user}/{repo}",
    "Our code is available at https://github.com/{user}/{repo}.",
    "The dataset and code are available at https://github.com/{user}/{repo}.",
    "Code and models are available at https://gitlab.com/{user}/{repo}.",
)
_CODE_PROMISES = (
    "The code will be made available upon publication.",
    "Code will be made publicly available.",
    "We will release our code and models.",
)
_CATEGORY_CODES = tuple(CATEGORY_WEIGHTS)
_CATEGORY_CUMULATIVE_WEIGHTS = tuple(itertools.accumulate(CATEGORY_WEIGHTS.values()))
# Letters NFKD leaves whole; mapped in both cases because names carry capitals ("Łukasz", "Ødegaard").
_SLUG_REPLACEMENTS = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d"}
)
_NON_SLUG_RUN = re.compile(r"[^a-z0-9]+")
_NON_REPO_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_T = TypeVar("_T")


@dataclass(frozen=True)
class SynthPaper:
    """One paper block of a profile page, with everything the renderer needs to draw it."""

    site_score: float | None
    category: str
    published_date: datetime.date
    show_year: bool
    has_code_badge: bool
    title: str
    authors: tuple[str, ...]
    is_author_list_truncated: bool
    affiliations: tuple[str, ...]
    abstract: str | None

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= len(self.authors) <= 3:
            problems.append(f"authors must show 1..3 names, got {self.authors!r}")
        if self.is_author_list_truncated and len(self.authors) != 3:
            problems.append(f"'et al.' needs exactly 3 names shown, got {self.authors!r}")
        if self.site_score is not None and self.site_score < 0:
            problems.append(f"site_score must be >= 0, got {self.site_score!r}")
        if not self.title.strip():
            problems.append("title is empty")
        for name in self.authors:
            if not name.strip() or "," in name or "\u00b7" in name:
                problems.append(f"author name cannot be rendered in an author line: {name!r}")
        for field_name, text in (("category", self.category), ("title", self.title), ("abstract", self.abstract or "")):
            if "\n" in text or "\r" in text:
                problems.append(f"{field_name} must be one line: {text[:60]!r}")
        if problems:
            raise ValueError("invalid SynthPaper: " + "; ".join(problems))


@dataclass(frozen=True)
class SynthProfile:
    """One captured profile page: header metrics and the paper blocks shown on the page."""

    name: str
    primary_category: str | None
    h_index: int | None
    papers_total: int | None
    citations: int | None
    novelty_pct: int | None
    ai_score: int | None
    captured_date: datetime.date
    papers: tuple[SynthPaper, ...]

    def __post_init__(self) -> None:
        problems = []
        for position, paper in enumerate(self.papers, start=1):
            if paper.published_date > self.captured_date:
                problems.append(f"paper {position} published {paper.published_date} after capture {self.captured_date}")
            if not paper.show_year and paper.published_date.year != self.captured_date.year:
                problems.append(f"paper {position} hides the year of {paper.published_date}, not the capture year")
        if problems:
            raise ValueError(f"invalid SynthProfile {self.name!r}: " + "; ".join(problems))


def render_profile(
    profile: SynthProfile,
    *,
    line_ending: str = "\n",
    bom: bool = False,
    extra_blank_lines: bool = False,
) -> str:
    """Render a profile exactly as a captured page: no trailing newline, like the real capture.

    `extra_blank_lines` doubles every blank separator line and ends the text with blank lines.
    """
    return _join_lines(_profile_lines(profile, extra_blank_lines=extra_blank_lines), line_ending=line_ending, bom=bom)


def generate_profile(rng: random.Random, captured_date: datetime.date, *, index: int = 0) -> SynthProfile:
    """Generate one realistic profile; the name depends only on `index`, everything else on `rng`."""
    name = _profile_name(index)
    home_affiliation = rng.choice(AFFILIATION_SLUGS)
    coauthors = _coauthor_pool(rng, exclude=name)
    n_papers = _paper_count(rng)
    papers = tuple(
        _generate_paper(rng, captured_date, researcher=name, coauthors=coauthors, home_affiliation=home_affiliation)
        for _ in range(n_papers)
    )
    h_index = rng.randint(3, 60)
    return SynthProfile(
        name=name,
        primary_category=_maybe(rng, 0.03, _weighted_category(rng)),
        h_index=_maybe(rng, 0.05, h_index),
        papers_total=_maybe(rng, 0.04, _site_papers_total(rng, n_papers)),
        citations=_maybe(rng, 0.04, int(h_index * h_index * rng.uniform(1.2, 8.0)) + rng.randint(0, 999)),
        novelty_pct=_maybe(rng, 0.05, rng.randint(0, 100)),
        ai_score=_maybe(rng, 0.05, rng.randint(0, 100)),
        captured_date=captured_date,
        papers=papers,
    )


def write_profiles(
    out_dir: Path,
    n: int,
    *,
    seed: int = 0,
    captured_date: datetime.date = DEFAULT_CAPTURED_DATE,
    variations: bool = True,
) -> list[Path]:
    """Write `n` profiles as `<slug>.txt` under `out_dir` and return their paths, sorted.

    Profile `i` depends only on (`seed`, `i`), so a smaller `n` writes a prefix of a larger run.
    With `variations`, a deterministic minority of files get CRLF line endings, a byte-order
    mark, extra blank lines or trailing spaces.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(n):
        profile = generate_profile(random.Random(f"profile:{seed}:{index}"), captured_date, index=index)
        text = _render_with_variations(profile, random.Random(f"variation:{seed}:{index}")) if variations else render_profile(profile)
        path = out_dir / f"{_slug(profile.name)}.txt"
        path.write_bytes(text.encode("utf-8"))
        paths.append(path)
    return sorted(paths)


def _profile_lines(profile: SynthProfile, *, extra_blank_lines: bool) -> list[str]:
    separator = ["", ""] if extra_blank_lines else [""]
    header = []
    if profile.primary_category is not None:
        header.append(profile.primary_category)
    if profile.h_index is not None:
        header.append(f"h-index{profile.h_index}")
    if profile.papers_total is not None:
        header.append(f"{profile.papers_total}papers")
    if profile.citations is not None:
        header.append(f"{profile.citations:,}citations")
    if profile.novelty_pct is not None:
        header.append(f"Novelty{profile.novelty_pct}%")
    if profile.ai_score is not None:
        header.append(f"AI Score{profile.ai_score}")

    lines = [profile.name, *separator]
    if header:
        lines += [*header, *separator]
    lines.append(f"{len(profile.papers)} Papers")
    for paper in profile.papers:
        lines += [*separator, _paper_meta_line(paper), paper.title, *separator, _author_line(paper)]
        if paper.abstract is not None:
            lines += [*separator, paper.abstract]
    if extra_blank_lines:
        lines += separator
    return lines


def _paper_meta_line(paper: SynthPaper) -> str:
    # "32.9CLMay 27Code": score, category, date and badge run together with no separators.
    score = "" if paper.site_score is None else f"{paper.site_score:.1f}"
    day = f"{MONTH_ABBREVIATIONS[paper.published_date.month - 1]} {paper.published_date.day}"
    year = f", {paper.published_date.year}" if paper.show_year else ""
    badge = CODE_BADGE if paper.has_code_badge else ""
    return f"{score}{paper.category}{day}{year}{badge}"


def _author_line(paper: SynthPaper) -> str:
    line = ", ".join(paper.authors)
    if paper.is_author_list_truncated:
        line += TRUNCATION_MARKER
    if paper.affiliations:
        line += AFFILIATION_SEPARATOR + ", ".join(paper.affiliations)
    return line


def _join_lines(lines: Sequence[str], *, line_ending: str, bom: bool) -> str:
    return (BOM if bom else "") + line_ending.join(lines)


def _render_with_variations(profile: SynthProfile, rng: random.Random) -> str:
    is_crlf = rng.random() < 0.08
    has_bom = rng.random() < 0.05
    has_extra_blank_lines = rng.random() < 0.06
    has_trailing_spaces = rng.random() < 0.06
    lines = _profile_lines(profile, extra_blank_lines=has_extra_blank_lines)
    if has_trailing_spaces:
        lines = [line + " " * rng.randint(1, 3) if line and rng.random() < 0.3 else line for line in lines]
    return _join_lines(lines, line_ending="\r\n" if is_crlf else "\n", bom=has_bom)


def _profile_name(index: int) -> str:
    # Mixed radix over (first, last, middle-initial tier): injective in index, and every part has
    # a distinct slug, so 50,000 profiles get 50,000 distinct names and file names.
    if index < 0:
        raise ValueError(f"profile index must be >= 0, got {index}")
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    rest = index // len(FIRST_NAMES)
    last = LAST_NAMES[rest % len(LAST_NAMES)]
    tier = rest // len(LAST_NAMES)
    middles = []
    while tier > 0:
        tier -= 1
        middles.append(MIDDLE_INITIALS[tier % len(MIDDLE_INITIALS)])
        tier //= len(MIDDLE_INITIALS)
    return " ".join([first, *middles, last])


def _coauthor_pool(rng: random.Random, *, exclude: str) -> list[str]:
    pool: list[str] = []
    target = rng.randint(6, 30)
    while len(pool) < target:
        parts = [rng.choice(FIRST_NAMES)]
        if rng.random() < 0.1:
            parts.append(rng.choice(MIDDLE_INITIALS))
        parts.append(rng.choice(LAST_NAMES))
        name = " ".join(parts)
        if name != exclude and name not in pool:
            pool.append(name)
    return pool


def _paper_count(rng: random.Random) -> int:
    return min(MAX_PAPERS, max(MIN_PAPERS, round(rng.gauss(MEAN_PAPERS, 17))))


def _site_papers_total(rng: random.Random, n_listed: int) -> int:
    # The site's own total ("42papers") usually matches the list but can run ahead of it or lag.
    roll = rng.random()
    if roll < 0.7:
        return n_listed
    if roll < 0.95:
        return n_listed + rng.randint(1, 40)
    return max(0, n_listed - rng.randint(1, 4))


def _generate_paper(
    rng: random.Random,
    captured_date: datetime.date,
    *,
    researcher: str,
    coauthors: Sequence[str],
    home_affiliation: str,
) -> SynthPaper:
    published_date = _published_date(rng, captured_date)
    # The site drops the year for the capture year ("CLJun 2"); a few entries keep it anyway.
    show_year = published_date.year != captured_date.year or rng.random() < 0.1
    authors, is_truncated = _author_list(rng, researcher, coauthors)
    method = _method_name(rng)
    abstract, code_mention = _abstract(rng, method)
    badge_probability = {"linked": 0.85, "mentioned": 0.3, "none": 0.12}[code_mention]
    return SynthPaper(
        site_score=round(rng.uniform(1.0, 99.9), 1) if rng.random() < 0.15 else None,
        category=_weighted_category(rng),
        published_date=published_date,
        show_year=show_year,
        has_code_badge=rng.random() < badge_probability,
        title=_title(rng, method),
        authors=authors,
        is_author_list_truncated=is_truncated,
        affiliations=_affiliations(rng, home_affiliation),
        abstract=None if rng.random() < 0.03 else abstract,
    )


def _published_date(rng: random.Random, captured_date: datetime.date) -> datetime.date:
    # Weighted toward recent years, as on real pages; never after the capture date.
    years = range(EARLIEST_PUBLISHED_YEAR, captured_date.year + 1)
    year = rng.choices(years, weights=[1 + offset for offset in range(len(years))])[0]
    start = datetime.date(year, 1, 1)
    end = min(datetime.date(year, 12, 31), captured_date)
    return start + datetime.timedelta(days=rng.randint(0, (end - start).days))


def _author_list(rng: random.Random, researcher: str, coauthors: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    n_shown = rng.choices((1, 2, 3), weights=(4, 26, 70))[0]
    is_truncated = n_shown == 3 and rng.random() < 0.6
    if n_shown == 1:
        return (researcher,), False
    if is_truncated and rng.random() < 0.25:
        # The researcher sits beyond the shown names: "Ziheng Li, Xingrun Xing, Haoqing Wang et al."
        return tuple(rng.sample(coauthors, 3)), True
    names = rng.sample(coauthors, n_shown - 1)
    names.insert(rng.randint(0, n_shown - 1), researcher)
    return tuple(names), is_truncated


def _affiliations(rng: random.Random, home_affiliation: str) -> tuple[str, ...]:
    roll = rng.random()
    if roll < 0.4:
        return ()
    if roll < 0.85:
        return (home_affiliation,)
    others = [slug for slug in rng.sample(AFFILIATION_SLUGS, 3) if slug != home_affiliation]
    return (home_affiliation, *others[: rng.randint(1, 2)])


def _weighted_category(rng: random.Random) -> str:
    return rng.choices(_CATEGORY_CODES, cum_weights=_CATEGORY_CUMULATIVE_WEIGHTS)[0]


def _title(rng: random.Random, method: str) -> str:
    template = rng.choices(_TITLE_TEMPLATES, weights=_TITLE_TEMPLATE_WEIGHTS)[0]
    return template.format(
        method=method,
        adjective=rng.choice(_TITLE_ADJECTIVES),
        noun=rng.choice(_TITLE_NOUNS),
        task=rng.choice(_TITLE_TASKS),
        power=rng.randint(2, 4),
    )


def _method_name(rng: random.Random) -> str:
    # A fresh acronym nearly always keeps titles distinct across 50,000 profiles.
    if rng.random() < 0.02:
        return rng.choice(_TITLE_METHODS)
    letters = "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=rng.randint(3, 6)))
    return letters + rng.choice(("", "", "Net", "Former", "-2", "++"))


def _abstract(rng: random.Random, method: str) -> tuple[str, str]:
    """Return the abstract and how it mentions code: 'linked', 'mentioned' or 'none'."""
    sentences = [rng.choice(_abstract_openings())]
    target_chars = max(300, int(rng.gauss(MEAN_ABSTRACT_CHARS, 300)))
    length = len(sentences[0])
    pool = _abstract_sentences()
    while length < target_chars:
        sentence = rng.choice(pool)
        sentences.append(sentence)
        length += len(sentence) + 1
    roll = rng.random()
    if roll < 0.25:
        link = rng.choice(_CODE_LINK_TEMPLATES)
        repo = _NON_REPO_CHARS.sub("", method) or "code"
        sentences.append(link.format(user=rng.choice(_CODE_USERS), repo=repo))
        return " ".join(sentences), "linked"
    if roll < 0.32:
        sentences.append(rng.choice(_CODE_PROMISES))
        return " ".join(sentences), "mentioned"
    return " ".join(sentences), "none"


@functools.cache
def _abstract_openings() -> tuple[str, ...]:
    return _fill_templates(_ABSTRACT_OPENINGS, random.Random("abstract-openings"), copies=40)


@functools.cache
def _abstract_sentences() -> tuple[str, ...]:
    # Filling templates once into a fixed pool keeps 400,000 abstracts fast to build.
    return _fill_templates(_ABSTRACT_SENTENCES, random.Random("abstract-sentences"), copies=60)


def _fill_templates(templates: Sequence[str], rng: random.Random, *, copies: int) -> tuple[str, ...]:
    return tuple(
        template.format(
            method=_method_name(rng),
            adjective=rng.choice(_TITLE_ADJECTIVES).lower(),
            noun=rng.choice(_TITLE_NOUNS).lower(),
            task=rng.choice(_TITLE_TASKS).lower(),
        )
        for template in templates
        for _ in range(copies)
    )


def _maybe(rng: random.Random, none_probability: float, value: _T) -> _T | None:
    return None if rng.random() < none_probability else value


def _slug(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.translate(_SLUG_REPLACEMENTS))
    without_marks = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NON_SLUG_RUN.sub("-", without_marks.lower()).strip("-")


def _parse_date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from error


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.synth",
        description="Write N deterministic synthetic profiles in the site's raw text format.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write <slug>.txt files into (created if missing)")
    parser.add_argument("n", type=int, help="number of profiles to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed writes byte-identical files (default: 0)")
    parser.add_argument(
        "--captured-date",
        type=_parse_date,
        default=DEFAULT_CAPTURED_DATE,
        help=f"capture date the pages pretend to have, YYYY-MM-DD (default: {DEFAULT_CAPTURED_DATE})",
    )
    parser.add_argument(
        "--no-variations",
        action="store_true",
        help="write every file with LF endings, no BOM, no extra blank lines and no trailing spaces",
    )
    args = parser.parse_args(argv)
    if args.n < 0:
        parser.error(f"n must be >= 0, got {args.n}")
    paths = write_profiles(args.out_dir, args.n, seed=args.seed, captured_date=args.captured_date, variations=not args.no_variations)
    total_bytes = sum(path.stat().st_size for path in paths)
    print(f"wrote {len(paths)} files, {total_bytes:,} bytes ({total_bytes / 1e6:.1f} MB) to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
