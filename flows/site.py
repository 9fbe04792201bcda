"""The landing page of output/ (placeholder until the landing-page issue lands)."""

from __future__ import annotations

from pathlib import Path


def write_site(output_dir: Path) -> None:
    """Write output/index.html; not built yet."""
