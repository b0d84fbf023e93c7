"""YouTube's settings (`T21_YOUTUBE_…`): T21's OAuth client in a Google Cloud project with the
YouTube Data API v3 enabled, and the hosts of Google's OAuth and of the Data API."""

from __future__ import annotations

from typing import ClassVar

from t21.platforms.google_oauth import REAL_AUTH_BASE
from t21.platforms.settings import ScopedNetwork, UploadHost


class YouTubeSettings(UploadHost, ScopedNetwork):
    # The consent host; the token endpoints are on oauth2.googleapis.com (`google_oauth`).
    real_auth_base: ClassVar[str] = REAL_AUTH_BASE
    real_api_base: ClassVar[str] = "https://www.googleapis.com"
    real_upload_base: ClassVar[str | None] = "https://www.googleapis.com"
