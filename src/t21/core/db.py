"""Database engines and sessions for SQLite (embedded) and PostgreSQL, from one URL.

SQLite runs in WAL mode with foreign keys on and a busy timeout, and every transaction that
may write starts with `BEGIN IMMEDIATE`: it takes the write lock up front, so two transactions
never deadlock upgrading a read to a write and a claim (read, then update) is single-writer
safe. Keep transactions short: never hold one across a call to an outside service. A read-only
session's transaction starts with a plain (deferred) `BEGIN`: in WAL mode it reads one snapshot
and takes no lock that a writer waits for (`create_read_sessionmaker`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    String,
    any_,
    bindparam,
    event,
    func,
    select,
)
from sqlalchemy import column as column_
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.base import Executable
from sqlalchemy.types import TypeEngine
from sqlalchemy.util import await_

from t21.core.pool import FairAsyncQueuePool
from t21.core.prepared import DriverFailed
from t21.core.settings import Settings

# Statements each PostgreSQL connection keeps prepared (SQLAlchemy's asyncpg adapter, 100 by
# default, least recently used dropped). A statement with an `IN` list is a different statement
# for each length of the list, so the publishing engine's batches (1 to `T21_PUBLISH_BATCH`
# targets, through a dozen such statements) overflowed 100 and were prepared again (a round
# trip, and PostgreSQL's parse and plan) over and over: about 5 % of a worker's CPU in a burst.
# Only statements actually run are kept, each taking some kilobytes of the server's memory per
# connection. A `?prepared_statement_cache_size=` in the database URL wins. Documented in
# SQLAlchemy's asyncpg dialect, "Prepared Statement Cache".
PREPARED_STATEMENTS_PER_CONNECTION = 500

# The execution option of a read-only session's SQLite engine: its transactions begin deferred.
_READ_ONLY = "t21_read_only"


def create_engine(
    settings: Settings, *, pooled: bool = True, foreign_keys: bool = True
) -> AsyncEngine:
    """The engine for `settings.database_url`, configured for its dialect.

    `foreign_keys=False` is for schema migrations on SQLite only (see `core.migrations`).
    """
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, settings, pooled=pooled, foreign_keys=foreign_keys)
    kwargs: dict[str, Any] = {"echo": settings.database_echo}
    if pooled:
        kwargs |= {
            "pool_size": settings.database_pool_size,
            "max_overflow": settings.database_max_overflow,
            "pool_timeout": settings.database_pool_timeout_s,
            "pool_recycle": settings.database_pool_recycle_s,
            "pool_pre_ping": settings.database_pool_pre_ping,
            # Connections go to waiting requests in the order they came (`core.pool`).
            "poolclass": FairAsyncQueuePool,
        }
    else:
        kwargs["poolclass"] = NullPool
    if url.get_driver_name() == "asyncpg" and "prepared_statement_cache_size" not in url.query:
        kwargs["connect_args"] = {
            "prepared_statement_cache_size": PREPARED_STATEMENTS_PER_CONNECTION
        }
    return create_async_engine(url, **kwargs)


def _sqlite_engine(
    url: URL, settings: Settings, *, pooled: bool, foreign_keys: bool
) -> AsyncEngine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
    if url.get_driver_name() == "aiosqlite":
        kwargs["module"] = _AIOSQLITE
    engine = create_async_engine(
        url,
        echo=settings.database_echo,
        connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
        **kwargs,
    )
    busy_timeout = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see `_on_begin`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            _write_ahead_log(cursor, busy_timeout)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout)}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _write_ahead_log(cursor: Any, busy_timeout_ms: int) -> None:
    """The database in WAL mode. Connections opening a new file at once (two `t21 migrate`,
    say) meet while one of them turns the file to WAL: SQLite then refuses the others at once
    ("database is locked", even a read of the mode, without waiting out the busy timeout, which
    could deadlock there). They ask again after a short wait, within the busy timeout. A file in
    WAL mode stays so: once converted, this is a no-op."""
    waited_s, delay_s = 0.0, 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or waited_s * 1000 >= busy_timeout_ms:
                raise
        # The connect event runs in SQLAlchemy's greenlet: wait without blocking the loop.
        await_(asyncio.sleep(delay_s))
        waited_s += delay_s
        delay_s = min(delay_s * 2, 0.1)


class _AiosqliteConnection(AsyncAdapt_aiosqlite_connection):
    """An aiosqlite connection whose termination never leaves a task behind.

    SQLAlchemy terminates a connection it can no longer trust (a statement or rollback
    interrupted by a cancelled request, a stream whose client left) by awaiting a shielded
    "graceful" close in a task of its own and, if the caller is cancelled meanwhile, force-closing
    it (`Connection.stop()`, which queues "close, then end the thread" on the connection's
    thread). Both queue a stop: whichever comes second waits on a thread that has already ended,
    and the graceful-close task waits forever (aiosqlite's `close()` then awaits another stop in
    its `finally`, so cancelling that task once does not end it either). One such task per
    interrupted request, and a process (or a test's event loop) whose shutdown cancels every task
    and waits for them hangs for good. On SQLite the force close is already orderly: the
    connection's own thread runs the close after whatever it is running, with nothing to wait
    for over a network. So terminating is that alone."""

    __slots__ = ()

    def terminate(self) -> None:
        self._terminate_force_close()


class _Aiosqlite(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite adapter, handing out `_AiosqliteConnection`s."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        connection = super().connect(*arg, **kw)
        connection.__class__ = _AiosqliteConnection
        return connection


_AIOSQLITE = _Aiosqlite(aiosqlite, sqlite3)


# Called with the session and the statement for every statement a `TrackedSession` runs that
# is not a SELECT (an UPDATE, a DELETE, an INSERT, a text statement), before it runs.
WriteWatcher = Callable[[Session, Executable], None]
_write_watchers: list[WriteWatcher] = []


def watch_writes(watcher: WriteWatcher) -> WriteWatcher:
    """Register `watcher` for the statements that write (see `WriteWatcher`); a decorator."""
    _write_watchers.append(watcher)
    return watcher


class TrackedSession(Session):
    """A session that tells the `watch_writes` watchers (the unit of work's write tracking, the
    principal cache) of each statement that writes. A `do_orm_execute` listener would tell
    them too, but any such listener makes every ORM statement of every session build an
    execution state and prepare its ORM options twice; this costs a check of the statement."""

    def execute(self, statement: Executable, *args: Any, **kwargs: Any) -> Any:
        if not statement.is_select:
            self._writing(statement)
        return super().execute(statement, *args, **kwargs)

    def scalar(self, statement: Executable, *args: Any, **kwargs: Any) -> Any:
        if not statement.is_select:
            self._writing(statement)
        return super().scalar(statement, *args, **kwargs)

    def scalars(self, statement: Executable, *args: Any, **kwargs: Any) -> Any:
        if not statement.is_select:
            self._writing(statement)
        return super().scalars(statement, *args, **kwargs)

    def _writing(self, statement: Executable) -> None:
        for watcher in _write_watchers:
            watcher(self, statement)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (responses are built from them)."""
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=True, sync_session_class=TrackedSession
    )


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests that only read. On PostgreSQL without a transaction (no BEGIN and
    COMMIT round trips): each statement then runs in one of its own, with a snapshot of its
    own, as every statement of a READ COMMITTED transaction does anyway. On SQLite in a
    deferred transaction (`BEGIN`, not `IMMEDIATE`): its statements read one snapshot of the
    WAL while writers go on, where the unit of work's `BEGIN IMMEDIATE` would queue the read
    behind every writer, and every writer behind the read, for the busy timeout."""
    if engine.dialect.name == "sqlite":
        options = engine.execution_options(**{_READ_ONLY: True})
    else:
        options = engine.execution_options(isolation_level="AUTOCOMMIT")
    return async_sessionmaker(
        options, expire_on_commit=False, autoflush=False, sync_session_class=ReadOnlySession
    )


def read_bind(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The engine (with the read-only execution options) of a `create_read_sessionmaker`."""
    bind: AsyncEngine = sessionmaker.kw["bind"]
    return bind


