"""The PostgreSQL pool serves waiting requests in the order they came (`core.pool`)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from sqlalchemy import text

from t21.core.db import create_engine
from t21.core.pool import FairAsyncQueuePool, FairQueue
from tests.conftest import TEST_DATABASE_URL


async def test_an_item_put_while_a_getter_waits_is_its_not_a_newcomers() -> None:
    queue: FairQueue[int] = FairQueue()
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait(1)
    # Asks before the waiting getter has run again: asyncio.Queue would give it the item.
    newcomer = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert waiting.done()
    assert waiting.result() == 1
    assert not newcomer.done()
    queue.put_nowait(2)
    assert await newcomer == 2
    # Nobody waits: an item stays in the queue for the next getter.
    queue.put_nowait(3)
    assert queue.qsize() == 1
    assert await queue.get() == 3


async def test_an_item_handed_to_a_getter_cancelled_before_taking_it_goes_to_the_next() -> None:
    queue: FairQueue[int] = FairQueue()
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait(1)
    first.cancel()  # a pool's timeout, just after the item was handed over
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1) == 1
    # A getter cancelled while waiting leaves no claim behind.
    third = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    third.cancel()
    with pytest.raises(asyncio.CancelledError):
        await third
    queue.put_nowait(2)
    assert queue.qsize() == 1


@pytest.mark.postgres
async def test_requests_waiting_for_a_connection_are_served_in_the_order_they_came(
    settings_factory: Any,
) -> None:
    settings = settings_factory(
        database_url=TEST_DATABASE_URL, database_pool_size=2, database_max_overflow=0
    )
    engine = create_engine(settings)
    assert isinstance(engine.sync_engine.pool, FairAsyncQueuePool)
    arrivals = itertools.count()
    served: list[int] = []

    async def client() -> None:
        # Each asks again as soon as it gives its connection back: with asyncio's queue it
        # took the connection it had just returned, before the request woken for it.
        for _ in range(20):
            arrival = next(arrivals)
            async with engine.connect() as connection:
                served.append(arrival)
                await connection.execute(text("SELECT 1"))

    try:
        await asyncio.gather(*(client() for _ in range(10)))
    finally:
        await engine.dispose()
    assert len(served) == 200
    # Two connections: a request is at most one place out of its order of arrival.
    passed_over = [
        (earlier, later)
        for i, later in enumerate(served)
        for earlier in served[i + 1 :]
        if earlier < later - 1
    ]
    assert passed_over == []
