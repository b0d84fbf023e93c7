"""Throttling of password sign-ins.

Policy (each a setting, a sliding window):
- per (account, client IP): `login_failures_per_account_ip`, default 5 per 15 minutes — stops a
  guessing flood from one address at the fifth try, without locking the account for anyone else;
- per account, from every address together: `login_failures_per_account`, default 20 per
  15 minutes — stops a guessing run spread over many addresses; a flood from one address never
  gets this far, so the owner's correct password from another address still works;
- per client IP, over every account: `login_failures_per_ip`, default 50 per 15 minutes —
  stops one address spraying guesses across accounts.

Each attempt is counted atomically (a Redis script, or the in-memory store's own check-and-add)
*before* the password is checked, so concurrent attempts cannot all slip under the limit: 40 at
once with a limit of 5 check 5 passwords. A successful sign-in clears the account's counts (the
per-IP count stays: an address cannot earn more guesses by signing in to an account of its own).
Unknown emails are counted exactly like known ones, so the throttle doesn't tell an attacker
which accounts exist.
"""

from __future__ import annotations

from limits import RateLimitItem, parse

from t21.core.errors import RateLimited
from t21.core.ratelimit import RateLimiter, rate_limit_headers
from t21.core.settings import Settings

SCOPE = "login-attempts"


class LoginThrottle:
    def __init__(self, limiter: RateLimiter | None, settings: Settings) -> None:
        self.limiter = limiter
        self.per_account_ip = parse(settings.login_failures_per_account_ip)
        self.per_account = parse(settings.login_failures_per_account)
        self.per_ip = parse(settings.login_failures_per_ip)

    def _buckets(self, email: str, ip: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        # The address's own bucket first: an address that is refused spends nothing of the
        # account's budget.
        return [
            (self.per_ip, ("ip", ip)),
            (self.per_account_ip, ("account-ip", email, ip)),
            (self.per_account, ("account", email)),
        ]

    async def attempt(self, email: str, ip: str) -> None:
        """Count one sign-in attempt in every bucket; 429 (and no password check) when one of
        them is full."""
        await self._hit(self._buckets(email, ip))

    async def _hit(self, buckets: list[tuple[RateLimitItem, tuple[str, ...]]]) -> None:
        if self.limiter is None:
            return
        for limit, identifiers in buckets:
            result = await self.limiter.hit(limit, SCOPE, *identifiers)
            if result is not None and not result.allowed:
                raise RateLimited(
                    result.reset_after,
                    detail=f"Too many failed sign-ins; try again in {result.reset_after} s.",
                    headers=rate_limit_headers(result),
                )

    async def attempt_from(self, ip: str) -> None:
        """Count an attempt that names no account before it is checked (a passwordless
        sign-in with a passkey) in the address's bucket only."""
        await self._hit([(self.per_ip, ("ip", ip))])

    async def succeeded(self, email: str, ip: str) -> None:
        if self.limiter is None:
            return
        await self.limiter.clear(self.per_account_ip, SCOPE, "account-ip", email, ip)
        await self.limiter.clear(self.per_account, SCOPE, "account", email)
