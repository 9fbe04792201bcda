"""Crash safety: `python -m flows run` killed with SIGKILL during ingest and publish loses nothing, and the next run completes.

Each trial drops a new capture of every profile into the inbox, starts a run in its own process
group and kills the group at a random point: during ingest after a random number of inbox files
were archived, or during publish just after a randomly chosen step was seen on disk (plus a random
delay). Nothing in the pipeline is instrumented; the test only watches the files. After each kill:
`python -m flows verify output/latest` passes, every earlier release is byte-for-byte intact, every
inbox file is still in the inbox or in the archive, and the next run completes and cleans up.
`PAPER_PROFILES_CRASH_TRIALS=N` runs N trials of each kind (the README figures).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from flows import formats, ingest, publish, synth
from flows.__main__ import main as cli
from flows.checksums import sha256_file
from flows.extract import extract_bytes
from flows.tables import build_tables
from conftest import SEED_PROFILE
from flows.package import verify_release
from flows.pipeline import refresh
from prefect_server import flow_env, kill_group, start_run

TRIALS_PER_STAGE = int(os.environ.get("PAPER_PROFILES_CRASH_TRIALS", 10))
SEED = 20261126
PROFILES = 12  # profiles per capture: enough files that ingest and publish each take many steps
FIRST_CAPTURE = dt.date(2026, 11, 26)
MAX_EXTRA_DELAY_SECONDS = 0.05
POLL_SECONDS = 0.001
RUN_TIMEOUT_SECONDS = 600
# The on-disk steps of a publish, in order (flows/publish.py).
PUBLISH_STEPS = ("staging created", "staging half written", "release moved into releases/", "release listed", "latest switched")
LEFTOVERS = (".staging-*", ".latest-*", ".*.tmp")
ARTIFACT = Path(__file__).resolve().parent / "artifacts" / "crash-trials.json"


@dataclass
class Project:
    """A project folder that trials share: raw/ and output/ grow one capture per trial."""

    root: Path
    raw: Path = field(init=False)
    output: Path = field(init=False)
    state: Path = field(init=False)

    def __post_init__(self) -> None:
        self.raw, self.output, self.state = self.root / "raw", self.root / "output", self.root / "state"


@dataclass
class Before:
    """What must survive a kill: every listed release's files and every archived raw file, by sha256."""

    releases: dict[str, dict[str, str]]
    archive: dict[str, str]
    dropped: dict[str, str]
    latest_ino: int


def test_killed_runs_lose_nothing_and_the_next_run_completes(tmp_path: Path):
    project = Project(tmp_path)
    env = flow_env(project.state)
    _drop_capture(project, 0)
    assert refresh(raw_dir=str(project.raw), output_dir=str(project.output), allow_shrink=True)["release_id"]
    rng = random.Random(SEED)
    trials = []
    for trial in range(1, 2 * TRIALS_PER_STAGE + 1):
        stage = "ingest" if trial % 2 else "publish"
        before = _before(project, _drop_capture(project, trial))
        process = start_run(project.raw, project.output, env, project.root / f"run-{trial}.log", "--allow-shrink")
        try:
            point = _wait_for_kill_point(process, project, before, stage, rng, trial)
            time.sleep(rng.uniform(0, MAX_EXTRA_DELAY_SECONDS))
        finally:
            kill_group(process)
        observed = _observe(project, before)
        _check_nothing_lost(project, before, trial)
        summary = refresh(raw_dir=str(project.raw), output_dir=str(project.output), allow_shrink=True)
        _check_next_run_completed(project, trial, summary)
        trials.append({"trial": trial, "stage": stage, "kill_point": point, "left_behind": observed})
    _write_artifact(trials)
    hit = {trial["kill_point"] for trial in trials if trial["stage"] == "publish"}
    assert len(trials) == 2 * TRIALS_PER_STAGE and len(hit) >= min(3, TRIALS_PER_STAGE), hit


class SimulatedKill(BaseException):
    """Stands for SIGKILL at an exact step: nothing after the step runs (BaseException, so no handler catches it)."""


