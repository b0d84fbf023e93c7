"""Waking live event streams once an event is committed.

The event table is the source of truth: a stream always reads what it sends from it. The hub only
says "look again": within one process, in-process waiters are set right after the commit; with
Redis, the commit is also published on one channel (`<prefix>:events`, message = organization
id), and every process's hub, subscribed to it, wakes its own streams of that organization. A lost
wake-up costs at most one poll interval, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from t21.core.logging import get_logger
from t21.core.runtime import Runtime, get_runtime

log = get_logger("t21.events")

_PENDING_KEY = "t21_events_pending_wake"
_HUB_KEY = "event_hub"
_RESUBSCRIBE_DELAY_S = 1.0
# Each database engine's hub, so a commit wakes the hub of the runtime whose session it was.
_hubs_by_engine: weakref.WeakKeyDictionary[Any, EventHub] = weakref.WeakKeyDictionary()


class EventHub:
    """A process's waiters per organization, and its Redis subscription when there is Redis."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._waiters: dict[uuid.UUID, set[asyncio.Event]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._publishing: set[asyncio.Task[Any]] = set()
        # Organizations whose wake-up is scheduled and not yet sent (see `committed`).
        self._unsent: set[str] = set()
        self._closing = False

    @property
    def channel(self) -> str:
        return f"{self._runtime.settings.redis_prefix}:events"

    @contextlib.asynccontextmanager
    async def waiter(self, organization_id: uuid.UUID) -> Any:
        """An `asyncio.Event` set whenever an event of the organization may have been committed."""
        flag = asyncio.Event()
        self._waiters.setdefault(organization_id, set()).add(flag)
        try:
            await self._ensure_listening()
            yield flag
        finally:
            waiting = self._waiters.get(organization_id)
            if waiting is not None:
                waiting.discard(flag)
                if not waiting:
                    del self._waiters[organization_id]

    def wake_local(self, organization_ids: Iterator[uuid.UUID] | set[uuid.UUID]) -> None:
        for organization_id in organization_ids:
            for flag in self._waiters.get(organization_id, ()):
                flag.set()

    def wake_all_local(self) -> None:
        for waiting in self._waiters.values():
            for flag in waiting:
                flag.set()

    def committed(self, organization_ids: set[uuid.UUID]) -> None:
        """Events of these organizations were just committed: wake streams here and elsewhere.

        One wake-up per organization is published for the commits made before it is sent: a
        commit that finds its organization's wake-up scheduled and not yet sent adds none, as
        that one leaves after this commit (a burst of creates publishes once per turn of the
        event loop, not once per create). From the moment it is sent, a commit schedules its
        own."""
        self.wake_local(organization_ids)
        redis = self._runtime.redis
        if redis is None:
            return
        for organization_id in organization_ids:
            message = str(organization_id)
            if message in self._unsent:
                continue
            self._unsent.add(message)
            task = asyncio.get_running_loop().create_task(self._publish(message))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)
            # A task cancelled before it ran never sent it (discarding it again is harmless:
            # at worst a later commit publishes one wake-up more).
            task.add_done_callback(functools.partial(self._sent, message))

    def _sent(self, message: str, _task: asyncio.Task[Any]) -> None:
        self._unsent.discard(message)

    async def _publish(self, message: str) -> None:
        # Sent from here on: the commits that come after need a wake-up of their own.
        self._unsent.discard(message)
        redis, pipelined = self._runtime.redis, self._runtime.pipelined
        assert redis is not None
        try:
            if pipelined is not None:
                await pipelined.execute("PUBLISH", self.channel, message)
            else:
                await redis.publish(self.channel, message)
        except Exception as exc:  # the streams' poll catches up; the event is safe in the table
            log.warning("event wake-up not published", error=repr(exc))

    async def _ensure_listening(self) -> None:
        if self._runtime.redis is None:
            return
        if self._listener is None or self._listener.done():
            self._subscribed.clear()
            self._listener = asyncio.get_running_loop().create_task(self._listen())
        # Subscribed before the stream's first read, so no commit falls between the two; if Redis
        # is slow or down the stream goes on and relies on its poll.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=2.0)

    def _closed(self) -> bool:
        return self._closing

    async def _listen(self) -> None:
        """Wake the local streams on the other processes' commits until `close`. It ends on the
        flag as well as on the cancellation, which on Python 3.11 can be taken for the poll's
        own timeout when the two land together (redis-py's `get_message` then answers None)."""
        redis = self._runtime.redis
        assert redis is not None
        while not self._closed():
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                # Whatever was published while (re)subscribing may be lost: look again.
                self.wake_all_local()
                while not self._closed():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None:
                        continue
                    raw = message.get("data")
                    text = raw.decode() if isinstance(raw, bytes) else str(raw)
                    try:
                        self.wake_local({uuid.UUID(text)})
                    except ValueError:
                        continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closed():
                    return
                log.warning("event wake-up subscription lost", error=repr(exc))
                self._subscribed.clear()
                await asyncio.sleep(_RESUBSCRIBE_DELAY_S)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        self._closing = True
        tasks = [*self._publishing]
        if self._listener is not None:
            self._listener.cancel()
            tasks.append(self._listener)
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._listener = None
        self._closing = False  # a stream opened later listens again


def hub_of(runtime: Runtime) -> EventHub:
    """The runtime's hub, made on first use."""
    found = runtime.state.get(_HUB_KEY)
    if found is None:
        found = runtime.state[_HUB_KEY] = EventHub(runtime)
        _hubs_by_engine[runtime.engine.sync_engine] = found
    assert isinstance(found, EventHub)
    return found


async def close_hub(runtime: Runtime) -> None:
    found = runtime.state.pop(_HUB_KEY, None)
    # The hub holds its runtime, and so the engine that keys it: left in the map, neither would
    # ever be freed.
    _hubs_by_engine.pop(runtime.engine.sync_engine, None)
    if isinstance(found, EventHub):
        await found.close()


def wake_after_commit(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Remember to wake the organization's streams when this session's transaction commits."""
    pending: set[uuid.UUID] = session.sync_session.info.setdefault(_PENDING_KEY, set())
    pending.add(organization_id)


@orm_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending: set[uuid.UUID] | None = session.info.pop(_PENDING_KEY, None)
    if not pending:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # not in a running process (a script): nothing here to wake; streams poll
    found = _hubs_by_engine.get(session.bind) if session.bind is not None else None
    if found is None:
        try:
            found = hub_of(get_runtime())
        except RuntimeError:
            return
    found.committed(pending)


@orm_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
