"""The same refresh on the local runner and on a Dask LocalCluster gives byte-identical releases."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dask
import pytest

from flows.__main__ import EXIT_OK, main
from flows.checksums import sha256_file
from flows.synth import write_profiles

CAPTURED_DATE = dt.date(2026, 11, 26)
RELEASE_ID = "2026-11-26"
# Seven files in batches of two: four extract tasks, so both Dask workers get work.
PROFILES = 7
BATCH_SIZE = 2
DASK_WORKERS = 2
UNREACHABLE_SCHEDULER = "tcp://127.0.0.1:9"


def test_dask_runner_output_is_byte_identical_to_the_local_runner(tmp_path: Path) -> None:
    raw_dir = tmp_path / "raw"
    write_profiles(raw_dir / "inbox", PROFILES, seed=7, captured_date=CAPTURED_DATE)
    common = ["--raw-dir", str(raw_dir), "--captured-date", CAPTURED_DATE.isoformat(), "--batch-size", str(BATCH_SIZE), "--no-cache"]

    assert main(["run", *common, "--output-dir", str(tmp_path / "local"), "--runner", "local"]) == EXIT_OK
    assert main(["run", *common, "--output-dir", str(tmp_path / "dask"), "--runner", "dask", "--workers", str(DASK_WORKERS)]) == EXIT_OK

    local = _release_checksums(tmp_path / "local" / "releases" / RELEASE_ID)
    on_dask = _release_checksums(tmp_path / "dask" / "releases" / RELEASE_ID)
    assert "papers.parquet" in local and "SHA256SUMS" in local
    assert on_dask == local
    # Both runs really parsed every file in the same batches (no cache, no fast path).
    for output in ("local", "dask"):
        feed = json.loads((tmp_path / output / "releases.json").read_text("utf-8"))
        assert [release["release_id"] for release in feed["releases"]] == [RELEASE_ID]
        assert feed["releases"][0]["row_counts"]["profiles"] == PROFILES


def test_dask_runner_with_an_unreachable_scheduler_fails_without_publishing(tmp_path: Path) -> None:
    raw_dir = tmp_path / "raw"
    write_profiles(raw_dir / "inbox", 1, seed=7, captured_date=CAPTURED_DATE)
    # Port 9 (discard) on loopback: nothing listens. A short connect timeout keeps the test quick.
    arguments = ["run", "--raw-dir", str(raw_dir), "--output-dir", str(tmp_path / "out"), "--runner", "dask",
                 "--dask-address", UNREACHABLE_SCHEDULER, "--captured-date", CAPTURED_DATE.isoformat()]
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with pytest.raises(OSError, match="Timed out trying to connect to " + UNREACHABLE_SCHEDULER):
            main(arguments)
    assert not (tmp_path / "out" / "releases").exists()


def _release_checksums(release_dir: Path) -> dict[str, str]:
    return {path.relative_to(release_dir).as_posix(): sha256_file(path) for path in sorted(release_dir.rglob("*")) if path.is_file()}
