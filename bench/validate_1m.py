"""Time validation of a synthetic `papers` frame (1,000,000 rows by default): every pandera check, lazily.

    .venv/bin/python bench/validate_1m.py                     # 1,000,000 rows, 0.1 % of them bad
    .venv/bin/python bench/validate_1m.py --rows 100000 --bad-share 0

The frame is built directly (not parsed from raw text), so only `flows.validate.validate_table`
is timed: the pandera model with all its column and dataframe checks, and the split of failing
rows into rejects. Not a test: nothing is asserted beyond the count of failing rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import schemas  # noqa: E402  (after the path set-up, so the script runs from anywhere)
from flows import validate  # noqa: E402

DEFAULT_ROWS = 1_000_000
DEFAULT_BAD_SHARE = 0.001
CAPTURED = dt.date(2026, 11, 26)
CATEGORIES = [("LG", "cs.LG", "Machine Learning"), ("CV", "cs.CV", "Computer Vision and Pattern Recognition"),
              ("CL", "cs.CL", "Computation and Language"), ("ML", "stat.ML", "Machine Learning"), ("ZZ", "ZZ", None)]
AUTHOR_LISTS = [["Zhi-Hong Deng"], ["Shibo Jie", "Zhi-Hong Deng"], ["Haiteng Zhao", "Chang Ma", "Fangzhi Xu"]]
CODE_URL = "https://github.com/JieShibo/PETL-ViT"


def synthetic_papers(rows: int, bad_share: float, seed: int) -> tuple[pd.DataFrame, int]:
    """A valid `papers` frame of `rows` rows with about `bad_share` of them breaking one row check each."""
    rng = np.random.default_rng(seed)
    days = rng.integers(0, (CAPTURED - dt.date(2015, 1, 1)).days + 1, rows)
    published = pd.to_datetime("2015-01-01") + pd.to_timedelta(days, unit="D")
    category = rng.integers(0, len(CATEGORIES), rows)
    authors = rng.integers(0, len(AUTHOR_LISTS), rows)
    has_url = rng.random(rows) < 0.2
    has_badge = has_url | (rng.random(rows) < 0.05)
    author_lists = [AUTHOR_LISTS[index] for index in authors]
    frame = pd.DataFrame(
        {
            "paper_id": [f"{number:016x}" for number in range(rows)],
            "title": [f"Paper number {number}" for number in range(rows)],
            "abstract": "An abstract of a paper.",
            "category": [CATEGORIES[index][0] for index in category],
            "arxiv_category": [CATEGORIES[index][1] for index in category],
            "category_name": [CATEGORIES[index][2] for index in category],
            "published_date": published.date,
            "year": published.year.astype("int64"),
            "is_year_inferred": published.year == CAPTURED.year,
            "authors": author_lists,
            "is_author_list_truncated": authors == 2,
            "n_authors_shown": [len(names) for names in author_lists],
            "first_author": [names[0] for names in author_lists],
            "affiliations": [["pku"]] * rows,
            "has_code_badge": has_badge,
            "code_urls": [[CODE_URL] if url else [] for url in has_url],
            "code_status": np.where(has_url, "linked", np.where(has_badge, "badge_only", "none")),
            "n_profiles": 1,
            "captured_date": CAPTURED,
            "source_file": "profiles/zhi-hong-deng/2026-11-26.txt",
            "source_line": np.arange(rows) * 7 + 12,
        }
    )
    bad = rng.random(rows) < bad_share
    frame.loc[bad, "year"] = 1899  # fails year >= 1900 and year_matches_published_date
    return schemas.conform("papers", frame), int(bad.sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"rows of the papers frame (default: {DEFAULT_ROWS:,})")
    parser.add_argument("--bad-share", type=float, default=DEFAULT_BAD_SHARE,
                        help=f"share of rows that fail a row check (default: {DEFAULT_BAD_SHARE})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    frame, bad_rows = synthetic_papers(args.rows, args.bad_share, args.seed)
    built = time.perf_counter() - started

    # The first validation imports pandera's backends (~1.5 s): pay that outside the timing.
    validate.validate_table("papers", frame.head(100))
    started = time.perf_counter()
    result = validate.validate_table("papers", frame)
    elapsed = time.perf_counter() - started

    if len(result.row_failures) != bad_rows or result.table_failures:
        print(f"unexpected: {len(result.row_failures):,} failing rows (expected {bad_rows:,}), "
              f"table failures: {result.table_failures[:3]}", file=sys.stderr)
        return 1
    print(f"built {len(frame):,} rows in {built:.1f} s")
    print(f"validated {len(frame):,} papers rows ({bad_rows:,} failing) in {elapsed:.1f} s: {len(frame) / elapsed:,.0f} rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
