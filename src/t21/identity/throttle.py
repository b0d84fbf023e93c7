"""Throttling of failed sign-ins, per account and per client IP.

Failures are counted for unknown emails exactly as for known ones, so the throttle doesn't tell
an attacker which accounts exist. A successful sign-in clears the account's count.
"""

from __future__ import annotations

from limits import parse

from t21.core.errors import RateLimited
from t21.core.ratelimit import RateLimiter, refused_headers
from t21.core.settings import Settings


class LoginThrottle:
    def __init__(self, limiter: RateLimiter | None, settings: Settings) -> None:
        self.limiter = limiter
        self.per_account = parse(settings.login_failures_per_account)
        self.per_ip = parse(settings.login_failures_per_ip)

    async def check(self, email: str, ip: str) -> None:
        """Refuse (429) while the account or the IP has too many recent failures."""
        if self.limiter is None:
            return
        waits = [
            (
                await self.limiter.exhausted(self.per_account, "login-failures", "account", email),
                self.per_account,
            ),
            (await self.limiter.exhausted(self.per_ip, "login-failures", "ip", ip), self.per_ip),
        ]
        refused = [(wait, limit) for wait, limit in waits if wait is not None]
        if refused:
            longest, limit = max(refused, key=lambda pair: pair[0])
            raise RateLimited(
                longest,
                detail=f"Too many failed sign-ins; try again in {longest} s.",
                headers=refused_headers(limit, longest),
            )

    async def failed(self, email: str, ip: str) -> None:
        if self.limiter is None:
            return
        await self.limiter.hit(self.per_account, "login-failures", "account", email)
        await self.limiter.hit(self.per_ip, "login-failures", "ip", ip)

    async def succeeded(self, email: str) -> None:
        if self.limiter is not None:
            await self.limiter.clear(self.per_account, "login-failures", "account", email)
