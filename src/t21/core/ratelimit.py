"""Rate limits: a per-IP default on every request, and stricter per-route limits as dependencies.

Counters live in memory (embedded) or Redis (shared by every API process). Every API response
carries the IETF draft headers `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
of the tightest limit the request met; a request over a limit gets 429 with `Retry-After` and
the `RateLimit-*` values of the very limit that refused it.
When the counter store is unreachable, requests are let through (and the failure logged):
an outage of Redis must not become an outage of the API.

A request of a principal the process already knows (its credential in the principal cache)
meets the per-IP and the per-principal limit in one Redis round trip: one script counts both
(`RateLimiter.hit_all`), where the two limits took four round trips (a hit and a window read
each). The script runs on a connection of its own, its concurrent calls pipelined
(`core.pipelined`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
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
from t21.core.pipelined import PipelinedRedis, PipelinedScript
from t21.core.problems import problem_response
from t21.core.settings import Settings

log = get_logger("t21.ratelimit")

STATE_KEY = "t21_rate_limits"
# Operational endpoints answer load balancers and scrapers; they are not metered.
# Probes, and Stripe's webhooks: those come in bursts from a few Stripe addresses, are checked
# by signature (a forged one costs an HMAC and a 400), and a 429 would only delay billing.
EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics", "/api/v1/webhooks/stripe"})
# Where the middleware notes the principal it already counted (see `RateLimitMiddleware`).
COUNTED_SUBJECT_KEY = "t21_rate_limit_counted_subject"

# The sliding window counter of `limits` (its `acquire_sliding_window.lua` and
# `sliding_window.lua`, https://github.com/alisaifee/limits, MIT), for several limits at once and
# answering each window's counts with the hit: KEYS are each limit's previous and current window
# keys (as `limits` names them, so `clear` and `exhausted` see the same counters), ARGV each
# limit's amount and expiry in seconds. Limits are counted in order until one refuses; each answer
# is five numbers: acquired, previous count, previous ttl ms, current count, current ttl ms, all
# the answers in one string, space-separated (one bulk reply for redis-py to parse, where nested
# arrays of integers took a line read per number: 13 for two limits, ~20 us of CPU).
_HIT_ALL = """
local results = {}
for i = 1, #KEYS / 2 do
  local previous_key, current_key = KEYS[2 * i - 1], KEYS[2 * i]
  local limit = tonumber(ARGV[2 * i - 1])
  local expiry = tonumber(ARGV[2 * i]) * 1000
  local current_ttl = tonumber(redis.call('pttl', current_key))
  if current_ttl > 0 and current_ttl < expiry then
    redis.call('rename', current_key, previous_key)
    redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
  end
  local previous_count = tonumber(redis.call('get', previous_key)) or 0
  local previous_ttl = math.max(tonumber(redis.call('pttl', previous_key)) or 0, 0)
  local current_count = tonumber(redis.call('get', current_key)) or 0
  current_ttl = math.max(tonumber(redis.call('pttl', current_key)) or 0, 0)
  local acquired = 0
  if math.floor(previous_count * previous_ttl / expiry) + current_count + 1 <= limit then
    acquired = 1
    if redis.call('exists', current_key) == 1 then
      current_count = redis.call('incrby', current_key, 1)
    else
      redis.call('set', current_key, 1, 'PX', expiry * 2)
      current_count = 1
      current_ttl = expiry * 2
    end
  end
  results[i] = string.format('%d %d %d %d %d', acquired, previous_count, previous_ttl,
    current_count, current_ttl)
  if acquired == 0 then
    break
  end
