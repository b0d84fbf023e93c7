"""Core statements built once, compiled once per dialect and run on the driver's connection.

SQLAlchemy's execution of a Core statement costs ~0.13 ms of fixed work on PostgreSQL (`SELECT
1`: 0.16 ms through SQLAlchemy, 0.035 ms with asyncpg alone): the compiled cache's lookup, the
execution context, the connection's events, the greenlet hop, the adapted cursor and its
prepare call. The busiest reads (the list's page, `me`) run one such statement a request. For
them `fetch_rows` compiles the statement once and hands its SQL and the values, in order, to
asyncpg, whose own cache keeps the prepared statement per connection: the same SQL, the same
bound values (tenant isolation stays in the statement's parameters), the same column values
(each column's result processor applied, as SQLAlchemy does).

It goes through SQLAlchemy as before (`connection.execute`) on every other driver, when the
connection is in a transaction (SQLAlchemy's adapter begins it lazily, at the first statement),
when the engine has events or echoes (tracing's spans, the tests' statement counts, logging see
every statement), for statements whose binds are rendered at execution (expanding `IN`,
callables), and again if the driver's call fails: SQLAlchemy then raises its own error and
invalidates a broken connection. A SELECT run twice changes nothing.

A route whose one statement is its whole work (`me`) takes a connection for it alone:
`fetch_pooled` checks the driver's connection out of the pool without SQLAlchemy's `Connection`
around it (~80 µs of CPU less a request, 2026-12-07: the `Connection` and `AsyncConnection`
objects, the execution options' isolation level set at checkout and reset at checkin), on the
same conditions, with the same pool (its size, timeout, recycling and pre-ping). Work of a few
statements, each atomic on its own (a draft's create: its SELECT, then its one INSERT), takes
such a connection for them all (`pooled_driver`); a failed statement says whether the server
refused it (nothing written: the work may run again through SQLAlchemy) or the connection went
before a write's answer (`DriverFailed.maybe_written`: never run again, a 503).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ClauseElement

from t21.core.greenlets import run_sync

_Processor = Callable[[Any], Any] | None


class _Compiled(NamedTuple):
    """A statement as the driver runs it: its SQL, its bound parameters' names in order (with
    a fixed value, or `_REQUIRED`, and the type's conversion, if any) and each column's result
    conversion (None when no column has one)."""

    sql: str
    binds: tuple[tuple[str, Any, _Processor], ...]
    results: tuple[_Processor, ...] | None


_REQUIRED = object()


@lru_cache(maxsize=1024)
def _compiled(statement: ClauseElement, dialect: Dialect) -> _Compiled | None:
    """`statement` compiled for `dialect`, or None when its binds are rendered per execution
    (the driver's path can't run it). Kept per statement object: the callers build theirs once."""
    compiled: Any = statement.compile(dialect=dialect)
    if compiled.positiontup is None or compiled.post_compile_params:
        return None
    binds: list[tuple[str, Any, _Processor]] = []
    processors = compiled._bind_processors
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        if bind.expanding or bind.callable is not None:
            return None
        fixed = _REQUIRED if bind.required else bind.value
        binds.append((name, fixed, processors.get(name)))
    try:
        # Without the driver's column type codes: a type whose conversion depends on them
        # (PostgreSQL's numerics) refuses, and the statement keeps SQLAlchemy's path.
        results = tuple(
            column.type._cached_result_processor(dialect, None)
            for column in compiled._result_columns
        )
    except Exception:
        return None
    return _Compiled(compiled.string, tuple(binds), results if any(results) else None)


def _has_statement_listeners(dispatch: Any) -> bool:
    # Tracing's spans and the tests' statement counts see every statement.
    return bool(
        dispatch.before_execute
        or dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
        or dispatch.after_execute
    )


def _driver_connection(connection: AsyncConnection) -> Any | None:
    """The asyncpg connection under `connection` when the driver's path may run on it."""
    sync = connection.sync_connection
    if (
        sync is None
        or sync.dialect.driver != "asyncpg"
        or sync.closed
        or sync.invalidated
        or sync._echo
        or _has_statement_listeners(sync.dispatch)
        or _has_statement_listeners(sync.engine.dispatch)
    ):
        return None
    proxied = sync.connection
    adapted = proxied.dbapi_connection
    if adapted is None or not adapted.autocommit:
        return None
    return proxied.driver_connection


async def _driver_fetch(
    driver: Any, compiled: _Compiled, parameters: dict[str, Any]
) -> Sequence[Any] | None:
    """The driver's records, or None if the call failed (SQLAlchemy's path then raises its
    own error for it, and invalidates the connection if it broke)."""
    try:
        records: Sequence[Any] = await driver.fetch(compiled.sql, *_bound(compiled, parameters))
    except Exception:
        return None
    return records


class JSONText(str):
    """A JSON column's value already written as JSON text (pydantic-core's `to_json`), bound as
    it is on the driver's path (`PooledDriver`), where its type's conversion (`json.dumps` of
    the Python value) is skipped. Only that path knows it: SQLAlchemy would store the text as
    a JSON string."""

    __slots__ = ()


def _bound(compiled: _Compiled, parameters: dict[str, Any]) -> list[Any]:
    """The values of `compiled`'s binds, in order, each converted by its type (KeyError for a
    required one missing), but `JSONText`, already converted."""
    values = []
    for name, fixed, process in compiled.binds:
        value = parameters[name] if fixed is _REQUIRED else parameters.get(name, fixed)
        if process is not None and not isinstance(value, JSONText):
            value = process(value)
        values.append(value)
    return values


