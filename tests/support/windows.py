"""Rate limits count in clock-aligned windows (limits' sliding window counter), and a burst that
straddles a window's edge is partly forgiven. Tests that count hits start with enough of the
current window left."""

from __future__ import annotations

import asyncio
import time


async def fresh_window(period_s: float, needed_s: float) -> None:
    """Return when at least `needed_s` seconds of the current `period_s` window remain."""
    remaining = period_s - time.time() % period_s
    if remaining < needed_s:
        await asyncio.sleep(remaining + 0.01)


async def window_passed(period_s: float) -> None:
    """Wait until hits of the current window no longer count (the sliding window weighs the
    previous window too, so: the end of the next one)."""
    await asyncio.sleep(2 * period_s - time.time() % period_s + 0.05)
