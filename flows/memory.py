"""Giving freed memory back to the operating system: between the stages of a build, and at exit."""

from __future__ import annotations

import atexit
import ctypes
import functools
import gc
from collections.abc import Callable


def release_freed_memory() -> None:
    """Return the free pages of the C heap to the operating system (glibc's malloc_trim); a no-op elsewhere.

    Arrow (on the system allocator, flows/settings.py), pandas and Python free their buffers into
    glibc's heap, which keeps them for reuse. Trimming costs the next allocations their page
    faults again: once between stages, not after every task (a pool worker trimming after each
    batch used ~15 % more CPU). Dask documents the same remedy for its workers' memory.
    """
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim(0)


# glibc's mallopt parameters (malloc.h) and the largest mmap threshold it takes on 64-bit systems.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
_TRIM_THRESHOLD = 1024 * 1024 * 1024


def keep_freed_memory_for_reuse() -> None:
    """Let glibc keep freed memory in its heap for the next allocations, until release_freed_memory; a no-op elsewhere.

    By default it gives a block over its mmap threshold back as soon as it is freed, and the top
    of its heap once more than twice that is free, so a pool worker's buffers, freed after each
    batch, were faulted in again for the next one. Page faults cost most on a virtual machine.
    """
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


@functools.lru_cache(maxsize=None)
def _libc_function(name: str) -> Callable[..., int] | None:
    try:
        return getattr(ctypes.CDLL(None), name)  # this process's C library: glibc has these, musl and macOS do not
    except (AttributeError, OSError):
        return None


def keep_loaded_from_collections() -> None:
    """Set every object alive now aside from the garbage collector (gc.freeze): call once the modules are loaded.

    Collections come as a batch's new dicts and lists pile up, and some walk every tracked object,
    those pandas, pyarrow, pandera and Prefect made at import among them: ~13 % of a pool worker's
    CPU while it staged batches, ~3 % once they were set aside (bench/results.md). Objects set
    aside are never collected, so only call this with what lives as long as the process.
    """
    gc.freeze()


# A pool worker's garbage collector thresholds, generations 0, 1 and 2 (Python's defaults: 700, 10, 10).
POOL_WORKER_GC_THRESHOLDS = (100_000, 20, 20)


def collect_less_often() -> None:
    """Run the garbage collector ~140 times less often: a pool worker's set-up.

    A batch's parse makes some 200,000 dicts and lists (a paper is a dict holding lists) that live
    until the batch is staged. With a young collection every 700 new ones, the collector walked
    them over and over: pairs of full builds at 10,000 profiles used ~3.5 CPU-s less (of ~60) with
    these thresholds (bench/results.md). Cycles are still collected, a few times a batch.
    """
    gc.set_threshold(*POOL_WORKER_GC_THRESHOLDS)


@functools.lru_cache(maxsize=1)  # registered once however often it is called
def exit_without_collecting() -> None:
    """Let this process exit without Python's last garbage collections (call early).

    At exit every object is set aside (keep_loaded_from_collections), so the collections that run
    while the interpreter shuts down pass over them. They walked every object pandas, pyarrow,
    pandera and Prefect made (~0.4-0.6 s a process, measured with `python -c "import
    flows.publish, flows.site"`), to free memory the operating system frees anyway. Files are
    closed and the atexit handlers registered later (Prefect's among them) run first, as atexit
    calls them last-in first-out.
    """
    atexit.register(keep_loaded_from_collections)
