"""Mutation fuzzing of the parser, the table build and the flow: no crash, every paper block accounted for, rejects name file and line.

CI runs a fixed-seed sample (`derandomize`); `PAPER_PROFILES_FUZZ_EXAMPLES=N` scales it, and
`bench/fuzz.py --cases N` is the long run (see README, Reliability).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
from pathlib import Path

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from flows import formats
from flows.extract import extract_bytes, parse_profile, parse_authors_line
from flows.package import verify_release
from flows.pipeline import refresh
from flows.tables import build_tables
from fuzzing import (
    CAPTURED_DATE,
    archived_source_file,
    check_built,
    check_extraction,
    mutate,
    no_hang,
    seed_corpus,
)

FUZZ_EXAMPLES = int(os.environ.get("PAPER_PROFILES_FUZZ_EXAMPLES", 3000))
# build_tables validates whole tables (~0.2 s a case), so it gets a sixtieth of the parser's cases.
BUILD_EXAMPLES = max(10, FUZZ_EXAMPLES // 60)
FLOW_FILES = 12
SOURCE_FILE = "profiles/fuzz-profile/2026-11-26.txt"
_FUZZ_SETTINGS = {
    "derandomize": True,  # a fixed seed in CI: the same cases every run
    "database": None,
    "deadline": None,
    "suppress_health_check": list(HealthCheck),
}
# Header-like lines a generated profile is built from, so generated text reaches the block logic.
LINE_PIECES = (
    "Zhi-Hong Deng", "LG", "h-index32", "42papers", "5,576citations", "Novelty59%", "AI Score64", "3 Papers",
    "CVJul 31, 2023Code", "CLJun 2", "32.9CLMay 27Code", "quant-phMar 3, 2021", "LGFeb 30, 2023", "Mar 5, 2023",
    "A Title", "Zhi-Hong Deng, Ada Lovelace et al. · pku, eth-zurich", "Ada Lovelace", "An abstract.", "",
)
# The authors line that made `_AUTHOR_NAME` backtrack exponentially (hours) before the fix.
REDOS_AUTHORS_LINE = "a" + "-" * 60 + "1"


@settings(max_examples=FUZZ_EXAMPLES, **_FUZZ_SETTINGS)
@given(base=st.sampled_from(range(len(seed_corpus()))), rng=st.randoms(use_true_random=False))
def test_mutated_profiles_keep_the_parser_invariants(base: int, rng: random.Random):
    data, applied = mutate(seed_corpus()[base], rng, seed_corpus())
    note(f"mutations: {applied}")
    with no_hang():
        extraction = extract_bytes(data, SOURCE_FILE, CAPTURED_DATE)
    check_extraction(extraction, data, SOURCE_FILE)


@settings(max_examples=FUZZ_EXAMPLES // 3, **_FUZZ_SETTINGS)
@given(
    lines=st.lists(st.one_of(st.sampled_from(LINE_PIECES), st.text(st.characters(exclude_categories=["Cs"]), max_size=40)), max_size=40),
    line_ending=st.sampled_from(["\n", "\r\n", "\r", "\n\n"]),
)
def test_generated_text_keeps_the_parser_invariants(lines: list[str], line_ending: str):
    text = line_ending.join(lines)
    with no_hang():
        extraction = parse_profile(text, SOURCE_FILE, CAPTURED_DATE)
    check_extraction(extraction, text.encode("utf-8"), SOURCE_FILE)


@settings(max_examples=BUILD_EXAMPLES, **_FUZZ_SETTINGS)
@given(
    bases=st.lists(st.sampled_from(range(len(seed_corpus()))), min_size=1, max_size=3),
    rng=st.randoms(use_true_random=False),
)
def test_tables_account_for_every_paper_block_of_mutated_profiles(bases: list[int], rng: random.Random):
    extractions = []
    for base in bases:
        data, applied = mutate(seed_corpus()[base], rng, seed_corpus())
        captured_date = CAPTURED_DATE - dt.timedelta(days=rng.choice((0, 30)))
        source_file = archived_source_file(data, captured_date)
        note(f"{source_file}: {applied}")
        if source_file is None or any(extraction.source_file == source_file for extraction in extractions):
            continue  # ingest refuses it, or archives only one capture per profile and date
        extractions.append(extract_bytes(data, source_file, captured_date))
    built = build_tables(extractions)
    check_built(built, extractions)


def test_redos_authors_line_is_refused_without_hanging():
    """Regression: `a` + 60 hyphens + `1` as an authors line hung the parser (exponential backtracking)."""
    with no_hang(5):
        assert parse_authors_line(REDOS_AUTHORS_LINE) is None
        assert parse_authors_line("Jean-Luc Godard, J. Smith, Marc'Aurelio Ranzato") == (
            ["Jean-Luc Godard", "J. Smith", "Marc'Aurelio Ranzato"], False, [])
    text = "\n\n".join(["Ada Lovelace", "1 Papers", "LGMar 3, 2023", "A Title", REDOS_AUTHORS_LINE, "An abstract."])
    with no_hang(5):
        extraction = parse_profile(text, SOURCE_FILE, CAPTURED_DATE)
    (reject,) = extraction.rejects
    assert reject["reason"].startswith(f"{SOURCE_FILE}:9: expected an authors line")


def test_flow_publishes_or_rejects_every_block_of_mutated_captures(tmp_path: Path):
    raw, output = tmp_path / "raw", tmp_path / "output"
    dropped = _drop_mutated_captures(raw / "inbox", FLOW_FILES, seed=1)
    summary = refresh(raw_dir=str(raw), output_dir=str(output), allow_shrink=True)
    _check_flow(raw, output, dropped, summary)
    # A second round of damaged captures on top of the first release.
    dropped = _drop_mutated_captures(raw / "inbox", FLOW_FILES, seed=2)
    summary = refresh(raw_dir=str(raw), output_dir=str(output), allow_shrink=True)
    _check_flow(raw, output, dropped, summary)


def _drop_mutated_captures(inbox: Path, count: int, seed: int) -> dict[str, bytes]:
    inbox.mkdir(parents=True, exist_ok=True)
    corpus = seed_corpus()
    dropped = {}
    for index in range(count):
        rng = random.Random(f"flow:{seed}:{index}")
        data, _ = mutate(rng.choice(corpus), rng, corpus)
        name = f"capture-{seed}-{index}-{(CAPTURED_DATE + dt.timedelta(days=seed)).isoformat()}.txt"
        (inbox / name).write_bytes(data)
        dropped[name] = data
    return dropped


def _check_flow(raw: Path, output: Path, dropped: dict[str, bytes], summary: dict) -> None:
    archived = {path.read_bytes() for path in (raw / "profiles").glob("*/*.txt")}
    for name, data in dropped.items():
        left = raw / "inbox" / name
        if left.exists():
            assert left.read_bytes() == data
            assert any(problem.startswith(f"inbox/{name}:") for problem in summary["inbox_problems"]), name
        else:
            assert data in archived, f"{name} left the inbox but is not in the archive"
    assert verify_release(output / "latest") == []
    # Independently re-extract each profile's newest capture: its blocks are all accounted for.
    newest = {}
    for path in sorted((raw / "profiles").glob("*/*.txt")):
        newest[path.parent.name] = path
    found = sum(
        extract_bytes(path.read_bytes(), path.relative_to(raw).as_posix(), dt.date.fromisoformat(path.stem)).paper_blocks_found
        for path in newest.values()
    )
    authorships = formats.read("authorships", output / "latest" / "authorships.parquet")
    rejects = formats.read("rejects", output / "latest" / "rejects.parquet")
    current = {path.relative_to(raw).as_posix() for path in newest.values()}
    paper_rejects = rejects[(rejects["record_type"] == "paper") & rejects["source_file"].isin(current)]
    assert found == len(authorships) + len(paper_rejects) == summary["accounting"]["paper_blocks_found"]
    for row in rejects.itertuples(index=False):
        assert re.match(rf"^{re.escape(row.source_file)}:\d+: ", row.reason), row.reason
        assert (raw / row.source_file).is_file()
