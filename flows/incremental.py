"""What makes refreshes incremental: fingerprints of code and inputs, and a per-batch cache of staged rows."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from flows import settings
from flows.checksums import sha256_bytes
from flows.extract import Extraction, extract_file
from flows.files import write_atomic
from flows.ingest import Snapshot

if TYPE_CHECKING:  # the no-op path imports this module without the table-building modules
    from flows.tables import StagedBatch

_CODE_PACKAGES = ("flows", "schemas")
_BUILD_STATE = "last-build.json"
_STAGED_FILE = "staged.pickle"
# Folders of .state that earlier versions wrote and nothing reads any more: removed by BatchCache.prune.
# (extract-cache held one pickled extraction per raw file: as large as the batch cache, and it
# saved only re-parsing the ~250 files of a batch a new capture restages, ~0.2 s.)
_RETIRED_STATE = ("extract-cache",)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over the pipeline's source: any code change makes every cached result stale."""
    digest = hashlib.sha256(settings.PARSER_VERSION.encode())
    for package in _CODE_PACKAGES:
        # templates/ too: a change to the landing page's templates alone must rebuild the page.
        for path in sorted([*(settings.PROJECT_ROOT / package).glob("*.py"), *(settings.PROJECT_ROOT / package).glob("templates/*")]):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def inputs_fingerprint(snapshots: list[Snapshot]) -> str:
    """sha256 over the code and every archived snapshot's path and recorded sha256."""
    listing = [[snapshot.source_file, snapshot.sha256] for snapshot in snapshots]
    return sha256_bytes(json.dumps([code_fingerprint(), listing]).encode())


class BatchCache:
    """Extract batches as staged (tables.stage_batch): spill files and what the batch returned, keyed by inputs and code.

    A batch's rows depend only on its files' bytes, on which of them are the newest capture of
    their profile, and on the code, so a refresh that adds a capture re-stages only the batch it
    falls in (tables.profile_batches keeps the other batches' boundaries). Entries are hard links
    to the spill files (copies across file systems); `prune` keeps only the last build's.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.root = state_dir / "batch-cache"
        self.directory = self.root / code_fingerprint()[:16]

    @staticmethod
    def key(snapshots: list[Snapshot], current: set[str]) -> str | None:
        """The batch's cache key; None when a file has no recorded sha256 (it is never cached)."""
        if any(not snapshot.sha256 for snapshot in snapshots):
            return None
        listing = [[snapshot.source_file, snapshot.sha256, snapshot.source_file in current] for snapshot in snapshots]
        return sha256_bytes(json.dumps([code_fingerprint(), listing]).encode())

    def restore(self, key: str | None, directory: Path) -> StagedBatch | None:
        """The cached batch with its spill files linked into `directory`, or None (then nothing is left there)."""
        entry = self.directory / key if key else None
        if entry is None or not entry.is_dir():
            return None
        try:
            staged = pickle.loads((entry / _STAGED_FILE).read_bytes())
            directory.mkdir(parents=True)
            for path in entry.iterdir():
                if path.name != _STAGED_FILE:
                    _link_or_copy(path, directory / path.name)
            return staged.relocated(directory)
        except Exception:  # noqa: BLE001  (torn or stale entry: stage the batch again; a cache never fails a run)
            shutil.rmtree(directory, ignore_errors=True)
            return None

    def store(self, key: str | None, staged: StagedBatch) -> None:
        """Keep a batch just staged (before the build removes its spill folder)."""
        entry = self.directory / key if key else None
        if entry is None or entry.exists():
            return
        temporary = self.directory / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            shutil.rmtree(temporary, ignore_errors=True)
            temporary.mkdir(parents=True)
            for path in staged.directory.iterdir():
                _link_or_copy(path, temporary / path.name)
            (temporary / _STAGED_FILE).write_bytes(pickle.dumps(staged, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(temporary, entry)
        except OSError:  # a full disk, or another process stored it first: the run goes on without it
            shutil.rmtree(temporary, ignore_errors=True)

    def prune(self, keep: set[str | None]) -> None:
        """Remove every entry but `keep` (the batches of the build just made), entries of other code, and retired caches."""
        for name in _RETIRED_STATE:
            shutil.rmtree(self.state_dir / name, ignore_errors=True)
        _remove_other_folders(self.root, keep={self.directory.name})
        _remove_other_folders(self.directory, keep={key for key in keep if key})


def _remove_other_folders(parent: Path, keep: set[str]) -> None:
    for folder in parent.iterdir() if parent.is_dir() else []:
        if folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def last_build(state_dir: Path, output_dir: Path) -> dict | None:
    """The fingerprint and release of the last completed build into `output_dir`, if any."""
    path = state_dir / _BUILD_STATE
    if not path.exists():
        return None
    return json.loads(path.read_text("utf-8")).get(str(output_dir.resolve()))


def record_build(state_dir: Path, output_dir: Path, fingerprint: str, release_id: str | None) -> None:
    """Remember that `output_dir` holds the build of `fingerprint` (newest release `release_id`)."""
    path = state_dir / _BUILD_STATE
    state = json.loads(path.read_text("utf-8")) if path.exists() else {}
    state[str(output_dir.resolve())] = {"inputs_fingerprint": fingerprint, "release_id": release_id}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode())


def extract_snapshots(snapshots: list[Snapshot]) -> list[Extraction]:
    """Extract each snapshot; a file whose bytes differ from the sha256 recorded at ingest is refused whole."""
    extractions = []
    for snapshot in snapshots:
        extraction = extract_file(snapshot.path, snapshot.source_file, snapshot.captured_date)
        if snapshot.sha256 and extraction.source_sha256 and extraction.source_sha256 != snapshot.sha256:
            # Archived raw text is never edited; a changed file is refused rather than trusted.
            extraction = Extraction(snapshot.source_file, extraction.source_sha256, snapshot.captured_date)
            extraction.rejects.append(
                {"source_file": snapshot.source_file, "line": 1, "stage": "extract", "record_type": "file",
                 "reason": f"{snapshot.source_file}:1: expected the sha256 recorded at ingest ({snapshot.sha256[:12]}…),"
                           f" found {extraction.source_sha256[:12]}… (archived raw text must not be edited)",
                 "raw_text": ""}
            )
        extractions.append(extraction)
    return extractions
