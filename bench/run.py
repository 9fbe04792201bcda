"""The benchmark: N synthetic profiles, each measurement a fresh process, one table of wall time and peak memory."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import psutil

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(PROJECT_ROOT))

from flows import ingest, synth  # noqa: E402  (after the path set-up, so the script runs from anywhere)

DEFAULT_PROFILES = 10_000
DEFAULT_SEED = 0
CAPTURED_DATE = synth.DEFAULT_CAPTURED_DATE
NEW_CAPTURE_DATE = CAPTURED_DATE + dt.timedelta(days=1)
SAMPLE_SECONDS = 0.05
RESULTS_START = "<!-- bench:start (written by bench/run.py; edit outside these markers) -->"
RESULTS_END = "<!-- bench:end -->"
VERSIONED_PACKAGES = ("prefect", "pandas", "pyarrow", "pandera", "numpy")

# Targets of issue 8, on the machine the benchmark runs on.
TARGET_FULL_OVER_BASELINE = 1.5
TARGET_NOOP_OVER_FLOOR = 1.2
TARGET_INCREMENTAL_OVER_FULL = 0.15
TARGET_FULL_RSS_MB = 2048
TARGET_RSS_GROWTH = 1.3


@dataclass
class Measurement:
    """One command run in a fresh process: wall time, peak memory, exit code."""

    name: str
    profiles: int
    wall_seconds: float
    peak_tree_rss_mb: float  # sampled sum over the process and its children (pool workers, Prefect's server)
    peak_process_rss_mb: float  # ru_maxrss: the largest single process of the tree
    cpu_seconds: float  # user + system time of the process and every child it waited for
    returncode: int
    task_runs: int | None = None
    killed_over_mb: int | None = None  # stopped by the memory guard at this tree RSS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the full build, no-op and incremental refreshes against a bare parse.")
    parser.add_argument("--profiles", type=int, default=DEFAULT_PROFILES, help=f"profiles to generate (default: {DEFAULT_PROFILES:,})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"generator seed (default: {DEFAULT_SEED})")
    parser.add_argument("--memory-factor", type=int, default=0,
                        help="also run the baseline and the full build at this many times N, for peak memory at scale (default: off)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="folder for generated data, state and outputs (default: a temporary folder, removed afterwards)")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.md",
                        help="Markdown file to write the table into, between its bench markers (default: bench/results.md)")
    parser.add_argument("--prefect-home", type=Path, default=None,
                        help="Prefect home shared by every measurement (default: <workdir>/prefect-home, migrated on first use)")
    parser.add_argument("--max-rss-mb", type=int, default=int(psutil.virtual_memory().total / 2**20 * 0.6),
                        help="stop a measurement whose process tree exceeds this RSS, so the machine never swaps or OOMs (default: 60%% of memory)")
    parser.add_argument("--flow-args", default="", help="extra arguments for `python -m flows run`, e.g. '--batch-size 250'")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of floor, baseline, full build and no-op refresh at N; the table shows each one's median (default: 1)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="paper-profiles-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    code_before = code_digest()
    try:
        measurements = run_benchmark(workdir, args.profiles, args.seed, args.memory_factor, args.flow_args.split(), args.max_rss_mb,
                                     args.prefect_home or workdir / "prefect-home", args.repeat)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report = render_results(measurements, args.profiles, args.memory_factor, args.flow_args, args.repeat)
    if code_digest() != code_before:
        # The no-op refresh and the cache are keyed by the code: an edit mid-run makes them rebuild.
        report += "\n**Warning:** flows/ or schemas/ changed while the benchmark ran; the refresh figures are not valid.\n"
    print(report)
    write_results(args.results, report)
    failed = [m.name for m in measurements if m.returncode != 0]
    if failed:
        print(f"error: these runs failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def run_benchmark(workdir: Path, profiles: int, seed: int, memory_factor: int, flow_args: list[str], max_rss_mb: int,
                  prefect_home: Path, repeat: int = 1) -> list[Measurement]:
    """Every measurement at N, `repeat` rounds of them (and the full build at memory_factor x N once), one fresh process at a time."""
    warm_prefect_home(prefect_home)
    measurements = measure_scale(workdir, profiles, seed, prefect_home, flow_args, max_rss_mb, refreshes=True, repeat=repeat)
    if memory_factor > 1:
        measurements += measure_scale(workdir, profiles * memory_factor, seed, prefect_home, flow_args, max_rss_mb, refreshes=False)
    return measurements


def warm_prefect_home(prefect_home: Path) -> None:
    """Run the floor once, unmeasured: a fresh Prefect home migrates its database (~20 s) on first start."""
    if (prefect_home / "prefect.db").exists():
        return
    env = _env(prefect_home.parent / "state-bench-warm-up", prefect_home)
    subprocess.run([sys.executable, str(BENCH_DIR / "prefect_floor.py")], env=env, check=True, capture_output=True)


def measure_scale(workdir: Path, profiles: int, seed: int, prefect_home: Path, flow_args: list[str], max_rss_mb: int, refreshes: bool,
                  repeat: int = 1) -> list[Measurement]:
    """Baseline and full build at one N; with `refreshes`, rounds of the Prefect floor, baseline, full build and no-op refresh, then the incremental refresh.

    Each round's full build starts from an empty output and state folder. The rounds interleave
    the measurements, so a machine whose speed drifts (a shared virtual machine) slows each alike.
    """
    raw_dir = prepare_raw(workdir / f"raw-{profiles}", profiles, seed)
    output_dir = workdir / f"output-{profiles}"
    state_dir = workdir / f"state-{profiles}"
    env = _env(state_dir, prefect_home)
    flow_run = [sys.executable, "-m", "flows", "run", "--raw-dir", str(raw_dir), "--output-dir", str(output_dir), *flow_args]
    results = []
    for _ in range(repeat):
        if refreshes:
            results.append(measure("prefect floor", profiles, [sys.executable, str(BENCH_DIR / "prefect_floor.py")],
                                   _env(workdir / "state-floor", prefect_home), max_rss_mb))
        shutil.rmtree(output_dir, ignore_errors=True)
        shutil.rmtree(state_dir, ignore_errors=True)
        results.append(measure("baseline", profiles, [sys.executable, str(BENCH_DIR / "baseline.py"), str(raw_dir), str(workdir / f"baseline-{profiles}.parquet")],
                               _env(workdir / f"state-baseline-{profiles}", prefect_home), max_rss_mb))
        results.append(measure("full build", profiles, flow_run, env, max_rss_mb, prefect_home))
        if refreshes:
            results.append(measure("no-op refresh", profiles, flow_run, env, max_rss_mb, prefect_home))
    if refreshes:
        add_new_capture(raw_dir, seed)
        results.append(measure("incremental refresh", profiles, [*flow_run, "--captured-date", NEW_CAPTURE_DATE.isoformat()], env, max_rss_mb, prefect_home))
    return results


def prepare_raw(raw_dir: Path, profiles: int, seed: int) -> Path:
    """Generate the profiles and archive them (unmeasured): the full build starts from an archived raw/."""
    shutil.rmtree(raw_dir, ignore_errors=True)
    inbox = raw_dir / "inbox"
    synth.write_profiles(inbox, profiles, seed=seed, captured_date=CAPTURED_DATE)
    result = ingest.ingest_inbox(raw_dir, CAPTURED_DATE)
    if result.rejects:
        raise RuntimeError(f"ingest refused generated files: {result.rejects[:3]}")
    return raw_dir


def add_new_capture(raw_dir: Path, seed: int) -> None:
    """One new capture of the first profile, a day later, dropped into the inbox."""
    synth.write_profiles(raw_dir / "inbox", 1, seed=seed, captured_date=NEW_CAPTURE_DATE)


def measure(name: str, profiles: int, command: list[str], env: dict[str, str], max_rss_mb: int, prefect_home: Path | None = None) -> Measurement:
    """Run `command` in a fresh process; sample the RSS of its process tree until it exits."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tracked = psutil.Process(process.pid)
    peak_tree = 0
    killed_over_mb = None
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        peak_tree = max(peak_tree, _tree_rss(tracked))
        if max_rss_mb and killed_over_mb is None and peak_tree > max_rss_mb * 2**20:
            killed_over_mb = max_rss_mb
            _kill_tree(tracked)
        time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - started
    output = process.stdout.read().decode("utf-8", "replace")
    returncode = os.waitstatus_to_exitcode(status)
    if returncode != 0:
        print(f"--- {name} (N={profiles}) exited {returncode}:\n{output[-4000:]}", file=sys.stderr)
    peak_process = usage.ru_maxrss / 1024
    task_runs = count_task_runs(prefect_home) if prefect_home is not None else None
    cpu = usage.ru_utime + usage.ru_stime
    result = Measurement(name, profiles, wall, max(peak_tree, usage.ru_maxrss * 1024) / 2**20, peak_process, cpu, returncode, task_runs, killed_over_mb)
    print(f"{name:<20} N={profiles:<7,} {wall:8.1f} s  {cpu:8.1f} CPU s  {result.peak_tree_rss_mb:8.0f} MB  (exit {returncode})", file=sys.stderr, flush=True)
    return result


