"""The releases feed, output/releases.json: which releases were published, newest first."""

from __future__ import annotations

import json
from pathlib import Path

RELEASES_FEED = "releases.json"


def read_releases(output_dir: Path) -> list[dict]:
    """The releases feed, newest first; empty before the first release."""
    path = output_dir / RELEASES_FEED
    return json.loads(path.read_text("utf-8"))["releases"] if path.exists() else []
