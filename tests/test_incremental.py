"""Incremental refreshes: nothing new parses and writes nothing; one new capture restages only its batch."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import State

from flows import formats, incremental, ingest, settings, tables
from flows.checksums import sha256_file
from flows.pipeline import may_build, refresh
from flows.synth import write_profiles

FIRST_CAPTURE = dt.date(2026, 11, 26)
# A week later: the second capture of the same profile (synth names depend only on the index).
SECOND_CAPTURE = dt.date(2026, 12, 3)
SEED = 11
PROFILES = 2
BATCHED_PROFILES = 6
ONE_FOLDER_A_BATCH = 1  # tables.profile_batches: every folder its own batch
WORKERS = 2  # fewer than BATCHED_PROFILES and tables.PAPER_PARTS, more than the one batch a new capture re-stages


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state folder of this test's own, so no other test's cached extractions or builds count."""
    state = tmp_path / "state"
    monkeypatch.setattr(settings, "STATE_DIR", state)
    return state


def test_refresh_with_nothing_new_parses_nothing_and_writes_nothing(tmp_path: Path, state_dir: Path) -> None:
    raw_dir, output_dir = tmp_path / "raw", tmp_path / "output"
    write_profiles(raw_dir / "inbox", PROFILES, seed=SEED, captured_date=FIRST_CAPTURE)
    assert may_build(raw_dir, output_dir)  # the hint `python -m flows run` starts its pool's workers on

    first = refresh(raw_dir=str(raw_dir), output_dir=str(output_dir), captured_date=FIRST_CAPTURE)
    assert first["files_parsed"] == PROFILES
    assert first["release_id"] == FIRST_CAPTURE.isoformat()
    before = _tree(output_dir)
    assert not may_build(raw_dir, output_dir)
    assert may_build(raw_dir, output_dir, use_cache=False)

    again = refresh(raw_dir=str(raw_dir), output_dir=str(output_dir))

    assert again["files_parsed"] == 0
    assert again["release_id"] is None
    assert "nothing new" in again["message"]
    assert _tree(output_dir) == before  # same files, bytes and modification times


def test_refresh_with_one_new_capture_parses_only_its_batch(tmp_path: Path, state_dir: Path) -> None:
    raw_dir, output_dir = tmp_path / "raw", tmp_path / "output"
    write_profiles(raw_dir / "inbox", PROFILES, seed=SEED, captured_date=FIRST_CAPTURE)
    refresh(raw_dir=str(raw_dir), output_dir=str(output_dir), captured_date=FIRST_CAPTURE, batch_size=ONE_FOLDER_A_BATCH)
    [second_capture] = write_profiles(tmp_path / "later", 1, seed=SEED, captured_date=SECOND_CAPTURE)
    shutil.move(second_capture, raw_dir / "inbox" / second_capture.name)
    assert may_build(raw_dir, output_dir)

    state = refresh(raw_dir=str(raw_dir), output_dir=str(output_dir), captured_date=SECOND_CAPTURE, batch_size=ONE_FOLDER_A_BATCH,
                    workers=WORKERS, return_state=True)
    summary = state.result()

    assert summary["files_parsed"] == 2  # the new capture's batch: both captures of that profile
    assert summary["batches_reused"] == PROFILES - 1  # restored by the flow, not by a task
    # Still a task per worker, though one batch needs staging: it starts every worker of a pool for the paper parts.
    assert _task_runs(state, "extract_batches") == WORKERS
    assert summary["snapshots"] == PROFILES + 1
    assert summary["release_id"] == SECOND_CAPTURE.isoformat()
    releases = json.loads((output_dir / "releases.json").read_text("utf-8"))["releases"]
    assert [release["release_id"] for release in releases] == [SECOND_CAPTURE.isoformat(), FIRST_CAPTURE.isoformat()]
    assert sorted(path.name for path in (output_dir / "releases").iterdir()) == [FIRST_CAPTURE.isoformat(), SECOND_CAPTURE.isoformat()]


def test_refresh_without_the_cache_parses_everything_and_publishes_nothing_unchanged(tmp_path: Path, state_dir: Path) -> None:
    raw_dir, output_dir = tmp_path / "raw", tmp_path / "output"
    write_profiles(raw_dir / "inbox", PROFILES, seed=SEED, captured_date=FIRST_CAPTURE)
    refresh(raw_dir=str(raw_dir), output_dir=str(output_dir), captured_date=FIRST_CAPTURE)
    feed_before = (output_dir / "releases.json").read_bytes()

    summary = refresh(raw_dir=str(raw_dir), output_dir=str(output_dir), use_cache=False)

    assert summary["files_parsed"] == PROFILES
    assert summary["release_id"] is None
    assert (output_dir / "releases.json").read_bytes() == feed_before
    assert [path.name for path in (output_dir / "releases").iterdir()] == [FIRST_CAPTURE.isoformat()]


