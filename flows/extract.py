"""Raw profile text to records: one profile header, its paper blocks, and a reject for every block it cannot read."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from flows.categories import is_known_category
from flows.checksums import sha256_bytes
from flows.settings import MAX_LINE_CHARS, MAX_RAW_FILE_BYTES

STAGE = "extract"
RECORD_FILE = "file"
RECORD_HEADER = "profile_header"
RECORD_PAPER = "paper"

MAX_AUTHORS_SHOWN = 3
MAX_AUTHOR_NAME_CHARS = 80
MAX_AUTHOR_NAME_WORDS = 6
ET_AL = " et al."
AFFILIATION_SEPARATOR = " · "
_MONTH_NUMBERS = {name: number for number, name in enumerate(calendar.month_abbr) if name}
_MONTHS = "|".join(_MONTH_NUMBERS)

# `CVJul 31, 2023Code`, `CLJun 2` (year-less: the year of the capture), `32.9CLMay 27Code`
# (a decimal site score glued before the category), `quant-phMar 3, 2021` (any arXiv code).
PAPER_HEADER = re.compile(
    rf"^(?P<score>\d+(?:\.\d+)?)?(?P<category>[A-Za-z][A-Za-z.\-]*?)"
    rf"(?P<month>{_MONTHS}) (?P<day>\d{{1,2}})(?:, (?P<year>\d{{4}}))?(?P<code>Code)?$"
)
# A short line ending in a date that PAPER_HEADER refused (`Mar 5, 2023`, `LG Mar 5 2023`): it
# still starts a block, so a damaged header is rejected alone instead of swallowing its
# neighbour's lines.
_DAMAGED_HEADER = re.compile(
    rf"^[\w.\-]{{0,20}} ?(?:{_MONTHS})[a-z]* ?\d{{1,2}}(?:,? ?\d{{2,4}})?(?:Code)?$"
)
_PAPERS_LISTED = re.compile(r"^(?P<value>\d[\d,]*) Papers$")
_HEADER_METRICS = {
    "h_index": re.compile(r"^h-index(?P<value>\d[\d,]*)$"),
    "papers_total": re.compile(r"^(?P<value>\d[\d,]*)papers$"),
    "citations": re.compile(r"^(?P<value>\d[\d,]*)citations$"),
    "novelty_pct": re.compile(r"^Novelty(?P<value>\d+)%$"),
    "ai_score": re.compile(r"^AI Score(?P<value>\d+)$"),
}
# The site's short code (`LG`), or a full arXiv id we know: a bare `h-indexabc` is a damaged
# metric line, not a category.
_SHORT_CATEGORY = re.compile(r"^[A-Z]{2,3}$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$|^\d+$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_AFFILIATION_SLUG = re.compile(r"^[a-z0-9][a-z0-9._\-]*$")
# Letters (any script), then letters, spaces, apostrophes, hyphens and dots: `Zoë O'Brien`,
# `Marc'Aurelio Ranzato`, `Jean-Luc Godard`, `J. Smith`. One character class per step and no
# nested repeats: `(?:[ .-]+[^\W\d_]*)*` backtracked exponentially on `a-----…-1` (a hang).
_AUTHOR_NAME = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ '’.\-])*$")
_QUOTE_CHARS = 60


class RawFileError(ValueError):
    """A raw file that cannot be read as text at all; carries the line the problem is on."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Extraction:
    """What one raw file yields: the profile header, paper records and rejects, with warnings."""

    source_file: str
    source_sha256: str
    captured_date: dt.date
    profile: dict | None = None
    papers: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    paper_blocks_found: int = 0

    def problems(self) -> list[str]:
        """Every reject reason and warning, as `file:line: message` lines."""
        return [reject["reason"] for reject in self.rejects] + self.warnings


def read_raw_file(path: Path) -> tuple[bytes, str]:
    """Read a raw file's bytes and sha256, refusing files over the size limit before reading them."""
    size = path.stat().st_size
    if size > MAX_RAW_FILE_BYTES:
        raise RawFileError(
            1, f"expected a raw file of at most {MAX_RAW_FILE_BYTES:,} bytes, found {size:,} bytes"
        )
    data = path.read_bytes()
    return data, sha256_bytes(data)


