"""What memory costs on this machine: writing a file into memory freed a moment ago, and into memory left idle.

On the benchmark machine (a virtual machine that hands memory freed for ~2 s back to its host),
the first touch of memory is what costs, not the copy: this prints the time to write the same
bytes into a new file right after deleting a file of that size, and after the memory has been
idle for a while. It explains why `TableWriter.append(consume=True)` removes each part once
copied (bench/results.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

_BLOCK = 1 << 20


def write_file(path: Path, megabytes: int) -> tuple[float, float]:
    """Write `megabytes` MB to a new file, 1 MB a write; returns wall and CPU seconds."""
    block = os.urandom(_BLOCK)
    wall, cpu = time.perf_counter(), time.process_time()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for _ in range(megabytes):
            os.write(descriptor, block)
    finally:
        os.close(descriptor)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=1400, help="size of each file written (default: 1400, the papers' CSV and JSON Lines at 10,000 profiles)")
    parser.add_argument("--idle", type=float, nargs="+", default=[0.5, 2.0, 4.0, 10.0], help="seconds to wait after a delete before writing again")
    parser.add_argument("--directory", type=Path, default=None, help="where to write (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.directory) as folder:
        path = Path(folder) / "block"
        rows = [("first write", *write_file(path, args.megabytes))]
        for idle in [0.0, *args.idle]:
            path.unlink()
            time.sleep(idle)
            label = "right after a delete" if idle == 0 else f"after {idle:g} s idle"
            rows.append((label, *write_file(path, args.megabytes)))
    print(f"| {args.megabytes:,} MB written | wall s | CPU s |")
    print("|---|---:|---:|")
    for label, wall, cpu in rows:
        print(f"| {label} | {wall:.2f} | {cpu:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
