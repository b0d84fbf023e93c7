"""Redis commands on a connection of their own, pipelined: the request path's calls to Redis.

Every API request runs the rate limit's script, and every event committed publishes a wake-up.
Through redis-py's client each call costs ~120 µs of CPU (in-process, 3,000 calls in a row,
2026-12-07): the pool's lock, checkout and release with their observability records, a task for
the write's timeout (`asyncio.wait_for`), the retry wrapper, then the same again for the read.
On one connection held for these calls alone, the write and the read are nearly all that is
left. Calls made at the same moment share that connection: each writes its command as it comes
and one reader, for as long as the connection lives, takes the answers in order (Redis answers
a connection's commands in the order they were sent), so concurrent requests never wait for
each other's round trip. Only commands that answer at once belong here (no blocking reads, no
subscriptions): one slow answer holds back every answer after it.

Failures: a connection that breaks, or a call unanswered after `timeout_s` (one timer for the
connection, not one per call), fails every call in flight with it, and the connection is
dropped; the next call connects again. A script (`PipelinedScript`) that Redis lost from its
cache (a restart, `SCRIPT FLUSH`) answers NOSCRIPT: it is loaded again (once, however many calls
met its absence) and those calls are made again.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from t21.core.logging import get_logger

log = get_logger("t21.redis")

# A call waiting for its answer: its future and when it was sent (monotonic seconds).
_Waiting = deque[tuple[asyncio.Future[Any], float]]


class PipelinedRedis:
    """Commands on a connection of their own, opened like `redis`'s (see the module)."""

    def __init__(self, redis: Redis, *, timeout_s: float | None = None) -> None:
        self._redis = redis
        # The client's own socket timeout (the runtime's), else five seconds.
        configured = redis.connection_pool.connection_kwargs.get("socket_timeout")
        self._timeout_s = timeout_s or (float(configured) if configured else 5.0)
        self._connection: AbstractConnection | None = None
        self._connecting = asyncio.Lock()
        self._waiting: _Waiting = deque()
        self._reader: asyncio.Task[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    async def execute(self, *args: str | int) -> Any:
        """The command's answer; raises redis-py's errors (a connection that broke or did not
        answer in time, an error answered for the command)."""
        connection = self._connection
        if connection is None or not connection.is_connected:
            connection = await self._connected()
        command = connection.pack_command(*args)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((future, time.monotonic()))
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._timeout_s, self._check_overdue)
        try:
            # Written before its first await (the connection is open and has no socket
            # timeout of its own), so commands go out in the order of `_waiting`.
            await connection.send_packed_command(command, check_health=False)
        except Exception as error:
            self._drop(error)
            raise
        return await future

    async def _connected(self) -> AbstractConnection:
        async with self._connecting:
            if self._closed:
                raise RedisConnectionError("the pipelined Redis connection is closed")
            connection = self._connection
            if connection is None or not connection.is_connected:
                self._drop(RedisConnectionError("the pipelined Redis connection was lost"))
                pool = self._redis.connection_pool
                # No socket timeout: the reader waits for the next answer as long as the
                # connection lives; the watchdog bounds each call's wait.
                connection = pool.connection_class(
                    **(pool.connection_kwargs | {"socket_timeout": None})
                )
                await connection.connect()  # type: ignore[no-untyped-call]
                self._connection = connection
                self._reader = asyncio.get_running_loop().create_task(
                    self._read(connection, self._waiting)
                )
        return connection

    async def _read(self, connection: AbstractConnection, waiting: _Waiting) -> None:
        """Hand each answer on `connection` to the oldest call waiting."""
        try:
            while True:
                try:
                    answer: Any = await connection.read_response()
                except ResponseError as error:  # an error answered: that call's alone
                    answer = error
                if not waiting:
                    raise RedisConnectionError("an answer from Redis that no call waits for")
                future, _sent = waiting.popleft()
                if future.done():  # its caller was cancelled
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
        except Exception as error:
            if self._connection is connection:
                self._drop(error)

    def _check_overdue(self) -> None:
        """The watchdog: drop the connection if its oldest call has waited `timeout_s`, else
        look again when it would have."""
        self._watchdog = None
        if not self._waiting:
            return
        overdue_in = self._waiting[0][1] + self._timeout_s - time.monotonic()
        if overdue_in <= 0:
            self._drop(RedisTimeoutError(f"Redis did not answer in {self._timeout_s:g} s"))
            return
        self._watchdog = asyncio.get_running_loop().call_later(overdue_in, self._check_overdue)

    def _drop(self, error: Exception, *, closing: bool = False) -> None:
        """Fail every call in flight with `error` and forget the connection."""
        connection, self._connection = self._connection, None
        waiting, self._waiting = self._waiting, deque()
        reader, self._reader = self._reader, None
        watchdog, self._watchdog = self._watchdog, None
        for future, _sent in waiting:
            if not future.done():
                future.set_exception(error)
        if watchdog is not None:
            watchdog.cancel()
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        if connection is not None:
            if not closing:
                log.warning("pipelined connection to Redis dropped", error=repr(error))
            ending = asyncio.get_running_loop().create_task(connection.disconnect(nowait=True))
            self._closing.add(ending)  # held until done (the loop keeps only weak references)
            ending.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Fail the calls in flight and close the connection (the process's shutdown)."""
        async with self._connecting:
            self._closed = True
            self._drop(
                RedisConnectionError("the pipelined Redis connection is closed"), closing=True
            )
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


class PipelinedScript:
    """A Lua script called with keys and arguments on a `PipelinedRedis` (see the module)."""

    def __init__(self, redis: PipelinedRedis, script: str) -> None:
        self._redis = redis
        self._script = script
        self._sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        self._loading: asyncio.Future[Any] | None = None

    async def __call__(self, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        """The script's answer; raises redis-py's errors as `PipelinedRedis.execute`."""
        try:
            return await self._redis.execute("EVALSHA", self._sha, len(keys), *keys, *args)
        except NoScriptError:
            await self._load()
            return await self._redis.execute("EVALSHA", self._sha, len(keys), *keys, *args)

    async def _load(self) -> None:
        """Put the script back in Redis' cache once, however many calls met its absence."""
        loading = self._loading
        if loading is None or loading.done():
            loading = self._loading = asyncio.ensure_future(
                self._redis.execute("SCRIPT", "LOAD", self._script)
            )
        await asyncio.shield(loading)
