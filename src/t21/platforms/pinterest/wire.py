"""Pinterest API v5 on the wire: authenticated JSON calls, bookmark pages, and how each
failure is classified (once, here).

Errors are `{"code": <int>, "message": <str>}` with the HTTP status saying the kind: 401 an
access token Pinterest no longer takes (`{"code": 2, "message": "Authentication failed."}`),
429 a rate limit, 5xx Pinterest's own failure. A 429 whose message names spam is Pinterest
refusing the content, not the pace (api-quickstart's `SpamException`).
"""

from __future__ import annotations

from typing import Any, NoReturn

import httpx

from t21.core.outside import Ambiguous, Permanent, ReauthRequired, Retryable
from t21.platforms.base import PlatformConfig
from t21.platforms.http import PlatformHttp, json_body, retry_after_seconds

# Without a reset header, a full minute: Pinterest's standard-access limits are per minute.
RATE_WINDOW_S = 60.0
# `x-ratelimit-reset` below this is seconds to wait; above it, a Unix time (unconfirmed which
# Pinterest sends, so both are read).
_RESET_AS_SECONDS_BELOW = 1_000_000_000
PAGE_SIZE = 250  # bookmark pages: page_size 1-250, default 25


def error_of(response: httpx.Response) -> tuple[str, str]:
    """Pinterest's `(code, message)` of a failed answer."""
    body = json_body(response)
    code, message = "", ""
    if isinstance(body, dict):
        code = str(body.get("code") or "")
        message = str(body.get("message") or body.get("message_detail") or "")
    return code or f"http_{response.status_code}", message or response.reason_phrase


def rate_limit_wait(response: httpx.Response) -> float:
    """Seconds until Pinterest takes requests again: Retry-After, else `x-ratelimit-reset`
    (seconds, or a Unix time), else a minute."""
    after = retry_after_seconds(response)
    if after is not None:
        return after
    reset = response.headers.get("x-ratelimit-reset")
    try:
        value = float(reset) if reset else None
    except ValueError:
        value = None
    if value is not None and value < _RESET_AS_SECONDS_BELOW:
        return max(0.0, value)
    if value is not None:
        return retry_after_seconds(response, "x-ratelimit-reset") or 0.0
    return RATE_WINDOW_S


def raise_for(response: httpx.Response, *, what: str, publishing: bool = False) -> NoReturn:
    """Raise the failed `response` as the one class it is. `publishing` marks the request
    whose success makes the pin exist: a 5xx there may have made it."""
    status = response.status_code
    code, message = error_of(response)
    detail = f"{message} (code {code})"
    if status == 401:
        raise ReauthRequired(f"Pinterest refused the account's token for {what}: {detail}")
    if status == 429:
        if "spam" in message.lower():
            raise Permanent(f"Pinterest refused {what} as spam: {detail}", code="spam")
        raise Retryable(
            f"Pinterest's rate limit for {what} is reached: {detail}",
            after=rate_limit_wait(response),
            code="rate_limited",
        )
    if status >= 500:
        text = f"Pinterest failed on {what}: {detail}"
        if publishing:
            raise Ambiguous(text, code="server_error")
        raise Retryable(text, code="server_error")
    raise Permanent(f"Pinterest refused {what}: {detail}", code=f"pinterest_{code}")


class PinterestApi:
    """Authenticated calls to API v5 within one operation's HTTP client."""

    def __init__(self, http: PlatformHttp, config: PlatformConfig, access_token: str) -> None:
        self.http = http
        self.config = config
        self._headers = {"Authorization": f"Bearer {access_token}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        publishing: bool = False,
    ) -> dict[str, Any]:
        response = await self.http.request(
            method,
            f"{self.config.api_base}/v5{path}",
            params=params,
            json=json,
            headers=self._headers,
            publishing=publishing,
        )
        if not response.is_success:
            raise_for(response, what=what, publishing=publishing)
        body = json_body(response)
        if not isinstance(body, dict):
            message = f"Pinterest answered {what} with no JSON object"
            if publishing:
                raise Ambiguous(message, code="bad_answer")
            raise Retryable(message, code="bad_answer")
        return body

    async def pages(
        self, path: str, *, what: str, params: dict[str, str] | None = None, most: int
    ) -> list[dict[str, Any]]:
        """Up to `most` items of a bookmark-paged listing, in Pinterest's order."""
        found: list[dict[str, Any]] = []
        query = dict(params or {}) | {"page_size": str(min(PAGE_SIZE, most))}
        while len(found) < most:
            body = await self.call("GET", path, what=what, params=query)
            found += [item for item in body.get("items") or [] if isinstance(item, dict)]
            bookmark = body.get("bookmark")
            if not isinstance(bookmark, str) or not bookmark:
                break
            query["bookmark"] = bookmark
        return found[:most]
