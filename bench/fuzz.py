"""The long fuzz run: N mutated profiles through the parser (and every Kth through the table build), with figures.

    .venv/bin/python bench/fuzz.py --cases 200000          # the figures in README (Reliability)
    .venv/bin/python bench/fuzz.py --cases 2000 --seed 7    # a quick look

Case i is `random.Random(f"{seed}:{i}")` applied to the seed corpus of tests/fuzzing.py, so a
failure is replayed with `--only i`. The mutations and invariants are the ones tests/test_fuzz.py
runs under hypothesis in CI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
sys.path[:0] = [str(PROJECT_ROOT), str(PROJECT_ROOT / "tests")]

import fuzzing  # noqa: E402  (after the path set-up, so the script runs from anywhere)
from flows.extract import RECORD_PAPER, extract_bytes  # noqa: E402
from flows.tables import build_tables  # noqa: E402

DEFAULT_CASES = 200_000
DEFAULT_BUILD_EVERY = 200
SOURCE_FILE = "profiles/fuzz-profile/2026-11-26.txt"
FAILURES_DIR = BENCH_DIR / "fuzz-failures"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help=f"mutated profiles to parse (default: {DEFAULT_CASES:,})")
    parser.add_argument("--seed", default="0", help="seed of the run (default: 0)")
    parser.add_argument("--build-every", type=int, default=DEFAULT_BUILD_EVERY,
                        help=f"also build tables from every Kth case and two more (default: {DEFAULT_BUILD_EVERY})")
    parser.add_argument("--only", type=int, default=None, help="replay one case and show its traceback")
    args = parser.parse_args(argv)

    corpus = fuzzing.seed_corpus()
    cases = [args.only] if args.only is not None else range(args.cases)
    totals: Counter[str] = Counter()
    mutations: Counter[str] = Counter()
    failures: list[int] = []
    started = time.perf_counter()
    for case in cases:
        rng = random.Random(f"{args.seed}:{case}")
        try:
            data, applied = fuzzing.mutate(rng.choice(corpus), rng, corpus)
            mutations.update(applied)
            with fuzzing.no_hang():
                extraction = extract_bytes(data, SOURCE_FILE, fuzzing.CAPTURED_DATE)
            fuzzing.check_extraction(extraction, data, SOURCE_FILE)
            totals["parsed"] += 1
            totals["paper blocks"] += extraction.paper_blocks_found
            totals["papers published"] += len(extraction.papers)
            totals["paper blocks rejected"] += sum(reject["record_type"] == RECORD_PAPER for reject in extraction.rejects)
            totals["rejects"] += len(extraction.rejects)
            totals["files without a readable profile"] += extraction.profile is None
            if args.build_every and case % args.build_every == 0:
                _build_case(rng, corpus, data)
                totals["table builds"] += 1
        except Exception:  # noqa: BLE001  (a fuzz run reports every failing case, then fails)
            failures.append(case)
            _save_failure(args.seed, case, traceback.format_exc())
            if args.only is not None:
                traceback.print_exc()
    seconds = time.perf_counter() - started
    print(f"seed {args.seed}: {len(cases):,} cases in {seconds:,.0f} s ({len(cases) / seconds:,.0f} a second), "
          f"{len(failures)} failed")
    for name, count in totals.items():
        print(f"  {name}: {count:,}")
    print("  mutations applied: " + ", ".join(f"{name} {count:,}" for name, count in sorted(mutations.items())))
    if failures:
        print(f"failing cases (replay with --seed {args.seed} --only N; tracebacks in {FAILURES_DIR}): {failures[:20]}")
    return 1 if failures else 0


def _build_case(rng: random.Random, corpus: tuple[bytes, ...], first: bytes) -> None:
    """The case's bytes plus two more mutated captures, archived as ingest would, through build_tables."""
    extractions = []
    for data in (first, *(fuzzing.mutate(rng.choice(corpus), rng, corpus)[0] for _ in range(2))):
        captured_date = fuzzing.CAPTURED_DATE - dt.timedelta(days=rng.choice((0, 30)))
        source_file = fuzzing.archived_source_file(data, captured_date)
        if source_file is None or any(extraction.source_file == source_file for extraction in extractions):
            continue
        extractions.append(extract_bytes(data, source_file, captured_date))
    fuzzing.check_built(build_tables(extractions), extractions)


def _save_failure(seed: str, case: int, text: str) -> None:
    FAILURES_DIR.mkdir(exist_ok=True)
    (FAILURES_DIR / f"seed-{seed}-case-{case}.txt").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
