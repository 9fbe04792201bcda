"""Mutation fuzzing of raw profiles: the seed corpus, the mutations, and the invariants every parse must keep.

Shared by tests/test_fuzz.py (hypothesis drives the `random.Random` the mutations draw from, so
failures shrink) and bench/fuzz.py (the long run, plain seeded `random.Random`).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from flows import extract, ids, synth
from flows.extract import PAPER_HEADER, RECORD_PAPER, Extraction, split_lines
from flows.tables import BuiltTables

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_PROFILE = REPO_ROOT / "raw" / "profiles" / "zhi-hong-deng" / "2026-11-26.txt"
CAPTURED_DATE = dt.date(2026, 11, 26)
SYNTHETIC_PROFILES = 3
MAX_MUTATIONS = 4
# The parser only treats short lines as paper headers (see extract._starts_block).
MAX_HEADER_LINE_CHARS = 64
# Regex-stress alphabet: letters, the separators author names may contain, and what breaks them.
_TRICKY_CHARS = "a-.'’ ,·1\t"
_CONTROL_CHARS = "\x00\x01\x07\x08\x0b\x0c\x1b\x1c\x7f\x85\u2028\u2029\ufeff\u200b\u202e"
_OTHER_ENCODINGS = ("latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig", "shift_jis", "koi8-r")
# A hang detector, not a speed check: one parse takes about a millisecond; a regex that
# backtracks exponentially takes hours.
HANG_SECONDS = 20
_REASON = re.compile(r"^(?P<file>.+?):(?P<line>\d+): \S")

Mutation = Callable[[bytes, random.Random], bytes]


@lru_cache(maxsize=1)
def seed_corpus() -> tuple[bytes, ...]:
    """The real capture and a few synthetic profiles (with CRLF, BOM and blank-line variations)."""
    synthetic = [
        synth.render_profile(synth.generate_profile(random.Random(f"fuzz:{index}"), CAPTURED_DATE, index=index),
                             line_ending="\r\n" if index == 1 else "\n", bom=index == 2, extra_blank_lines=index == 0)
        for index in range(SYNTHETIC_PROFILES)
    ]
    return (REAL_PROFILE.read_bytes(), *(text.encode("utf-8") for text in synthetic))


def mutate(data: bytes, rng: random.Random, corpus: tuple[bytes, ...] = ()) -> tuple[bytes, list[str]]:
    """Apply 1..MAX_MUTATIONS random mutations; returns the bytes and the names of what was done."""
    applied = []
    for _ in range(rng.randint(1, MAX_MUTATIONS)):
        name = rng.choice(sorted(MUTATIONS))
        if name == "splice" and corpus:
            data = _splice(data, rng.choice(corpus), rng)
        else:
            data = MUTATIONS[name](data, rng)
        applied.append(name)
    return data, applied


@contextmanager
def no_hang(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Raise TimeoutError in the main thread if the block runs longer than `seconds` (SIGALRM interrupts re)."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds:g} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def archived_source_file(data: bytes, captured_date: dt.date) -> str | None:
    """Where ingest would archive these bytes (`profiles/<profile_id>/<date>.txt`); None if it refuses them."""
    text = _decoded(data)
    named = extract.read_profile_name(text) if text is not None else None
    profile_id = ids.profile_id(named[0]) if named else ""
    return f"profiles/{profile_id}/{captured_date.isoformat()}.txt" if profile_id else None


def check_extraction(extraction: Extraction, data: bytes, source_file: str) -> None:
    """The parser's invariants on one file; raises AssertionError naming the broken one."""
    text = _decoded(data)
    lines = split_lines(text) if text is not None else []
    # An undecodable file is rejected at the line of its first bad byte.
    last_line = len(lines) if text is not None else data.count(b"\n") + 1
    for reject in extraction.rejects:
        match = _REASON.match(reject["reason"])
        assert match and match["file"] == source_file, f"reject reason does not name the file: {reject['reason'][:120]!r}"
        assert 1 <= int(match["line"]) <= last_line, f"reject reason names line {match['line']} of {last_line}"
        assert 1 <= reject["line"] <= last_line, f"reject keyed on line {reject['line']} of {last_line}"
        assert reject["source_file"] == source_file and reject["stage"] == extract.STAGE
    paper_lines = [paper["source_line"] for paper in extraction.papers]
    rejected_lines = [reject["line"] for reject in extraction.rejects if reject["record_type"] == RECORD_PAPER]
    accounted = paper_lines + rejected_lines
    assert len(set(accounted)) == len(accounted), f"a paper block is both published and rejected: {sorted(accounted)}"
    assert extraction.paper_blocks_found == len(accounted), (
        f"{extraction.paper_blocks_found} paper blocks found, {len(paper_lines)} published + {len(rejected_lines)} rejected"
    )
    header_lines = {
        number for number, line in enumerate(lines, start=1)
        if len(line) <= MAX_HEADER_LINE_CHARS and PAPER_HEADER.match(line)
    }
    missing = header_lines - set(accounted)
    assert not missing, f"paper header lines neither published nor rejected: {sorted(missing)[:10]}"
    for paper in extraction.papers:
        assert PAPER_HEADER.match(lines[paper["source_line"] - 1]), f"paper keyed on a non-header line {paper['source_line']}"
    if extraction.profile is None:
        assert not extraction.papers, "papers published without a profile"
    keys = [(reject["source_file"], reject["line"]) for reject in extraction.rejects]
    assert len(set(keys)) == len(keys), f"two rejects share a key: {sorted(keys)}"


