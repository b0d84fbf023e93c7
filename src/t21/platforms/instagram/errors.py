"""Instagram's failures, classified once (PLATFORMS.md §1 and §2 "Errors seen in practice").

Graph answers `{"error": {message, type, code, error_subcode, error_user_title, error_user_msg,
is_transient, fbtrace_id}}`, mostly at HTTP 400 (500 for codes 1 and 2). The Instagram login host
answers `{"error_type", "code", "error_message"}`. The subcode decides first (code 4 with subcode
2207051 is a spam refusal, not throttling), then the code, then the HTTP status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from t21.core.outside import Ambiguous, OutsideFailure, Permanent, ReauthRequired, Retryable
from t21.platforms.http import json_body, retry_after_seconds

PUBLISHING_LIMIT_SUBCODE = 2207042
# Transient media failures: download timeout, server error, media not found, builder expired,
# media expired, not ready yet, container creation failed, fetch failed, upload errors.
# 2207001 is "Instagram server error. Try again." in Meta's error table (postiz reads it as spam;
# the official table wins).
RETRY_SUBCODES = frozenset(
    {2207001, 2207003, 2207006, 2207008, 2207020, 2207027, 2207032, 2207052, 2207053, 2207082}
)
# With code 190/102: app not installed, checkpointed, password changed, expired, unconfirmed,
# logged out.
AUTH_SUBCODES = frozenset({458, 459, 460, 463, 464, 467})
AUTH_CODES = frozenset({102, 190})
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
SERVER_CODES = frozenset({-2, -1, 1, 2})
NOT_READY_CODE = 9007
# Meta's app-level window rolls over an hour; with no estimate in the headers, wait a while.
DEFAULT_THROTTLE_AFTER_S = 300.0
NOT_READY_AFTER_S = 30.0
_SUBCODE_IN_TEXT = re.compile(r"\b(2207\d{3})\b")


@dataclass(frozen=True)
class GraphError:
    status: int
    code: int | None
    subcode: int | None
    message: str
    user_title: str | None = None
    user_msg: str | None = None
    transient: bool = False
    raw: str = ""

    def shown(self, redact: Iterable[str]) -> str:
        """The network's own words, safe to show a user (never a secret)."""
        if self.user_msg:
            text = f"{self.user_title}: {self.user_msg}" if self.user_title else self.user_msg
        else:
            text = self.message or f"HTTP {self.status}"
        return "Instagram: " + scrub(text, redact)


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def parse(response: httpx.Response) -> GraphError | None:
    """The Graph (or Instagram login) error in `response`, if it carries one."""
    body = json_body(response)
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        return GraphError(
            status=response.status_code,
            code=_int(error.get("code")),
            subcode=_int(error.get("error_subcode")),
            message=str(error.get("message") or ""),
            user_title=error.get("error_user_title") or None,
            user_msg=error.get("error_user_msg") or None,
            transient=error.get("is_transient") is True,
            raw=response.text,
        )
    if "error_message" in body or "error_type" in body:
        return GraphError(
            status=response.status_code,
            code=_int(body.get("code")),
            subcode=None,
            message=str(body.get("error_message") or body.get("error_type") or ""),
            raw=response.text,
        )
    return None


def throttle_after(response: httpx.Response) -> float:
    """Seconds until the throttled app or account may call again: `Retry-After`, else the
    largest `estimated_time_to_regain_access` (minutes) of the usage headers, else a default."""
    after = retry_after_seconds(response)
    if after is not None:
        return after
    minutes = 0.0
    for header in ("x-business-use-case-usage", "x-app-usage"):
        raw = response.headers.get(header)
        if raw:
            minutes = max(minutes, _regain_minutes(raw))
    return minutes * 60 if minutes > 0 else DEFAULT_THROTTLE_AFTER_S


def _regain_minutes(raw: str) -> float:
    try:
        usage = json.loads(raw)
    except ValueError:
        return 0.0
    entries: list[Any] = []
    if isinstance(usage, dict) and "estimated_time_to_regain_access" in usage:
        entries.append(usage)
    elif isinstance(usage, dict):
        for value in usage.values():
            entries.extend(value if isinstance(value, list) else [value])
    found = [
        float(entry["estimated_time_to_regain_access"])
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("estimated_time_to_regain_access"), int | float)
    ]
    return max(found, default=0.0)


def classify(
    response: httpx.Response, *, publishing: bool = False, redact: Iterable[str] = ()
) -> OutsideFailure:
    """The one failure class of an unsuccessful answer. `publishing` marks THE request that
    publishes: a 5xx or an unknown server error there may have published the post."""
    redact = tuple(redact)
    error = parse(response)
    status = response.status_code
    if status >= 500 or (error is not None and error.code in SERVER_CODES and not error.subcode):
        message = error.shown(redact) if error else f"Instagram failed (HTTP {status})"
        if publishing:
            return Ambiguous(message, code="server_error")
        return Retryable(message, after=retry_after_seconds(response), code="server_error")
    if error is None:
        if status == 429:
            return Retryable("Instagram: too many requests", after=throttle_after(response))
        if status in (401, 403):
            return ReauthRequired(f"Instagram refused the token (HTTP {status})")
        return Permanent(f"Instagram refused the request (HTTP {status})")
    return _by_code(error, response, redact)


def _by_code(
    error: GraphError, response: httpx.Response, redact: tuple[str, ...]
) -> OutsideFailure:
    message = error.shown(redact)
    if error.subcode == PUBLISHING_LIMIT_SUBCODE:
        # When a slot frees is known only to the caller (it reads the account's recent posts).
        return Retryable(message, code="publishing_limit")
    if error.subcode in RETRY_SUBCODES:
        after = NOT_READY_AFTER_S if error.subcode == 2207027 else None
        return Retryable(message, after=after, code="media_retry")
    if error.subcode is not None and 2207000 <= error.subcode < 2208000:
        return Permanent(message, code="media_refused")
    if (
        error.code in AUTH_CODES
        or error.subcode in AUTH_SUBCODES
        or (error.code == 100 and error.subcode == 33)
        or "REVOKED_ACCESS_TOKEN" in error.raw
    ):
        return ReauthRequired(message, code="token_invalid")
    if error.code == 10 or (error.code is not None and 200 <= error.code <= 299):
        return ReauthRequired(message, code="permission_missing")
    if error.code in THROTTLE_CODES or response.status_code == 429:
        return Retryable(message, after=throttle_after(response), code="throttled")
    if error.code == NOT_READY_CODE:
        return Retryable(message, after=NOT_READY_AFTER_S, code="not_ready")
    if error.transient:
        return Retryable(message, after=retry_after_seconds(response), code="transient")
    return Permanent(message, code="refused")


def container_failure(status: str | None) -> OutsideFailure:
    """A container that ended in ERROR: its `status` text carries the subcode."""
    text = status or "the media could not be processed"
    match = _SUBCODE_IN_TEXT.search(text)
    message = f"Instagram could not process the media: {text}"
    if match is not None and int(match.group(1)) in RETRY_SUBCODES:
        return Retryable(message, code="media_retry")
    return Permanent(message, code="media_refused")