def test_a_new_capture_restages_only_its_batch_and_publishes_what_a_fresh_build_would(tmp_path: Path, state_dir: Path) -> None:
    raw_dir, output_dir = tmp_path / "raw", tmp_path / "output"
    write_profiles(raw_dir / "inbox", BATCHED_PROFILES, seed=SEED, captured_date=FIRST_CAPTURE)
    state = refresh(raw_dir=str(raw_dir), output_dir=str(output_dir), captured_date=FIRST_CAPTURE, batch_size=ONE_FOLDER_A_BATCH,
                    workers=WORKERS, return_state=True)
    first = state.result()
    assert (first["batches"], first["batches_reused"]) == (BATCHED_PROFILES, 0)
    # One task per worker for each parallel stage, taking batches and paper parts in turn (flows/claims.py).
    assert _task_runs(state, "extract_batches") == WORKERS
    assert _task_runs(state, "papers_parts") == WORKERS
    [second_capture] = write_profiles(tmp_path / "later", 1, seed=SEED, captured_date=SECOND_CAPTURE)
    shutil.move(second_capture, raw_dir / "inbox" / second_capture.name)

    summary = refresh(raw_dir=str(raw_dir), output_dir=str(output_dir), captured_date=SECOND_CAPTURE, batch_size=ONE_FOLDER_A_BATCH)

    assert (summary["batches"], summary["batches_reused"]) == (BATCHED_PROFILES, BATCHED_PROFILES - 1)
    fresh = tmp_path / "fresh"
    refresh(raw_dir=str(raw_dir), output_dir=str(fresh), use_cache=False, batch_size=ONE_FOLDER_A_BATCH)
    for table in tables.DATA_TABLES:
        for file_format in formats.FORMATS:
            name = formats.table_file(table, file_format)
            assert (output_dir / "latest" / name).read_bytes() == (fresh / "latest" / name).read_bytes(), name
    # Only the entries of the last build are kept.
    assert len(list(incremental.BatchCache(state_dir).directory.iterdir())) == BATCHED_PROFILES


def test_batch_cache_restores_a_staged_batch_and_refuses_a_torn_one(tmp_path: Path) -> None:
    snapshots = _archived_snapshots(tmp_path)
    current = tables.current_files(snapshots)
    extractions = incremental.extract_snapshots(snapshots)
    staged = tables.stage_batch(extractions, current, tmp_path / "build" / "batch-0")
    cache = incremental.BatchCache(tmp_path / "state")
    key = cache.key(snapshots, current)
    cache.store(key, staged)

    restored = cache.restore(key, tmp_path / "next-build" / "batch-0")

    assert restored is not None and restored.directory == tmp_path / "next-build" / "batch-0"
    assert restored.authorships.path("csv").read_bytes() == staged.authorships.path("csv").read_bytes()
    assert {path.name: path.read_bytes() for path in restored.directory.iterdir()} == {path.name: path.read_bytes() for path in staged.directory.iterdir()}
    assert restored.headers.equals(staged.headers) and restored.reject_counts == staged.reject_counts
    assert cache.key(snapshots, set()) != key  # no longer the newest capture: other rows
    assert cache.key(snapshots[:1], current) != key
    (cache.directory / key / "staged.pickle").write_bytes(b"torn by a crash")
    assert cache.restore(key, tmp_path / "third-build" / "batch-0") is None
    assert not (tmp_path / "third-build" / "batch-0").exists()
    retired = tmp_path / "state" / "extract-cache" / "0123456789abcdef"  # the per-file cache of earlier versions
    retired.mkdir(parents=True)
    cache.prune(set())
    assert list(cache.directory.iterdir()) == []
    assert not retired.parent.exists()


def test_archived_file_edited_after_ingest_is_refused(tmp_path: Path) -> None:
    snapshots = _archived_snapshots(tmp_path)
    edited = snapshots[0].path
    os.chmod(edited, 0o644)  # ingest archives read-only
    edited.write_bytes(edited.read_bytes() + b"\nedited by hand")

    extractions = incremental.extract_snapshots(snapshots)

    [reject] = extractions[0].rejects
    assert reject["record_type"] == "file"
    assert "archived raw text must not be edited" in reject["reason"]
    assert extractions[0].papers == [] and extractions[1].papers


def _archived_snapshots(tmp_path: Path) -> list[ingest.Snapshot]:
    raw_dir = tmp_path / "raw"
    write_profiles(raw_dir / "inbox", PROFILES, seed=SEED, captured_date=FIRST_CAPTURE)
    result = ingest.ingest_inbox(raw_dir, FIRST_CAPTURE)
    assert len(result.archived) == PROFILES and not result.rejects
    return ingest.list_snapshots(raw_dir)


def _task_runs(flow_state: State, task_name: str) -> int:
    """Runs of the task named `task_name` in the flow run that ended in `flow_state`, as Prefect's API recorded them."""
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_state.state_details.flow_run_id])))
    return sum(run.name.startswith(f"{task_name}-") for run in runs)


def _tree(directory: Path) -> dict[str, tuple[str, int]]:
    """Every published file's sha256 and modification time."""
    return {
        path.relative_to(directory).as_posix(): (sha256_file(path), path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }
