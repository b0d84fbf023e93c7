"""The PostgreSQL connection pool, first come first served.

SQLAlchemy's asyncio pool (`AsyncAdaptedQueuePool`) keeps its idle connections in an
`asyncio.Queue`, which is not fair: a connection given back wakes the oldest waiting request,
but a request arriving before that one runs takes the connection at once (an idle one is taken
without waiting), and the woken request finds the queue empty and waits again at the back of
the line. Under a load larger than the pool, a few requests were passed over again and again:
`GET /auth/me` with 50 concurrent clients on a pool of 20 answered in 41 ms at the median and
650–890 ms at p99 (2026-12-07, `bench/request_path.py`). Here a connection given back while
requests wait goes to the one that has waited longest; nobody else sees it.

Everything else is SQLAlchemy's pool (size, overflow, timeout, recycling, pre-ping, reset on
return): only the queue under it changes (`QueuePool._queue_class`, the documented way to give
it a LIFO queue being `use_lifo`, which has the same unfairness).
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import suppress
from typing import Any, TypeVar

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import memoized_property
from sqlalchemy.util.queue import AsyncAdaptedQueue

_T = TypeVar("_T")


class FairQueue(asyncio.Queue[_T]):
    """An `asyncio.Queue` whose items go to its waiting getters in the order they came: an
    item put while a getter waits is handed to the oldest, so the queue holds items only
    while nobody waits, and a getter that finds one takes it without passing anyone over."""

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self._waiting: deque[asyncio.Future[_T]] = deque()

    def put_nowait(self, item: _T) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        super().put_nowait(item)

    async def get(self) -> _T:
        if not self.empty():
            return self.get_nowait()
        waiter: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # Handed an item, then cancelled (the pool's timeout) before taking it: it
                # goes to the next in line, or back in the queue.
                self.put_nowait(waiter.result())
            else:
                waiter.cancel()
                with suppress(ValueError):
                    self._waiting.remove(waiter)
            raise


class _FairAdaptedQueue(AsyncAdaptedQueue[_T]):
    @memoized_property
    def _queue(self) -> asyncio.Queue[_T]:
        if self.use_lifo:  # not fair either way; T21 doesn't ask for it
            return asyncio.LifoQueue(maxsize=self.maxsize)
        return FairQueue(maxsize=self.maxsize)


class FairAsyncQueuePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio pool on a `FairQueue`: connections go to the requests waiting for
    one in the order they came."""

    _queue_class: Any = _FairAdaptedQueue