def test_a_kill_at_any_step_of_switching_latest_leaves_a_verifiable_latest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Regression: latest/ was replaced by two renames, and a kill between them left no latest/ at all."""
    template = tmp_path / "template"
    _publish_two_releases(template)
    step = 0
    while True:
        output = tmp_path / f"killed-after-step-{step}"
        shutil.copytree(template, output, symlinks=True)
        calls = _kill_after_call(monkeypatch, step, [(publish.os, "rename"), (publish.shutil, "rmtree"), (publish.shutil, "copytree"), (publish, "_exchange")])
        newest = output / publish.RELEASES_DIRNAME / publish.read_releases(output)[0]["release_id"]
        try:
            publish._switch_latest(output, newest)
        except SimulatedKill:
            pass
        monkeypatch.undo()
        assert verify_release(output / publish.LATEST_DIRNAME) == [], f"killed after step {step} ({calls[-1]})"
        publish.recover(output)
        assert (output / "latest" / "SHA256SUMS").read_bytes() == (newest / "SHA256SUMS").read_bytes()
        if len(calls) <= step:
            break  # the switch ran to the end without reaching this step
        step += 1
    assert step >= 3


def test_a_kill_after_listing_a_release_is_completed_by_recover(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Regression: killed between releases.json and CHANGELOG.md, the changelog never mentioned that release."""
    output = tmp_path / "output"
    _publish(output, SEED_PROFILE.read_bytes(), FIRST_CAPTURE)
    monkeypatch.setattr(publish, "write_changelog", _raise_kill)
    with pytest.raises(SimulatedKill):
        _publish(output, SEED_PROFILE.read_bytes().replace(b"h-index32", b"h-index33"), FIRST_CAPTURE + dt.timedelta(days=7))
    monkeypatch.undo()
    newest = publish.read_releases(output)[0]["release_id"]
    assert f"## {newest} " not in (output / publish.CHANGELOG).read_text("utf-8")
    publish.recover(output)
    assert f"## {newest} " in (output / publish.CHANGELOG).read_text("utf-8")
    assert (output / "latest" / "SHA256SUMS").read_bytes() == (output / "releases" / newest / "SHA256SUMS").read_bytes()


def test_leftovers_of_a_killed_run_are_removed_by_the_next(tmp_path: Path):
    """Regression: temporary copies of a killed ingest or publish stayed in raw/ and output/ for good."""
    raw, output = tmp_path / "raw", tmp_path / "output"
    _publish(output, SEED_PROFILE.read_bytes(), FIRST_CAPTURE)
    archive = raw / "profiles" / "zhi-hong-deng"
    archive.mkdir(parents=True)
    leftovers = [archive / ".2026-11-27.txt.4242.partial", archive / ".2026-11-27.json.4242.tmp", output / ".releases.json.4242.tmp"]
    for path in leftovers:
        path.write_bytes(b"half written")
    # A capture archived by a run killed before it made the copy read-only.
    (archive / "2026-11-26.txt").write_bytes(SEED_PROFILE.read_bytes())
    (raw / "inbox").mkdir()
    (raw / "inbox" / "again-2026-11-26.txt").write_bytes(SEED_PROFILE.read_bytes())
    ingest.ingest_inbox(raw)
    publish.recover(output)
    assert [path for path in leftovers if path.exists()] == []
    assert (archive / "2026-11-26.txt").stat().st_mode & 0o222 == 0
    assert json.loads((archive / "2026-11-26.json").read_text("utf-8"))["sha256"] == sha256_file(SEED_PROFILE)


def _publish(output: Path, data: bytes, captured: dt.date) -> None:
    source_file = f"profiles/zhi-hong-deng/{captured.isoformat()}.txt"
    built = build_tables([extract_bytes(data, source_file, captured)])
    publish.publish_release(built, output, allow_shrink=True)


def _publish_two_releases(output: Path) -> None:
    _publish(output, SEED_PROFILE.read_bytes(), FIRST_CAPTURE)
    _publish(output, SEED_PROFILE.read_bytes().replace(b"h-index32", b"h-index33"), FIRST_CAPTURE + dt.timedelta(days=7))
    # Put the first release back in latest/, as if the second had just been listed.
    shutil.rmtree(output / "latest")
    shutil.copytree(output / "releases" / publish.read_releases(output)[1]["release_id"], output / "latest")


