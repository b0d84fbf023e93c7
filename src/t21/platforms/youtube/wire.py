"""The YouTube Data API exchange: JSON calls with a bearer token, Google's error envelope
`{"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}`, and each failure
classified once.

- The daily quota of T21's Google Cloud project is spent: 403 `quotaExceeded` (or
  `dailyLimitExceeded`). Nothing can go through before the reset at midnight Pacific time, so
  the failure is `Retryable` until then and says so.
- Too many requests too fast (`rateLimitExceeded`, `userRateLimitExceeded`, 429): a short wait.
- The channel has uploaded too many videos today (`uploadLimitExceeded`): until the next day.
- A token Google no longer takes (401), a grant without the scope (`insufficientPermissions`),
  an account without a channel (`youtubeSignupRequired`): a person must connect again.
- Any other 4xx: YouTube refused the request itself (`Permanent`, code = its reason).
- 5xx and lost answers: `Retryable`. Nothing T21 sends to YouTube is repeated blindly: an
  upload is resumed through its session, which says whether the video exists.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from t21.core import clock
from t21.core.outside import Permanent, ReauthRequired, Retryable
from t21.platforms.http import PlatformHttp, json_body, retry_after_seconds

PACIFIC = ZoneInfo("America/Los_Angeles")
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
REAUTH_REASONS = frozenset(
    {"insufficientPermissions", "youtubeSignupRequired", "authError", "unauthorized"}
)
RATE_WAIT_S = 60.0

Failure = Retryable | Permanent | ReauthRequired


def quota_reset(now: datetime | None = None) -> datetime:
    """When YouTube's daily quotas start again: the next midnight Pacific time (UTC)."""
    local = (now or clock.now()).astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), PACIFIC)
    return midnight.astimezone(UTC)


def quota_day_start(at: datetime) -> datetime:
    """The start (UTC) of the quota day `at` falls in: the last midnight Pacific time."""
    local = at.astimezone(PACIFIC)
    return datetime.combine(local.date(), datetime.min.time(), PACIFIC).astimezone(UTC)


def seconds_to_quota_reset(now: datetime | None = None) -> float:
    moment = now or clock.now()
    return max(1.0, (quota_reset(moment) - moment).total_seconds())


def quota_exhausted(what: str, now: datetime | None = None) -> Retryable:
    """The project's daily quota can't pay for `what`: wait for the reset, saying so."""
    reset = quota_reset(now)
    return Retryable(
        f"T21's daily YouTube API quota is used up, so {what} waits for its reset at midnight "
        f"Pacific time ({reset.strftime('%Y-%m-%d %H:%M')} UTC).",
        after=seconds_to_quota_reset(now),
        code="youtube_quota_exhausted",
    )


def error_reason(response: httpx.Response) -> tuple[str, str]:
    """The first error's `reason` and the message of Google's envelope ("" when absent)."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    errors = error.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return str(first.get("reason") or ""), str(error.get("message") or "")


def failure(response: httpx.Response, *, what: str) -> Failure:
    """A failed answer to `what`, classified."""
    status = response.status_code
    reason, message = error_reason(response)
    described = f"YouTube refused {what}: {message or reason or status}"
    if reason in QUOTA_REASONS:
        return quota_exhausted(what)
    if reason in RATE_REASONS or status == 429:
        return Retryable(
            described, after=retry_after_seconds(response) or RATE_WAIT_S, code="rate_limited"
        )
    if reason == "uploadLimitExceeded":
        return Retryable(described, after=seconds_to_quota_reset(), code="upload_limit")
    if status == 401 or reason in REAUTH_REASONS:
        return ReauthRequired(described, code=reason or "unauthorized")
    if status >= 500:
        return Retryable(described, after=retry_after_seconds(response), code="server_error")
    return Permanent(described, code=reason or f"http_{status}")


class DataApi:
    """Calls to the YouTube Data API v3 as one account."""

    def __init__(self, http: PlatformHttp, base: str, access_token: str) -> None:
        self.http = http
        self.base = f"{base}/youtube/v3"
        self.headers = {"Authorization": f"Bearer {access_token}"}

    async def get(self, path: str, params: dict[str, Any], *, what: str) -> dict[str, Any]:
        response = await self.http.request(
            "GET", f"{self.base}/{path}", params=params, headers=self.headers
        )
        return self.result(response, what=what)

    @staticmethod
    def result(response: httpx.Response, *, what: str) -> dict[str, Any]:
        if response.status_code not in (200, 201):
            raise failure(response, what=what)
        body = json_body(response)
        if not isinstance(body, dict):
            raise Retryable(f"YouTube answered {what} without JSON.", code="bad_answer")
        return body
