"""`fetch_rows`: a Core statement run on the driver (PostgreSQL, outside a transaction) gives
the rows SQLAlchemy gives, and goes through SQLAlchemy wherever the driver's path can't.
`read_rows` / `fetch_pooled`: the same on a pooled connection taken for the statement alone,
which a broken or interrupted statement never gives back to the pool."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import (
    Integer,
    Numeric,
    bindparam,
    event,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError
from sqlalchemy.pool import QueuePool

from t21.core.db import create_engine, database_unavailable
from t21.core.prepared import DriverFailed, fetch_pooled, fetch_rows, pooled_driver
from t21.core.runtime import Runtime
from t21.core.uow import read_connection, read_rows, session_scope
from t21.identity.models import User
from t21.organizations.models import Membership, Organization
from tests.conftest import TEST_DATABASE_URL
from tests.support.accounts import create_organization, register

_users, _organizations, _memberships = User.__table__, Organization.__table__, Membership.__table__
# Datetimes (converted by `UTCDateTime`), an enum (converted to its member), UUIDs, a NULL, a
# fixed value bound anonymously and one bound per call.
_MEMBERS = (
    select(
        _users.c.id,
        _users.c.email,
        _users.c.email_verified_at,
        _users.c.created_at,
        _organizations.c.id,
        _organizations.c.tier,
        _memberships.c.role,
        _memberships.c.created_at,
    )
    .select_from(
        _users.join(_memberships, _memberships.c.user_id == _users.c.id).join(
            _organizations, _organizations.c.id == _memberships.c.organization_id
        )
    )
    .where(_users.c.id == bindparam("user_id"), _organizations.c.name != "nobody")
    .order_by(_organizations.c.created_at)
)


async def test_the_driver_gives_the_rows_sqlalchemy_gives(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await register(client)
    await create_organization(client, owner, "Second")
    parameters = {"user_id": owner.user_id}
    async with read_connection(runtime) as connection:
        rows = await fetch_rows(connection, _MEMBERS, parameters)
        expected = (await connection.execute(_MEMBERS, parameters)).all()
    assert len(expected) == 2
    assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
    assert [[type(value) for value in row] for row in rows] == [
        [type(value) for value in row] for row in expected
    ]
    if runtime.engine.dialect.name == "postgresql":
        # The driver's path was taken: SQLAlchemy's rows are `Row`s.
        assert all(type(row).__name__ != "Row" for row in rows)


async def test_a_missing_parameter_is_sqlalchemys_error(runtime: Runtime) -> None:
    async with read_connection(runtime) as connection:
        with pytest.raises(StatementError):
            await fetch_rows(connection, _MEMBERS, {})


async def test_listeners_and_transactions_see_every_statement(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await register(client)
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        async with read_connection(runtime) as connection:
            rows = await fetch_rows(connection, _MEMBERS, {"user_id": owner.user_id})
        # `read_rows` too: not on the pool's bare connection, which listeners wouldn't see.
        assert await fetch_pooled(runtime.engine, _MEMBERS, {"user_id": owner.user_id}) is None
        read = await read_rows(_MEMBERS, {"user_id": owner.user_id}, runtime)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(rows) == len(read) == 1
    assert sum("FROM users JOIN memberships" in statement for statement in seen) == 2
    async with session_scope(runtime) as session:
        connection = await session.connection()
        rows = await fetch_rows(connection, _MEMBERS, {"user_id": owner.user_id})
        # In the unit of work's transaction: through SQLAlchemy, which began it.
        assert connection.in_transaction()
        assert type(rows[0]).__name__ == "Row"


async def test_a_column_whose_conversion_needs_the_drivers_types_keeps_sqlalchemys_path(
    runtime: Runtime,
) -> None:
    statement = select(
        literal(1.5, Numeric(10, 2)).label("amount"), bindparam("count", type_=Integer)
    )
    async with read_connection(runtime) as connection:
        rows = await fetch_rows(connection, statement, {"count": 3})
        expected = (await connection.execute(statement, {"count": 3})).all()
    assert [tuple(row) for row in rows] == [tuple(row) for row in expected] == [(1.5, 3)]
    assert type(rows[0]).__name__ == "Row"


async def test_read_rows_gives_the_rows_sqlalchemy_gives_without_a_sqlalchemy_connection(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await register(client)
    await create_organization(client, owner, "Second")
    parameters = {"user_id": owner.user_id}
    connections: list[Any] = []

    def connected(connection: Any) -> None:
        connections.append(connection)

    engine = runtime.engine.sync_engine
    event.listen(engine, "engine_connect", connected)
    try:
        rows = await read_rows(_MEMBERS, parameters, runtime)
    finally:
        event.remove(engine, "engine_connect", connected)
    async with read_connection(runtime) as connection:
        expected = (await connection.execute(_MEMBERS, parameters)).all()
    assert len(expected) == 2
    assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
    assert [[type(value) for value in row] for row in rows] == [
        [type(value) for value in row] for row in expected
    ]
    postgres = runtime.engine.dialect.name == "postgresql"
    # On PostgreSQL the pool's connection alone; elsewhere SQLAlchemy's, as `read_connection`.
    assert (connections == []) is postgres
    assert _checked_out(engine) == 0
    with pytest.raises(StatementError):
        await read_rows(_MEMBERS, {}, runtime)
    assert _checked_out(engine) == 0


_BACKEND = select(func.pg_backend_pid())


def _checked_out(engine: Engine) -> int:
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    return pool.checkedout()


@pytest.mark.postgres
async def test_a_pooled_connection_the_server_closed_is_dropped_not_given_back(
    settings_factory: Any,
) -> None:
    settings = settings_factory(database_url=TEST_DATABASE_URL, database_pool_size=1)
    engine = create_engine(settings)
    admin = create_engine(settings, pooled=False)
    try:
        [(pid,)] = await fetch_pooled(engine, _BACKEND, {}) or [(None,)]
        assert pid is not None
        async with admin.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # The call on the dead connection fails (its caller then goes through SQLAlchemy);
        # the connection is closed, and the next call is served on a new one.
        assert await fetch_pooled(engine, _BACKEND, {}) is None
        [(replaced,)] = await fetch_pooled(engine, _BACKEND, {}) or [(None,)]
        assert replaced is not None
        assert replaced != pid
        assert _checked_out(engine.sync_engine) == 0
    finally:
        await admin.dispose()
        await engine.dispose()


@pytest.mark.postgres
async def test_a_pooled_connection_whose_statement_was_cancelled_is_not_given_back(
    settings_factory: Any,
) -> None:
    settings = settings_factory(database_url=TEST_DATABASE_URL, database_pool_size=1)
    engine = create_engine(settings)
    try:
        [(pid,)] = await fetch_pooled(engine, _BACKEND, {}) or [(None,)]
        slow = asyncio.ensure_future(
            fetch_pooled(engine, select(func.pg_sleep(bindparam("s", type_=Numeric))), {"s": 30})
        )
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert _checked_out(engine.sync_engine) == 0
        # Served at once on a new connection (the interrupted one would still be sleeping).
        [(replaced,)] = await asyncio.wait_for(fetch_pooled(engine, _BACKEND, {}), 5) or [(None,)]
        assert replaced not in (None, pid)
    finally:
        await engine.dispose()


_PROBE = text("INSERT INTO driver_probe (id) VALUES (:id)").bindparams(
    bindparam("id", type_=Integer)
)
_PROBED = select(literal_column("id", Integer)).select_from(table("driver_probe"))


@pytest.mark.postgres
async def test_a_pooled_driver_writes_and_tells_a_refusal_from_a_lost_connection(
    settings_factory: Any,
) -> None:
    """`pooled_driver`: each statement committed on its own; one the server refused wrote
    nothing and leaves the connection in the pool; one whose connection went may have
    written (503, `database_unavailable`) and the connection is not given back."""
    settings = settings_factory(database_url=TEST_DATABASE_URL, database_pool_size=1)
    engine = create_engine(settings)
    admin = create_engine(settings, pooled=False)
    async with admin.connect() as setup:
        await setup.execute(text("CREATE TABLE driver_probe (id integer PRIMARY KEY)"))
        await setup.commit()
    try:
        async with pooled_driver(engine) as driver:
            assert driver is not None
            await driver.execute(_PROBE, {"id": 1})
            [(pid,)] = await driver.fetch(_BACKEND, {})
            with pytest.raises(DriverFailed) as refused:
                await driver.execute(_PROBE, {"id": 1})
            assert (refused.value.lost, refused.value.maybe_written) == (False, False)
            assert not database_unavailable(refused.value)
            # Outside a transaction: the refusal undid nothing before it, and the connection
            # goes on.
            assert [tuple(row) for row in await driver.fetch(_PROBED, {})] == [(1,)]
        async with admin.connect() as other:
            assert (await other.execute(_PROBED)).all() == [(1,)]
        async with pooled_driver(engine) as driver:
            assert driver is not None
            assert [tuple(row) for row in await driver.fetch(_BACKEND, {})] == [(pid,)]
            async with admin.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(DriverFailed) as lost:
                await driver.execute(_PROBE, {"id": 2})
            assert (lost.value.lost, lost.value.maybe_written) == (True, True)
            assert database_unavailable(lost.value)
        assert _checked_out(engine.sync_engine) == 0
        async with pooled_driver(engine) as driver:
            assert driver is not None
            [(replaced,)] = await driver.fetch(_BACKEND, {})
            assert replaced != pid
            with pytest.raises(DriverFailed) as missing:
                await driver.execute(_PROBE, {})
            assert (missing.value.lost, missing.value.maybe_written) == (False, False)
            assert [tuple(row) for row in await driver.fetch(_PROBED, {})] == [(1,)]
    finally:
        async with admin.connect() as teardown:
            await teardown.execute(text("DROP TABLE driver_probe"))
            await teardown.commit()
        await admin.dispose()
        await engine.dispose()


async def test_pooled_driver_is_none_where_the_drivers_path_does_not_apply(
    runtime: Runtime,
) -> None:
    """On SQLite, and on PostgreSQL when statement listeners watch the engine (tracing, the
    tests' counts): every statement must go through SQLAlchemy."""
    engine = runtime.engine

    def record(*_args: Any) -> None:
        pass

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with pooled_driver(engine) as driver:
            assert driver is None
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    async with pooled_driver(engine) as driver:
        assert (driver is not None) is (engine.dialect.name == "postgresql")
    assert _checked_out(engine.sync_engine) == 0