def _kill_after_call(monkeypatch: pytest.MonkeyPatch, step: int, targets: list[tuple[object, str]]) -> list[str]:
    """Wrap each target so that the `step`-th call among them runs, then raises SimulatedKill."""
    calls: list[str] = []
    for owner, name in targets:
        original = getattr(owner, name)

        def wrapped(*args, _original=original, _name=name, **kwargs):
            result = _original(*args, **kwargs)
            calls.append(f"{_name}{tuple(Path(arg).name for arg in args[:2])}")
            if len(calls) == step + 1:
                raise SimulatedKill(calls[-1])
            return result

        monkeypatch.setattr(owner, name, wrapped)
    return calls


def _raise_kill(*args, **kwargs):
    raise SimulatedKill("killed")


def _drop_capture(project: Project, trial: int) -> dict[str, str]:
    """A new capture of every profile (new metrics and papers), named with its capture date."""
    captured = FIRST_CAPTURE + dt.timedelta(days=trial)
    inbox = project.raw / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    dropped = {}
    for path in synth.write_profiles(project.root / "generated" / str(trial), PROFILES, seed=trial, captured_date=captured):
        target = inbox / f"{path.stem}-{captured.isoformat()}.txt"
        path.rename(target)
        dropped[target.name] = sha256_file(target)
    return dropped


def _before(project: Project, dropped: dict[str, str]) -> Before:
    releases = {
        release["release_id"]: _hashes(project.output / publish.RELEASES_DIRNAME / release["release_id"])
        for release in publish.read_releases(project.output)
    }
    archive = {path.relative_to(project.raw).as_posix(): sha256_file(path) for path in (project.raw / "profiles").glob("*/*")}
    return Before(releases, archive, dropped, (project.output / publish.LATEST_DIRNAME).stat().st_ino)


def _wait_for_kill_point(process, project: Project, before: Before, stage: str, rng: random.Random, trial: int) -> str:
    """Poll the files until the chosen point of the run is reached; returns its name."""
    if stage == "ingest":
        archived_enough = rng.randrange(1, len(before.dropped))
        point = f"{archived_enough} of {len(before.dropped)} inbox files archived"
        reached = lambda: len(os.listdir(project.raw / "inbox")) <= len(before.dropped) - archived_enough  # noqa: E731
    else:
        point = rng.choice(PUBLISH_STEPS)
        reached = lambda: _publish_step_reached(project, before, point)  # noqa: E731
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while not _safely(reached):
        if process.poll() is not None or time.monotonic() > deadline:
            log = (project.root / f"run-{trial}.log").read_text(errors="replace")
            pytest.fail(f"trial {trial}: the run ended before {point!r} (exit {process.returncode}):\n{log[-3000:]}")
        time.sleep(POLL_SECONDS)
    return point


def _safely(reached) -> bool:
    try:
        return reached()
    except FileNotFoundError:  # the run removed or renamed what was being looked at
        return False


def _publish_step_reached(project: Project, before: Before, step: str) -> bool:
    output = project.output
    if step in ("staging created", "staging half written"):
        staging = next(output.glob(f"{publish.STAGING_PREFIX}*"), None)
        if staging is None:
            return False
        files_in_a_release = len(next(iter(before.releases.values())))
        return step == "staging created" or len(list(staging.iterdir())) >= files_in_a_release // 2
    if step == "release moved into releases/":
        return any(path.name not in before.releases for path in (output / publish.RELEASES_DIRNAME).iterdir())
    if step == "release listed":
        return len(_listed(output)) > len(before.releases)
    return (output / publish.LATEST_DIRNAME).exists() and (output / publish.LATEST_DIRNAME).stat().st_ino != before.latest_ino


def _observe(project: Project, before: Before) -> list[str]:
    """What the killed run left half done, in words (for the trial log)."""
    output, left = project.output, []
    inbox_left = len(os.listdir(project.raw / "inbox"))
    if 0 < inbox_left:
        left.append(f"{inbox_left} of {len(before.dropped)} files still in the inbox")
    partial = list((project.raw / "profiles").glob("*/.*"))
    if partial:
        left.append(f"{len(partial)} unfinished copies in the archive")
    if any(output.glob(f"{publish.STAGING_PREFIX}*")):
        left.append("a staging folder")
    listed = set(_listed(output))
    if any(path.name not in listed for path in (output / publish.RELEASES_DIRNAME).iterdir()):
        left.append("an unlisted release folder")
    releases = publish.read_releases(output)
    newest_sums = output / publish.RELEASES_DIRNAME / releases[0]["release_id"] / "SHA256SUMS"
    if (output / "latest" / "SHA256SUMS").read_bytes() != newest_sums.read_bytes():
        left.append("a listed release not yet in latest/")
    return left or ["nothing"]