def check_built(built: BuiltTables, extractions: list[Extraction]) -> None:
    """Every paper header line of each profile's newest file is in exactly one of authorships or rejects."""
    current = {}
    for extraction in sorted(extractions, key=lambda e: (e.captured_date, e.source_file)):
        current[extraction.source_file.rsplit("/", 2)[-2]] = extraction
    found = {
        (extraction.source_file, line)
        for extraction in current.values()
        for line in [paper["source_line"] for paper in extraction.papers]
        + [reject["line"] for reject in extraction.rejects if reject["record_type"] == RECORD_PAPER]
    }
    authorships = built.tables["authorships"]
    published = list(zip(authorships["source_file"], authorships["source_line"].astype(int)))
    rejects = built.tables["rejects"]
    paper_rejects = rejects[rejects["record_type"] == RECORD_PAPER]
    rejected = list(zip(paper_rejects["source_file"], paper_rejects["line"].astype(int)))
    assert len(set(published)) == len(published), "a paper block published twice"
    assert not set(published) & set(rejected), f"published and rejected: {sorted(set(published) & set(rejected))[:5]}"
    assert set(published) | set(rejected) == found, (
        f"blocks found but unaccounted: {sorted(found - set(published) - set(rejected))[:5]};"
        f" accounted but never found: {sorted((set(published) | set(rejected)) - found)[:5]}"
    )
    for source_file, line, reason in zip(rejects["source_file"], rejects["line"], rejects["reason"]):
        match = _REASON.match(reason)
        assert match and match["file"] == source_file, f"reject reason does not name its file: {reason[:120]!r}"
        assert int(line) >= 1


def _decoded(data: bytes) -> str | None:
    try:
        return extract.decode_raw(data)
    except extract.RawFileError:
        return None


def _child(rng: random.Random) -> random.Random:
    """A plain Random seeded from `rng`: one draw instead of one per line (hypothesis pays per draw)."""
    return random.Random(rng.getrandbits(64))


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _pick_span(rng: random.Random, length: int) -> tuple[int, int]:
    start = rng.randrange(max(1, length))
    return start, min(length, start + rng.randint(1, 8))


def _flip_bytes(data: bytes, rng: random.Random) -> bytes:
    mutable = bytearray(data or b"\n")
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(mutable))
        mutable[position] = mutable[position] ^ (1 << rng.randrange(8)) if rng.random() < 0.5 else rng.randrange(256)
    return bytes(mutable)


