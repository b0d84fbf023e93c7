"""Google Business Profile's settings (`T21_GOOGLE_BUSINESS_…`): T21's OAuth client in a Google
Cloud project that Google approved for the Business Profile APIs, the consent host
(`AUTH_BASE`, https://accounts.google.com) and the APIs (`API_BASE`). Unset, `API_BASE` means
Google's own hosts, one per API (account management, business information, v4 local posts);
set, every Business Profile call goes to it (a proxy or a fake). `SCOPES` replaces the default
`https://www.googleapis.com/auth/business.manage`."""

from __future__ import annotations

from typing import ClassVar

from t21.platforms.google_oauth import REAL_AUTH_BASE
from t21.platforms.settings import ScopedNetwork

REAL_API_BASE = "https://mybusiness.googleapis.com"


class GoogleBusinessSettings(ScopedNetwork):
    real_auth_base: ClassVar[str] = REAL_AUTH_BASE
    real_api_base: ClassVar[str] = REAL_API_BASE