def _check_nothing_lost(project: Project, before: Before, trial: int) -> None:
    assert cli(["verify", str(project.output / publish.LATEST_DIRNAME)]) == 0, f"trial {trial}: latest/ does not verify"
    listed = _listed(project.output)
    assert set(before.releases) <= set(listed), f"trial {trial}: a release was unlisted"
    for release_id, hashes in before.releases.items():
        assert _hashes(project.output / publish.RELEASES_DIRNAME / release_id) == hashes, f"trial {trial}: release {release_id} changed"
    for release_id in set(listed) - set(before.releases):
        assert verify_release(project.output / publish.RELEASES_DIRNAME / release_id) == [], f"trial {trial}: {release_id} listed incomplete"
    latest_sums = (project.output / publish.LATEST_DIRNAME / "SHA256SUMS").read_bytes()
    assert any(
        latest_sums == (project.output / publish.RELEASES_DIRNAME / release_id / "SHA256SUMS").read_bytes()
        for release_id in listed[:2]
    ), f"trial {trial}: latest/ is neither the newest nor the previous release"
    for path, sha256 in before.archive.items():
        assert sha256_file(project.raw / path) == sha256, f"trial {trial}: archived {path} changed"
    archived = {sha256_file(path) for path in (project.raw / "profiles").glob("*/*.txt")}
    for name, sha256 in before.dropped.items():
        in_inbox = project.raw / "inbox" / name
        assert (in_inbox.exists() and sha256_file(in_inbox) == sha256) or sha256 in archived, f"trial {trial}: {name} was lost"


def _check_next_run_completed(project: Project, trial: int, summary: dict) -> None:
    captured = (FIRST_CAPTURE + dt.timedelta(days=trial)).isoformat()
    releases = publish.read_releases(project.output)
    assert releases[0]["as_of_date"] == captured, f"trial {trial}: newest release {releases[0]['release_id']} after the re-run"
    assert summary["inbox_problems"] == [] and os.listdir(project.raw / "inbox") == []
    for release in releases:
        assert verify_release(project.output / publish.RELEASES_DIRNAME / release["release_id"]) == []
    newest = project.output / publish.RELEASES_DIRNAME / releases[0]["release_id"]
    assert (project.output / "latest" / "SHA256SUMS").read_bytes() == (newest / "SHA256SUMS").read_bytes()
    profiles = formats.read("profiles", newest / "profiles.parquet")  # every profile of the capture, nothing lost
    assert len(profiles) == PROFILES and set(profiles["captured_date"].astype(str)) == {captured}, f"trial {trial}"
    assert releases[0]["row_counts"]["rejects"] == 0, f"trial {trial}: a record of a clean capture was rejected"
    changelog = (project.output / publish.CHANGELOG).read_text("utf-8")
    assert all(f"## {release['release_id']} " in changelog for release in releases), f"trial {trial}: CHANGELOG.md misses a release"
    leftovers = [path.name for pattern in LEFTOVERS for path in project.output.glob(pattern)]
    leftovers += [str(path) for path in (project.raw / "profiles").glob("*/.*")]
    assert leftovers == [], f"trial {trial}: left behind {leftovers}"
    for path in (project.raw / "profiles").glob(f"*/{captured}.txt"):
        assert path.stat().st_mode & 0o222 == 0, f"trial {trial}: {path} is writable"
        assert json.loads(path.with_suffix(".json").read_text("utf-8"))["sha256"] == sha256_file(path)


def _listed(output: Path) -> list[str]:
    return [release["release_id"] for release in publish.read_releases(output)]


def _hashes(directory: Path) -> dict[str, str]:
    return {path.name: sha256_file(path) for path in sorted(directory.iterdir())}


def _write_artifact(trials: list[dict]) -> None:
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(trials, indent=2) + "\n", encoding="utf-8")
