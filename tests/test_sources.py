"""URL sources: raw/sources.txt lists pages fetched into raw/inbox/; a failed fetch is reported and blocks nothing."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flows import ids, sources
from flows.__main__ import EXIT_PROBLEMS, main
from flows.pipeline import refresh
from flows.synth import generate_profile, render_profile

CAPTURED_DATE = dt.date(2026, 11, 26)
GOOD_PROFILE = generate_profile(random.Random("sources:0"), CAPTURED_DATE, index=0)
FLAKY_PROFILE = generate_profile(random.Random("sources:1"), CAPTURED_DATE, index=1)
SLOW_SECONDS = 2.0
SHORT_TIMEOUT_SECONDS = 0.3
SMALL_LIMIT_BYTES = 100


class _ProfilePages(BaseHTTPRequestHandler):
    """/good: a profile; /flaky: 503 on the first request, then a profile; /missing: 404; /slow; /big."""

    requests: Counter = Counter()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.requests[self.path] += 1
        if self.path == "/good":
            self._answer(200, render_profile(GOOD_PROFILE).encode("utf-8"))
        elif self.path == "/flaky" and self.requests[self.path] == 1:
            self._answer(503, b"try again later")
        elif self.path == "/flaky":
            self._answer(200, render_profile(FLAKY_PROFILE).encode("utf-8"))
        elif self.path == "/slow":
            time.sleep(SLOW_SECONDS)
            self._answer(200, b"late")
        elif self.path == "/big":
            self._answer(200, b"x" * (SMALL_LIMIT_BYTES * 10))
        else:
            self._answer(404, b"not here")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first: that is what /slow and /big are for

    def log_message(self, *args) -> None:
        pass  # keep the test output quiet


@pytest.fixture
def site() -> Iterator[str]:
    """A local web server on 127.0.0.1 serving the pages above; yields its base URL."""
    _ProfilePages.requests = Counter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ProfilePages)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_refresh_fetches_listed_urls_into_the_archive_and_reports_a_failed_fetch(tmp_path: Path, site: str) -> None:
    raw_dir, output_dir = tmp_path / "raw", tmp_path / "output"
    raw_dir.mkdir()
    (raw_dir / sources.SOURCES_FILENAME).write_text(
        f"# profile pages to capture on every refresh\n{site}/good\n{site}/missing\n\n{site}/flaky  # answers 503 once\n",
        encoding="utf-8",
    )

    summary = refresh(raw_dir=str(raw_dir), output_dir=str(output_dir), captured_date=CAPTURED_DATE)

    [problem] = summary["fetch_problems"]
    assert problem.startswith(f"{raw_dir / sources.SOURCES_FILENAME}:3: fetching {site}/missing failed: HTTP 404")
    assert _ProfilePages.requests == Counter({"/good": 1, "/missing": 1, "/flaky": 2})  # a 404 is not retried
    assert summary["release_id"] == CAPTURED_DATE.isoformat()
    assert summary["files_archived"] == [
        f"profiles/{ids.profile_id(profile.name)}/{CAPTURED_DATE.isoformat()}.txt"
        for profile in sorted((GOOD_PROFILE, FLAKY_PROFILE), key=lambda profile: ids.profile_id(profile.name))
    ]
    assert not list((raw_dir / "inbox").iterdir())  # both fetched pages went through ingest
    feed = json.loads((output_dir / "releases.json").read_text("utf-8"))
    assert feed["releases"][0]["row_counts"]["profiles"] == 2


def test_read_sources_skips_comments_and_names_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / sources.SOURCES_FILENAME
    path.write_text("# a comment\n\nhttps://example.org/p/1  # trailing comment\nftp://example.org/p/2\nexample.org/p/3\n", encoding="utf-8")

    listed, problems = sources.read_sources(path)

    assert listed == [sources.Source(url="https://example.org/p/1", origin=f"{path}:3")]
    assert problems == [
        f"{path}:4: expected an http:// or https:// URL, found 'ftp://example.org/p/2'",
        f"{path}:5: expected an http:// or https:// URL, found 'example.org/p/3'",
    ]


def test_missing_sources_file_lists_nothing(tmp_path: Path) -> None:
    assert sources.read_sources(tmp_path / sources.SOURCES_FILENAME) == ([], [])


def test_fetch_returns_the_body(site: str) -> None:
    assert sources.fetch(f"{site}/good") == render_profile(GOOD_PROFILE).encode("utf-8")


@pytest.mark.parametrize(
    ("path", "message", "transient"),
    [
        ("/missing", "HTTP 404 Not Found", False),
        ("/flaky", "HTTP 503 Service Unavailable", True),
        ("/slow", f"no answer within {SHORT_TIMEOUT_SECONDS:g} s", True),
        ("/big", f"expected at most {SMALL_LIMIT_BYTES:,} bytes, found more", False),
    ],
)
def test_fetch_failures_say_what_failed_and_whether_to_retry(site: str, path: str, message: str, transient: bool) -> None:
    with pytest.raises(sources.FetchError, match=message) as raised:
        sources.fetch(f"{site}{path}", timeout=SHORT_TIMEOUT_SECONDS, max_bytes=SMALL_LIMIT_BYTES)

    assert raised.value.transient is transient
    assert sources.is_transient(raised.value) is transient


def test_fetch_from_a_closed_port_is_transient() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _ProfilePages) as closed:
        port = closed.server_address[1]  # bound, then closed on leaving the block: nothing listens

    with pytest.raises(sources.FetchError, match="cannot connect") as raised:
        sources.fetch(f"http://127.0.0.1:{port}/good", timeout=SHORT_TIMEOUT_SECONDS)

    assert raised.value.transient


def test_inbox_name_puts_the_fetch_date_first_and_tells_urls_apart() -> None:
    dated_url = "https://example.org/2019-01-05/zhi-hong-deng"
    name = sources.inbox_name(dated_url, CAPTURED_DATE)

    assert name.startswith(f"{CAPTURED_DATE.isoformat()}-example-org-2019-01-05-zhi-hong-deng-")
    assert name != sources.inbox_name(dated_url + "?", CAPTURED_DATE)  # same slug, another URL


def test_run_command_prints_a_failed_fetch_and_exits_1(tmp_path: Path, site: str, capsys) -> None:
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    (raw_dir / sources.SOURCES_FILENAME).write_text(f"{site}/missing\n", encoding="utf-8")

    code = main(["run", "--raw-dir", str(raw_dir), "--output-dir", str(tmp_path / "output"), "--workers", "1"])

    assert code == EXIT_PROBLEMS
    assert f"{raw_dir / sources.SOURCES_FILENAME}:1: fetching {site}/missing failed: HTTP 404" in capsys.readouterr().err
