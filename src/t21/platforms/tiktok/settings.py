"""TikTok's settings (`T21_TIKTOK_…`): T21's app and the hosts of Login Kit and of the Content
Posting API."""

from __future__ import annotations

from typing import ClassVar

from t21.platforms.settings import NetworkSettings


class TikTokSettings(NetworkSettings):
    real_auth_base: ClassVar[str] = "https://www.tiktok.com"
    real_api_base: ClassVar[str] = "https://open.tiktokapis.com"
