"""Optional URL sources: fetch the profile texts listed in raw/sources.txt into raw/inbox/, where ingest takes over."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from flows import ids
from flows.checksums import sha256_bytes
from flows.files import write_atomic
from flows.settings import INBOX_DIRNAME, MAX_RAW_FILE_BYTES

SOURCES_FILENAME = "sources.txt"
FETCH_TIMEOUT_SECONDS = 30.0
# Retries with exponential backoff (2 s, 4 s, 8 s), and only for failures that can pass on their own.
FETCH_RETRIES = 3
FETCH_BACKOFF_SECONDS = 2.0
TRANSIENT_STATUS_CODES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_INBOX_NAME_CHARS = 80
_URL_HASH_CHARS = 8
_USER_AGENT = "paper-profiles-refresh"


@dataclass(frozen=True)
class Source:
    """One URL listed in the sources file, with where it is listed (for messages)."""

    url: str
    origin: str  # `raw/sources.txt:3`


class FetchError(RuntimeError):
    """A fetch that failed; `transient` when trying again later may succeed (timeouts, 5xx, 429)."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def read_sources(path: Path) -> tuple[list[Source], list[str]]:
    """The URLs listed in `path` (one a line, `#` comments), and a `file:line: ...` problem per bad line.

    A missing file lists nothing: URL sources are optional.
    """
    if not path.exists():
        return [], []
    sources, problems = [], []
    for number, line in enumerate(path.read_text("utf-8-sig").splitlines(), start=1):
        url = line.split("#", 1)[0].strip()
        if not url:
            continue
        origin = f"{path}:{number}"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(f"{origin}: expected an http:// or https:// URL, found {url[:80]!r}")
            continue
        sources.append(Source(url=url, origin=origin))
    return sources, problems


def fetch(url: str, timeout: float = FETCH_TIMEOUT_SECONDS, max_bytes: int = MAX_RAW_FILE_BYTES) -> bytes:
    """The body of `url`, or FetchError; refuses a body over `max_bytes` before it is read whole."""
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True, headers={"User-Agent": _USER_AGENT}) as response:
            if response.status_code != httpx.codes.OK:
                raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}", response.status_code in TRANSIENT_STATUS_CODES)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(f"expected at most {max_bytes:,} bytes, found more", transient=False)
            return bytes(body)
    except httpx.TimeoutException:
        raise FetchError(f"no answer within {timeout:g} s", transient=True) from None
    except httpx.TransportError as error:
        raise FetchError(f"cannot connect: {error}", transient=True) from None


def fetch_to_inbox(source: Source, raw_dir: Path, today: dt.date | None = None) -> Path:
    """Fetch one source and drop its text into raw/inbox/ (atomically, so ingest never sees half a file)."""
    data = fetch(source.url)
    inbox = raw_dir / INBOX_DIRNAME
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / inbox_name(source.url, today or dt.date.today())
    write_atomic(path, data)
    return path


def inbox_name(url: str, fetched_date: dt.date) -> str:
    """`<fetch date>-<url slug>-<hash>.txt`: the date first, as ingest takes the first date in a name
    for the capture date (a URL may hold a date of its own); the hash because two URLs may share a slug."""
    parts = urlsplit(url)
    slug = ids.slugify(f"{parts.netloc} {parts.path} {parts.query}", MAX_INBOX_NAME_CHARS)
    return f"{fetched_date.isoformat()}-{slug}-{sha256_bytes(url.encode('utf-8'))[:_URL_HASH_CHARS]}.txt"


def is_transient(error: BaseException) -> bool:
    """True for a failure worth retrying: a timeout, a refused connection, a 5xx or 429 answer."""
    return isinstance(error, FetchError) and error.transient
