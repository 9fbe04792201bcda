"""Archive raw captures immutably: inbox files become raw/profiles/<profile_id>/<captured-date>.txt with their sha256."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from flows import ids
from flows.checksums import sha256_bytes, sha256_file
from flows.files import write_atomic
from flows.extract import RawFileError, decode_raw, read_profile_name, read_raw_file
from flows.settings import INBOX_DIRNAME, PROFILES_DIRNAME

STAGE = "ingest"
METADATA_SUFFIX = ".json"
_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
_SNAPSHOT_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}\.txt$")
_UNFINISHED_SUFFIXES = (".partial", ".tmp")


@dataclass(frozen=True)
class Snapshot:
    """One archived capture of a profile page."""

    profile_id: str
    captured_date: dt.date
    path: Path
    source_file: str  # relative to the raw folder, POSIX separators: profiles/<id>/<date>.txt
    sha256: str


@dataclass
class IngestResult:
    """What an ingest did: files archived, inbox duplicates dropped, and inbox files it refused."""

    archived: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)


def ingest_inbox(raw_dir: Path, captured_date: dt.date | None = None, today: dt.date | None = None) -> IngestResult:
    """Archive every file in raw/inbox/; remove an inbox file only once its archived copy is verified.

    The capture date is `captured_date` if given, else a YYYY-MM-DD in the file name, else today.
    A file that cannot be archived stays in the inbox and is reported as a reject.
    """
    result = IngestResult()
    _remove_unfinished_copies(raw_dir)
    inbox = raw_dir / INBOX_DIRNAME
    if not inbox.is_dir():
        return result
    for path in sorted(inbox.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        source_file = f"{INBOX_DIRNAME}/{path.name}"
        try:
            if path.is_symlink():
                # A link could point anywhere on the machine; only files dropped in are archived.
                raise RawFileError(1, "expected a regular file, found a symbolic link (copy the capture in instead)")
            archived, duplicate = _archive(raw_dir, path, capture_date_for(path, captured_date, today))
        except RawFileError as error:
            result.rejects.append(
                {"source_file": source_file, "line": error.line, "stage": STAGE, "record_type": "file",
                 "reason": f"{source_file}:{error.line}: {error.message}", "raw_text": ""}
            )
            continue
        (result.duplicates if duplicate else result.archived).append(archived)
        path.unlink()
    return result


def list_snapshots(raw_dir: Path) -> list[Snapshot]:
    """Every archived snapshot, sorted by profile and date, with the sha256 recorded at ingest.

    Every run lists the archive first, 10,000 folders at 10,000 profiles, so folders are read with
    os.scandir and metadata files with plain binary reads, without pathlib's objects, globbing
    and text decoding.
    """
    snapshots = []
    profiles_dir = raw_dir / PROFILES_DIRNAME
    for profile_id in _archive_folders(profiles_dir):
        folder = os.path.join(profiles_dir, profile_id)
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries if _SNAPSHOT_NAME.match(entry.name))
        for name in names:
            stem = name.removesuffix(".txt")
            try:
                with open(os.path.join(folder, stem + METADATA_SUFFIX), "rb") as metadata:
                    sha256 = json.loads(metadata.read())["sha256"]
            except FileNotFoundError:
                sha256 = ""
            snapshots.append(
                Snapshot(
                    profile_id=profile_id,
                    captured_date=dt.date.fromisoformat(stem),
                    path=Path(folder, name),
                    source_file=f"{PROFILES_DIRNAME}/{profile_id}/{name}",
                    sha256=sha256,
                )
            )
    return snapshots


def capture_date_for(path: Path, given: dt.date | None, today: dt.date | None = None) -> dt.date:
    """The capture date of a raw file: given, else a YYYY-MM-DD in its name, else today."""
    if given is not None:
        return given
    if match := _DATE_IN_NAME.search(path.name):
        try:
            return dt.date.fromisoformat(match[1])
        except ValueError:
            pass  # `2026-13-45` in a name is not a date: fall back to the day of ingest
    return today or dt.date.today()


def _archive(raw_dir: Path, path: Path, captured_date: dt.date) -> tuple[str, bool]:
    """Copy one inbox file into the archive; returns (archived source_file, was_already_archived)."""
    data, sha256 = read_raw_file(path)
    named = read_profile_name(decode_raw(data))
    if named is None:
        raise RawFileError(1, "expected a profile name on the first non-blank line, found none")
    profile_id = ids.profile_id(named[0])
    if not profile_id:
        raise RawFileError(named[1], f"expected a name with letters or digits, found {named[0][:60]!r}")
    target_dir = raw_dir / PROFILES_DIRNAME / profile_id
    target = target_dir / f"{captured_date.isoformat()}.txt"
    source_file = target.relative_to(raw_dir).as_posix()
    metadata_path = target.with_suffix(METADATA_SUFFIX)
    metadata = {
        "profile_id": profile_id,
        "captured_date": captured_date.isoformat(),
        "sha256": sha256,
        "bytes": len(data),
        "original_name": path.name,
    }
    if target.exists():
        if sha256_file(target) == sha256:
            if not metadata_path.exists():  # a run killed between archiving and recording
                write_atomic(metadata_path, _metadata_bytes(metadata))
            os.chmod(target, 0o444)  # ... or between recording and making it read-only
            return source_file, True
        raise RawFileError(
            1, f"expected a new capture, found a different capture of {profile_id} on {captured_date} already"
            f" archived as {source_file} (give another --captured-date)"
        )
    target_dir.mkdir(parents=True, exist_ok=True)
    temporary = target_dir / f".{target.name}.{os.getpid()}.partial"
    write_atomic(temporary, data)
    if sha256_file(temporary) != sha256:
        temporary.unlink()
        raise RawFileError(1, f"expected the archived copy to match the inbox file, found a different sha256 in {temporary}")
    os.link(temporary, target)  # fails instead of overwriting if another run archived it first
    temporary.unlink()
    write_atomic(metadata_path, _metadata_bytes(metadata))
    os.chmod(target, 0o444)
    if sha256_bytes(target.read_bytes()) != sha256:
        raise RawFileError(1, f"expected the archived copy {source_file} to verify, found a different sha256")
    return source_file, False


def _remove_unfinished_copies(raw_dir: Path) -> None:
    """Delete the temporary copies (`.NAME.PID.partial`, write_atomic's `.NAME.PID.tmp`) a killed run left in the archive (no run is under way: flows/lock.py).

    One os.scandir per folder: two Path.glob patterns walked every folder twice. With the
    listing, every run pays this before it knows whether anything is new (0.52-0.60 s -> 0.35-0.39 s
    for both at 10,000 profiles).
    """
    profiles_dir = raw_dir / PROFILES_DIRNAME
    for profile_id in _archive_folders(profiles_dir):
        with os.scandir(os.path.join(profiles_dir, profile_id)) as entries:
            leftovers = [entry.path for entry in entries if entry.name.startswith(".") and entry.name.endswith(_UNFINISHED_SUFFIXES)]
        for leftover in leftovers:
            os.unlink(leftover)


def _archive_folders(profiles_dir: Path) -> list[str]:
    """The profile folders of the archive, sorted (none if there is no archive yet)."""
    try:
        with os.scandir(profiles_dir) as entries:
            return sorted(entry.name for entry in entries if entry.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _metadata_bytes(metadata: dict) -> bytes:
    return (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode("utf-8")
