"""Instagram's settings (`T21_INSTAGRAM_…`): T21's app, Instagram Login's and the Graph API's
hosts, and the host videos are uploaded to when it isn't the API's."""

from __future__ import annotations

from typing import ClassVar

from t21.platforms.settings import UploadHost


class InstagramSettings(UploadHost):
    real_auth_base: ClassVar[str] = "https://api.instagram.com"
    real_api_base: ClassVar[str] = "https://graph.instagram.com"
