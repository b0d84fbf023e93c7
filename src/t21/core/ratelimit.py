"""Rate limits: a per-IP default on every request, and stricter per-route limits as dependencies.

Counters live in memory (embedded) or Redis (shared by every API process). Every API response
carries the IETF draft headers `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
of the tightest limit the request met; a request over a limit gets 429 with `Retry-After` and
the `RateLimit-*` values of the very limit that refused it.
When the counter store is unreachable, requests are let through (and the failure logged):
an outage of Redis must not become an outage of the API.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from t21.core.errors import RateLimited
from t21.core.logging import get_logger
from t21.core.problems import problem_response
from t21.core.settings import Settings

log = get_logger("t21.ratelimit")

STATE_KEY = "t21_rate_limits"
# Operational endpoints answer load balancers and scrapers; they are not metered.
# Probes, and Stripe's webhooks: those come in bursts from a few Stripe addresses, are checked
# by signature (a forged one costs an HMAC and a 400), and a 429 would only delay billing.
EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics", "/api/v1/webhooks/stripe"})


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window frees capacity


class RateLimiter:
    """Counts hits against limits like '600/minute' in the configured store."""

    def __init__(self, redis: Redis | None, *, key_prefix: str = "t21:ratelimit") -> None:
        self.storage: Storage
        if redis is not None:
            # Shares the process's Redis connection pool (and its timeouts).
            self.storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=key_prefix,
                wrap_exceptions=True,
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]
            )
        else:
            self.storage = MemoryStorage()
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)

    async def hit(self, limit: RateLimitItem, *identifiers: str) -> RateLimitResult | None:
        """Count one hit; None when the store could not be reached (the request is let through)."""
        try:
            allowed = await self.strategy.hit(limit, *identifiers)
            reset_at, remaining = await self.strategy.get_window_stats(limit, *identifiers)
        except Exception as exc:
            log.warning("rate limit store unavailable; request allowed", error=repr(exc))
            return None
        reset_after = max(0, math.ceil(reset_at - time.time()))
        if not allowed:
            reset_after = max(1, reset_after)
        return RateLimitResult(allowed, limit.amount, remaining, reset_after)

    async def exhausted(self, limit: RateLimitItem, *identifiers: str) -> int | None:
        """Seconds until `limit` frees capacity if it is used up (without counting a hit);
        None when there is capacity (or the store can't be reached)."""
        try:
            if await self.strategy.test(limit, *identifiers):
                return None
            reset_at, _remaining = await self.strategy.get_window_stats(limit, *identifiers)
        except Exception as exc:
            log.warning("rate limit store unavailable; request allowed", error=repr(exc))
            return None
        return max(1, math.ceil(reset_at - time.time()))

    async def clear(self, limit: RateLimitItem, *identifiers: str) -> None:
        try:
            await self.strategy.clear(limit, *identifiers)
        except Exception as exc:
            log.warning("rate limit store unavailable; counter not cleared", error=repr(exc))


def _record(scope: Scope, result: RateLimitResult) -> None:
    scope.setdefault("state", {}).setdefault(STATE_KEY, []).append(result)


def _tightest(scope: Scope) -> RateLimitResult | None:
    results: list[RateLimitResult] = scope.get("state", {}).get(STATE_KEY, [])
    if not results:
        return None
    return min(results, key=lambda r: (r.remaining, -r.reset_after))


def rate_limit_headers(result: RateLimitResult) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(result.limit),
        "RateLimit-Remaining": str(result.remaining),
        "RateLimit-Reset": str(result.reset_after),
    }


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimitMiddleware:
    """Applies the per-IP default limit and writes the RateLimit-* headers on every response."""

    def __init__(self, app: ASGIApp, default_limit: str) -> None:
        self.app = app
        self.default = parse(default_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter: RateLimiter | None = getattr(scope["app"].state, "rate_limiter", None)
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS or limiter is None:
            await self.app(scope, receive, send)
            return
        result = await limiter.hit(self.default, "ip", client_ip(scope))
        if result is not None:
            _record(scope, result)
            if not result.allowed:
                error = RateLimited(result.reset_after)
                response = problem_response(
                    error,
                    request_id=scope.get("state", {}).get("request_id"),
                    headers=rate_limit_headers(result),
                )
                await response(scope, receive, send)
                return

        async def send_with_headers(message: Message) -> None:
            # A 429 reports the bucket that refused it (set where it was refused), never
            # another one the request also met; a 429 of no bucket of ours reports none.
            if message["type"] == "http.response.start" and message["status"] != 429:
                tightest = _tightest(scope)
                if tightest is not None:
                    ours = {
                        name.lower().encode(): value.encode()
                        for name, value in rate_limit_headers(tightest).items()
                    }
                    headers = [
                        (name, value)
                        for name, value in message.get("headers", [])
                        if name.lower() not in ours
                    ]
                    headers.extend(ours.items())
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


KeyKind = Literal["ip", "principal"]


class RateLimit:
    """A route dependency: `Depends(RateLimit("5/minute", key="ip", scope="auth.login"))`.

    `limit` may be a callable of the settings so operators can tune it. With `key="principal"`
    the limit follows the authenticated principal (user or API key), falling back to the IP
    before authentication has happened.
    """

    def __init__(
        self,
        limit: str | Callable[[Settings], str],
        *,
        key: KeyKind = "ip",
        scope: str,
    ) -> None:
        self.limit = limit
        self.key = key
        self.scope = scope

    async def __call__(self, request: Request) -> None:
        limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
        if limiter is None:
            return
        settings: Settings = request.app.state.settings
        raw = self.limit(settings) if callable(self.limit) else self.limit
        item = parse(raw)
        subject = self._subject(request)
        result = await limiter.hit(item, self.scope, *subject)
        if result is None:
            return
        _record(request.scope, result)
        if not result.allowed:
            raise RateLimited(result.reset_after, headers=rate_limit_headers(result))

    def _subject(self, request: Request) -> tuple[str, str]:
        if self.key == "principal":
            principal: Any = getattr(request.state, "rate_limit_subject", None)
            if principal is not None:
                return ("principal", str(principal))
        return ("ip", client_ip(request.scope))
