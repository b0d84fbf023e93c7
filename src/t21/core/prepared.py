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
same conditions, with the same pool (its size, timeout, recycling and pre-ping).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

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
def _compiled(statement: Select[*tuple[Any, ...]], dialect: Dialect) -> _Compiled | None:
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
        values = []
        for name, fixed, process in compiled.binds:
            value = parameters[name] if fixed is _REQUIRED else parameters.get(name, fixed)
            values.append(process(value) if process is not None else value)
        records: Sequence[Any] = await driver.fetch(compiled.sql, *values)
    except Exception:
        return None
    return records


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


async def fetch_pooled(
    engine: AsyncEngine, statement: Select[*tuple[Any, ...]], parameters: dict[str, Any]
) -> Sequence[Any] | None:
    """`fetch_rows`' driver path on a connection of `engine`'s pool checked out for this one
    statement, outside any transaction (a pooled connection has none: the pool rolls back
    what comes back to it); None when the driver's path doesn't apply (see the module) or
    its call failed, and the caller runs the statement through SQLAlchemy (which raises its
    own error). A connection that broke, or whose statement was interrupted (the request
    cancelled), is closed rather than put back."""
    sync = engine.sync_engine
    if sync.dialect.driver != "asyncpg" or sync._echo or _has_statement_listeners(sync.dispatch):
        return None
    compiled = _compiled(statement, sync.dialect)
    if compiled is None:
        return None
    pooled = await engine.raw_connection()
    driver = pooled.driver_connection
    try:
        records = await _driver_fetch(driver, compiled, parameters)
    except BaseException:
        pooled.invalidate()
        raise
    if records is None and (driver is None or driver.is_closed()):
        pooled.invalidate()
        return None
    # In SQLAlchemy's greenlet: giving a connection back may close it (past the pool's size).
    await greenlet_spawn(pooled.close)
    return _converted(records, compiled) if records is not None else None
