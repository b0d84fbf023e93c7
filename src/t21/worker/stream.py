"""The Redis Streams consumer of a worker, supervised so that no broker fault ends it.

taskiq-redis's `RedisStreamBroker.listen()` is a generator that ends on the first error of a
read: after a `FLUSHDB` (`NOGROUP`), a restarted Redis (connection refused) or a worker paused
past its socket timeout, taskiq's receiver stops and nothing starts it again. Its group is
also created at `$` (the end of the stream), so jobs sent between a fault and the new group are
skipped, and unacknowledged messages are only claimed back when a read returned something.

`HealingStreamBroker` keeps taskiq for what it does well (messages, task registration, the
receiver's concurrency, acknowledgement after the job) and owns the read loop, which is small:

- every broker error is recorded in `ConsumerHealth` (logged with its cause when the outage
  starts, counted in `/metrics`) and retried with capped, jittered backoff;
- the consumer reads through a pool of its own whose connections never retry by themselves.
  The sending pool retries a failed command (a send after a Redis restart meets a closed
  connection once); on the consumer's blocked read that retry hid every read timeout (a worker
  paused past the socket timeout read again silently, never counted as a fault, so nothing
  re-sent what the pause held up), and dropped the answer of the read that timed out: entries
  Redis had already handed to this consumer, pending under its name, unseen until another
  consumer's idle timeout;
- after (re)connecting, the entries pending under this consumer's own name that no job here
  holds (delivered to a read that failed) are read again from its history (`XREADGROUP … 0`);
- after an error the stream and group are declared again (`XGROUP CREATE … 0 MKSTREAM`): a group
  made anew reads the stream from its start, so nothing sent in between is skipped (jobs are
  wake-ups, a second delivery is harmless);
- messages pending longer than the idle timeout (a dead or paused consumer's) are claimed back
  with `XAUTOCLAIM` on a timer, whether or not new messages arrive;
- the stream is trimmed (`XTRIM MINID`) below the oldest entry the group still needs: the oldest
  pending one, or the first one not delivered yet.

Redis commands: https://redis.io/docs/latest/commands/xreadgroup/,
https://redis.io/docs/latest/commands/xautoclaim/, https://redis.io/docs/latest/commands/xtrim/,
https://redis.io/docs/latest/commands/xgroup-create/, https://redis.io/docs/latest/commands/xinfo-groups/
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

from t21.core import clock, metrics
from t21.core.logging import get_logger, redact_text

log = get_logger("t21.jobs")

# Backoff between attempts to reach the broker again: from this, doubling, up to the setting.
FIRST_RETRY_S = 0.1
# How many pending messages one XAUTOCLAIM call may hand back.
CLAIM_BATCH = 100


def describe(exc: BaseException) -> str:
    """The cause of a broker error, in one line, without credentials."""
    text = str(exc).strip().splitlines()
    return redact_text(f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__)


@dataclass
class ConsumerHealth:
    """Whether this process's job consumer is reading the broker, and since when it isn't."""

    up: bool = False
    # Monotonic time the consumer started waiting for the broker (at start, or since a fault).
    down_since: float | None = field(default_factory=time.monotonic)
    cause: str | None = "not started"
    # The class of the last error (what `/ready` shows: never an address or a message).
    error: str = "NotStarted"
    # Wall-clock time of the last recovery after a fault (None until one happened).
    recovered_at: datetime | None = None
    listeners: list[Callable[[], None]] = field(default_factory=list)
    _faulted: bool = False

    def down_for(self) -> float:
        return 0.0 if self.up or self.down_since is None else time.monotonic() - self.down_since

    def failed(self, exc: BaseException) -> None:
        cause = describe(exc)
        metrics.BROKER_CONSUMER_ERRORS.labels(type(exc).__name__).inc()
        metrics.BROKER_CONSUMER_UP.set(0)
        if self.up or not self._faulted:
            log.error("job consumer lost the broker; retrying", cause=cause)
        self.up = False
        self._faulted = True
        self.cause = cause
        self.error = type(exc).__name__
        if self.down_since is None:
            self.down_since = time.monotonic()

    def connected(self) -> None:
        if self.up:
            return
        down_s = self.down_for()
        self.up = True
        self.down_since = None
        self.cause = None
        metrics.BROKER_CONSUMER_UP.set(1)
        if not self._faulted:
            return
        self._faulted = False
        self.recovered_at = clock.now()
        metrics.BROKER_CONSUMER_RECOVERIES.inc()
        log.warning("job consumer reading the broker again", down_s=round(down_s, 2))
        for listener in list(self.listeners):
            listener()


class HealingStreamBroker(RedisStreamBroker):
    """A Redis Streams broker whose `listen()` survives every broker fault (see the module)."""

    def __init__(
        self,
        url: str,
        *,
        health: ConsumerHealth,
        retry_max_s: float,
        claim_interval_s: float,
        trim_interval_s: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(url, consumer_id="0", mkstream=True, **kwargs)
        # The consumer's own connections: a failed read surfaces at once (see the module).
        self.read_pool: BlockingConnectionPool = BlockingConnectionPool.from_url(
            url,
            max_connections=2,
            socket_timeout=kwargs.get("socket_timeout"),
            socket_connect_timeout=kwargs.get("socket_connect_timeout"),
            retry=Retry(NoBackoff(), 0),
        )
        self.health = health
        self.retry_max_s = retry_max_s
        self.claim_interval_s = claim_interval_s
        self.trim_interval_s = trim_interval_s
        # Entries handed to a job here and not acknowledged yet. XAUTOCLAIM can't tell this
        # consumer's slow jobs from a dead consumer's: claiming one of these resets its idle
        # time (a heartbeat) but must not run it a second time alongside itself.
        self._held: set[str] = set()
        # Set at shutdown: the pool's sockets are closed under the read, which is no fault.
        self.closing = False

    async def shutdown(self) -> None:
        await super().shutdown()
        await self.read_pool.disconnect()

    async def _declare_consumer_group(self) -> None:
        async with Redis(connection_pool=self.connection_pool) as conn:
            await self._declare(conn)

    async def _declare(self, conn: Redis) -> None:
        """The stream and its group, made if missing; a group made here reads from the start."""
        try:
            await conn.xgroup_create(
                self.queue_name, self.consumer_group_name, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """Messages for this consumer, forever: broker errors are waited out, never raised."""
        delay = FIRST_RETRY_S
        while True:
            try:
                async for message in self._read():
                    delay = FIRST_RETRY_S
                    yield message
            except (RedisError, OSError, TimeoutError) as exc:
                if self.closing:
                    return
                self.health.failed(exc)
                # Idle pooled connections may be to a Redis that is gone: drop them, so the
                # sends of this process don't meet them after the broker is back.
                with contextlib.suppress(Exception):
                    await self.connection_pool.disconnect(inuse_connections=False)
                with contextlib.suppress(Exception):
                    await self.read_pool.disconnect(inuse_connections=True)
            await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311
            delay = min(self.retry_max_s, delay * 2)

    async def _read(self) -> AsyncGenerator[AckableMessage, None]:
        async with Redis(connection_pool=self.read_pool) as conn:
            await self._declare(conn)
            self.health.connected()
            async for message in self._own_pending(conn):
                yield message
            next_claim = next_trim = 0.0  # claim back and trim at once after (re)connecting
            while True:
                now = time.monotonic()
                if now >= next_claim:
                    async for message in self._claim(conn):
                        yield message
                    next_claim = now + self.claim_interval_s
                if now >= next_trim:
                    await self.trim(conn)
                    next_trim = now + self.trim_interval_s
                fetched: Any = await conn.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    count=self.count,
                )
                for _stream, entries in fetched or []:
                    for entry_id, fields in entries:
                        read = self._message(entry_id, fields)
                        if read is not None:
                            yield read
                        else:
                            await conn.xack(self.queue_name, self.consumer_group_name, entry_id)

    async def _own_pending(self, conn: Redis) -> AsyncGenerator[AckableMessage, None]:
        """Entries pending under this consumer's name that no job here holds: handed to a read
        whose answer was lost (it timed out or its connection broke)."""
        after: Any = "0-0"
        while True:
            fetched: Any = await conn.xreadgroup(
                self.consumer_group_name,
                self.consumer_name,
                {self.queue_name: after},
                count=CLAIM_BATCH,
            )
            entries = [entry for _stream, found in fetched or [] for entry in found]
            if not entries:
                return
            lost = [entry for entry in entries if _text(entry[0]) not in self._held]
            if lost:
                metrics.BROKER_CLAIMED.inc(len(lost))
                log.info("read again jobs a failed read had taken", count=len(lost))
            for entry_id, fields in lost:
                message = self._message(entry_id, fields)
                if message is not None:
                    yield message
                else:
                    await conn.xack(self.queue_name, self.consumer_group_name, entry_id)
            after = entries[-1][0]

    async def _claim(self, conn: Redis) -> AsyncGenerator[AckableMessage, None]:
        """Messages pending longer than the idle timeout (their consumer died or hangs)."""
        cursor: Any = "0-0"
        while True:
            answer = await conn.xautoclaim(
                self.queue_name,
                self.consumer_group_name,
                self.consumer_name,
                min_idle_time=self.idle_timeout,
                start_id=cursor,
                count=CLAIM_BATCH,
            )
            cursor, entries = answer[0], answer[1]
            others = [entry for entry in entries if _text(entry[0]) not in self._held]
            if others:
                metrics.BROKER_CLAIMED.inc(len(others))
                log.info("claimed back pending jobs", count=len(others))
            for entry_id, fields in entries:
                if _text(entry_id) in self._held:
                    continue
                message = self._message(entry_id, fields)
                if message is not None:
                    yield message
            if cursor in (b"0-0", "0-0"):
                return

    def _message(self, entry_id: Any, fields: Any) -> AckableMessage | None:
        data = fields.get(b"data") if isinstance(fields, dict) else None
        if data is None:
            return None
        key = _text(entry_id)
        self._held.add(key)
        ack = self._ack_generator(entry_id, self.queue_name)

        async def settle() -> None:
            self._held.discard(key)
            await ack()

        return AckableMessage(data=data, ack=settle)

    async def trim(self, conn: Redis) -> int:
        """Drop entries the group is done with; returns how many went.

        Kept: every entry not yet delivered (after the group's last-delivered id) and every
        pending one (from the oldest id XPENDING reports). The last-delivered id is read first:
        an entry delivered after that read is newer than it, so it is kept either way.
        """
        groups = await conn.xinfo_groups(self.queue_name)
        group = next((g for g in groups if _text(g.get("name")) == self.consumer_group_name), None)
        if group is None:
            return 0
        keep_from = _successor(_text(group.get("last-delivered-id")) or "0-0")
        pending = await conn.xpending(self.queue_name, self.consumer_group_name)
        if pending and pending.get("pending") and pending.get("min") is not None:
            oldest = _text(pending["min"])
            if _id_key(oldest) < _id_key(keep_from):
                keep_from = oldest
        removed = int(await conn.xtrim(self.queue_name, minid=keep_from, approximate=False))
        if removed:
            metrics.BROKER_TRIMMED.inc(removed)
        return removed


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value) if value is not None else ""


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _successor(entry_id: str) -> str:
    ms, seq = _id_key(entry_id)
    return f"{ms}-{seq + 1}"