class ReadOnlySession(TrackedSession):
    """A session that only reads: on PostgreSQL its statements each commit on their own, so a
    flush of changes would not be atomic; on SQLite a write would take the write lock late,
    which `BEGIN IMMEDIATE` exists to avoid. A flush is refused."""


@event.listens_for(ReadOnlySession, "before_flush")
def _refuse_writes(_session: Session, _context: Any, _instances: Any) -> None:
    raise RuntimeError("a read-only session was asked to write: use session_scope()")


def in_parameters(column: ColumnElement[Any], name: str, count: int) -> ColumnElement[bool]:
    """`column IN (:name_0, …)` with `count` bound parameters (`in_values` fills them): a
    statement built once then serves every list of that length, where an expanding `in_()` is
    rendered again at each execution. The SQL is what the expanding form renders."""
    return column.in_([bindparam(f"{name}_{i}", type_=column.type) for i in range(count)])


def in_values(name: str, values: Sequence[Any]) -> dict[str, Any]:
    """The parameters of `in_parameters(column, name, len(values))`."""
    return {f"{name}_{i}": value for i, value in enumerate(values)}


# Statements with a list of values are different statements for each length of the list, and
# each is prepared again on every pooled PostgreSQL connection that runs it (a round trip, the
# server's parse and plan, and asyncpg's reading of its columns' types): the publishing engine's
# batches of 1 to 25 targets, and a dispatcher's claims of up to 200, ran hundreds of such
# statements, about a tenth of a worker's CPU in a one-minute burst. On PostgreSQL a list is
# one array parameter instead (`= ANY(:ids)`): one statement for lists of every length.


