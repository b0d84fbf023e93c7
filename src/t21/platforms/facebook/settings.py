"""Facebook's settings (`T21_FACEBOOK_…`): T21's app, the hosts of Facebook Login and of the
Graph API, and the Graph API's video host that reels and videos are uploaded to."""

from __future__ import annotations

from typing import ClassVar

from t21.platforms.settings import UploadHost


class FacebookSettings(UploadHost):
    real_auth_base: ClassVar[str] = "https://www.facebook.com"
    real_api_base: ClassVar[str] = "https://graph.facebook.com"
    real_upload_base: ClassVar[str | None] = "https://graph-video.facebook.com"