def _truncate_at_line(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    return b"\n".join(lines[: rng.randrange(len(lines) + 1)])


def _truncate_at_byte(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _duplicate_lines(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    start, end = _pick_span(rng, len(lines))
    at = rng.randrange(len(lines) + 1)
    return b"\n".join(lines[:at] + lines[start:end] + lines[at:])


def _shuffle_lines(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    start = rng.randrange(len(lines))
    window = lines[start : start + rng.randint(2, 12)]
    rng.shuffle(window)
    return b"\n".join(lines[:start] + window + lines[start + len(window) :])


def _drop_lines(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    start, end = _pick_span(rng, len(lines))
    return b"\n".join(lines[:start] + lines[end:])


def _remove_blank_lines(data: bytes, rng: random.Random) -> bytes:
    share, lines_rng = rng.choice((1.0, 0.5)), _child(rng)
    return b"\n".join(line for line in _lines(data) if line.strip() or lines_rng.random() > share)


def _huge_line(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    length = extract.MAX_LINE_CHARS + rng.choice((-1, 0, 1, 1000))
    filler = rng.choice(("x", "é", "a-", " ", "https://github.com/a/b "))
    huge = (filler * (length // len(filler) + 1))[:length].encode("utf-8")
    lines.insert(rng.randrange(len(lines) + 1), huge)
    return b"\n".join(lines)


def _control_characters(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", errors="surrogateescape")
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(_CONTROL_CHARS) + text[at:]
    return text.encode("utf-8", errors="surrogateescape")


def _invalid_utf8(data: bytes, rng: random.Random) -> bytes:
    bad = rng.choice((b"\xff", b"\xc3", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80\x80", b"\xe2\x82"))
    at = rng.randrange(len(data) + 1)
    return data[:at] + bad + data[at:]


def _reencode(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    return text.encode(rng.choice(_OTHER_ENCODINGS), errors="replace")


def _line_endings(data: bytes, rng: random.Random) -> bytes:
    ending = rng.choice((b"\r\n", b"\r", b"\n\r", b"\r\r\n"))
    share, lines_rng = rng.choice((1.0, 0.5, 0.1)), _child(rng)
    return b"".join(line + (ending if lines_rng.random() < share else b"\n") for line in _lines(data))[:-1]


def _move_header_line(data: bytes, rng: random.Random) -> bytes:
    """A paper header or profile metric line moved elsewhere (`CVJul 31, 2023Code` into an abstract's place)."""
    lines = _lines(data)
    candidates = [
        index for index, line in enumerate(lines)
        if PAPER_HEADER.match(line.decode("utf-8", "replace").strip()) or re.match(rb"^(h-index|AI Score|Novelty|\d+ ?[Pp]apers)", line)
    ]
    if not candidates:
        return data
    line = lines.pop(rng.choice(candidates))
    lines.insert(rng.randrange(len(lines) + 1), line)
    return b"\n".join(lines)


def _tricky_line(data: bytes, rng: random.Random) -> bytes:
    """Text built from the characters author-name and header patterns care about (regex stress)."""
    lines = _lines(data)
    chars_rng = _child(rng)
    tricky = "".join(chars_rng.choice(_TRICKY_CHARS) for _ in range(rng.randint(1, 90)))
    if rng.random() < 0.5:
        tricky = "a" + rng.choice("-.'") * rng.randint(20, 60) + rng.choice(("1", "!", ""))
    lines.insert(rng.randrange(len(lines) + 1), tricky.encode("utf-8"))
    return b"\n".join(lines)


def _splice(data: bytes, other: bytes, rng: random.Random) -> bytes:
    lines, donor = _lines(data), _lines(other)
    start, end = _pick_span(rng, len(donor))
    at = rng.randrange(len(lines) + 1)
    return b"\n".join(lines[:at] + donor[start : start + (end - start) * 4] + lines[at:])


MUTATIONS: dict[str, Mutation] = {
    "flip_bytes": _flip_bytes,
    "truncate_at_line": _truncate_at_line,
    "truncate_at_byte": _truncate_at_byte,
    "duplicate_lines": _duplicate_lines,
    "shuffle_lines": _shuffle_lines,
    "drop_lines": _drop_lines,
    "remove_blank_lines": _remove_blank_lines,
    "huge_line": _huge_line,
    "control_characters": _control_characters,
    "invalid_utf8": _invalid_utf8,
    "reencode": _reencode,
    "line_endings": _line_endings,
    "move_header_line": _move_header_line,
    "tricky_line": _tricky_line,
    "splice": lambda data, rng: data,  # needs the corpus: see mutate()
}
