"""YouTube's settings (`T21_YOUTUBE_…`): T21's OAuth client in a Google Cloud project with the
YouTube Data API v3 enabled, and the hosts of Google's OAuth, of the Data API and of the
YouTube Analytics API."""

from __future__ import annotations

from typing import ClassVar

from pydantic import field_validator

from t21.platforms.google_oauth import REAL_AUTH_BASE
from t21.platforms.settings import ScopedNetwork, UploadHost, http_url


class YouTubeSettings(UploadHost, ScopedNetwork):
    # The consent host; the token endpoints are on oauth2.googleapis.com (`google_oauth`).
    real_auth_base: ClassVar[str] = REAL_AUTH_BASE
    real_api_base: ClassVar[str] = "https://www.googleapis.com"
    real_upload_base: ClassVar[str | None] = "https://www.googleapis.com"

    # The YouTube Analytics API's host (`T21_YOUTUBE_ANALYTICS_BASE`); unset, Google's own
    # when the Data API is Google's, else the Data API's host (a fake or a proxy serving both).
    analytics_base: str | None = None

    @field_validator("analytics_base")
    @classmethod
    def _check_analytics_base(cls, value: str | None) -> str | None:
        return http_url(value)

    def extras(self, *, public_url: str, secret: str, sandbox: bool) -> dict[str, str]:
        return {"analytics_base": self.analytics_base} if self.analytics_base else {}