async def fetch_rows(
    connection: AsyncConnection, statement: Select[*tuple[Any, ...]], parameters: dict[str, Any]
) -> Sequence[Any]:
    """The rows of the SELECT `statement` with `parameters`, each read by position (an
    asyncpg `Record` or a SQLAlchemy `Row`; a slice of either is a tuple): on PostgreSQL
    outside a transaction, straight on the driver (see the module's doc)."""
    driver = _driver_connection(connection)
    compiled = _compiled(statement, connection.dialect) if driver is not None else None
    records = await _driver_fetch(driver, compiled, parameters) if compiled else None
    if records is not None and compiled is not None:
        return _converted(records, compiled)
    return (await connection.execute(statement, parameters)).all()


def _converted(records: Sequence[Any], compiled: _Compiled) -> Sequence[Any]:
    """The driver's records with each column's result conversion applied."""
    results = compiled.results
    if results is None:
        return records
    return [
        tuple(
            value if process is None or value is None else process(value)
            for value, process in zip(record, results, strict=True)
        )
        for record in records
    ]


class DriverFailed(Exception):
    """A statement on `PooledDriver`'s connection failed on the driver (or can't run there).
    `lost`: the connection is gone. `maybe_written`: a statement that writes was sent and the
    connection went before its answer, so whether it took effect is unknown (the request
    can't be run again through SQLAlchemy as if nothing happened: `core.db.database_unavailable`
    answers it 503). Otherwise nothing was written: outside a transaction a statement the
    server refused took no effect, and the caller may run its work through SQLAlchemy, which
    raises its own error for it."""

    def __init__(self, *, lost: bool, maybe_written: bool) -> None:
        super().__init__("the statement failed on the driver's connection")
        self.lost = lost
        self.maybe_written = maybe_written


class PooledDriver:
    """One connection of an engine's pool, checked out by `pooled_driver` for a few statements
    run on the driver outside any transaction, each atomic on its own."""

    __slots__ = ("_dialect", "_driver", "broken")

    def __init__(self, driver: Any, dialect: Dialect) -> None:
        self._driver = driver
        self._dialect = dialect
        self.broken = False

    async def fetch(self, statement: ClauseElement, parameters: dict[str, Any]) -> Sequence[Any]:
        """The rows of the SELECT `statement`, converted as `fetch_rows`' are."""
        compiled = _compiled(statement, self._dialect)
        if compiled is None:
            raise DriverFailed(lost=False, maybe_written=False)
        records = await self._run(self._driver.fetch, compiled, parameters, writes=False)
        return _converted(records, compiled)

    async def execute(self, statement: ClauseElement, parameters: dict[str, Any]) -> None:
        """Run `statement` (an INSERT, say), which returns no rows: committed when it returns."""
        compiled = _compiled(statement, self._dialect)
        if compiled is None:
            raise DriverFailed(lost=False, maybe_written=False)
        await self._run(self._driver.execute, compiled, parameters, writes=True)

    async def _run(
        self,
        call: Callable[..., Any],
        compiled: _Compiled,
        parameters: dict[str, Any],
        *,
        writes: bool,
    ) -> Any:
        try:
            values = _bound(compiled, parameters)
        except Exception as error:
            raise DriverFailed(lost=False, maybe_written=False) from error
        try:
            return await call(compiled.sql, *values)
        except Exception as error:
            lost = self._driver.is_closed()
            self.broken = self.broken or lost
            raise DriverFailed(lost=lost, maybe_written=writes and lost) from error
        except BaseException:
            self.broken = True  # interrupted mid-statement (cancelled): never given back
            raise


@asynccontextmanager
async def pooled_driver(engine: AsyncEngine) -> AsyncIterator[PooledDriver | None]:
    """A connection of `engine`'s pool, without SQLAlchemy's `Connection` around it, for the
    statements of one short piece of work (see the module); None when the driver's path doesn't
    apply (another driver, echo, statement listeners). Given back to the pool at the end, or
    closed if a statement broke it or was interrupted (the request cancelled) or the block
    was."""
    sync = engine.sync_engine
    if sync.dialect.driver != "asyncpg" or sync._echo or _has_statement_listeners(sync.dispatch):
        yield None
        return
    # In a kept greenlet (`core.greenlets`), as SQLAlchemy's `raw_connection` would in a new one.
    pooled = await run_sync(sync.raw_connection)
    driver = PooledDriver(pooled.driver_connection, sync.dialect)
    try:
        yield driver
    except BaseException as error:
        if driver.broken or not isinstance(error, Exception):
            pooled.invalidate()
            raise
        await run_sync(pooled.close)
        raise
    if driver.broken:
        pooled.invalidate()
        return
    # In a greenlet: giving a connection back may close it (past the pool's size).
    await run_sync(pooled.close)


async def fetch_pooled(
    engine: AsyncEngine, statement: Select[*tuple[Any, ...]], parameters: dict[str, Any]
) -> Sequence[Any] | None:
    """`fetch_rows`' driver path on a connection of `engine`'s pool checked out for this one
    statement (`pooled_driver`); None when the driver's path doesn't apply or its call failed,
    and the caller runs the statement through SQLAlchemy (which raises its own error)."""
    if _compiled(statement, engine.sync_engine.dialect) is None:
        return None
    async with pooled_driver(engine) as driver:
        if driver is None:
            return None
        try:
            return await driver.fetch(statement, parameters)
        except DriverFailed:
            return None
