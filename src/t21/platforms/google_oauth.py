"""Google's OAuth 2.0 for web server apps, as every Google network (Business Profile, YouTube)
uses it: an authorization URL asking for offline access (a refresh token) with PKCE, the code
exchange, refreshing, revoking, and the token endpoint's refusals classified once.

`auth_base` is where the consent page lives (`https://accounts.google.com`); the token and
revocation endpoints are on `https://oauth2.googleapis.com` at Google, and on `auth_base` itself
anywhere else (the sandbox's fakes, a proxy).

Source: https://developers.google.com/identity/protocols/oauth2/web-server (authorization
parameters `access_type=offline`, `include_granted_scopes`, `prompt=consent`, PKCE S256; the
token endpoint https://oauth2.googleapis.com/token and its `expires_in`, `scope`,
`refresh_token` answer; refreshing with `grant_type=refresh_token`, which returns no new
refresh token; revoking with `POST https://oauth2.googleapis.com/revoke` `token=…`, 200 on
success, 400 for a token already invalid; revoking either token of a grant revokes it)
Source: https://developers.google.com/identity/protocols/oauth2 (refresh tokens stop working
when the user revokes access or after six months unused: `invalid_grant`)
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlencode

import httpx

from t21.core.outside import OutsideFailure, Permanent, ReauthRequired, Retryable
from t21.platforms.base import PlatformConfig, TokenGrant
from t21.platforms.http import PlatformHttp, json_body, retry_after_seconds

REAL_AUTH_BASE = "https://accounts.google.com"
REAL_TOKEN_BASE = "https://oauth2.googleapis.com"  # noqa: S105 (a host, not a secret)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_base(config: PlatformConfig) -> str:
    """Where the token and revocation endpoints are: Google's token host for Google's consent
    host, else `auth_base` itself (a fake or a proxy serving every endpoint)."""
    return REAL_TOKEN_BASE if config.auth_base == REAL_AUTH_BASE else config.auth_base


def authorization_url(
    config: PlatformConfig,
    scopes: tuple[str, ...],
    *,
    state: str,
    redirect_uri: str,
    code_verifier: str | None,
) -> str:
    """Google's consent page for `scopes` with offline access. `prompt=consent` makes Google
    issue a refresh token again when the person had already consented once."""
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
    if code_verifier is not None:
        params |= {"code_challenge": _s256(code_verifier), "code_challenge_method": "S256"}
    return f"{config.auth_base}/o/oauth2/v2/auth?{urlencode(params)}"


async def exchange_code(
    http: PlatformHttp,
    config: PlatformConfig,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
) -> TokenGrant:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    return await _token(http, config, form)


async def refresh(
    http: PlatformHttp, config: PlatformConfig, refresh_token: str | None
) -> TokenGrant:
    """A new access token; Google keeps the refresh token (the grant carries none). Without
    one (Google gave none: consent without offline access) only the person can help."""
    if not refresh_token:
        raise ReauthRequired(
            "Google gave this connection no refresh token; connect it again.",
            code="no_refresh_token",
        )
    return await _token(
        http, config, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


async def revoke(http: PlatformHttp, config: PlatformConfig, token: str) -> bool:
    """Revoke the grant `token` belongs to; a token Google no longer knows (400) counts as
    revoked. Google busy or failing is worth another try; anything else is refused."""
    response = await http.request("POST", f"{token_base(config)}/revoke", data={"token": token})
    if response.status_code in (200, 400):
        return True
    if response.status_code == 429 or response.status_code >= 500:
        raise Retryable(
            f"Google answered {response.status_code} to revoking the access.",
            after=retry_after_seconds(response),
            code="revoke_failed",
        )
    raise Permanent(f"Google refused to revoke the access ({response.status_code}).")


async def _token(http: PlatformHttp, config: PlatformConfig, form: dict[str, str]) -> TokenGrant:
    response = await http.request(
        "POST",
        f"{token_base(config)}/token",
        data={**form, "client_id": config.client_id, "client_secret": config.client_secret},
    )
    body = json_body(response)
    if response.status_code != 200 or not isinstance(body, dict):
        raise token_failure(response)
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise Retryable("Google answered without an access token.", code="bad_answer")
    expires = body.get("expires_in")
    refresh_token = body.get("refresh_token")
    return TokenGrant(
        access_token=access,
        refresh_token=refresh_token if isinstance(refresh_token, str) else None,
        expires_in=int(expires) if isinstance(expires, int | float) else None,
        scopes=frozenset(str(body.get("scope") or "").split()),
    )


def token_failure(response: httpx.Response) -> OutsideFailure:
    """A refusal of Google's token endpoint: a grant that no longer works (revoked, expired,
    unused for six months) needs the person again; a refused client is the operator's to fix."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    described = body.get("error_description") if isinstance(body, dict) else None
    message = f"Google refused the token request: {error or response.status_code}"
    if described:
        message += f" ({described})"
    if response.status_code == 429:
        return Retryable(message, after=retry_after_seconds(response), code="rate_limited")
    if response.status_code >= 500:
        return Retryable(message, code="server_error")
    if error == "invalid_grant":
        return ReauthRequired(message, code="invalid_grant")
    if error in ("invalid_client", "unauthorized_client"):
        return Permanent(f"{message}; check T21's Google client id and secret.", code=error)
    return Permanent(message, code=str(error or f"http_{response.status_code}"))
