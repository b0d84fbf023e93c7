"""Engines: SQLite in WAL mode with foreign keys enforced and a busy timeout; PostgreSQL pooled
as the settings say."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from t21.core.db import create_engine, create_read_sessionmaker, database_unavailable
from tests.conftest import TEST_DATABASE_URL


async def test_sqlite_connections_use_wal_foreign_keys_and_the_busy_timeout(
    settings_factory: Any, tmp_path: Path
) -> None:
    settings = settings_factory(
        database_url=f"sqlite:///{tmp_path / 'engine.db'}", sqlite_busy_timeout_ms=1234
    )
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 1234
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
            await conn.execute(
                text("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id REFERENCES parent(id))")
            )
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO child (id, parent_id) VALUES (1, 42)"))
    finally:
        await engine.dispose()


async def test_a_sqlite_read_session_reads_one_snapshot_and_holds_no_write_lock(
    settings_factory: Any, tmp_path: Path
) -> None:
    path = tmp_path / "reads.db"
    engine = create_engine(settings_factory(database_url=f"sqlite:///{path}"))
    reads = create_read_sessionmaker(engine)
    count = text("SELECT count(*) FROM note")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY)"))
        async with reads() as session:
            assert await session.scalar(count) == 0
            # Another connection takes the write lock at once (a zero busy timeout: a lock
            # held by the read would fail it) and commits while the read goes on.
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("INSERT INTO note (id) VALUES (1)")
                other.execute("COMMIT")
            finally:
                other.close()
            assert await session.scalar(count) == 0, "the read's statements saw two states"
        async with reads() as session:
            assert await session.scalar(count) == 1
    finally:
        await engine.dispose()


async def test_a_sqlite_connection_dropped_by_a_cancelled_request_leaves_nothing_behind(
    settings_factory: Any, tmp_path: Path
) -> None:
    """A request cancelled while its connection is in use (a client that left) has that
    connection terminated: it must end with its thread, leaving no task that waits forever (one
    per cancelled request, and a shutdown that cancels and waits for every task would hang)."""
    engine = create_engine(settings_factory(database_url=f"sqlite:///{tmp_path / 'cancel.db'}"))
    threads_before = set(threading.enumerate())

    async def cancelled_request() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            current = asyncio.current_task()
            assert current is not None
            current.cancel()  # the client leaves while the connection is in use
            await conn.invalidate()

    request = asyncio.create_task(cancelled_request())
    try:
        with pytest.raises(asyncio.CancelledError):
            await request
        for _ in range(100):
            await asyncio.sleep(0.01)
            left = set(threading.enumerate()) - threads_before
            if not left:
                break
        assert not left, f"the connection's thread still runs: {left}"
        others = asyncio.all_tasks() - {asyncio.current_task()}
        assert not others, f"tasks left behind: {others}"
        async with engine.connect() as conn:  # the pool serves on
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgresql_pool_follows_the_settings(settings_factory: Any) -> None:
    settings = settings_factory(
        database_url=TEST_DATABASE_URL,
        database_pool_size=3,
        database_max_overflow=2,
        database_pool_timeout_s=7.5,
    )
    engine = create_engine(settings)
    try:
        assert engine.dialect.driver == "asyncpg"
        pool: Any = engine.pool
        assert pool.size() == 3
        assert pool._max_overflow == 2
        assert pool._timeout == 7.5
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_burst_beyond_the_pool_reuses_its_connections(settings_factory: Any) -> None:
    """More requests at once than the pool holds wait for its connections; they don't open
    new ones that are closed again as they come back (SQLAlchemy closes a returned overflow
    connection when the pool's queue is momentarily full, even with requests waiting): each
    would cost a connection's start and every statement prepared again."""
    settings = settings_factory(database_url=TEST_DATABASE_URL)
    engine = create_engine(settings)
    opened = 0

    def counted(*_args: Any) -> None:
        nonlocal opened
        opened += 1

    event.listen(engine.sync_engine.pool, "connect", counted)
    size = settings.database_pool_size + settings.database_max_overflow

    async def request() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(0.005)"))

    try:
        for _ in range(5):
            await asyncio.gather(*(request() for _ in range(3 * size)))
        assert opened <= size
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_connection_the_server_closed_is_replaced_without_a_pre_ping(
    settings_factory: Any,
) -> None:
    settings = settings_factory(database_url=TEST_DATABASE_URL, database_pool_size=1)
    engine = create_engine(settings)
    try:
        assert not engine.pool._pre_ping
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
        admin = create_engine(settings, pooled=False)
        try:
            async with admin.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            await admin.dispose()
        outcomes: list[str] = []
        for _ in range(2):
            try:
                async with engine.connect() as conn:
                    assert (await conn.execute(text("SELECT 1"))).scalar() == 1
                outcomes.append("served")
            except Exception as exc:
                outcomes.append("503" if database_unavailable(exc) else repr(exc))
        # At worst the request that met the dead connection answers 503; the next is served.
        assert outcomes in (["served", "served"], ["503", "served"])
    finally:
        await engine.dispose()
