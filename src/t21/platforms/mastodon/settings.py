"""Mastodon's settings (`T21_MASTODON_…`). Mastodon has no central app: T21 registers itself on
each instance an account lives on (`POST /api/v1/apps`), so `client_id` here is only the name
T21's app takes there (shown to people on the consent page), and the real hosts are templates
filled with the instance's host name."""

from __future__ import annotations

from typing import ClassVar

from t21.platforms.settings import ScopedNetwork


class MastodonSettings(ScopedNetwork):
    real_auth_base: ClassVar[str] = "https://{instance}"
    real_api_base: ClassVar[str] = "https://{instance}"
