"""TikTok's wire protocol: its answer envelope, how each failure is classified, and the chunk
arithmetic of file uploads (PLATFORMS.md §6).

Every API answer is `{"data": {...}, "error": {"code": "ok"|<code>, "message", "log_id"}}`;
the OAuth endpoints answer flat (`{access_token, ...}` or `{error, error_description, log_id}`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import httpx

from t21.core.outside import Ambiguous, Permanent, ReauthRequired, Retryable
from t21.platforms.base import PlatformConfig
from t21.platforms.http import PlatformHttp, json_body, retry_after_seconds
from t21.platforms.oauth2 import seconds

MIB = 1024 * 1024
# TikTok's chunk rules: each chunk 5–64 MB, the last up to 128 MB (it absorbs the remainder),
# files under 5 MB in one chunk, 1–1000 chunks. 10 MiB chunks (the size of TikTok's own
# media-transfer example) satisfy those bounds read as MB or MiB, and 4 GB needs 410 of them.
MIN_CHUNK_BYTES = 5 * MIB
MAX_CHUNK_BYTES = 64 * MIB
MAX_LAST_CHUNK_BYTES = 128 * MIB
MAX_CHUNKS = 1000
CHUNK_BYTES = 10 * MIB

# TikTok sends no reset headers; its limits are per token per minute, so a full window is
# the longest wait before the next request is accepted.
RATE_WINDOW_S = 60.0

REAUTH_CODES = frozenset(
    {
        "access_token_invalid",
        "scope_not_authorized",
        "scope_permission_missed",
        "invalid_grant",  # OAuth: an expired, used or revoked code or refresh token
    }
)
# Everything else TikTok refuses is PERMANENT: invalid_params / invalid_param,
# invalid_file_upload, spam_risk_*, privacy_level_option_mismatch, url_ownership_unverified,
# unaudited_client_can_only_post_to_private_accounts, and reached_active_user_cap. postiz
# disconnects the account on the last one, but it is the *app's* daily cap on distinct posting
# users (unaudited apps: 5 a day): reconnecting cannot lift it, so it is shown as a refusal
# the user may try again tomorrow, not as a reconnect request.


@dataclass(frozen=True)
class ApiError:
    status: int
    code: str
    message: str


def api_error(response: httpx.Response) -> ApiError | None:
    """TikTok's error in `response`, or None when it succeeded (2xx and code "ok" or none)."""
    body = json_body(response)
    code, message = "", ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = str(error.get("code") or "")
            message = str(error.get("message") or "")
        elif isinstance(error, str):  # the OAuth endpoints' flat form
            code = error
            message = str(body.get("error_description") or "")
    if response.is_success and code in ("", "ok"):
        return None
    return ApiError(response.status_code, code or f"http_{response.status_code}", message)


def raise_for(
    response: httpx.Response, error: ApiError, *, what: str, publishing: bool = False
) -> NoReturn:
    """Raise `error` as the one failure class it is. `publishing` marks THE request whose
    success makes the post appear: a 5xx there may have published it."""
    detail = f"{error.message} ({error.code})" if error.message else error.code
    if error.code in REAUTH_CODES or (error.status == 401 and error.code != "invalid_client"):
        raise ReauthRequired(
            f"TikTok refused the account's authorization: {detail}", code=error.code
        )
    if error.code == "rate_limit_exceeded" or error.status == 429:
        after = retry_after_seconds(response)
        raise Retryable(
            f"TikTok's rate limit for {what} is reached: {detail}",
            after=RATE_WINDOW_S if after is None else after,
            code=error.code,
        )
    if error.code == "internal_error" or error.status >= 500:
        message = f"TikTok failed on {what}: {detail}"
        if publishing:
            raise Ambiguous(message, code=error.code)
        raise Retryable(message, code=error.code)
    raise Permanent(f"TikTok refused {what}: {detail}", code=error.code)


def envelope_data(
    response: httpx.Response, *, what: str, publishing: bool = False
) -> dict[str, Any]:
    """The `data` of a successful answer; any failure raised as its class."""
    error = api_error(response)
    if error is not None:
        raise_for(response, error, what=what, publishing=publishing)
    body = json_body(response)
    return as_dict(body.get("data") if isinstance(body, dict) else None)


def chunk_plan(video_size: int, preferred: int = CHUNK_BYTES) -> tuple[int, int]:
    """`(chunk_size, total_chunk_count)` for a file upload: one chunk up to `preferred`
    bytes (which covers files under 5 MB), else `floor(size / chunk_size)` chunks, the last
    absorbing the remainder (< 2 × chunk_size, so under TikTok's 128 MB)."""
    if video_size <= preferred:
        return video_size, 1
    return preferred, video_size // preferred


def chunk_ranges(video_size: int, chunk_size: int, count: int) -> list[tuple[int, int]]:
    """Inclusive `(first, last)` byte ranges of each chunk, in upload order."""
    ranges = [(index * chunk_size, (index + 1) * chunk_size - 1) for index in range(count - 1)]
    ranges.append(((count - 1) * chunk_size, video_size - 1))
    return ranges


class TikTokApi:
    """Authenticated JSON calls to TikTok's API within one operation's HTTP client."""

    def __init__(self, http: PlatformHttp, config: PlatformConfig, access_token: str) -> None:
        self.http = http
        self.config = config
        self._headers = {
            "Authorization": f"Bearer {access_token}",
            "Content-Type": "application/json; charset=UTF-8",
        }

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
            f"{self.config.api_base}{path}",
            params=params,
            json=json,
            headers=self._headers,
            publishing=publishing,
        )
        return envelope_data(response, what=what, publishing=publishing)


# An integer field TikTok may send as a number or a digit string: read as OAuth lifetimes are.
as_int = seconds


def as_datetime(value: Any) -> datetime | None:
    """A Unix-seconds field (create_time) as an aware UTC datetime."""
    seconds = as_int(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
