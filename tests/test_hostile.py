"""Hostile text and oversized input: ids stay safe slugs, nothing is written outside raw/ and output/, markup is inert, formulas stay exact, limits hold."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import extract, ids, ingest, package, site
from flows.checksums import sha256_file
from flows.extract import parse_profile, read_raw_file
from flows.package import verify_release
from flows.pipeline import refresh

REPO_ROOT = Path(__file__).resolve().parent.parent
CAPTURED = dt.date(2026, 11, 26)
SAFE_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Profile names that try to escape raw/profiles/, with the folder each must land in.
HOSTILE_NAMES = {
    "../../etc": "etc",
    "/etc/passwd": "etc-passwd",
    "..\\..\\Windows\\System32": "windows-system32",
    "~/.ssh/authorized_keys": "ssh-authorized-keys",
    "$(touch pwned) `id`": "touch-pwned-id",
    "Nul\x00Byte Name": "nul-byte-name",
    "Ünïcödé/../../Ñame": "unicode-name",
    "Right\u202eLeft Override": "right-left-override",
    "x" * 150: "x" * ids.MAX_PROFILE_ID_CHARS,
}
# Names ingest must refuse (the file stays in the inbox with a reason): no letter or digit, or too long.
REFUSED_NAMES = ("../..", "/", "\x00", "y" * 200)
# Inbox file names with shell and path characters; only the name line decides where a file goes.
HOSTILE_FILE_NAMES = ("--help-2026-11-26.txt", "a b;rm -rf ~-2026-11-26.txt", "new\nline-2026-11-26.txt", "ü" * 100 + ".txt")
MARKUP_TITLE = "<script>alert('title')</script><img src=x onerror=alert(1)>"
MARKUP_ABSTRACT = "</textarea><svg onload=alert(2)> and `<b>code</b>`"
MARKUP_NAME = "<script>alert(3)</script> Smith"
MARKUP_MARKERS = ("<script", "<img src=x", "<svg onload", "</textarea>", "<b>code")
FORMULA_TITLES = ('=HYPERLINK("http://example.com/x","click")', "+1+2", "-2+3", "@SUM(A1:A9)", "=1+1;=2")


def profile_text(name: str, titles: tuple[str, ...] = ("A Plain Title",), abstract: str = "An abstract.") -> str:
    """A small valid capture: the header, then one paper block per title, newest first."""
    lines = [name, "LG", "h-index1", "1papers", "1citations", "Novelty1%", "AI Score1", f"{len(titles)} Papers"]
    for day, title in enumerate(titles):
        lines += [f"LGNov {20 - day}, 2026", title, "Ada Lovelace, Alan Turing", abstract]
    return "\n\n".join(lines)


def test_hostile_names_and_file_names_stay_inside_raw_and_output(tmp_path: Path):
    project = tmp_path / "project"
    raw, output = project / "raw", project / "output"
    inbox = raw / "inbox"
    inbox.mkdir(parents=True)
    passwd_before = sha256_file(Path("/etc/passwd"))
    for number, name in enumerate([*HOSTILE_NAMES, *REFUSED_NAMES]):
        (inbox / f"hostile-{number}-2026-11-26.txt").write_text(profile_text(name), encoding="utf-8")
    for number, file_name in enumerate(HOSTILE_FILE_NAMES):
        (inbox / file_name).write_text(profile_text(f"File Name Case {chr(65 + number)}"), encoding="utf-8")

    summary = refresh(raw_dir=str(raw), output_dir=str(output), captured_date=CAPTURED)

    assert sorted(path.name for path in tmp_path.iterdir()) == ["project"]
    assert sorted(path.name for path in project.iterdir()) == ["output", "raw"]
    assert sha256_file(Path("/etc/passwd")) == passwd_before
    folders = sorted(path.name for path in (raw / "profiles").iterdir())
    assert all(SAFE_ID.match(folder) and len(folder) <= ids.MAX_PROFILE_ID_CHARS for folder in folders), folders
    assert set(HOSTILE_NAMES.values()) <= set(folders)
    assert {f"file-name-case-{letter}" for letter in "abcd"} <= set(folders)
    for path in raw.rglob("*"):
        assert path.resolve().is_relative_to(raw.resolve()) and not path.is_symlink()
        if path.is_file():
            assert path.parent == inbox or path.parent.parent == raw / "profiles", path
    refused = sorted(path.name for path in inbox.iterdir())
    assert refused == sorted(f"hostile-{len(HOSTILE_NAMES) + number}-2026-11-26.txt" for number in range(len(REFUSED_NAMES)))
    for name in refused:
        assert any(problem.startswith(f"inbox/{name}:1: expected") for problem in summary["inbox_problems"]), name
    assert verify_release(output / "latest") == []
    profiles = pq.read_table(output / "latest" / "profiles.parquet").to_pandas()
    assert sorted(profiles["profile_id"]) == folders
    names = dict(zip(profiles["profile_id"], profiles["name"]))
    assert all(names[folder] == name for name, folder in HOSTILE_NAMES.items())  # published exactly as captured


@settings(max_examples=2000, derandomize=True, database=None, deadline=None)
@given(st.text(max_size=300))
def test_profile_ids_are_safe_slugs_for_any_text(name: str):
    profile_id = ids.profile_id(name)
    assert profile_id == "" or (SAFE_ID.match(profile_id) and len(profile_id) <= ids.MAX_PROFILE_ID_CHARS)
    assert profile_id not in (".", "..") and "/" not in profile_id and "\\" not in profile_id


def test_markup_in_titles_abstracts_and_names_is_inert_in_every_page(tmp_path: Path):
    raw, output = tmp_path / "raw", tmp_path / "output"
    (raw / "inbox").mkdir(parents=True)
    (raw / "inbox" / "markup-2026-11-26.txt").write_text(
        profile_text(MARKUP_NAME, (MARKUP_TITLE, "A Plain Title"), MARKUP_ABSTRACT), encoding="utf-8"
    )
    refresh(raw_dir=str(raw), output_dir=str(output))
    pages = [output / site.PAGE, *sorted((output / site.PAGES_DIRNAME).glob("*.html"))]
    assert len(pages) >= 2
    for page in pages:
        html = page.read_text("utf-8")
        for marker in MARKUP_MARKERS:
            assert marker not in html.lower(), f"{page.name}: unescaped {marker!r}"
    landing = (output / site.PAGE).read_text("utf-8")
    assert "&lt;script&gt;alert(" in landing  # the title is shown, as text


def test_formula_text_is_kept_exact_in_every_format_and_documented(tmp_path: Path):
    raw, output = tmp_path / "raw", tmp_path / "output"
    (raw / "inbox").mkdir(parents=True)
    (raw / "inbox" / "formulas-2026-11-26.txt").write_text(profile_text("Formula Tester", FORMULA_TITLES), encoding="utf-8")
    refresh(raw_dir=str(raw), output_dir=str(output))
    latest = output / "latest"
    parquet_titles = set(pq.read_table(latest / "papers.parquet").column("title").to_pylist())
    with open(latest / "papers.csv", newline="", encoding="utf-8") as handle:
        csv_titles = {row["title"] for row in csv.DictReader(handle)}
    jsonl_titles = {json.loads(line)["title"] for line in (latest / "papers.jsonl").read_text("utf-8").splitlines()}
    for titles in (parquet_titles, csv_titles, jsonl_titles):
        assert set(FORMULA_TITLES) <= titles
    card = (latest / package.CARD).read_text("utf-8")
    assert package._FORMULA_POLICY in card


def test_oversized_file_is_refused_by_size_without_being_read(tmp_path: Path):
    big = tmp_path / "big.txt"
    with open(big, "wb") as handle:  # sparse: the size is on record, the bytes are not on disk
        handle.truncate(extract.MAX_RAW_FILE_BYTES + 1)
    tracemalloc.start()
    with pytest.raises(extract.RawFileError, match=r"expected a raw file of at most 52,428,800 bytes, found 52,428,801 bytes"):
        read_raw_file(big)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1024 * 1024, f"read_raw_file allocated {peak:,} bytes: it read the file"
    extraction = extract.extract_file(big, "profiles/big/2026-11-26.txt", CAPTURED)
    assert [reject["reason"] for reject in extraction.rejects] == [
        "profiles/big/2026-11-26.txt:1: expected a raw file of at most 52,428,800 bytes, found 52,428,801 bytes"
    ]


def test_oversized_inbox_file_stays_in_the_inbox_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(extract, "MAX_RAW_FILE_BYTES", 100)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "big.txt").write_text(profile_text("Big File"), encoding="utf-8")
    result = ingest.ingest_inbox(tmp_path, CAPTURED)
    assert (inbox / "big.txt").exists() and not (tmp_path / "profiles").exists()
    assert [reject["reason"] for reject in result.rejects] == [
        f"inbox/big.txt:1: expected a raw file of at most 100 bytes, found {(inbox / 'big.txt').stat().st_size:,} bytes"
    ]


def test_overlong_lines_are_rejected_with_their_line_and_the_rest_goes_through(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(extract, "MAX_LINE_CHARS", 50)
    long_title, long_header = "T" * 51, "L" * 51
    text = profile_text("Ada Lovelace", (long_title, "Short Title", "Another Short Title")).replace("\n\nLG\n\n", f"\n\n{long_header}\n\n", 1)
    extraction = parse_profile(text, "profiles/ada-lovelace/2026-11-26.txt", CAPTURED)
    reasons = [reject["reason"] for reject in extraction.rejects]
    assert reasons == [
        "profiles/ada-lovelace/2026-11-26.txt:3: expected lines of at most 50 characters, found 51",
        "profiles/ada-lovelace/2026-11-26.txt:19: expected lines of at most 50 characters, found 51",
    ]
    assert [paper["title"] for paper in extraction.papers] == ["Short Title", "Another Short Title"]


def test_limits_are_set_by_environment_variables(tmp_path: Path):
    capture = tmp_path / "capture-2026-11-26.txt"
    capture.write_text(profile_text("Ada Lovelace", ("T" * 120,)), encoding="utf-8")
    env_line = {"PAPER_PROFILES_MAX_LINE_CHARS": "100"}
    env_size = {"PAPER_PROFILES_MAX_RAW_FILE_BYTES": "64"}
    line_run = _check_cli(capture, env_line)
    size_run = _check_cli(capture, env_size)
    assert line_run.returncode == 1 and f"{capture}:19: expected lines of at most 100 characters, found 120" in line_run.stdout
    assert size_run.returncode == 1
    assert f"{capture}:1: expected a raw file of at most 64 bytes, found {capture.stat().st_size:,} bytes" in size_run.stdout
    assert _check_cli(capture, {}).returncode == 0


def _check_cli(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows", "check", str(path)],
        cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )


def test_symlink_in_inbox_is_refused_not_followed(tmp_path):
    """A link dropped in the inbox could point at any file on the machine: it is refused and left alone."""
    from flows.ingest import ingest_inbox

    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("Secret Person\n\nLG\n", encoding="utf-8")
    inbox = tmp_path / "raw" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "link.txt").symlink_to(secret)
    result = ingest_inbox(tmp_path / "raw")
    assert result.archived == []
    assert [reject["reason"] for reject in result.rejects] == [
        "inbox/link.txt:1: expected a regular file, found a symbolic link (copy the capture in instead)"
    ]
    assert (inbox / "link.txt").is_symlink() and not (tmp_path / "raw" / "profiles").exists()
