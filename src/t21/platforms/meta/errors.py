"""Meta's Graph failures, classified once for every network that speaks Graph (Instagram,
Threads).

Graph answers `{"error": {message, type, code, error_subcode, error_user_title, error_user_msg,
is_transient, fbtrace_id}}`, mostly at HTTP 400 (500 for codes 1 and 2); the Instagram login
host answers `{"error_type", "code", "error_message"}`. Codes 190/102 (and subcodes 458–467) are
a dead token, 10 and 200–299 a missing permission, 4/17/32/613 and HTTP 429 throttling, 1/2 and
5xx the server. A network's own codes (Instagram's media subcodes) are read first, by its
`GraphErrors` subclass.
Source: https://developers.facebook.com/docs/graph-api/guides/error-handling
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from t21.core.outside import Ambiguous, OutsideFailure, Permanent, ReauthRequired, Retryable
from t21.platforms.http import json_body, retry_after_seconds

AUTH_CODES = frozenset({102, 190})
# With code 190/102: app not installed, checkpointed, password changed, expired, unconfirmed,
# logged out.
AUTH_SUBCODES = frozenset({458, 459, 460, 463, 464, 467})
THROTTLE_CODES = frozenset({4, 17, 32, 613})
SERVER_CODES = frozenset({-2, -1, 1, 2})
# Meta's app-level window rolls over an hour; with no estimate in the headers, wait a while.
DEFAULT_THROTTLE_AFTER_S = 300.0


@dataclass(frozen=True)
class GraphError:
    network: str
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
        return f"{self.network}: " + scrub(text, redact)


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def graph_int(value: Any) -> int | None:
    """An integer as Graph writes one (a number or a string of digits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


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
        and not isinstance(entry.get("estimated_time_to_regain_access"), bool)
    ]
    return max(found, default=0.0)


class GraphErrors:
    """How one Graph host's failures are classified; a network overrides what differs."""

    network: ClassVar[str] = "Meta"
    throttle_codes: ClassVar[frozenset[int]] = THROTTLE_CODES

    def parse(self, response: httpx.Response) -> GraphError | None:
        """The Graph (or Instagram login host) error in `response`, if it carries one."""
        body = json_body(response)
        if not isinstance(body, dict):
            return None
        error = body.get("error")
        if isinstance(error, dict):
            return GraphError(
                network=self.network,
                status=response.status_code,
                code=graph_int(error.get("code")),
                subcode=graph_int(error.get("error_subcode")),
                message=str(error.get("message") or ""),
                user_title=_text(error.get("error_user_title")),
                user_msg=_text(error.get("error_user_msg")),
                transient=error.get("is_transient") is True,
                raw=response.text,
            )
        if "error_message" in body or "error_type" in body:
            return GraphError(
                network=self.network,
                status=response.status_code,
                code=graph_int(body.get("code")),
                subcode=None,
                message=str(body.get("error_message") or body.get("error_type") or ""),
                raw=response.text,
            )
        return None

    def is_server(self, error: GraphError) -> bool:
        return error.code in SERVER_CODES

    def dead_token(self, error: GraphError) -> bool:
        return error.code in AUTH_CODES or error.subcode in AUTH_SUBCODES

    def specific(self, error: GraphError, message: str) -> OutsideFailure | None:
        """The network's own codes, read before Graph's common ones (none by default)."""
        return None

    def classify(
        self, response: httpx.Response, *, publishing: bool = False, redact: Iterable[str] = ()
    ) -> OutsideFailure:
        """The one failure class of an unsuccessful answer. `publishing` marks THE request
        that publishes: a 5xx or an unknown server error there may have published the post."""
        redact = tuple(redact)
        error = self.parse(response)
        status = response.status_code
        name = self.network
        if status >= 500 or (error is not None and self.is_server(error)):
            message = error.shown(redact) if error else f"{name} failed (HTTP {status})"
            if publishing:
                return Ambiguous(message, code="server_error")
            return Retryable(message, after=retry_after_seconds(response), code="server_error")
        if error is None:
            if status == 429:
                return Retryable(f"{name}: too many requests", after=throttle_after(response))
            if status in (401, 403):
                return ReauthRequired(f"{name} refused the token (HTTP {status})")
            return Permanent(f"{name} refused the request (HTTP {status})")
        message = error.shown(redact)
        specific = self.specific(error, message)
        if specific is not None:
            return specific
        if self.dead_token(error):
            return ReauthRequired(message, code="token_invalid")
        if error.code == 10 or (error.code is not None and 200 <= error.code <= 299):
            return ReauthRequired(message, code="permission_missing")
        if error.code in self.throttle_codes or status == 429:
            return Retryable(message, after=throttle_after(response), code="throttled")
        if error.transient:
            return Retryable(message, after=retry_after_seconds(response), code="transient")
        return Permanent(message, code="refused")
