"""X's settings (`T21_TWITTER_…`): T21's app, the hosts of OAuth 2.0 and of API v2, and the
scopes asked for at connection (unset: the provider's `scopes`)."""

from __future__ import annotations

from typing import ClassVar

from t21.platforms.settings import ScopedNetwork


class TwitterSettings(ScopedNetwork):
    real_auth_base: ClassVar[str] = "https://x.com"
    real_api_base: ClassVar[str] = "https://api.x.com"
