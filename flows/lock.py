"""One run at a time per project: an exclusive lock on raw/ and output/ that dies with its holder."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flows import settings

_POLL_SECONDS = 0.2
_PROC_LOCKS = Path("/proc/locks")


class RunLockedError(RuntimeError):
    """Another run held the project's lock for longer than this run was willing to wait."""


@contextmanager
def run_lock(
    *directories: Path,
    timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive lock on each directory (in path order, so two runs never deadlock).

    The lock is `fcntl.flock` on the directory itself: no lock file is written (output/ is
    published as it is, byte for byte), and the kernel releases the lock when its holder exits
    or is killed, so a crashed run never leaves a stale lock behind. A run that finds a
    directory locked waits up to `timeout` seconds (default `PAPER_PROFILES_LOCK_TIMEOUT_SECONDS`),
    calling `on_wait` once, then raises RunLockedError naming the holder.
    """
    timeout = settings.LOCK_TIMEOUT_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + timeout
    descriptors: list[int] = []
    try:
        for directory in sorted({Path(directory).resolve() for directory in directories}):
            descriptors.append(_acquire(directory, deadline, timeout, on_wait))
        yield
    finally:
        for descriptor in reversed(descriptors):
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)


def lock_holder(directory: Path) -> str:
    """Who holds the lock on `directory`, as `pid N (command line)`, read from /proc/locks (Linux)."""
    status = os.stat(directory)
    device = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    try:
        locks = _PROC_LOCKS.read_text("ascii", errors="replace").splitlines()
    except OSError:
        return "another process"
    for line in locks:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
            return f"pid {fields[4]} ({_command_line(fields[4])})"
    return "another process"


def _acquire(directory: Path, deadline: float, timeout: float, on_wait: Callable[[str], None] | None) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)  # not inherited by child processes
    waiting = False
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return descriptor
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = lock_holder(directory)
                os.close(descriptor)
                raise RunLockedError(
                    f"another run holds the lock on {directory} ({holder}); gave up after waiting {timeout:g} s."
                    " Run again when it has finished, or set PAPER_PROFILES_LOCK_TIMEOUT_SECONDS to wait longer."
                ) from None
            if not waiting and on_wait is not None:
                on_wait(f"waiting up to {timeout:g} s for the lock on {directory}, held by {lock_holder(directory)}")
            waiting = True
            time.sleep(_POLL_SECONDS)


def _command_line(pid: str) -> str:
    try:
        return " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ").split())[:200]
    except OSError:
        return "command line unknown"
