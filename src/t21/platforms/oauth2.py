"""What the OAuth 2.0 token endpoints of most networks share (RFC 6749 §5.1 and §6): the form
that refreshes a grant, and the grant read from a successful answer (`access_token`,
`refresh_token`, `expires_in`, `scope`, and the refresh token's own lifetime where the network
gives one). How a network authenticates T21's client and classifies a refusal stays with it
(`NETWORKS.md`: each network's `wire` classifies its failures).

Source: https://www.rfc-editor.org/rfc/rfc6749#section-5.1 and #section-6
"""

from __future__ import annotations

from typing import Any

from t21.core.outside import ReauthRequired, Retryable
from t21.platforms.base import Credentials, TokenGrant


def require_scopes(grant: TokenGrant, required: frozenset[str], network: str) -> None:
    """Refuse a sign-in whose person unticked scopes T21 needs, naming them."""
    missing = required - grant.scopes
    if missing:
        raise ReauthRequired(
            f"{network} was connected without the permissions T21 needs "
            f"({', '.join(sorted(missing))}); connect again and allow all of them.",
            code="scope_missing",
        )


def refresh_form(credentials: Credentials, network: str) -> dict[str, str]:
    """The refresh request's form; without a refresh token only the person can help."""
    if not credentials.refresh_token:
        raise ReauthRequired(
            f"{network} gave no refresh token; connect the account again.",
            code="no_refresh_token",
        )
    return {"grant_type": "refresh_token", "refresh_token": credentials.refresh_token}


def grant_of(
    body: Any, *, network: str, what: str, refresh_lifetime: str = "refresh_expires_in"
) -> TokenGrant:
    """The grant in a token endpoint's successful answer to `what`. A new refresh token, when
    the network rotates them, replaces the stored one; scopes may be separated by commas or
    spaces; `refresh_lifetime` names the field of the refresh token's lifetime."""
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(token, str) or not token:
        raise Retryable(f"{network} answered {what} without an access token.", code="no_token")
    refresh = body.get("refresh_token")
    scope = str(body.get("scope") or "")
    return TokenGrant(
        access_token=token,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_in=seconds(body.get("expires_in")),
        refresh_expires_in=seconds(body.get(refresh_lifetime)),
        scopes=frozenset(scope.replace(",", " ").split()),
    )


def seconds(value: Any) -> int | None:
    """A lifetime in seconds, sent as a number or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
