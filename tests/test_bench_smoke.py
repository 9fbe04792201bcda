"""The benchmark script runs end to end on a few profiles and writes its table (timings are not checked)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

SMOKE_PROFILES = 20
SMOKE_ROUNDS = 2
MEASUREMENTS = ("prefect floor", "baseline", "full build", "no-op refresh", "incremental refresh")
INSTRUCTION_STEPS = ("parse", "stage batches", "paper parts")
INSTRUCTIONS_PROFILES = 5


def test_bench_run_writes_a_results_table(tmp_path: Path, state_dir: Path) -> None:
    results = tmp_path / "results.md"
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "run.py"), "--profiles", str(SMOKE_PROFILES),
         "--workdir", str(tmp_path / "work"), "--results", str(results),
         "--prefect-home", os.environ["PREFECT_HOME"], "--repeat", str(SMOKE_ROUNDS)],
        capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    text = results.read_text("utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and f"| {SMOKE_PROFILES} |" in line]
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows] == list(MEASUREMENTS)
    assert all(row.endswith("| 0 |") for row in rows), rows
    # Every measurement but the incremental refresh ran once per round: its column lists each run.
    runs = {row.split(" | ")[0].removeprefix("| "): row.split(" | ")[3].split(", ") for row in rows}
    assert {name: len(walls) for name, walls in runs.items()} == {**dict.fromkeys(MEASUREMENTS, SMOKE_ROUNDS), "incremental refresh": 1}
    assert "| no-op refresh / prefect floor |" in text


def _bench_run():
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    try:
        import run as bench_run
    finally:
        sys.path.remove(str(REPO_ROOT / "bench"))
    return bench_run


def test_bench_table_shows_the_median_of_the_rounds_and_its_ratios() -> None:
    bench_run = _bench_run()

    def run(name: str, wall: float, rss: float = 100.0) -> object:
        return bench_run.Measurement(name, 10, wall, rss, rss, wall, 0)

    measurements = [
        run("prefect floor", 4.0), run("baseline", 10.0), run("full build", 30.0, 900.0), run("no-op refresh", 5.0),
        run("prefect floor", 8.0), run("baseline", 12.0), run("full build", 20.0, 1200.0), run("no-op refresh", 4.0),
        run("prefect floor", 5.0), run("baseline", 11.0), run("full build", 25.0, 1000.0), run("no-op refresh", 9.0),
        run("incremental refresh", 6.0),
    ]
    text = bench_run.render_results(measurements, 10, 0, "", repeat=3)
    assert "| full build | 10 | 25.0 | 30.0, 20.0, 25.0 | 25.0 | 1,200 | 1,200 |" in text
    # Ratios of the medians: (25 - 5) / 11, 5 / 5, 6 / 25; memory is the largest run's.
    assert "| (full build − prefect floor) / baseline | 1.82 | ≤ 1.5 | no |" in text
    assert "| no-op refresh / prefect floor | 1.00 | ≤ 1.2 | yes |" in text
    assert "| incremental refresh / full build | 0.24 | ≤ 0.15 | no |" in text
    assert "| full build peak RSS at N = 10 (MB) | 1,200.00 | ≤ 2048 | yes |" in text


def test_bench_results_keep_the_text_around_the_markers(tmp_path: Path) -> None:
    bench_run = _bench_run()
    results = tmp_path / "results.md"
    results.write_text(f"# Notes before\n\n{bench_run.RESULTS_START}\nold table\n{bench_run.RESULTS_END}\n\nNotes after\n", "utf-8")
    bench_run.write_results(results, "new table\n")
    assert results.read_text("utf-8") == f"# Notes before\n\n{bench_run.RESULTS_START}\nnew table\n{bench_run.RESULTS_END}\n\nNotes after\n"


def test_instruction_counts_of_each_step(tmp_path: Path) -> None:
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        message = "needs Debian package valgrind (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "instructions.py"), "--profiles", str(INSTRUCTIONS_PROFILES)],
        capture_output=True, text=True, timeout=900, env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = [line.split(" | ") for line in completed.stdout.splitlines() if line.startswith("| ") and " M | " in line]
    counts = {row[0].removeprefix("| "): float(row[2].removesuffix(" M").replace(",", "")) for row in rows}
    assert list(counts) == [*INSTRUCTION_STEPS, "all"], completed.stdout
    # Each step was counted on its own: none is zero, and they add up to the whole.
    assert all(counts[step] > 0 for step in INSTRUCTION_STEPS), counts
    assert abs(sum(counts[step] for step in INSTRUCTION_STEPS) - counts["all"]) < 0.5, counts
