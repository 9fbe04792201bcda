"""Releases: Frictionless package, three formats equal, two-release changelog, byte-reproducible, verify."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import frictionless
import pandas as pd
import pytest

import schemas
from conftest import REPO_ROOT, SEED_PROFILE
from flows import formats, ids
from flows.checksums import sha256_file
from flows.package import verify_release
from flows.pipeline import refresh

SEED_DATE = dt.date(2026, 11, 26)
RECAPTURE_DATE = dt.date(2026, 12, 3)
SEED_TEXT = SEED_PROFILE.read_text("utf-8")
# The recapture: new metrics, one paper gone, one paper new, one paper gaining the Code badge.
REMOVED_TITLE = "Neural Consciousness Flow"
BADGE_TITLE = "Masked Image Modeling with Local Multi-Scale Reconstruction"
NEW_TITLE = "A Paper That Appeared After The First Capture"
NEW_BLOCK = f"""LGDec 1
{NEW_TITLE}

Zhi-Hong Deng, Ada Lovelace

A new abstract. Code: https://github.com/example/new-paper.

"""


def build(raw_dir: Path, output_dir: Path, captured_date: dt.date | None = None, **options) -> dict:
    return refresh(raw_dir=str(raw_dir), output_dir=str(output_dir), captured_date=captured_date, **options)


def drop_in_inbox(raw_dir: Path, text: str, name: str = "capture.txt") -> None:
    inbox = raw_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_text(text, encoding="utf-8")


def recaptured_seed() -> str:
    lines = SEED_TEXT.split("\n")
    start = lines.index(REMOVED_TITLE) - 1  # its header line; the block is 7 lines with the blank after it
    del lines[start : start + 7]
    badge_header = lines.index(BADGE_TITLE) - 1
    lines[badge_header] += "Code"
    text = "\n".join(lines).replace("h-index32", "h-index33").replace("5,576citations", "5,700citations")
    first_paper = text.index("LGMar 1, 2023")
    return text[:first_paper] + NEW_BLOCK + text[first_paper:]


@pytest.fixture(scope="module")
def seed_release(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("seed-release")
    drop_in_inbox(root / "raw", SEED_TEXT, "zhi-hong-deng.txt")
    summary = build(root / "raw", root / "output", SEED_DATE)
    assert summary["release_id"] == "2026-11-26"
    return root / "output"


def test_frictionless_validates_the_package(seed_release: Path):
    report = frictionless.validate(str(seed_release / "latest" / "datapackage.json"))
    assert report.valid, report.flatten(["resourcePath", "rowNumber", "fieldName", "type", "message"])


def test_package_lists_every_file_with_bytes_hash_rows_and_schema(seed_release: Path):
    package = json.loads((seed_release / "latest" / "datapackage.json").read_text("utf-8"))
    names = {resource["path"] for resource in package["resources"]}
    assert names == {formats.table_file(t, f) for t in schemas.TABLES for f in formats.FORMATS}
    papers_csv = next(r for r in package["resources"] if r["path"] == "papers.csv")
    assert papers_csv["rows"] == 42 and papers_csv["hash"] == "sha256:" + sha256_file(seed_release / "latest" / "papers.csv")
    assert [field["name"] for field in papers_csv["schema"]["fields"]] == schemas.TABLES["papers"].columns
    authorships_csv = next(r for r in package["resources"] if r["path"] == "authorships.csv")
    assert {"fields": ["paper_id"], "reference": {"resource": "papers-csv", "fields": ["paper_id"]}} in authorships_csv["schema"]["foreignKeys"]


@pytest.mark.parametrize("table", list(schemas.TABLES))
def test_three_formats_load_to_equal_frames(seed_release: Path, table: str):
    latest = seed_release / "latest"
    frames = [formats.read(table, latest / formats.table_file(table, file_format)) for file_format in formats.FORMATS]
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0])


def test_parquet_reads_in_duckdb_with_types(seed_release: Path):
    papers = formats.read("papers", seed_release / "latest" / "papers.parquet")
    rows = duckdb.sql(
        f"select paper_id, published_date, authors, has_code_badge from read_parquet('{seed_release / 'latest' / 'papers.parquet'}') order by paper_id"
    ).fetchall()
    assert [row[0] for row in rows] == list(papers["paper_id"])
    assert all(isinstance(row[1], dt.date) and isinstance(row[2], list) and isinstance(row[3], bool) for row in rows)
    assert [row[2] for row in rows] == list(papers["authors"])


def test_pandas_reads_plain_csv_and_jsonl(seed_release: Path):
    """A consumer without our code: plain pandas readers give the same rows and values."""
    latest = seed_release / "latest"
    csv = pd.read_csv(latest / "papers.csv")
    jsonl = pd.read_json(latest / "papers.jsonl", lines=True)
    assert list(csv.columns) == list(jsonl.columns) == schemas.TABLES["papers"].columns
    assert list(csv["paper_id"]) == list(jsonl["paper_id"])
    assert list(csv["authors"]) == ["; ".join(authors) for authors in jsonl["authors"]]


def test_two_releases_record_exactly_the_changes_then_nothing(tmp_path: Path):
    raw, output = tmp_path / "raw", tmp_path / "output"
    drop_in_inbox(raw, SEED_TEXT, "zhi-hong-deng.txt")
    assert build(raw, output, SEED_DATE)["release_id"] == "2026-11-26"
    drop_in_inbox(raw, recaptured_seed(), "zhi-hong-deng.txt")
    second = build(raw, output, RECAPTURE_DATE)
    assert second["release_id"] == "2026-12-03"

    changes = formats.read("changes", output / "releases" / "2026-12-03" / "changes.parquet")
    new_id = ids.paper_id(NEW_TITLE, "Zhi-Hong Deng")
    removed_id = ids.paper_id(REMOVED_TITLE, "Xiaoran Xu")
    badge_id = ids.paper_id(BADGE_TITLE, "Haoqing Wang")

    def keys(table: str, change_type: str) -> set[str]:
        selected = changes[(changes["table"] == table) & (changes["change_type"] == change_type) & (changes["key"] != "(schema)")]
        return set(selected["key"])

    assert keys("papers", "added") == {new_id}
    assert keys("papers", "removed") == {removed_id}
    assert keys("papers", "modified") == {badge_id}
    badge_changes = changes[(changes["key"] == badge_id)].set_index("field")
    assert (badge_changes.at["has_code_badge", "old_value"], badge_changes.at["has_code_badge", "new_value"]) == ("false", "true")
    assert (badge_changes.at["code_status", "old_value"], badge_changes.at["code_status", "new_value"]) == ('"none"', '"badge_only"')
    assert keys("authorships", "added") == {f"zhi-hong-deng/{new_id}"}
    assert keys("authorships", "removed") == {f"zhi-hong-deng/{removed_id}"}
    assert keys("authorships", "modified") == set()  # every other listing moved lines: provenance only
    assert keys("profile_snapshots", "added") == {"zhi-hong-deng/2026-12-03"}
    profile_changes = changes[changes["table"] == "profiles"].set_index("field")
    assert (profile_changes.at["h_index", "old_value"], profile_changes.at["h_index", "new_value"]) == ("32", "33")
    assert (profile_changes.at["citations", "old_value"], profile_changes.at["citations", "new_value"]) == ("5576", "5700")
    added_record = json.loads(changes.loc[(changes["key"] == new_id), "new_value"].iloc[0])
    assert added_record["code_urls"] == ["https://github.com/example/new-paper"]

    changelog = (output / "CHANGELOG.md").read_text("utf-8")
    newest_section = changelog.split("## 2026-11-26")[0]
    assert "## 2026-12-03 — data as of 2026-12-03" in newest_section
    assert f'added `{new_id}`: "{NEW_TITLE}"' in newest_section
    assert f'removed `{removed_id}`: "{REMOVED_TITLE}"' in newest_section
    assert f"`{badge_id}` has_code_badge: false → true" in newest_section
    assert "`zhi-hong-deng` citations: 5576 → 5700" in newest_section

    releases_before = (output / "releases.json").read_bytes()
    third = build(raw, output, use_cache=False)
    assert third["release_id"] is None and "no change" in third["message"]
    assert (output / "releases.json").read_bytes() == releases_before
    assert sorted(path.name for path in (output / "releases").iterdir()) == ["2026-11-26", "2026-12-03"]


def test_applying_changes_brings_an_old_copy_up_to_date(tmp_path: Path):
    """Consumer path: old papers + the second release's changes == the second release's papers (content)."""
    raw, output = tmp_path / "raw", tmp_path / "output"
    drop_in_inbox(raw, SEED_TEXT, "zhi-hong-deng.txt")
    build(raw, output, SEED_DATE)
    drop_in_inbox(raw, recaptured_seed(), "zhi-hong-deng.txt")
    build(raw, output, RECAPTURE_DATE)
    old = pd.read_json(output / "releases" / "2026-11-26" / "papers.jsonl", lines=True).set_index("paper_id")
    new = pd.read_json(output / "releases" / "2026-12-03" / "papers.jsonl", lines=True).set_index("paper_id")
    changes = pd.read_json(output / "releases" / "2026-12-03" / "changes.jsonl", lines=True)
    records = old.to_dict("index")
    for change in changes[changes["table"] == "papers"].itertuples():
        if change.change_type == "added":
            record = json.loads(change.new_value)
            records[record.pop("paper_id")] = record
        elif change.change_type == "removed":
            del records[change.key]
        else:
            records[change.key][change.field] = json.loads(change.new_value)
    updated = pd.DataFrame.from_dict(records, orient="index").sort_index()
    content = [c for c in new.columns if c not in schemas.provenance_columns("papers")]
    pd.testing.assert_frame_equal(updated[content], new.sort_index()[content], check_names=False)


def test_two_builds_into_empty_folders_are_byte_identical(tmp_path: Path):
    hashes = []
    for attempt in ("first", "second"):
        raw = tmp_path / attempt / "raw"
        drop_in_inbox(raw, SEED_TEXT, "zhi-hong-deng.txt")
        build(raw, tmp_path / attempt / "output", SEED_DATE, use_cache=False)
        output = tmp_path / attempt / "output"
        hashes.append({path.relative_to(output).as_posix(): sha256_file(path) for path in sorted(output.rglob("*")) if path.is_file()})
    assert hashes[0] == hashes[1]
    assert len(hashes[0]) > 20


def test_committed_release_equals_a_fresh_build(tmp_path: Path):
    """`make run` on a fresh clone rebuilds output/ with no change to the committed files."""
    build(REPO_ROOT / "raw", tmp_path / "output", use_cache=False)
    committed = REPO_ROOT / "output"
    for path in sorted((tmp_path / "output").rglob("*")):
        if path.is_file():
            relative = path.relative_to(tmp_path / "output")
            assert sha256_file(committed / relative) == sha256_file(path), relative


@pytest.mark.parametrize("damage", ["flip-byte", "missing-file", "truncated-file", "rows-miscounted"])
def test_verify_catches_damage(seed_release: Path, tmp_path: Path, damage: str):
    copy = tmp_path / "download"
    shutil.copytree(seed_release / "latest", copy)
    assert verify_release(copy) == []
    target = copy / "papers.parquet"
    if damage == "flip-byte":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "missing-file":
        target.unlink()
    elif damage == "rows-miscounted":
        descriptor = json.loads((copy / "datapackage.json").read_text("utf-8"))
        resource = next(resource for resource in descriptor["resources"] if resource["path"] == target.name)
        resource["x-rows" if "x-rows" in resource else "rows"] += 1
        (copy / "datapackage.json").write_text(json.dumps(descriptor), "utf-8")
        sums = (copy / "SHA256SUMS").read_text("utf-8").splitlines()
        sums = [f"{sha256_file(copy / 'datapackage.json')}  datapackage.json" if line.endswith("  datapackage.json") else line for line in sums]
        (copy / "SHA256SUMS").write_text("\n".join(sums) + "\n", "utf-8")
    else:
        target.write_bytes(target.read_bytes()[:100])
    problems = verify_release(copy)
    assert problems and all(str(target) in problem for problem in problems)
    result = subprocess.run([sys.executable, "-m", "flows", "verify", str(copy)], capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert result.returncode == 1 and str(target) in result.stdout


def test_verify_cli_accepts_an_intact_release(seed_release: Path):
    result = subprocess.run([sys.executable, "-m", "flows", "verify", str(seed_release / "latest")], capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, f"{seed_release / 'latest'}: OK")
