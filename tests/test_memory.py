"""Freed memory goes back to the system between stages, so an idle pool worker does not keep its largest batch."""

from __future__ import annotations

import gc
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from flows import memory
from prefect_server import flow_env

MB = 1 << 20
CHUNK_BYTES = 64 * 1024  # below glibc's mmap threshold: served from the heap, like most of a batch's buffers
FREED_BYTES = 200 * MB


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_memory_freed_in_the_middle_of_the_heap_goes_back_to_the_system() -> None:
    chunks = [b"x" * CHUNK_BYTES for _ in range(FREED_BYTES // CHUNK_BYTES)]
    pin = b"y" * CHUNK_BYTES  # allocated last: in use above the freed chunks, so free() alone cannot shrink the heap
    del chunks
    held = _rss()

    memory.release_freed_memory()

    assert held - _rss() > FREED_BYTES * 3 // 4
    assert pin[:1] == b"y"


KEEPING = """
import os, sys
from flows import memory

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

if sys.argv[1] == "keep":
    memory.keep_freed_memory_for_reuse()
block = bytearray(24 * 2**20)  # over glibc's default mmap threshold
block[::4096] = b"x" * len(block[::4096])  # every page touched
held = rss()
del block
freed = rss()
memory.release_freed_memory()
print(held - freed, held - rss())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
@pytest.mark.parametrize("mode", ["keep", "default"])
def test_a_pool_worker_keeps_freed_memory_for_its_next_batch_until_it_releases_it(mode: str) -> None:
    """By default glibc unmaps a large block as it is freed, and the next batch faults its pages in again."""
    result = subprocess.run([sys.executable, "-c", KEEPING, mode], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    given_back_at_free, given_back_at_release = (int(value) for value in result.stdout.split())
    block = 24 * MB
    if mode == "keep":
        assert given_back_at_free < block // 4 and given_back_at_release > block * 3 // 4, result.stdout
    else:
        assert given_back_at_free > block * 3 // 4, result.stdout


EXITING = """
import atexit, sys
from flows import memory
if sys.argv[1] == "skip":
    memory.exit_without_collecting()
    memory.exit_without_collecting()  # registered once however often it is called

class Cycle:
    def __del__(self):
        print("collected at exit", flush=True)

cycle = Cycle()
cycle.self = cycle
del cycle  # garbage only the cycle collector finds: the last collections at exit do
atexit.register(print, "later atexit handler ran", flush=True)
"""


@pytest.mark.parametrize("mode", ["skip", "collect"])
def test_a_process_exits_without_the_last_collections_and_still_runs_its_atexit_handlers(mode: str) -> None:
    done = subprocess.run([sys.executable, "-c", EXITING, mode], cwd=REPO_ROOT, capture_output=True, text=True, check=True)

    assert "later atexit handler ran" in done.stdout
    assert ("collected at exit" in done.stdout) == (mode == "collect")
    assert done.stdout.count("later atexit handler ran") == 1


IN_A_POOL_WORKER = """
import gc, importlib, json, os, sys
from prefect import flow, task
from flows.__main__ import _task_runner, build_parser
from flows.pipeline import PANDERA_UNUSED_IMPORTS

@task
def look() -> dict:
    unused = sorted(m for m in PANDERA_UNUSED_IMPORTS if m in sys.modules)
    importable = [importlib.import_module(m).__name__ for m in PANDERA_UNUSED_IMPORTS]  # refused only while pandera loaded
    return {"pid": os.getpid(), "frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold(), "loaded": sorted(m for m in ("flows.tables", "pandera") if m in sys.modules),
            "unused": unused, "importable": importable}

@flow
def looking() -> dict:
    return look.submit().result()

print(json.dumps({"main": os.getpid(), **looking.with_options(task_runner=_task_runner(build_parser().parse_args(["run", "--workers", "1"])))()}))
"""


def test_pool_workers_load_the_build_modules_without_pandera_extras_set_them_aside_and_collect_garbage_less_often(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", IN_A_POOL_WORKER], cwd=REPO_ROOT, env=flow_env(tmp_path / "state"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["pid"] != seen["main"]  # the task ran in a pool worker
    assert seen["loaded"] == ["flows.tables", "pandera"]
    assert seen["frozen"] > 100_000  # pandas, pyarrow, pandera and Prefect's objects, not a handful
    assert tuple(seen["thresholds"]) == memory.POOL_WORKER_GC_THRESHOLDS != gc.get_threshold()  # not this process's
    assert seen["unused"] == []  # pandera loaded without importing them (~0.55 s of the worker's start)
    assert seen["importable"] == ["dask.dataframe", "hypothesis"]
