"""The `profile_snapshots` table: the header metrics of every archived capture, the metric history."""

from __future__ import annotations

from pandera.typing import Series

from schemas import fields
from schemas.profiles import ProfileHeader


class ProfileSnapshot(ProfileHeader):
    """One archived capture of a profile page; key (`profile_id`, `captured_date`)."""

    profile_id: Series[str] = fields.profile_id()

    class Config:
        unique = ["profile_id", "captured_date"]