def code_digest() -> str:
    """sha256 over the pipeline's source files, to notice an edit made while the benchmark runs."""
    digest = hashlib.sha256()
    for path in sorted([*PROJECT_ROOT.glob("flows/*.py"), *PROJECT_ROOT.glob("schemas/*.py")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def count_task_runs(prefect_home: Path) -> int | None:
    """Task runs of the newest flow run in Prefect's database (None if the schema is not what we expect)."""
    try:
        with sqlite3.connect(f"file:{prefect_home / 'prefect.db'}?mode=ro", uri=True) as connection:
            row = connection.execute(
                "SELECT COUNT(*) FROM task_run WHERE flow_run_id = (SELECT id FROM flow_run ORDER BY created DESC LIMIT 1)"
            ).fetchone()
    except sqlite3.Error:
        return None
    return int(row[0])


@dataclass
class Summary:
    """The runs of one measurement at one N: median wall and CPU time, the largest memory, every run's wall time."""

    name: str
    profiles: int
    wall_seconds: float
    cpu_seconds: float
    peak_tree_rss_mb: float
    peak_process_rss_mb: float
    walls: list[float]
    task_runs: int | None
    exit_text: str


def summarize(measurements: list[Measurement]) -> list[Summary]:
    """One Summary per measurement and N, in the order they were first run."""
    groups: dict[tuple[str, int], list[Measurement]] = {}
    for m in measurements:
        groups.setdefault((m.name, m.profiles), []).append(m)
    summaries = []
    for (name, profiles), runs in groups.items():
        failed = [m for m in runs if m.killed_over_mb or m.returncode != 0]
        worst = failed[0] if failed else runs[-1]
        summaries.append(Summary(
            name, profiles,
            wall_seconds=statistics.median(m.wall_seconds for m in runs),
            cpu_seconds=statistics.median(m.cpu_seconds for m in runs),
            peak_tree_rss_mb=max(m.peak_tree_rss_mb for m in runs),
            peak_process_rss_mb=max(m.peak_process_rss_mb for m in runs),
            walls=[m.wall_seconds for m in runs],
            task_runs=runs[-1].task_runs,
            exit_text=f"killed over {worst.killed_over_mb:,} MB" if worst.killed_over_mb else str(worst.returncode),
        ))
    return summaries


def render_results(measurements: list[Measurement], profiles: int, memory_factor: int, flow_args: str, repeat: int = 1) -> str:
    """The results as Markdown: machine, versions, table (medians of the rounds), ratios and targets."""
    summaries = summarize(measurements)
    by_name = {(m.name, m.profiles): m for m in summaries}
    floor = by_name[("prefect floor", profiles)]
    baseline = by_name[("baseline", profiles)]
    full = by_name[("full build", profiles)]
    noop = by_name.get(("no-op refresh", profiles))
    incremental = by_name.get(("incremental refresh", profiles))
    scaled = by_name.get(("full build", profiles * memory_factor)) if memory_factor > 1 else None
    command = f"python bench/run.py --profiles {profiles}" + (f" --memory-factor {memory_factor}" if memory_factor > 1 else "")
    command += f" --repeat {repeat}" if repeat > 1 else ""
    command += f" --flow-args '{flow_args}'" if flow_args else ""
    lines = [
        f"Command: `{command}` ({dt.date.today().isoformat()}).",
        "",
        f"Machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB memory, {platform.platform()}; "
        f"Python {platform.python_version()}, " + ", ".join(f"{name} {metadata.version(name)}" for name in VERSIONED_PACKAGES) + ".",
        "",
    ]
    if repeat > 1:
        lines += [f"{repeat} rounds of the Prefect floor, baseline, full build and no-op refresh at N = {profiles:,}, then the "
                  "incremental refresh once: wall and CPU time are the median of a measurement's runs, memory the largest.", ""]
    lines += [
        "| measurement | profiles | wall s | wall s, each run | CPU s | peak RSS, process tree MB | largest process MB | Prefect task runs | exit |",
        "|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for m in summaries:
        task_runs = "" if m.task_runs is None else str(m.task_runs)
        walls = ", ".join(f"{wall:.1f}" for wall in m.walls)
        lines.append(f"| {m.name} | {m.profiles:,} | {m.wall_seconds:.1f} | {walls} | {m.cpu_seconds:.1f} | {m.peak_tree_rss_mb:,.0f} | {m.peak_process_rss_mb:,.0f} | {task_runs} | {m.exit_text} |")
    ratios = [
        ("full build / baseline", full.wall_seconds / baseline.wall_seconds, None),
        ("(full build − prefect floor) / baseline", (full.wall_seconds - floor.wall_seconds) / baseline.wall_seconds, f"≤ {TARGET_FULL_OVER_BASELINE}"),
    ]
    if noop is not None:
        ratios.append(("no-op refresh / prefect floor", noop.wall_seconds / floor.wall_seconds, f"≤ {TARGET_NOOP_OVER_FLOOR}"))
    if incremental is not None:
        ratios.append(("incremental refresh / full build", incremental.wall_seconds / full.wall_seconds, f"≤ {TARGET_INCREMENTAL_OVER_FULL}"))
    ratios.append((f"full build peak RSS at N = {profiles:,} (MB)", full.peak_tree_rss_mb, f"≤ {TARGET_FULL_RSS_MB}"))
    if scaled is not None:
        ratios.append((f"full build peak RSS at {memory_factor}N / at N", scaled.peak_tree_rss_mb / full.peak_tree_rss_mb, f"≤ {TARGET_RSS_GROWTH}"))
    lines += ["", "| ratio | value | target | met |", "|---|---:|---|---|"]
    for label, value, target in ratios:
        met = "" if target is None else ("yes" if value <= float(target.split()[-1]) else "no")
        lines.append(f"| {label} | {value:,.2f} | {target or ''} | {met} |")
    return "\n".join(lines) + "\n"


def write_results(path: Path, report: str) -> None:
    """Put the report between the bench markers of `path`, keeping whatever is written around them."""
    block = f"{RESULTS_START}\n{report}{RESULTS_END}"
    text = path.read_text("utf-8") if path.exists() else f"# Benchmark results\n\n{RESULTS_START}\n{RESULTS_END}\n"
    if RESULTS_START in text and RESULTS_END in text:
        before, rest = text.split(RESULTS_START, 1)
        after = rest.split(RESULTS_END, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    try:
        family = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in family:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def _kill_tree(process: psutil.Process) -> None:
    try:
        family = [*process.children(recursive=True), process]
    except psutil.NoSuchProcess:
        return
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            continue


def _env(state_dir: Path, prefect_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PAPER_PROFILES_STATE_DIR"] = str(state_dir)
    env["PREFECT_HOME"] = str(prefect_home)
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return env


if __name__ == "__main__":
    sys.exit(main())
