"""The floor the full build is compared with: read, parse and write one Parquet file of papers, nothing else."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flows.extract import extract_file

# The writer settings of flows/formats.py, repeated rather than imported: importing that module
# pulls in pandas and pandera, which this floor deliberately does without.
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 9, "use_dictionary": True, "write_statistics": True}
_NOT_WRITTEN = ("raw_text", "source_sha256")
# Row groups of this many papers, so memory stays flat however many profiles are read.
ROW_GROUP_ROWS = 100_000
PAPERS_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()), ("source_line", pa.int64()), ("captured_date", pa.date32()),
        ("site_score", pa.float64()), ("category", pa.string()), ("published_date", pa.date32()),
        ("is_year_inferred", pa.bool_()), ("has_code_badge", pa.bool_()), ("title", pa.string()),
        ("authors", pa.list_(pa.string())), ("is_author_list_truncated", pa.bool_()),
        ("affiliations", pa.list_(pa.string())), ("abstract", pa.string()),
    ]
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Parse every archived profile in one process and write papers.parquet.")
    parser.add_argument("raw_dir", type=Path, help="raw folder whose profiles/<id>/<date>.txt files are read")
    parser.add_argument("output", type=Path, help="Parquet file to write")
    args = parser.parse_args(argv)
    papers: list[dict] = []
    written = 0
    with pq.ParquetWriter(args.output, PAPERS_SCHEMA, **PARQUET_OPTIONS) as writer:
        for path in sorted((args.raw_dir / "profiles").glob("*/*.txt")):
            source_file = path.relative_to(args.raw_dir).as_posix()
            extraction = extract_file(path, source_file, dt.date.fromisoformat(path.stem))
            papers.extend({key: value for key, value in paper.items() if key not in _NOT_WRITTEN} for paper in extraction.papers)
            if len(papers) >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_pylist(papers, schema=PAPERS_SCHEMA))
                written += len(papers)
                papers = []
        writer.write_table(pa.Table.from_pylist(papers, schema=PAPERS_SCHEMA))
    print(f"{written + len(papers)} papers written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
