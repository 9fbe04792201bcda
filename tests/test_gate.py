"""The publish gate: a release that shrinks a table too much or drops a profile is refused unless allowed."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from flows import publish
from flows.__main__ import EXIT_GATE_REFUSED, EXIT_OK, main
from flows.extract import parse_profile
from flows.publish import PublishGateError, publish_release
from flows.tables import BuiltTables, build_tables

CAPTURED = dt.date(2026, 11, 26)
RECAPTURED = dt.date(2026, 12, 3)
DENG = "Zhi-Hong Deng"
JIE = "Shibo Jie"
DEFAULT_MAX_SHRINK = 0.10
PAPERS_BEFORE = 10
PAPERS_AT_THE_LIMIT = 9  # loses 10%: allowed (the gate refuses more than max_shrink)
PAPERS_OVER_THE_LIMIT = 8  # loses 20%: refused


def paper_block(number: int) -> str:
    return f"LGJan {number}, 2020\nPaper Number {number}\n\nZhi-Hong Deng, Ling Huang\n\nAbstract {number}."


def profile_text(name: str, n_papers: int) -> str:
    blocks = "\n\n".join(paper_block(number) for number in range(1, n_papers + 1))
    return f"{name}\n\nLG\nh-index32\n\n{n_papers} Papers\n\n{blocks}\n"


def built(n_papers: int, captured: dt.date, with_jie: bool = False) -> BuiltTables:
    slug = "zhi-hong-deng"
    extractions = [parse_profile(profile_text(DENG, n_papers), f"profiles/{slug}/{captured}.txt", captured)]
    if with_jie:
        jie = f"{JIE}\n\nCV\n\n1 Papers\n\nCVDec 6, 2022\nFacT\n\nShibo Jie, Zhi-Hong Deng\n\nAdapters.\n"
        extractions.append(parse_profile(jie, f"profiles/shibo-jie/{captured}.txt", captured))
    return build_tables(extractions)


def publish_built(tables: BuiltTables, output_dir: Path, **options) -> publish.PublishResult:
    return publish_release(tables, output_dir, **options)


def release_ids(output_dir: Path) -> list[str]:
    return [release["release_id"] for release in publish.read_releases(output_dir)]


def test_shrink_over_the_limit_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    publish_built(built(PAPERS_BEFORE, CAPTURED), tmp_path)
    latest_sums = (tmp_path / "latest" / "SHA256SUMS").read_bytes()
    with pytest.raises(PublishGateError) as refused:
        publish_built(built(PAPERS_OVER_THE_LIMIT, RECAPTURED), tmp_path)
    message = str(refused.value)
    assert "rerun with --allow-shrink" in message
    assert "papers would shrink from 10 to 8 rows (20% > 10%)" in message
    assert "authorships would shrink from 10 to 8 rows (20% > 10%)" in message
    assert release_ids(tmp_path) == [CAPTURED.isoformat()]
    assert (tmp_path / "latest" / "SHA256SUMS").read_bytes() == latest_sums
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(publish.STAGING_PREFIX)) == []


def test_allow_shrink_publishes(tmp_path: Path) -> None:
    publish_built(built(PAPERS_BEFORE, CAPTURED), tmp_path)
    result = publish_built(built(PAPERS_OVER_THE_LIMIT, RECAPTURED), tmp_path, allow_shrink=True)
    assert result.release_id == RECAPTURED.isoformat()
    assert result.row_counts["papers"] == PAPERS_OVER_THE_LIMIT
    assert release_ids(tmp_path) == [RECAPTURED.isoformat(), CAPTURED.isoformat()]


def test_shrink_at_the_limit_is_allowed(tmp_path: Path) -> None:
    publish_built(built(PAPERS_BEFORE, CAPTURED), tmp_path)
    result = publish_built(built(PAPERS_AT_THE_LIMIT, RECAPTURED), tmp_path, max_shrink=DEFAULT_MAX_SHRINK)
    assert result.release_id == RECAPTURED.isoformat()


def test_max_shrink_is_configurable(tmp_path: Path) -> None:
    publish_built(built(PAPERS_BEFORE, CAPTURED), tmp_path)
    with pytest.raises(PublishGateError, match="papers would shrink from 10 to 9 rows \\(10% > 5%\\)"):
        publish_built(built(PAPERS_AT_THE_LIMIT, RECAPTURED), tmp_path, max_shrink=0.05)


def test_disappearing_profile_is_refused(tmp_path: Path) -> None:
    publish_built(built(PAPERS_BEFORE, CAPTURED, with_jie=True), tmp_path)
    # Even with a gate that tolerates any shrink, a whole profile vanishing is refused.
    with pytest.raises(PublishGateError, match="profiles would disappear: shibo-jie"):
        publish_built(built(PAPERS_BEFORE, RECAPTURED), tmp_path, max_shrink=0.99)
    result = publish_built(built(PAPERS_BEFORE, RECAPTURED), tmp_path, allow_shrink=True)
    assert result.release_id == RECAPTURED.isoformat()


def test_growth_is_never_gated(tmp_path: Path) -> None:
    publish_built(built(PAPERS_AT_THE_LIMIT, CAPTURED), tmp_path)
    assert publish_built(built(PAPERS_BEFORE, RECAPTURED, with_jie=True), tmp_path).release_id == RECAPTURED.isoformat()


def test_cli_exit_code_3_when_refused_and_0_with_allow_shrink(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw_dir, output_dir = tmp_path / "raw", tmp_path / "output"
    (raw_dir / "inbox").mkdir(parents=True)
    (raw_dir / "inbox" / "deng.txt").write_text(profile_text(DENG, PAPERS_BEFORE), encoding="utf-8")
    (raw_dir / "inbox" / "jie.txt").write_text(f"{JIE}\n\n1 Papers\n\n{paper_block(1)}\n", encoding="utf-8")
    run = ["run", "--raw-dir", str(raw_dir), "--output-dir", str(output_dir), "--captured-date", CAPTURED.isoformat(), "--workers", "1"]
    assert main(run) == EXIT_OK
    # The profile's archive folder is lost: its profile would vanish from the next release.
    shutil.rmtree(raw_dir / "profiles" / "shibo-jie")
    capsys.readouterr()
    assert main(run) == EXIT_GATE_REFUSED
    error = capsys.readouterr().err
    assert "publish refused" in error and "profiles would disappear: shibo-jie" in error
    feed = json.loads((output_dir / "releases.json").read_text("utf-8"))
    assert len(feed["releases"]) == 1
    assert main([*run, "--allow-shrink"]) == EXIT_OK
    assert len(publish.read_releases(output_dir)) == 2
