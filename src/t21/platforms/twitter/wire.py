"""X API v2's wire conventions: its error envelopes turned into T21's failure classes (once,
here), its rate-limit headers, and a small client for the user-context calls."""

from __future__ import annotations

from typing import Any

import httpx

from t21.core.outside import (
    Ambiguous,
    OutsideFailure,
    Permanent,
    ReauthRequired,
    Retryable,
)
from t21.platforms.base import Credentials, PlatformConfig
from t21.platforms.http import PlatformHttp, json_body, retry_after_seconds

# Windows X reports, most specific last; the one whose remaining is 0 says when to come back.
LIMIT_HEADERS = ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour")
# A 429 without any reset header (X always sends them; a proxy might not): a short wait.
DEFAULT_BACKOFF_S = 60.0
DUPLICATE_HINT = "duplicate content"


def problem_kind(body: Any) -> str | None:
    """The last part of a problem's `type` (`https://api.x.com/2/problems/<kind>`)."""
    if not isinstance(body, dict):
        return None
    kind = body.get("type")
    if isinstance(kind, str) and "/problems/" in kind:
        return kind.rsplit("/", 1)[-1]
    return None


def error_message(body: Any, status: int) -> str:
    """X's own words for a refusal: each `errors[].message`, else the problem's `detail` or
    `title`, else OAuth's `error_description`."""
    if isinstance(body, dict):
        errors = body.get("errors")
        messages = [
            item["message"]
            for item in errors or []
            if isinstance(item, dict) and isinstance(item.get("message"), str)
        ]
        if messages:
            return " ".join(messages)
        for key in ("detail", "title", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return f"HTTP {status}"


def rate_limit_after(response: httpx.Response) -> float:
    """Seconds until the spent window resets: `Retry-After` if sent, else the reset of the
    exhausted window (the app's 24-hour one can run out while the 15-minute one hasn't)."""
    after = retry_after_seconds(response)
    if after is not None:
        return after
    spent = [
        f"{prefix}-reset"
        for prefix in LIMIT_HEADERS
        if response.headers.get(f"{prefix}-remaining") == "0"
    ]
    waits = [retry_after_seconds(response, header) for header in spent or ["x-rate-limit-reset"]]
    known = [wait for wait in waits if wait is not None]
    return max(known) if known else DEFAULT_BACKOFF_S


def classify(response: httpx.Response, *, publishing: bool = False) -> OutsideFailure:
    """The one failure class of a refused X API call; `publishing` marks `POST /2/tweets`,
    whose 5xx may have created the post."""
    status = response.status_code
    body = json_body(response)
    kind = problem_kind(body)
    message = f"X: {error_message(body, status)}"
    if status == 401:
        return ReauthRequired(message, code="unauthorized")
    if status == 429:
        if kind == "usage-capped":
            # The app's monthly cap, not a window: retrying soon can't help.
            return Permanent(message, code="usage_capped")
        return Retryable(message, after=rate_limit_after(response), code="rate_limited")
    if status >= 500:
        if publishing:
            return Ambiguous(message, code="server_error")
        return Retryable(message, after=retry_after_seconds(response), code="server_error")
    if status == 403:
        title = body.get("title") if isinstance(body, dict) else None
        if kind == "unsupported-authentication" or title == "Unsupported Authentication":
            # The token lacks a scope (or isn't a user token): reconnecting grants it again.
            return ReauthRequired(message, code="missing_scope")
        if DUPLICATE_HINT in message.lower():
            return Permanent(message, code="duplicate")
        return Permanent(message, code="forbidden")
    if status == 400:
        return Permanent(message, code="invalid_request")
    return Permanent(message, code=f"http_{status}")


def token_failure(response: httpx.Response, *, refreshing: bool) -> OutsideFailure:
    """A refused OAuth call (`/2/oauth2/token`, `/2/oauth2/revoke`), answered
    `{error, error_description}`; a bad refresh token is a 400 `invalid_request`."""
    status = response.status_code
    body = json_body(response)
    message = f"X: {error_message(body, status)}"
    if status == 429:
        return Retryable(message, after=rate_limit_after(response), code="rate_limited")
    if status >= 500:
        return Retryable(message, after=retry_after_seconds(response), code="server_error")
    error = body.get("error") if isinstance(body, dict) else None
    if status == 401 or error in ("invalid_client", "unauthorized_client"):
        # T21's own client id or secret is wrong: no person can fix that by reconnecting.
        return Permanent(message, code="invalid_client")
    if refreshing:
        return ReauthRequired(message, code="refresh_refused")
    return Permanent(message, code=str(error or f"http_{status}"))


def data_of(body: dict[str, Any]) -> dict[str, Any]:
    """An answer's `data` object, empty when absent or not an object."""
    data = body.get("data")
    return data if isinstance(data, dict) else {}


def unexpected(what: str) -> Retryable:
    """A success answer without the fields X documents."""
    return Retryable(f"X answered {what} unexpectedly", code="bad_answer")


class XApi:
    """User-context calls to `api_base` (or `upload_base` for media) with one account's token."""

    def __init__(self, http: PlatformHttp, config: PlatformConfig, credentials: Credentials):
        self.http = http
        self.config = config
        self.credentials = credentials

    def url(self, path: str, *, upload: bool = False) -> str:
        base = (self.config.upload_base or self.config.api_base) if upload else None
        return f"{base or self.config.api_base}{path}"

    async def send(
        self,
        method: str,
        path: str,
        *,
        upload: bool = False,
        publishing: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.credentials.access_token}"}
        response = await self.http.request(
            method, self.url(path, upload=upload), publishing=publishing, headers=headers, **kwargs
        )
        if response.status_code >= 300:
            raise classify(response, publishing=publishing)
        return response

    async def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.send(method, path, **kwargs)
        body = json_body(response)
        if not isinstance(body, dict):
            # A publishing answer without a body still may have published.
            if kwargs.get("publishing"):
                raise Ambiguous(f"X answered {path} without a body", code="bad_answer")
            raise unexpected(path)
        return body