def decode_raw(data: bytes) -> str:
    """Bytes to text: UTF-8 with or without BOM, or UTF-16 with a BOM; anything else is refused.

    No guessing of legacy encodings: a wrong guess turns `José` into `JosÃ©` silently, so a file
    that is not UTF-8 is rejected whole with the line and column of its first bad byte.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise RawFileError(1, f"expected UTF-16 text after a UTF-16 byte-order mark, found {error.reason}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise RawFileError(
            line,
            f"expected UTF-8 text, found byte 0x{data[error.start]:02X} at column {column}"
            " (re-save the capture as UTF-8)",
        ) from None


def split_lines(text: str) -> list[str]:
    """Lines without their ends (CRLF, CR or LF) and without trailing spaces; NUL is not a line end.

    Text without a CR splits at LF alone: str.split, ~4 times faster than the regular expression
    on a profile (never str.splitlines, which also ends lines at form feeds and separators).
    """
    lines = _LINE_BREAK.split(text) if "\r" in text else text.split("\n")
    return [line.rstrip() for line in lines]


def extract_file(path: Path, source_file: str, captured_date: dt.date) -> Extraction:
    """Read, decode and parse one archived raw file; a file that cannot be read becomes one reject."""
    try:
        data, sha256 = read_raw_file(path)
    except RawFileError as error:
        extraction = Extraction(source_file, "", captured_date)
        extraction.rejects.append(_reject(source_file, error.line, RECORD_FILE, error.message, ""))
        return extraction
    return extract_bytes(data, source_file, captured_date, sha256)


def extract_bytes(data: bytes, source_file: str, captured_date: dt.date, sha256: str | None = None) -> Extraction:
    """Decode and parse raw bytes; undecodable bytes become one file-level reject."""
    sha256 = sha256 if sha256 is not None else sha256_bytes(data)
    try:
        text = decode_raw(data)
    except RawFileError as error:
        extraction = Extraction(source_file, sha256, captured_date)
        extraction.rejects.append(_reject(source_file, error.line, RECORD_FILE, error.message, ""))
        return extraction
    return parse_profile(text, source_file, captured_date, sha256)


def parse_profile(text: str, source_file: str, captured_date: dt.date, sha256: str = "") -> Extraction:
    """Parse one profile's text into its header record, paper records and rejects.

    Paper blocks are found by recognising header lines (`CVJul 31, 2023Code`), never by
    counting lines, so extra or missing blank lines do not shift anything.
    """
    extraction = Extraction(source_file, sha256 or sha256_bytes(text.encode("utf-8")), captured_date)
    lines = split_lines(text)
    name_index = next((index for index, line in enumerate(lines) if line), None)
    if name_index is None:
        extraction.rejects.append(
            _reject(source_file, 1, RECORD_FILE, "expected a profile name on the first line, found an empty file", "")
        )
        return extraction
    header_indexes = [index for index, line in enumerate(lines) if index > name_index and _starts_block(line)]
    name = lines[name_index]
    if _starts_block(name):
        # The file opens with a paper: each block is still read, so that each is accounted for
        # (rejected below for want of a profile to join).
        header_indexes.insert(0, name_index)
    elif len(name) > MAX_AUTHOR_NAME_CHARS * 2 or _matches_header_metric(name):
        extraction.rejects.append(
            _reject(source_file, name_index + 1, RECORD_FILE, f"expected a profile name, found {_quote(name)}", name)
        )
    else:
        extraction.profile = {"name": name, "name_line": name_index + 1}
    body_start = header_indexes[0] if header_indexes else len(lines)
    _parse_header(lines, name_index + 1, body_start, extraction)
    extraction.paper_blocks_found = len(header_indexes)
    for position, start in enumerate(header_indexes):
        end = header_indexes[position + 1] if position + 1 < len(header_indexes) else len(lines)
        _parse_paper_block(lines, start, end, extraction)
    if extraction.profile is not None:
        extraction.profile["papers_found"] = extraction.paper_blocks_found
        listed = extraction.profile.get("papers_listed")
        if listed is not None and listed != extraction.paper_blocks_found:
            extraction.warnings.append(
                f"{source_file}:{extraction.profile['papers_listed_line']}: header lists {listed} papers,"
                f" found {extraction.paper_blocks_found} paper blocks"
            )
        del extraction.profile["papers_listed_line"]
    else:
        for block in extraction.papers:
            extraction.rejects.append(
                _reject(
                    source_file, block["source_line"], RECORD_PAPER,
                    "expected a profile name before the papers, found none", block["raw_text"],
                )
            )
        extraction.papers.clear()
    return extraction


def read_profile_name(text: str) -> tuple[str, int] | None:
    """The profile's name and its 1-based line: the first non-blank line, unless it is not a name."""
    for number, line in enumerate(split_lines(text), start=1):
        if line:
            if _starts_block(line) or len(line) > MAX_AUTHOR_NAME_CHARS * 2 or _matches_header_metric(line):
                return None
            return line, number
    return None


