"""Redis faults a test can stage at the client's edge."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from redis.asyncio.client import PubSub


def swallow_cancelled_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pub/sub poll answers None when cancelled, as if its own timeout had expired: what
    Python 3.11 can do when a cancellation lands as the poll's timeout does (redis-py's
    `get_message` waits under a timeout)."""

    async def swallowing(self: PubSub, **kwargs: Any) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(kwargs.get("timeout") or 0.05)

    monkeypatch.setattr(PubSub, "get_message", swallowing)