end
return table.concat(results, ' ')
"""


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window frees capacity


class RateLimiter:
    """Counts hits against limits like '600/minute' in the configured store."""

    def __init__(
        self,
        redis: Redis | None,
        *,
        key_prefix: str = "t21:ratelimit",
        pipelined: PipelinedRedis | None = None,
    ) -> None:
        self.storage: Storage
        self.key_prefix = key_prefix
        # The script on the process's pipelined connection (`core.pipelined`; one of its own
        # without): a request's one round trip without the client pool's overhead.
        self._own_pipelined = PipelinedRedis(redis) if redis and pipelined is None else None
        lane = pipelined or self._own_pipelined
        self._hit_all = PipelinedScript(lane, _HIT_ALL) if lane is not None else None
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

    async def hit_all(
        self, hits: Sequence[tuple[RateLimitItem, tuple[str, ...]]]
    ) -> list[RateLimitResult] | None:
        """Count one hit on each limit in order, stopping at the first that refuses (a request
        refused by one limit counts against none after it): the results up to that one. One
        round trip with Redis. None when the store could not be reached."""
        if self._hit_all is None:
            results: list[RateLimitResult] = []
            for limit, identifiers in hits:
                result = await self.hit(limit, *identifiers)
                if result is None:
                    return None
                results.append(result)
                if not result.allowed:
                    break
            return results
        keys: list[str] = []
        args: list[int] = []
        for limit, identifiers in hits:
            current = f"{self.key_prefix}:{{{limit.key_for(*identifiers)}}}"
            keys += [f"{current}/-1", current]
            args += [limit.amount, limit.get_expiry()]
        try:
            answer = await self._hit_all(keys, args)
        except Exception as exc:
            log.warning("rate limit store unavailable; request allowed", error=repr(exc))
            return None
        values = [int(value) for value in answer.split()]
        now = time.time()
        return [
            _window_result(limit, now, *values[5 * i : 5 * i + 5])
            for i, (limit, _identifiers) in enumerate(hits[: len(values) // 5])
        ]

    async def close(self) -> None:
        if self._own_pipelined is not None:
            await self._own_pipelined.close()

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


def _window_result(
    limit: RateLimitItem,
    now: float,
    acquired: int,
    previous_count: int,
    previous_ttl_ms: int,
    current_count: int,
    current_ttl_ms: int,
) -> RateLimitResult:
    """A hit's result from its window's counts, as `limits`' `get_window_stats` computes it."""
    expiry = limit.get_expiry()
    previous_ttl, current_ttl = previous_ttl_ms / 1000, current_ttl_ms / 1000
    weighted = previous_count * previous_ttl / expiry + current_count
    remaining = max(0, limit.amount - math.floor(weighted))
    reset_in = 0.0
    if previous_count or current_count:
        previous_reset_in = previous_ttl % (expiry / previous_count) if previous_count else math.inf
        current_reset_in = current_ttl % expiry if current_count else math.inf
        reset_in = min(previous_reset_in, current_reset_in)
    reset_after = max(0, math.ceil(reset_in))
    if not acquired:
        reset_after = max(1, reset_after)
    return RateLimitResult(bool(acquired), limit.amount, remaining, reset_after)


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
    """Applies the per-IP default limit and writes the RateLimit-* headers on every response.

    When the app can name the request's principal without work (`app.state.rate_limit_subject_of`:
    its credential is in the principal cache), the per-principal limit is counted here too, in
    the same round trip, and the authentication dependency doesn't count it again."""

    def __init__(self, app: ASGIApp, default_limit: str) -> None:
        self.app = app
        self.default = parse(default_limit)
        self._per_principal: tuple[str, RateLimitItem] | None = None

    def _principal_limit(self, settings: Settings) -> RateLimitItem:
        raw = settings.rate_limit_per_principal
        if self._per_principal is None or self._per_principal[0] != raw:
            self._per_principal = (raw, parse(raw))
        return self._per_principal[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
        if limiter is None:
            await self.app(scope, receive, send)
            return
        hits: list[tuple[RateLimitItem, tuple[str, ...]]] = [
            (self.default, ("ip", client_ip(scope)))
        ]
        subject_of: Callable[[Scope], str | None] | None = getattr(
            state, "rate_limit_subject_of", None
        )
        subject = subject_of(scope) if subject_of is not None else None
        if subject is not None:
            limit = self._principal_limit(state.settings)
            hits.append((limit, (PRINCIPAL_SCOPE, "principal", subject)))
            scope.setdefault("state", {})[COUNTED_SUBJECT_KEY] = subject
        results = await limiter.hit_all(hits)
        for result in results or []:
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
# The `scope` of the per-principal default limit (`t21.organizations.auth`).
PRINCIPAL_SCOPE = "principal"


def counted_subject(request: Request) -> str | None:
    """The principal whose default limit the middleware already counted for this request."""
    value = request.scope.get("state", {}).get(COUNTED_SUBJECT_KEY)
    return value if isinstance(value, str) else None


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
