"""Mastodon's wire conventions: `{"error": ...}` refusals turned into T21's failure classes
(once, here), its `X-RateLimit-*` headers, and a small client for one account's calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from t21.core import clock
from t21.core.outside import Ambiguous, OutsideFailure, Permanent, ReauthRequired, Retryable
from t21.platforms.base import PlatformConfig
from t21.platforms.http import PlatformHttp, json_body, retry_after_seconds

# A 429 without a reset header (Mastodon always sends one; a proxy might not): a short wait.
DEFAULT_BACKOFF_S = 60.0
# Mastodon answers a scope the token lacks with 403 and this sentence
# (app/controllers/api/base_controller.rb, `doorkeeper_forbidden_render`).
OUTSIDE_SCOPES = "outside the authorized scopes"


def error_message(body: Any, status: int) -> str:
    """Mastodon's own words: `error` (and `error_description` from Doorkeeper)."""
    if isinstance(body, dict):
        for key in ("error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return f"HTTP {status}"


def rate_limit_after(response: httpx.Response) -> float:
    """Seconds until the window resets: `Retry-After` if sent, else `X-RateLimit-Reset`, an
    ISO 8601 time (config/initializers/rack_attack.rb), else a short default."""
    after = retry_after_seconds(response)
    if after is not None:
        return after
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        try:
            moment = datetime.fromisoformat(reset.replace("Z", "+00:00"))
            return max(0.0, (moment - clock.now()).total_seconds())
        except ValueError:
            pass
    return DEFAULT_BACKOFF_S


def classify(response: httpx.Response, *, publishing: bool = False) -> OutsideFailure:
    """The one failure class of a refused Mastodon call; `publishing` marks
    `POST /api/v1/statuses`, whose 5xx may have created the status."""
    status = response.status_code
    body = json_body(response)
    message = f"Mastodon: {error_message(body, status)}"
    if status == 401:
        return ReauthRequired(message, code="unauthorized")
    if status == 403:
        if OUTSIDE_SCOPES in message:
            return ReauthRequired(message, code="missing_scope")
        return Permanent(message, code="forbidden")
    if status == 429:
        return Retryable(message, after=rate_limit_after(response), code="rate_limited")
    if status >= 500:
        if publishing:
            return Ambiguous(message, code="server_error")
        return Retryable(message, after=retry_after_seconds(response), code="server_error")
    if status == 422:
        return Permanent(message, code="invalid_request")
    if status == 404:
        return Permanent(message, code="not_found")
    return Permanent(message, code=f"http_{status}")


def token_failure(response: httpx.Response) -> OutsideFailure:
    """A refused OAuth call (Doorkeeper's `{error, error_description}`)."""
    status = response.status_code
    body = json_body(response)
    message = f"Mastodon: {error_message(body, status)}"
    if status == 429:
        return Retryable(message, after=rate_limit_after(response), code="rate_limited")
    if status >= 500:
        return Retryable(message, after=retry_after_seconds(response), code="server_error")
    error = body.get("error") if isinstance(body, dict) else None
    if error in ("invalid_client", "unauthorized_client"):
        # The instance forgot T21's app: registering again fixes it, reconnecting does.
        return ReauthRequired(message, code="invalid_client")
    return Permanent(message, code=str(error or f"http_{status}"))


def unexpected(what: str) -> Retryable:
    return Retryable(f"Mastodon answered {what} unexpectedly", code="bad_answer")


class MastodonApi:
    """Calls to one instance with one account's token."""

    def __init__(self, http: PlatformHttp, config: PlatformConfig, base: str, token: str):
        self.http = http
        self.config = config
        self.base = base
        self.token = token

    async def send(
        self,
        method: str,
        path: str,
        *,
        publishing: bool = False,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = {"Authorization": f"Bearer {self.token}"} | (headers or {})
        response = await self.http.request(
            method, f"{self.base}{path}", publishing=publishing, headers=sent, **kwargs
        )
        if response.status_code >= 300:
            raise classify(response, publishing=publishing)
        return response

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.send(method, path, **kwargs)
        body = json_body(response)
        if body is None:
            if kwargs.get("publishing"):
                raise Ambiguous(f"Mastodon answered {path} without a body", code="bad_answer")
            raise unexpected(path)
        return body