def parse_authors_line(line: str) -> tuple[list[str], bool, list[str]] | None:
    """`A, B, C et al. · eth-zurich, pku` -> (names, is_truncated, affiliation slugs); None if not an authors line."""
    names_part, separator, affiliations_part = line.partition(AFFILIATION_SEPARATOR)
    affiliations: list[str] = []
    if separator:
        affiliations = [slug.strip() for slug in affiliations_part.split(",")]
        if not all(_AFFILIATION_SLUG.match(slug) for slug in affiliations):
            return None
    is_truncated = names_part.endswith(ET_AL)
    if is_truncated:
        names_part = names_part[: -len(ET_AL)]
    names = [name.strip() for name in names_part.split(",")]
    if not 1 <= len(names) <= MAX_AUTHORS_SHOWN:
        return None
    for name in names:
        if (
            not name
            or len(name) > MAX_AUTHOR_NAME_CHARS
            or len(name.split()) > MAX_AUTHOR_NAME_WORDS
            or not _AUTHOR_NAME.match(name)
        ):
            return None
    return names, is_truncated, affiliations


def parse_site_date(month: str, day: str, year: str | None, captured_date: dt.date) -> tuple[dt.date, bool]:
    """Site date to (date, is_year_inferred); a year-less date is the latest such date not after the capture.

    Raises ValueError for a date that does not exist (`Feb 30, 2023`).
    """
    month_number = _MONTH_NUMBERS[month]
    if year is not None:
        return dt.date(int(year), month_number, int(day)), False
    for candidate_year in (captured_date.year, captured_date.year - 1):
        try:
            candidate = dt.date(candidate_year, month_number, int(day))
        except ValueError:
            continue  # `Feb 29` in a year that is not a leap year: try the year before
        if candidate <= captured_date:
            return candidate, True
    raise ValueError(f"{month} {day} is not a date in the year before {captured_date.isoformat()}")


def _starts_block(line: str) -> bool:
    return bool(line) and len(line) <= 64 and bool(PAPER_HEADER.match(line) or _DAMAGED_HEADER.match(line))


def _matches_header_metric(line: str) -> bool:
    return bool(_PAPERS_LISTED.match(line)) or any(pattern.match(line) for pattern in _HEADER_METRICS.values())


def _parse_header(lines: list[str], start: int, end: int, extraction: Extraction) -> None:
    profile = extraction.profile if extraction.profile is not None else {}
    for field_name in ("primary_category", *_HEADER_METRICS, "papers_listed"):
        profile.setdefault(field_name, None)
    profile["papers_listed_line"] = None
    seen_line: dict[str, int] = {}
    for index in range(start, end):
        line = lines[index]
        if not line:
            continue
        field_name, value = _read_header_line(line) if len(line) <= MAX_LINE_CHARS else (None, None)
        problem = None
        if len(line) > MAX_LINE_CHARS:
            problem = f"expected lines of at most {MAX_LINE_CHARS:,} characters, found {len(line):,}"
        elif field_name is None:
            problem = (
                "expected a header line (category, h-index<n>, <n>papers, <n>citations, Novelty<n>%,"
                f" AI Score<n> or '<n> Papers'), found {_quote(line)}"
            )
        elif field_name in seen_line:
            problem = f"expected one {field_name} line, found a second one {_quote(line)} (first on line {seen_line[field_name]})"
        if problem is not None:
            extraction.rejects.append(
                _reject(extraction.source_file, index + 1, RECORD_HEADER, problem, line)
            )
            continue
        seen_line[field_name] = index + 1
        profile[field_name] = value
        if field_name == "papers_listed":
            profile["papers_listed_line"] = index + 1


def _read_header_line(line: str) -> tuple[str | None, object]:
    if match := _PAPERS_LISTED.match(line):
        value = _read_count(match["value"])
        return ("papers_listed", value) if value is not None else (None, None)
    for field_name, pattern in _HEADER_METRICS.items():
        if match := pattern.match(line):
            value = _read_count(match["value"])
            return (field_name, value) if value is not None else (None, None)
    if _SHORT_CATEGORY.match(line) or is_known_category(line):
        return "primary_category", line
    return None, None


def _read_count(text: str) -> int | None:
    # `5,576` is a count; `5,57,6` is not, and is refused rather than read as 5576.
    return int(text.replace(",", "")) if _THOUSANDS.match(text) else None


def _parse_paper_block(lines: list[str], start: int, end: int, extraction: Extraction) -> None:
    source_file = extraction.source_file
    header_line = start + 1
    content = [(index + 1, lines[index]) for index in range(start + 1, end) if lines[index]]
    raw_text = "\n".join([lines[start], *(text for _, text in content)])

    def reject(line: int, reason: str) -> None:
        extraction.rejects.append(_reject(source_file, header_line, RECORD_PAPER, reason, raw_text, line))

    too_long = next(((number, text) for number, text in [(header_line, lines[start]), *content] if len(text) > MAX_LINE_CHARS), None)
    if too_long is not None:
        reject(too_long[0], f"expected lines of at most {MAX_LINE_CHARS:,} characters, found {len(too_long[1]):,}")
        return
    header = PAPER_HEADER.match(lines[start])
    if header is None:
        reject(header_line, f"expected a paper header '<CAT><Mon> <D>[, <YYYY>][Code]', found {_quote(lines[start])}")
        return
    try:
        published_date, is_year_inferred = parse_site_date(
            header["month"], header["day"], header["year"], extraction.captured_date
        )
    except ValueError:
        date_text = lines[start][header.start("month") : header.end("year") if header["year"] else header.end("day")]
        reject(header_line, f"expected a valid calendar date, found {_quote(date_text)}")
        return
    if not content:
        reject(header_line, "expected a title line after the paper header, found the end of the block")
        return
    title_line, title = content[0]
    if len(content) < 2:
        reject(title_line, f"expected an authors line after the title {_quote(title)}, found the end of the block")
        return
    authors_line, authors_text = content[1]
    authors = parse_authors_line(authors_text)
    if authors is None:
        reject(
            authors_line,
            f"expected an authors line '<up to 3 names>[ et al.][ · <slugs>]', found {_quote(authors_text)}",
        )
        return
    if len(content) > 3:
        extra_line, extra_text = content[3]
        reject(
            extra_line,
            f"expected at most a title, an authors line and an abstract, found {_quote(extra_text)}"
            " (is a paper header line missing or damaged?)",
        )
        return
    names, is_truncated, affiliations = authors
    extraction.papers.append(
        {
            "source_file": source_file,
            "source_sha256": extraction.source_sha256,
            "source_line": header_line,
            "captured_date": extraction.captured_date,
            "site_score": float(header["score"]) if header["score"] else None,
            "category": header["category"],
            "published_date": published_date,
            "is_year_inferred": is_year_inferred,
            "has_code_badge": header["code"] is not None,
            "title": title,
            "authors": names,
            "is_author_list_truncated": is_truncated,
            "affiliations": affiliations,
            "abstract": content[2][1] if len(content) == 3 else None,
            "raw_text": raw_text,
        }
    )


def _reject(source_file: str, line: int, record_type: str, problem: str, raw_text: str, problem_line: int | None = None) -> dict:
    """A reject keyed by the block's first line; the reason names the exact line of the problem."""
    return {
        "source_file": source_file,
        "line": line,
        "stage": STAGE,
        "record_type": record_type,
        "reason": f"{source_file}:{problem_line or line}: {problem}",
        "raw_text": raw_text,
    }


def _quote(text: str) -> str:
    shown = text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1] + "…"
    return repr(shown)
