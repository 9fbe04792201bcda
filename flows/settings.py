"""Paths, limits and environment defaults: the one place the pipeline's settings live."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RAW_DIR = PROJECT_ROOT / "raw"
DEFAULT_OUTPUT_DIR = PROJECT_ROOT / "output"
STATE_DIR = Path(os.environ.get("PAPER_PROFILES_STATE_DIR", PROJECT_ROOT / ".state"))

INBOX_DIRNAME = "inbox"
PROFILES_DIRNAME = "profiles"

# Bumped whenever extraction or enrichment would turn the same raw text into different records;
# it is part of every release's provenance and of the incremental-parse cache key.
PARSER_VERSION = "1"

# Hostile or broken input is refused before it is read whole (see flows/extract.py).
MAX_RAW_FILE_BYTES = int(os.environ.get("PAPER_PROFILES_MAX_RAW_FILE_BYTES", 50 * 1024 * 1024))
MAX_LINE_CHARS = int(os.environ.get("PAPER_PROFILES_MAX_LINE_CHARS", 100_000))

# A run that finds another run of the same project under way waits this long for it (flows/lock.py).
LOCK_TIMEOUT_SECONDS = float(os.environ.get("PAPER_PROFILES_LOCK_TIMEOUT_SECONDS", 600))

# Publish gate: refuse a release in which a table loses more than this share of its rows.
DEFAULT_MAX_SHRINK = 0.10

DATASET_TITLE = "paper-profiles"
DATASET_DESCRIPTION = (
    "Researcher profiles and their papers, extracted from profile pages of an AI-paper "
    "aggregator site: header metrics, paper metadata, author roles and code availability."
)
DATASET_LICENSE = "CC-BY-4.0"

# Prefect reads its settings when it is first imported, so these must be in the environment
# before any module imports prefect. The analytics heartbeat of a local Prefect server raises
# "database is locked" on this machine, and the first start migrates a fresh database (~20 s).
PREFECT_ENV_DEFAULTS = {
    "PREFECT_HOME": str(STATE_DIR / "prefect"),
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}
# Arrow's allocator, read when pyarrow first allocates. With the default (mimalloc) a pool worker
# kept the high-water mark of every batch and paper part it had run; with the system allocator
# its memory falls back between tasks (full build at 50,000 profiles: the two workers held
# ~450 MB each while the main process wrote the tables, instead of ~670 MB), at the same speed.
ARROW_ENV_DEFAULTS = {"ARROW_DEFAULT_MEMORY_POOL": "system"}


def apply_prefect_env_defaults() -> None:
    """Set Prefect's and Arrow's environment defaults unless the user already chose a value."""
    for key, value in {**PREFECT_ENV_DEFAULTS, **ARROW_ENV_DEFAULTS}.items():
        os.environ.setdefault(key, value)
    # Prefect creates only the last folder of its home, so make the parents first.
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
