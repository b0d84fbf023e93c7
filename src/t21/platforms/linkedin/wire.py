"""LinkedIn's wire conventions: the versioned headers, its error envelopes turned into T21's
failure classes, and the `little` text format of post commentary."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from t21.core import clock
from t21.core.outside import (
    Ambiguous,
    OutsideFailure,
    Permanent,
    ReauthRequired,
    Retryable,
)
from t21.platforms.http import json_body, retry_after_seconds

# Versions are retired about a year after release; a retired one answers 426 NONEXISTENT_VERSION.
API_VERSION = "202601"
RESTLI_PROTOCOL = "2.0.0"
# A 429 that names no daily limit and carries no Retry-After is LinkedIn protecting its
# infrastructure: back off briefly rather than until midnight.
INFRASTRUCTURE_BACKOFF_S = 60.0

REVOKED_CODES = frozenset({"REVOKED_ACCESS_TOKEN", 65601})
EXPIRED_CODES = frozenset({"EXPIRED_ACCESS_TOKEN", 65602})

# Characters the `little` format reserves; each must be backslash-escaped to be plain text.
# Unescaped, LinkedIn silently cuts the commentary at the first one.
LITTLE_RESERVED = frozenset("\\|{}@[]()<>#*_~")
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def rest_headers(access_token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {access_token}",
        "LinkedIn-Version": API_VERSION,
        "X-Restli-Protocol-Version": RESTLI_PROTOCOL,
    }


def _starts_hashtag(text: str, index: int) -> bool:
    """Whether the `#` at `index` begins a hashtag: followed by a letter or digit and not glued
    to the end of a word ("C#", "issue#3" stay plain text)."""
    following = text[index + 1 : index + 2]
    if not following or not following.isalnum():
        return False
    return index == 0 or not (text[index - 1].isalnum() or text[index - 1] == "_")


def escape_little(text: str) -> str:
    """`text` as `little` commentary that renders exactly as written.

    Every reserved character is escaped except a `#` that starts a hashtag, which is left raw so
    the hashtag stays clickable (the HashtagElement is written `#word`). URLs are escaped like any
    other text: an escape only says "this character is literal", and leaving a `(` or `_` of a URL
    raw would risk the silent truncation. T21 has no mention entities, so `@` is always plain.
    """
    out: list[str] = []
    for index, char in enumerate(text):
        if char == "#" and _starts_hashtag(text, index):
            out.append(char)
        elif char in LITTLE_RESERVED:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def unescape_little(commentary: str) -> str:
    """Plain text of `little` commentary written by `escape_little` (posts read back)."""
    return _ESCAPED.sub(r"\1", commentary)


def seconds_until_utc_midnight() -> float:
    """LinkedIn's daily limits reset at midnight UTC."""
    now = clock.now().astimezone(UTC)
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    return (midnight - now).total_seconds()


def error_message(body: Any, status: int) -> str:
    """LinkedIn's own words for a refusal: the REST `message`, or OAuth's description."""
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return f"HTTP {status}"


def _envelope_codes(body: Any) -> set[Any]:
    if not isinstance(body, dict):
        return set()
    return {body.get("code"), body.get("serviceErrorCode")} - {None}


def classify(
    response: httpx.Response, *, publishing: bool = False, scope_missing: bool = False
) -> OutsideFailure:
    """The one failure class of a refused LinkedIn API call.

    `publishing` marks THE request that creates the post (its 5xx may have taken effect);
    `scope_missing` says the credentials were granted without the scope this call needs, which
    turns a 403 into ReauthRequired: reconnecting asks for the scope again. A 403 despite the
    scope is LinkedIn refusing the app or the member (product not approved, no page role):
    reconnecting would not help, so it is Permanent.
    """
    status = response.status_code
    body = json_body(response)
    message = f"LinkedIn: {error_message(body, status)}"
    codes = _envelope_codes(body)
    if status == 401:
        if codes & REVOKED_CODES:
            return ReauthRequired(message, code="revoked")
        if codes & EXPIRED_CODES:
            return ReauthRequired(message, code="expired")
        return ReauthRequired(message, code="invalid_token")
    if status == 403:
        if scope_missing:
            return ReauthRequired(message, code="missing_scope")
        return Permanent(message, code="forbidden")
    if status == 429:
        return Retryable(message, after=_throttle_after(response, message), code="rate_limited")
    if status >= 500:
        if publishing:
            return Ambiguous(message, code="server_error")
        return Retryable(message, code="server_error")
    if status == 426:
        # Our pinned LinkedIn-Version was retired: only a T21 release fixes that.
        return Permanent(message, code="version_retired")
    return Permanent(message, code=f"http_{status}")


def _throttle_after(response: httpx.Response, message: str) -> float:
    after = retry_after_seconds(response)
    if after is not None:
        return after
    if " DAY " in f" {message.upper()} ":
        return seconds_until_utc_midnight()
    return INFRASTRUCTURE_BACKOFF_S


def token_failure(response: httpx.Response, *, refreshing: bool) -> OutsideFailure:
    """A refused OAuth call (`/oauth/v2/accessToken`, `/oauth/v2/revoke`). LinkedIn answers
    `{error, error_description}`; a bad refresh token is a 400 `invalid_request`."""
    status = response.status_code
    body = json_body(response)
    message = f"LinkedIn: {error_message(body, status)}"
    if status == 429:
        return Retryable(message, after=_throttle_after(response, message), code="rate_limited")
    if status >= 500:
        return Retryable(message, code="server_error")
    error = body.get("error") if isinstance(body, dict) else None
    if error == "invalid_client" or status == 401:
        # T21's own client id or secret is wrong: no person can fix that by reconnecting.
        return Permanent(message, code="invalid_client")
    if refreshing:
        return ReauthRequired(message, code="refresh_refused")
    return Permanent(message, code=str(error or f"http_{status}"))


def unexpected(what: str) -> Retryable:
    """A success answer without the fields LinkedIn documents (nothing was published)."""
    return Retryable(f"LinkedIn answered {what} unexpectedly", code="bad_answer")
