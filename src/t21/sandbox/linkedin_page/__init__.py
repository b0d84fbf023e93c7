"""LinkedIn Pages in the sandbox: the LinkedIn fake itself (LinkedIn serves members and the
pages they administer from the same OAuth server and REST API), mounted again under
`/linkedin_page`. The organization endpoints (ACLs, organizations, share statistics) and the
organization scopes live in `t21.sandbox.linkedin`; see its docstring and `organizations`.
Its `/_control` records name the network `linkedin_page`."""

from __future__ import annotations

from starlette.applications import Starlette

from t21.sandbox.linkedin import LinkedInState, create_linkedin_app
from t21.sandbox.linkedin.auth import KNOWN_SCOPES

# The scopes an app with the Community Management API product has for pages.
PAGE_APP_SCOPES = frozenset(
    {"openid", "profile", "email", "w_member_social"}
    | {"w_organization_social", "r_organization_social", "rw_organization_admin"}
)

__all__ = ["create_linkedin_page_app"]


def create_linkedin_page_app(state: LinkedInState | None = None) -> Starlette:
    """The fake for page accounts: a LinkedIn whose app has the Community Management API
    product (so the organization scopes can be granted)."""
    if state is None:
        scopes = PAGE_APP_SCOPES & KNOWN_SCOPES
        state = LinkedInState(name="linkedin_page", app_scopes=scopes, default_app_scopes=scopes)
    return create_linkedin_app(state)
