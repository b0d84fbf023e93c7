"""Pinterest's settings (`T21_PINTEREST_…`): T21's app, the host of the OAuth consent page
(www.pinterest.com) and that of API v5 (api.pinterest.com, which also issues tokens).
`T21_PINTEREST_SCOPES` replaces the default scopes (say, to add `boards:read_secret` and
`pins:write_secret` for secret boards)."""

from __future__ import annotations

from typing import ClassVar

from t21.platforms.settings import ScopedNetwork


class PinterestSettings(ScopedNetwork):
    real_auth_base: ClassVar[str] = "https://www.pinterest.com"
    real_api_base: ClassVar[str] = "https://api.pinterest.com"
