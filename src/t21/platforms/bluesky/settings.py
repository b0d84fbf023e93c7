"""Bluesky's settings (`T21_BLUESKY_…`): where handles are resolved and sessions start (the
entryway, `api_base`) and where `did:plc` documents are read (the PLC directory, `auth_base`).

Bluesky needs no app registration for app-password sign-in: `T21_BLUESKY_CLIENT_ID` only
switches from the sandbox's fake to the real network (any non-empty value, e.g. `t21`)."""

from __future__ import annotations

from typing import ClassVar

from t21.platforms.settings import NetworkSettings


class BlueskySettings(NetworkSettings):
    real_auth_base: ClassVar[str] = "https://plc.directory"
    real_api_base: ClassVar[str] = "https://bsky.social"
