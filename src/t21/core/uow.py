"""The unit of work: one session, committed once; jobs sent only after that commit.

`enqueue()` never talks to the broker. It buffers the job in the current unit of work; the
buffer is sent after a successful commit and dropped on rollback, so a job never runs against
rows that were never committed, and a failed request leaves no job behind.

Don't open a second `session_scope()` while one is open in the same task: on SQLite the first
holds the write lock, and the second would wait for it until the busy timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.runtime import PendingJob, Runtime, get_runtime


class UnitOfWork:
    __slots__ = ("jobs", "session")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.jobs: list[PendingJob] = []


_current: ContextVar[UnitOfWork | None] = ContextVar("t21_unit_of_work", default=None)


def current_unit_of_work() -> UnitOfWork:
    uow = _current.get()
    if uow is None:
        raise RuntimeError("no unit of work is open: use session_scope() or a request session")
    return uow


def current_unit_of_work_or_none() -> UnitOfWork | None:
    return _current.get()


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