def in_list(
    column: ColumnElement[Any], name: str, count: int, postgres: bool
) -> ColumnElement[bool]:
    """`column` is one of the values bound under `name` (`list_values`): on PostgreSQL one
    array parameter, whatever `count`; elsewhere `in_parameters` (`count` parameters). Build
    statements once per `list_shape(count, postgres)`."""
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return in_parameters(column, name, count)


def list_shape(count: int, postgres: bool) -> int:
    """What distinguishes the statements of `in_list` with `count` values: nothing on
    PostgreSQL (0), the count elsewhere."""
    return 0 if postgres else count


def list_values(name: str, values: Sequence[Any], postgres: bool) -> dict[str, Any]:
    """The parameters of `in_list(column, name, len(values), postgres)`."""
    return {name: list(values)} if postgres else in_values(name, values)


def among(session: AsyncSession, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """`column IN values` for a statement built on the spot: on PostgreSQL `= ANY(:array)`
    (one statement whatever the number of values, see `in_list`), elsewhere a plain `IN`."""
    found: ColumnElement[bool]
    if is_postgres(session):
        found = column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    else:
        found = column.in_(list(values))
    return found


def bound_rows(
    name: str, columns: Sequence[tuple[str, TypeEngine[Any]]], postgres: bool
) -> FromClause:
    """A table of rows given as parameters (`bound_rows_values`), to join or update from: on
    PostgreSQL `unnest` of one array per column, on SQLite `json_each` of one JSON array of
    rows. The statement is the same whatever the number of rows."""
    if postgres:
        arrays = [bindparam(f"{name}_{column}", type_=ARRAY(kind)) for column, kind in columns]
        return (
            func.unnest(*arrays)
            .table_valued(*(column_(column, kind) for column, kind in columns))
            .render_derived(name=name)
        )
    each = func.json_each(bindparam(name, type_=String())).table_valued("value")
    return (
        select(
            *(
                func.json_extract(each.c.value, f"$[{i}]", type_=kind).label(column)
                for i, (column, kind) in enumerate(columns)
            )
        )
        .select_from(each)
        .subquery(name)
    )


def bound_rows_values(
    name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], postgres: bool
) -> dict[str, Any]:
    """The parameters of `bound_rows(name, columns, postgres)` for `rows` (UUIDs in SQLite's
    stored form, 32 hex digits)."""
    if postgres:
        return {f"{name}_{column}": [row[i] for row in rows] for i, column in enumerate(columns)}
    return {name: json.dumps([[_json_form(value) for value in row] for row in rows])}


def _json_form(value: Any) -> Any:
    return value.hex if isinstance(value, uuid.UUID) else value


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


ClaimT = TypeVar("ClaimT", bound="Select[*tuple[Any, ...]]")


def redact_url(url: str) -> str:
    """`url` with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def for_claim(statement: ClaimT, session: AsyncSession) -> ClaimT:
    """`statement` made safe for claiming rows with several workers at once.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent claimers take disjoint rows without
    waiting. SQLite: unchanged, since `BEGIN IMMEDIATE` already lets one writer in at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement


# What SQLite says when its busy timeout ran out while another writer held the lock.
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database could not serve the request just now rather than that
    the request was wrong: SQLite's busy timeout ran out under load, the pool had no connection
    to give within its timeout, or the connection to PostgreSQL was lost or refused (through
    SQLAlchemy or on the driver's connection, `core.prepared.DriverFailed`). Such a
    request can be tried again: the caller answers 503 with `Retry-After`, not 500."""
    if isinstance(error, sa_exc.TimeoutError):
        return True
    if isinstance(error, DriverFailed):
        return error.lost
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        message = str(error.orig).lower()
        if any(phrase in message for phrase in _SQLITE_BUSY):
            return True
        if isinstance(error, sa_exc.InterfaceError | sa_exc.OperationalError):
            return isinstance(error.orig, OSError) or "connection" in message
    return isinstance(error, ConnectionRefusedError)
