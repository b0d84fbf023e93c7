"""A short-lived in-process cache of resolved principals, so a request whose credentials were seen
a moment ago is authenticated without a database round trip.

The bound: an entry lives at most `principal_cache_ttl_s` seconds (and never past its access
token's expiry). Within that bound, every change that could alter a principal drops the entries
it concerns as soon as its transaction commits:

- in this process, from the commit itself (a SQLAlchemy `after_commit` hook fed by what the
  transaction flushed or bulk-updated, plus the explicit `principals_changed` of code that
  revokes refresh tokens in bulk);
- in the other API processes, through a Redis pub/sub message each process listens for; a
  worker process announces its own commits on the same channel (`announcer`).

A message lost to a Redis fault costs at most the TTL: that is the stated bound. A principal
resolved while a change committed is not stored (a generation counter), so a stale answer read
before the commit is never cached after it.

Misses of one credential at once (every request in flight with a token when its entry expires)
share one resolution (`resolve`): a request joins a resolution only if no change was applied
since it began, so a request that arrives after a revocation never takes an answer read
before it. A request served from an entry in the last fifth of its life begins that resolution
in the background (`due`, `refresh`): a credential in steady use is not left to expire.

What changes a principal: its user (deleted, `sessions_revoked_at`), a refresh-token family
revoked (logout, logout everywhere, a refresh token reused, a password change), a membership
(added, role changed, removed), an organization (two-factor requirement, deleted), an API key
(revoked, role changed), a two-factor factor (confirmed, removed).
"""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.sql.base import Executable

from t21.core import clock
from t21.core.db import watch_writes
from t21.core.errors import T21Error
from t21.core.logging import get_logger
from t21.core.principal_changes import (
    CHANGES_KEY,
    REFRESH_WITHIN,
    PrincipalChanges,
    pending_changes,
)
from t21.identity.models import TotpFactor, User
from t21.organizations.models import ApiKey, Membership, Organization
from t21.organizations.tenancy import Principal

log = get_logger("t21.principal_cache")

# ApiKey columns whose change alters no principal: its use is recorded on a cache miss.
_API_KEY_BOOKKEEPING = frozenset({"last_used_at", "updated_at"})
_SUBSCRIBER_RETRY_S = 1.0


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    expires_at: float  # the cache's monotonic clock
    token_expires_at: datetime | None  # `clock.now()` time: tests move it
    user_id: uuid.UUID | None
    organizations: frozenset[uuid.UUID]


