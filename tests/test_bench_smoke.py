"""The benchmark script runs end to end on a few profiles and writes its table (timings are not checked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

SMOKE_PROFILES = 20
MEASUREMENTS = ("prefect floor", "baseline", "full build", "no-op refresh", "incremental refresh")


def test_bench_run_writes_a_results_table(tmp_path: Path, state_dir: Path) -> None:
    results = tmp_path / "results.md"
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "run.py"), "--profiles", str(SMOKE_PROFILES),
         "--workdir", str(tmp_path / "work"), "--results", str(results),
         "--prefect-home", os.environ["PREFECT_HOME"]],
        capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    text = results.read_text("utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and f"| {SMOKE_PROFILES} |" in line]
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows] == list(MEASUREMENTS)
    assert all(row.endswith("| 0 |") for row in rows), rows
    assert "| no-op refresh / prefect floor |" in text


def test_bench_results_keep_the_text_around_the_markers(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    try:
        import run as bench_run
    finally:
        sys.path.remove(str(REPO_ROOT / "bench"))
    results = tmp_path / "results.md"
    results.write_text(f"# Notes before\n\n{bench_run.RESULTS_START}\nold table\n{bench_run.RESULTS_END}\n\nNotes after\n", "utf-8")
    bench_run.write_results(results, "new table\n")
    assert results.read_text("utf-8") == f"# Notes before\n\n{bench_run.RESULTS_START}\nnew table\n{bench_run.RESULTS_END}\n\nNotes after\n"
