"""The unit of work: one session, committed once; jobs sent only after that commit.

`enqueue()` never talks to the broker. It buffers the job in the current unit of work; the
buffer is sent after a successful commit and dropped on rollback, so a job never runs against
rows that were never committed, and a failed request leaves no job behind.

Don't open a second `session_scope()` while one is open in the same task: on SQLite the first
holds the write lock, and the second would wait for it until the busy timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Select, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.sql.base import Executable

from t21.core.db import read_bind, watch_writes
from t21.core.prepared import fetch_pooled, fetch_rows
from t21.core.runtime import PendingJob, Runtime, get_runtime

# In a session's `info` while its transaction has written (a flush, or a statement that is not
# a SELECT); dropped when the transaction ends.
_WROTE_KEY = "t21_transaction_wrote"


class UnitOfWork:
    __slots__ = ("jobs", "session")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.jobs: list[PendingJob] = []

    async def release(self) -> None:
        """End the open transaction, which must have written nothing, before slow work that
        needs no database (a password hash): on SQLite every transaction holds the database's
        one write lock, and every other request would wait for it. The unit of work goes on:
        the next statement opens a new transaction, committed when the unit of work ends.

        Refuses (RuntimeError) when the transaction has written or has changes waiting to be
        flushed: committing them here would split the unit of work's changes in two."""
        session = self.session
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("release() with changes not yet flushed: they would commit early")
        if session.sync_session.info.get(_WROTE_KEY):
            raise RuntimeError("release() of a transaction that wrote: it would commit early")
        if session.in_transaction():
            await session.commit()


_current: ContextVar[UnitOfWork | None] = ContextVar("t21_unit_of_work", default=None)


def current_unit_of_work() -> UnitOfWork:
    uow = _current.get()
    if uow is None:
        raise RuntimeError("no unit of work is open: use session_scope() or a request session")
    return uow


def current_unit_of_work_or_none() -> UnitOfWork | None:
    return _current.get()


async def release(session: AsyncSession) -> None:
    """`UnitOfWork.release()` of the unit of work `session` is the session of."""
    uow = current_unit_of_work()
    if uow.session is not session:
        raise RuntimeError("release() of a session that is not the current unit of work's")
    await uow.release()


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _flush: UOWTransaction) -> None:
    session.info[_WROTE_KEY] = True


@watch_writes
def _executed(session: Session, _statement: Executable) -> None:
    # Anything but a SELECT counts as a write (an UPDATE, a DELETE, an INSERT, a text statement).
    session.info[_WROTE_KEY] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_ended(session: Session) -> None:
    session.info.pop(_WROTE_KEY, None)


def buffer_job(name: str, kwargs: dict[str, Any]) -> None:
    """Add a job to the current unit of work, to be sent once it commits."""
    current_unit_of_work().jobs.append(PendingJob(name=name, kwargs=kwargs))


@asynccontextmanager
async def session_scope(runtime: Runtime | None = None) -> AsyncIterator[AsyncSession]:
    """A session that commits when the block exits normally and rolls back otherwise.

    Jobs enqueued inside the block are sent after the commit; on rollback they are dropped.
    """
    rt = runtime or get_runtime()
    async with rt.sessionmaker() as session:
        uow = UnitOfWork(session)
        token = _current.set(uow)
        try:
            yield session
            await session.commit()
        except BaseException:
            uow.jobs.clear()
            # The session closes (and its connection resets) even if this rollback fails.
            with suppress(Exception):
                await session.rollback()
            raise
        finally:
            _current.reset(token)
    if uow.jobs:
        await rt.jobs.send(uow.jobs)


@asynccontextmanager
async def read_scope(runtime: Runtime | None = None) -> AsyncIterator[AsyncSession]:
    """A session for reading only: outside any transaction on PostgreSQL, in a deferred one
    on SQLite (see `core.db.create_read_sessionmaker`); the ordinary `session_scope()` for a
    runtime without read sessions.

    Nothing written in it would be atomic, so it refuses to flush changes (`ReadOnlySession`),
    and it opens no unit of work: enqueueing a job in it fails."""
    rt = runtime or get_runtime()
    if rt.read_sessionmaker is None:
        async with session_scope(rt) as session:
            yield session
        return
    async with rt.read_sessionmaker() as session:
        yield session


@asynccontextmanager
async def read_connection(runtime: Runtime | None = None) -> AsyncIterator[AsyncConnection]:
    """`read_scope()`'s connection without a session around it, for a route that runs Core
    statements only: building the session, its transaction object and closing them cost
    more than the route's own work (`me`). Outside any transaction on PostgreSQL, in a
    deferred one on SQLite (rolled back at the end: nothing was written)."""
    rt = runtime or get_runtime()
    if rt.read_sessionmaker is None:
        async with session_scope(rt) as session:
            yield await session.connection()
        return
    async with read_bind(rt.read_sessionmaker).connect() as connection:
        yield connection


async def read_rows(
    statement: Select[*tuple[Any, ...]], parameters: dict[str, Any], runtime: Runtime | None = None
) -> Sequence[Any]:
    """The rows of the SELECT `statement` (read by position, see `core.prepared.fetch_rows`),
    for a route whose one statement is all it reads: on PostgreSQL on a pooled connection
    taken for it alone, without SQLAlchemy's connection around it (`fetch_pooled`), else on
    `read_connection()`'s."""
    rt = runtime or get_runtime()
    if rt.read_sessionmaker is not None:
        rows = await fetch_pooled(read_bind(rt.read_sessionmaker), statement, parameters)
        if rows is not None:
            return rows
    async with read_connection(rt) as connection:
        return await fetch_rows(connection, statement, parameters)
