"""Instructions a pool worker executes for each step of a build, counted by valgrind (callgrind): the same figure on every run.

This machine's speed drifts by a third from minute to minute, more than most single changes
to a step move its time. An instruction count does not drift: it changes when the code or its
input does. It is not time (memory stalls and page faults cost time and no instructions), so a
change is also checked in time, with paired builds or the benchmark.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(PROJECT_ROOT))

DEFAULT_PROFILES = 250
DEFAULT_SEED = 0
STEPS = {
    "parse": "read and parse every file (flows.incremental.extract_snapshots)",
    "stage batches": "enrich, validate and spill each extract batch (flows.tables.stage_batch)",
    "paper parts": "choose and render every paper part (flows.tables.stage_papers)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Count the instructions of each step of a build of N synthetic profiles.")
    parser.add_argument("--profiles", type=int, default=DEFAULT_PROFILES, help=f"profiles to generate (default: {DEFAULT_PROFILES})")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # the measured process, under valgrind: its raw folder
    args = parser.parse_args(argv)
    if args.child:
        return _measured(args.child)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        parser.error("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="paper-profiles-instructions-") as work:
        raw = Path(work) / "raw"
        _prepare_raw(raw, args.profiles)
        counts, papers = _count(raw, Path(work))
    print(f"{args.profiles:,} profiles, {papers:,} paper blocks, seed {DEFAULT_SEED}; valgrind callgrind, only each step counted:\n")
    print("| step | what | instructions | per paper block |\n|---|---|---:|---:|")
    for step, count in counts.items():
        print(f"| {step} | {STEPS[step]} | {count / 1e6:,.1f} M | {count / max(papers, 1):,.0f} |")
    print(f"| all | every step above | {sum(counts.values()) / 1e6:,.1f} M | {sum(counts.values()) / max(papers, 1):,.0f} |")
    return 0


def _prepare_raw(raw: Path, profiles: int) -> None:
    """Generate and archive the profiles (not counted)."""
    from flows import ingest, synth

    synth.write_profiles(raw / "inbox", profiles, seed=DEFAULT_SEED, captured_date=synth.DEFAULT_CAPTURED_DATE)
    ingest.ingest_inbox(raw, synth.DEFAULT_CAPTURED_DATE)


def _count(raw: Path, work: Path) -> tuple[dict[str, int], int]:
    """Run the steps under callgrind with counting off, turning it on around each step; each step's count, and the paper blocks parsed."""
    out = work / "callgrind.out"
    command = ["valgrind", "--quiet", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
               sys.executable, str(Path(__file__).resolve()), "--child", str(raw)]
    counts: dict[str, int] = {}
    # The measured process's errors, if any, reach this one's standard error.
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
        for step in STEPS:
            _expect(child, f"ready {step}")
            _control(child.pid, "--zero")
            _control(child.pid, "--instr=on")
            _tell(child)
            _expect(child, f"done {step}")
            _control(child.pid, "--instr=off")
            _control(child.pid, f"--dump={step}")
            counts[step] = _dumped_total(out, len(counts) + 1)
        papers = int(child.stdout.readline().removeprefix("paper blocks "))
        _tell(child)
    if child.returncode:
        raise SystemExit(f"the measured process failed (exit {child.returncode})")
    return counts, papers


def _measured(raw: Path) -> int:
    """The process valgrind runs: each step once, after the parent has turned counting on."""
    from flows import incremental, ingest, pipeline, tables

    pipeline.load_table_modules()
    snapshots = ingest.list_snapshots(raw)
    batches = tables.profile_batches(snapshots, pipeline.DEFAULT_BATCH_SIZE)
    current = tables.current_files(snapshots)
    build = Path(tempfile.mkdtemp(prefix="build-", dir=raw.parent))
    extractions = _step("parse", lambda: [incremental.extract_snapshots(batch) for batch in batches])
    staged = _step("stage batches", lambda: [
        tables.stage_batch(extracted, {snapshot.source_file for snapshot in batch} & current, tables.batch_dir(build, number))
        for number, (batch, extracted) in enumerate(zip(batches, extractions))
    ])
    directories = [batch.directory for batch in staged]
    blocks = tables.ArchivedBlocks(raw)
    _step("paper parts", lambda: [tables.stage_papers(buckets, directories, tables.papers_dir(build), blocks) for buckets in tables.paper_parts()])
    print(f"paper blocks {sum(extraction.paper_blocks_found for batch in extractions for extraction in batch)}", flush=True)
    sys.stdin.readline()  # the parent has read the last count
    return 0


def _step(name: str, work):
    print(f"ready {name}", flush=True)
    sys.stdin.readline()
    result = work()
    print(f"done {name}", flush=True)
    return result


def _expect(child: subprocess.Popen, line: str) -> None:
    got = child.stdout.readline().strip()
    if got != line:
        raise SystemExit(f"the measured process said {got!r}, expected {line!r}")


def _tell(child: subprocess.Popen) -> None:
    child.stdin.write("\n")
    child.stdin.flush()


def _control(pid: int, option: str) -> None:
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)


def _dumped_total(out: Path, number: int) -> int:
    """The instruction total of callgrind's dump `number` (files callgrind.out.1, .2, ... in dump order)."""
    dump = out.with_name(f"{out.name}.{number}")
    for line in dump.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"{dump}: no totals line")


if __name__ == "__main__":
    sys.exit(main())