class PrincipalCache:
    """Principals by credential (access token or API key), bounded in time and size."""

    def __init__(
        self,
        ttl_s: float,
        *,
        engine: Engine | None = None,
        redis: Redis | None = None,
        channel: str = "t21:principals",
        max_entries: int = 10_000,
    ) -> None:
        self.ttl_s = ttl_s
        self.engine = engine
        self.redis = redis
        self.channel = channel
        self.max_entries = max_entries
        self.generation = 0
        # Replaceable in tests, to show the bound without waiting it out.
        self.monotonic = time.monotonic
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # Resolutions under way, by credential, with the generation each began at.
        self._flights: dict[str, tuple[int, asyncio.Future[Principal]]] = {}
        self._subscriber: asyncio.Task[None] | None = None
        self._stopping = False
        self._publishes: set[asyncio.Task[None]] = set()
        # Told of every change this cache applies, from this process or another (what else
        # the process remembers for as long as a principal: `webhooks.fanout`).
        self.followers: list[Callable[[PrincipalChanges], None]] = []
        _caches.add(self)

    @classmethod
    def announcer(cls, *, engine: Engine, redis: Redis, channel: str) -> PrincipalCache:
        """One that keeps and hears nothing, and tells the API processes of every change its
        process commits on `engine`: a worker's (an account marked for reconnecting, say),
        which they would otherwise see only as their entries expire."""
        return cls(0, engine=engine, redis=redis, channel=channel)

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    def get(self, credential: str) -> Principal | None:
        entry = self._entries.get(credential)
        if entry is None:
            return None
        if entry.expires_at <= self.monotonic() or (
            entry.token_expires_at is not None and entry.token_expires_at <= clock.now()
        ):
            del self._entries[credential]
            return None
        return entry.principal

    def put(
        self,
        credential: str,
        principal: Principal,
        *,
        generation: int,
        token_expires_at: datetime | None = None,
    ) -> None:
        """Remember `principal` unless something changed since `generation` was read."""
        if not self.enabled or generation != self.generation:
            return
        self._entries[credential] = _Entry(
            principal=principal,
            expires_at=self.monotonic() + self.ttl_s,
            token_expires_at=token_expires_at,
            user_id=principal.user_id,
            organizations=frozenset(principal.roles),
        )
        self._entries.move_to_end(credential)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def resolve(
        self, credential: str, load: Callable[[], Awaitable[tuple[Principal, datetime | None]]]
    ) -> Principal:
        """The credential's principal from `load` (which gives it and its token's expiry),
        remembered. Concurrent calls for one credential share one `load` while no change is
        applied; its failure is each caller's. A caller cancelled meanwhile leaves the `load`
        to the others."""
        flight = self._flights.get(credential)
        if flight is None or flight[0] != self.generation:
            flight = self._fly(credential, load)
        return await asyncio.shield(flight[1])

    def due(self, credential: str) -> bool:
        """Whether `credential`'s entry is in the last fifth of its life with no resolution
        under way: `refresh` it now, while requests are still served from it."""
        entry = self._entries.get(credential)
        return (
            entry is not None
            and entry.expires_at - self.monotonic() < self.ttl_s * REFRESH_WITHIN
            and credential not in self._flights
        )

    def refresh(
        self, credential: str, load: Callable[[], Awaitable[tuple[Principal, datetime | None]]]
    ) -> None:
        """Resolve `credential` again in the background (`resolve`'s one flight, which misses
        join), without waiting: the entry, still within its bound, serves meanwhile. Without
        it, every request of a busy credential waited together on its expiry for one
        resolution, itself queued for a pooled connection behind theirs (the p99 of a busy
        token's requests). The bound is the same: what is stored is as fresh as what a miss
        would have read, and a change applied meanwhile keeps it out (the generation). A
        refresh that fails changes nothing (the entry expires as it would have)."""
        flight = self._fly(credential, load)
        flight[1].add_done_callback(_refresh_failed)

    def _fly(
        self, credential: str, load: Callable[[], Awaitable[tuple[Principal, datetime | None]]]
    ) -> tuple[int, asyncio.Future[Principal]]:
        generation = self.generation
        future = asyncio.ensure_future(self._load(credential, load, generation))
        flight = self._flights[credential] = (generation, future)
        future.add_done_callback(lambda _done: self._landed(credential, flight))
        return flight

    async def _load(
        self,
        credential: str,
        load: Callable[[], Awaitable[tuple[Principal, datetime | None]]],
        generation: int,
    ) -> Principal:
        principal, token_expires_at = await load()
        self.put(credential, principal, generation=generation, token_expires_at=token_expires_at)
        return principal

    def _landed(self, credential: str, flight: tuple[int, asyncio.Future[Principal]]) -> None:
        if self._flights.get(credential) is flight:
            del self._flights[credential]

    def invalidate(self, changes: PrincipalChanges) -> None:
        for follower in self.followers:
            follower(changes)
        if not changes.principals:
            return
        self.generation += 1
        if changes.everything:
            self._entries.clear()
            return
        stale = [
            credential
            for credential, entry in self._entries.items()
            if entry.user_id in changes.users or entry.organizations & changes.organizations
        ]
        for credential in stale:
            del self._entries[credential]

    def __len__(self) -> int:
        return len(self._entries)

    # --- across processes ---------------------------------------------------------------------

    def publish_soon(self, changes: PrincipalChanges) -> None:
        """Tell the other processes, without waiting (a commit hook can't await)."""
        if self.redis is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._publish(changes.to_json()))
        self._publishes.add(task)
        task.add_done_callback(self._publishes.discard)

    async def _publish(self, message: str) -> None:
        assert self.redis is not None
        try:
            await self.redis.publish(self.channel, message)
        except Exception as exc:
            # The other processes' entries then expire within the TTL: the stated bound.
            log.warning("principal change not published", error=repr(exc))

    async def start(self) -> None:
        if self.redis is not None and self.enabled:
            self._subscriber = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        # Bounded: a subscriber or a publish stuck on a dead connection must not hold the
        # process's shutdown (what is left is dropped with the connection).
        self._stopping = True
        if self._subscriber is not None:
            self._subscriber.cancel()
            await asyncio.wait({self._subscriber}, timeout=_STOP_WAIT_S)
        if self._publishes:
            await asyncio.wait(set(self._publishes), timeout=_STOP_WAIT_S)
        _caches.discard(self)

    def _stopped(self) -> bool:
        return self._stopping

    async def _listen(self) -> None:
        """Apply the other processes' changes until `stop`. It ends on the flag as well as on
        the cancellation: on Python 3.11 a cancellation that lands as the poll's own timeout
        expires can be taken for that timeout (redis-py's `get_message` then answers None), and
        a subscriber that missed it would poll, and retry a closed connection, forever."""
        assert self.redis is not None
        while not self._stopped():
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    # Whatever was published while not subscribed is unknown: start afresh.
                    self.invalidate(PrincipalChanges(everything=True))
                    while not self._stopped():
                        # Polled with a timeout rather than `listen()`, which a cancellation
                        # could leave waiting on the socket.
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=_POLL_S
                        )
                        if message is not None and message.get("type") == "message":
                            self.invalidate(PrincipalChanges.from_json(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stopped():
                    return
                log.warning("principal change subscription lost", error=repr(exc))
                self.invalidate(PrincipalChanges(everything=True))
                await asyncio.sleep(_SUBSCRIBER_RETRY_S)


def _refresh_failed(done: asyncio.Future[Principal]) -> None:
    if done.cancelled():
        return
    error = done.exception()
    if error is not None and not isinstance(error, T21Error):
        log.warning("principal refresh failed", error=repr(error))


_caches: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()
# Seconds: the subscriber's wait for a message between checks, and the longest `stop` waits.
_POLL_S = 1.0
_STOP_WAIT_S = 2.0


def _changed_columns(obj: object) -> set[str]:
    state = inspect(obj)
    return {attr.key for attr in state.attrs if attr.history.has_changes()}


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    changes = pending_changes(session)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, User):
            if obj in session.deleted:
                # Its memberships go by cascade in the database, and the keys it created with them.
                changes.everything = True
            elif obj not in session.new:
                # Its sessions' revocation, and what handlers read of it (name, email).
                changes.users.add(obj.id)
        elif isinstance(obj, Membership):
            if obj.user_id is not None:
                changes.users.add(obj.user_id)
            if obj.organization_id is not None:
                changes.organizations.add(obj.organization_id)
        elif isinstance(obj, Organization):
            if obj not in session.new:
                changes.organizations.add(obj.id)
        elif isinstance(obj, ApiKey):
            if obj in session.deleted or _changed_columns(obj) - _API_KEY_BOOKKEEPING:
                changes.organizations.add(obj.organization_id)
        elif isinstance(obj, TotpFactor):
            changes.users.add(obj.user_id)


_WATCHED_TABLES = frozenset(
    model.__table__.name  # type: ignore[attr-defined]
    for model in (User, Membership, Organization, ApiKey, TotpFactor)
)


@watch_writes
def _on_write(session: Session, statement: Executable) -> None:
    """A bulk UPDATE or DELETE of what principals are made of: drop every cached principal."""
    if not (statement.is_dml and (statement.is_update or statement.is_delete)):
        return
    table = getattr(statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES:
        pending_changes(session).everything = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    changes: PrincipalChanges | None = session.info.pop(CHANGES_KEY, None)
    if not changes:
        return
    bind = session.bind
    engine = bind.engine if bind is not None else None
    caches = list(_caches)
    # A commit through an engine no cache belongs to (a script, a test's own session) is
    # applied to every cache of the process.
    own = [cache for cache in caches if cache.engine is engine] or caches
    for cache in own:
        cache.invalidate(changes)
    for cache in own[:1]:
        cache.publish_soon(changes)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(CHANGES_KEY, None)
