"""Retry delays: exponential backoff with full jitter, capped, never sooner than asked."""

from __future__ import annotations

import random


def full_jitter(attempt: int, *, base: float, cap: float, at_least: float | None = None) -> float:
    """Seconds to wait before attempt `attempt + 1`, after `attempt` failures (1-based).

    A uniformly random delay up to `min(cap, base * 2**(attempt-1))` spreads the retries of many
    clients; `at_least` (a `Retry-After` the service sent) is always honoured.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    delay = random.uniform(0, ceiling)  # noqa: S311
    if at_least is not None:
        delay = max(delay, at_least)
    return delay
