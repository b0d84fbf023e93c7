"""XRPC to a PDS (or the entryway): one call's request, with a session's Bearer token or a
DPoP-bound one, and its failure classified once (sources in the package's docstring)."""

from __future__ import annotations

from typing import Any

import httpx

from t21.core.outside import Ambiguous, Permanent, ReauthRequired, Retryable
from t21.platforms.bluesky.oauth import Dpop
from t21.platforms.http import PlatformHttp, json_body, retry_after_seconds

# Errors meaning the session is gone: a person must sign in again.
_SESSION_ERRORS = frozenset(
    {"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AccountTakedown"}
)


def _xrpc_error(response: httpx.Response) -> tuple[str, str]:
    body = json_body(response)
    if isinstance(body, dict):
        error, message = body.get("error"), body.get("message")
        return (
            error if isinstance(error, str) else "",
            message if isinstance(message, str) else "",
        )
    return "", ""


def failure(
    response: httpx.Response, *, publishing: bool = False
) -> Retryable | Permanent | ReauthRequired | Ambiguous:
    """One failed XRPC answer, classified: 429 with its `ratelimit-reset`, a dead session, a
    refused request, or a server failure (doubtful after the publishing request)."""
    status = response.status_code
    error, message = _xrpc_error(response)
    described = f"Bluesky answered {status} {error or ''}: {message or 'no message'}".replace(
        "  ", " "
    )
    if status == 429:
        return Retryable(
            described, after=retry_after_seconds(response, "ratelimit-reset"), code="rate_limited"
        )
    if status == 401 or error in _SESSION_ERRORS:
        return ReauthRequired(described, code="session_expired")
    if status >= 500:
        if publishing:
            return Ambiguous(described, code="server_error")
        return Retryable(described, code="server_error")
    return Permanent(described, code=error or f"http_{status}")


class Xrpc:
    """XRPC calls to one host with one token."""

    def __init__(
        self, http: PlatformHttp, base: str, token: str | None, dpop: Dpop | None = None
    ) -> None:
        self.http, self.base, self.token, self.dpop = http, base, token, dpop

    async def call(
        self,
        method: str,
        nsid: str,
        *,
        publishing: bool = False,
        token: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        headers = dict(kwargs.pop("headers", {}))
        bearer = token or self.token
        url = f"{self.base}/xrpc/{nsid}"
        if self.dpop is not None and token is None:
            # A DPoP-bound token: `Authorization: DPoP …` and a proof naming it (`ath`).
            response = await self.dpop.request(
                method, url, access_token=bearer, publishing=publishing, headers=headers, **kwargs
            )
        else:
            if bearer:
                headers["Authorization"] = f"Bearer {bearer}"
            response = await self.http.request(
                method, url, publishing=publishing, headers=headers, **kwargs
            )
        if response.status_code != 200:
            raise failure(response, publishing=publishing)
        if not response.content and nsid == "com.atproto.server.deleteSession":
            return {}  # a procedure without output answers an empty 200
        body = json_body(response)
        if not isinstance(body, dict):
            if publishing:
                raise Ambiguous(f"Bluesky answered {nsid} without JSON.", code="bad_answer")
            raise Retryable(f"Bluesky answered {nsid} without JSON.", code="bad_answer")
        return body
