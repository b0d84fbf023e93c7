"""Google's OAuth 2.0 for web server apps, shared by the networks T21 reaches through Google
(YouTube, Google Business Profile): consent with offline access and incremental scopes, the
code exchange, refreshing and revoking, each failure classified once.

- The authorization URL asks for `access_type=offline` (a refresh token), `prompt=consent`
  (so a reconnect returns one again) and `include_granted_scopes=true` (incremental consent:
  the new grant carries the scopes the person granted the app before). Source:
  https://developers.google.com/identity/protocols/oauth2/web-server (#creatingclient,
  #incrementalAuth, #offline)
- Token endpoint `https://oauth2.googleapis.com/token`: `{access_token, expires_in,
  refresh_token?, scope, token_type}`; `scope` is space-separated and lists what the person
  actually granted (granular consent lets them untick scopes). A refresh answers no new refresh
  token; `invalid_grant` means it was revoked or expired (a person must sign in again). Source:
  https://developers.google.com/identity/protocols/oauth2/web-server#exchange-authorization-code
  and #offline, https://developers.google.com/identity/protocols/oauth2#expiration
- Revoking: `POST https://oauth2.googleapis.com/revoke` with `token` (form); 200 on success,
  400 for a token already invalid. Revoking either token revokes the grant. Source:
  https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke

The browser's page (`/o/oauth2/v2/auth`) is on accounts.google.com and the token endpoints on
oauth2.googleapis.com; a network configured with another `auth_base` (the sandbox, a proxy) has
all three under it.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlencode

from t21.core.outside import Permanent, ReauthRequired, Retryable
from t21.platforms.base import PlatformConfig, TokenGrant
from t21.platforms.http import PlatformHttp, json_body, retry_after_seconds

GOOGLE_ACCOUNTS = "https://accounts.google.com"
GOOGLE_TOKENS = "https://oauth2.googleapis.com"
AUTHORIZE_PATH = "/o/oauth2/v2/auth"


def s256(verifier: str) -> str:
    """The PKCE challenge of `verifier` (RFC 7636 S256)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_endpoint(config: PlatformConfig) -> str:
    """Where the browser consents: Google's accounts host, or `auth_base` when that isn't
    Google's token host (a fake or a proxy serving every endpoint)."""
    base = GOOGLE_ACCOUNTS if config.auth_base == GOOGLE_TOKENS else config.auth_base
    return base + AUTHORIZE_PATH


def authorization_url(
    config: PlatformConfig,
    scopes: tuple[str, ...],
    *,
    state: str,
    redirect_uri: str,
    code_verifier: str | None,
    login_hint: str | None = None,
) -> str:
    """Consent for `scopes` with offline access, added to what the person granted before."""
    params = {
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(scopes),
        "state": state,
        "access_type": "offline",
        "include_granted_scopes": "true",
        "prompt": "consent",
    }
    if code_verifier:
        params |= {"code_challenge": s256(code_verifier), "code_challenge_method": "S256"}
    if login_hint:
        params["login_hint"] = login_hint
    return f"{authorize_endpoint(config)}?{urlencode(params)}"


async def exchange_code(
    config: PlatformConfig, *, code: str, redirect_uri: str, code_verifier: str | None
) -> TokenGrant:
    form = {"code": code, "grant_type": "authorization_code", "redirect_uri": redirect_uri}
    if code_verifier:
        form["code_verifier"] = code_verifier
    return await _token(config, form, what="the authorization code")


async def refresh(config: PlatformConfig, refresh_token: str) -> TokenGrant:
    """A new access token; Google keeps the refresh token (`refresh_token` None)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return await _token(config, form, what="the token refresh")


async def revoke(config: PlatformConfig, token: str) -> bool:
    """Revoke the grant `token` belongs to; a token Google no longer knows counts as revoked."""
    async with PlatformHttp(config) as http:
        response = await http.request("POST", f"{config.auth_base}/revoke", data={"token": token})
    if response.status_code == 200 or response.status_code == 400:
        return True
    if response.status_code == 429 or response.status_code >= 500:
        raise Retryable(
            f"Google answered {response.status_code} to revoking the access.",
            after=retry_after_seconds(response),
            code="revoke_failed",
        )
    raise Permanent(f"Google refused to revoke the access ({response.status_code}).")


async def _token(config: PlatformConfig, form: dict[str, str], *, what: str) -> TokenGrant:
    credentials = {"client_id": config.client_id, "client_secret": config.client_secret}
    async with PlatformHttp(config) as http:
        response = await http.request("POST", f"{config.auth_base}/token", data=credentials | form)
    body = json_body(response)
    answer = body if isinstance(body, dict) else {}
    if response.status_code != 200:
        error = str(answer.get("error") or "")
        described = f"Google refused {what}: {error or response.status_code}"
        if error == "invalid_grant":
            raise ReauthRequired(described, code="invalid_grant")
        if error in ("invalid_client", "unauthorized_client"):
            raise Permanent(f"{described} (check T21's Google OAuth client).", code=error)
        if response.status_code == 429 or response.status_code >= 500:
            raise Retryable(described, after=retry_after_seconds(response), code="token_failed")
        raise Permanent(described, code=error or f"http_{response.status_code}")
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise Retryable(f"Google answered {what} without an access token.", code="no_token")
    expires = answer.get("expires_in")
    refresh_token = answer.get("refresh_token")
    return TokenGrant(
        access_token=token,
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        expires_in=expires if isinstance(expires, int) else None,
        scopes=frozenset(str(answer.get("scope") or "").split()),
    )
