"""Calling the Threads Graph API (`graph.threads.net/v1.0/...`) and classifying its failures once.

Threads speaks Graph: parameters and the token (`access_token`) in the query string for GET as
for POST, as every example of the reference shows
(https://developers.facebook.com/documentation/threads/posts,
https://developers.facebook.com/docs/threads/get-started/long-lived-tokens/), and errors in
Graph's envelope `{"error": {message, type, code, error_subcode, fbtrace_id}}`
(https://developers.facebook.com/docs/graph-api/guides/error-handling). Codes 190/102 (and
subcodes 458–467) are a dead token, 10 and 200–299 a missing permission, 4/17/32/613 and HTTP
429 throttling, 1/2 and 5xx the server. A URL carrying the token is never logged (httpx's request
log is silenced by `core.logging`; `platforms.http` reports transport failures by type only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from t21.core.outside import Ambiguous, OutsideFailure, Permanent, ReauthRequired, Retryable
from t21.platforms.base import PlatformConfig
from t21.platforms.http import PlatformHttp, json_body, retry_after_seconds

GRAPH_VERSION = "v1.0"
AUTH_CODES = frozenset({102, 190})
AUTH_SUBCODES = frozenset({458, 459, 460, 463, 464, 467})
THROTTLE_CODES = frozenset({4, 17, 32, 613})
SERVER_CODES = frozenset({-2, -1, 1, 2})
# Without an estimate in the headers, a throttled account waits this long.
DEFAULT_THROTTLE_AFTER_S = 300.0


@dataclass(frozen=True)
class ThreadsError:
    status: int
    code: int | None
    subcode: int | None
    message: str
    user_msg: str | None = None
    transient: bool = False

    def shown(self, redact: Iterable[str]) -> str:
        text = self.user_msg or self.message or f"HTTP {self.status}"
        for secret in redact:
            if secret:
                text = text.replace(secret, "[redacted]")
        return "Threads: " + text


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def parse(response: httpx.Response) -> ThreadsError | None:
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    user_msg = error.get("error_user_msg")
    return ThreadsError(
        status=response.status_code,
        code=_int(error.get("code")),
        subcode=_int(error.get("error_subcode")),
        message=str(error.get("message") or ""),
        user_msg=user_msg if isinstance(user_msg, str) and user_msg else None,
        transient=error.get("is_transient") is True,
    )


def throttle_after(response: httpx.Response) -> float:
    """`Retry-After`, else the largest `estimated_time_to_regain_access` (minutes) of Meta's
    usage headers, else a default."""
    after = retry_after_seconds(response)
    if after is not None:
        return after
    minutes = 0.0
    for header in ("x-business-use-case-usage", "x-app-usage"):
        raw = response.headers.get(header)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        entries: list[Any] = [usage]
        if isinstance(usage, dict):
            for value in usage.values():
                entries.extend(value if isinstance(value, list) else [value])
        for entry in entries:
            if isinstance(entry, dict):
                regain = entry.get("estimated_time_to_regain_access")
                if isinstance(regain, int | float) and not isinstance(regain, bool):
                    minutes = max(minutes, float(regain))
    return minutes * 60 if minutes > 0 else DEFAULT_THROTTLE_AFTER_S


def classify(
    response: httpx.Response, *, publishing: bool = False, redact: Iterable[str] = ()
) -> OutsideFailure:
    """The one failure class of an unsuccessful answer; `publishing` marks `threads_publish`,
    where a server error may have published the post."""
    redact = tuple(redact)
    error = parse(response)
    status = response.status_code
    if status >= 500 or (error is not None and error.code in SERVER_CODES):
        message = error.shown(redact) if error else f"Threads failed (HTTP {status})"
        if publishing:
            return Ambiguous(message, code="server_error")
        return Retryable(message, after=retry_after_seconds(response), code="server_error")
    if error is None:
        if status == 429:
            return Retryable("Threads: too many requests", after=throttle_after(response))
        if status in (401, 403):
            return ReauthRequired(f"Threads refused the token (HTTP {status})")
        return Permanent(f"Threads refused the request (HTTP {status})")
    message = error.shown(redact)
    if error.code in AUTH_CODES or error.subcode in AUTH_SUBCODES:
        return ReauthRequired(message, code="token_invalid")
    if error.code == 10 or (error.code is not None and 200 <= error.code <= 299):
        return ReauthRequired(message, code="permission_missing")
    if error.code in THROTTLE_CODES or status == 429:
        return Retryable(message, after=throttle_after(response), code="throttled")
    if error.transient:
        return Retryable(message, after=retry_after_seconds(response), code="transient")
    return Permanent(message, code="refused")


class Graph:
    def __init__(self, config: PlatformConfig) -> None:
        self.config = config

    def url(self, path: str, *, versioned: bool = True) -> str:
        base = self.config.api_base.rstrip("/")
        return f"{base}/{GRAPH_VERSION}/{path}" if versioned else f"{base}/{path}"

    async def call(
        self,
        http: PlatformHttp,
        method: str,
        path: str,
        token: str,
        *,
        params: dict[str, Any] | None = None,
        publishing: bool = False,
    ) -> dict[str, Any]:
        response = await self.send(http, method, path, token, params, publishing=publishing)
        if not response.is_success:
            raise classify(
                response, publishing=publishing, redact=(token, self.config.client_secret)
            )
        return answer_object(response.status_code, json_body(response), publishing=publishing)

    async def send(
        self,
        http: PlatformHttp,
        method: str,
        path: str,
        token: str,
        params: dict[str, Any] | None,
        *,
        publishing: bool = False,
    ) -> httpx.Response:
        query = {name: wire_value(value) for name, value in (params or {}).items()}
        query["access_token"] = token
        return await http.request(method, self.url(path), publishing=publishing, params=query)


def wire_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def answer_object(status: int, body: Any, *, publishing: bool = False) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    message = f"Threads answered HTTP {status} without a JSON object"
    if publishing:
        raise Ambiguous(message, code="bad_answer")
    raise Retryable(message, code="bad_answer")


def parse_time(value: Any) -> datetime | None:
    """Graph timestamps (`2026-08-01T10:00:00+0000`) as aware UTC datetimes."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def data_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    data = body.get("data")
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []
