"""LinkedIn Pages' settings (`T21_LINKEDIN_PAGE_…`): T21's LinkedIn app with the Community
Management API product (it may be the same app as `T21_LINKEDIN_…`), the hosts of OAuth and of
the REST API, and the scopes asked for at connection (unset: `w_organization_social
r_organization_social rw_organization_admin`)."""

from __future__ import annotations

from typing import ClassVar

from t21.platforms.settings import ScopedNetwork


class LinkedInPageSettings(ScopedNetwork):
    real_auth_base: ClassVar[str] = "https://www.linkedin.com"
    real_api_base: ClassVar[str] = "https://api.linkedin.com"
