"""Giving freed memory back to the operating system between the stages of a build."""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


def release_freed_memory() -> None:
    """Return the free pages of the C heap to the operating system (glibc's malloc_trim); a no-op elsewhere.

    Arrow (on the system allocator, flows/settings.py), pandas and Python free their buffers into
    glibc's heap, which keeps them for reuse. Trimming costs the next allocations their page
    faults again: once between stages, not after every task (a pool worker trimming after each
    batch used ~15 % more CPU). Dask documents the same remedy for its workers' memory.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # this process's C library: glibc has it, musl and macOS do not
    except (AttributeError, OSError):
        return None
