"""LinkedIn's settings (`T21_LINKEDIN_…`): T21's app, the hosts of OAuth and of the REST API,
and the scopes asked for at connection. Unset, what a freshly created app can get (`openid
profile email w_member_social`); add `r_member_postAnalytics` with the Community Management API
product, and `r_member_social` where LinkedIn granted it (to read posts back after an
interrupted publish)."""

from __future__ import annotations

from typing import ClassVar

from t21.platforms.settings import ScopedNetwork


class LinkedInSettings(ScopedNetwork):
    real_auth_base: ClassVar[str] = "https://www.linkedin.com"
    real_api_base: ClassVar[str] = "https://api.linkedin.com"
