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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Insert,
    Select,
    String,
    Table,
    any_,
    bindparam,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy import column as column_
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import BindParameter, TextClause
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


_M = TypeVar("_M")
_column_keys: dict[type[Any], tuple[str, ...]] = {}


def row_object(model: type[_M], values: Sequence[Any]) -> _M:
    """An object of `model` holding a row of its table's columns (`values` in the table's
    order, converted as a query converts them), made without a session: for rows read on the
    driver's connection (`core.prepared.PooledDriver`). It reads as a loaded object does; it
    belongs to no session (changing it updates nothing, and nothing is loaded lazily)."""
    keys = _column_keys.get(model)
    if keys is None:
        mapper = sa_inspect(model)
        keys = _column_keys[model] = tuple(
            mapper.get_property_by_column(column).key for column in mapper.local_table.columns
        )
    one: _M = sa_inspect(model).class_manager.new_instance()
    one.__dict__.update(zip(keys, values, strict=True))
    return one


@dataclass(frozen=True, slots=True)
class NewRow:
    """A new ORM object's row, as `with_defaults` makes it for `insert_rows`."""

    table: Table
    values: dict[str, Any]


def with_defaults(objects: Sequence[Any]) -> list[NewRow]:
    """The rows of new ORM objects (which stay out of any session) as the unit of work would
    write them: each column's Python default is set on the object where its attribute was not
    given, or was given None and the column does not store None as a value (JSON's `null`),
    so the object reads as a flushed one would. Read the objects afterwards; changing them
    updates no row."""
    return [
        NewRow(sa_inspect(type(one)).local_table, _new_row(sa_inspect(type(one)), one))
        for one in objects
    ]


async def insert_rows(session: AsyncSession, rows: Sequence[NewRow]) -> None:
    """Insert `with_defaults`' rows without the unit of work's flush (about a third of a
    post's create was the ORM's flushes), parents before children (no relationship orders
    them here). On PostgreSQL in one statement (`insert_together`), one round trip where a
    post, its targets and its event took three. Elsewhere one Core statement per table and
    set of columns, in the order of `rows`."""
    groups = _groups(rows)
    if len(groups) > 1 and is_postgres(session):
        await session.execute(*insert_together(rows, session.get_bind().dialect))
        return
    for (table, _columns), values in groups.items():
        await session.execute(_insert_of(table), values)


def insert_together(rows: Sequence[NewRow], dialect: Dialect) -> tuple[TextClause, dict[str, Any]]:
    """PostgreSQL's one INSERT of `rows` and its parameters: each table's rows a
    data-modifying CTE of the last table's insert (foreign keys are checked at the statement's
    end, when every row is in). Atomic on its own, outside a transaction too."""
    groups = _groups(rows)
    statement, names = _insert_together(
        tuple((table, columns, len(values)) for (table, columns), values in groups.items()),
        dialect.identifier_preparer.quote,
    )
    values = (value for group in groups.values() for row in group for value in row.values())
    return statement, dict(zip(names, values, strict=True))


def _groups(rows: Sequence[NewRow]) -> dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]]:
    """`rows` by table and set of columns, in the order of `rows`."""
    groups: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row.table, tuple(row.values)), []).append(row.values)
    return groups


_inserts: dict[Table, Insert] = {}
# `_insert_together`'s statements by shape (each table, its columns, its number of rows): a
# create makes a handful of shapes; many more (an unusual mix) are dropped all at once.
_inserts_together: dict[
    tuple[tuple[Table, tuple[str, ...], int], ...], tuple[TextClause, tuple[str, ...]]
] = {}
_MAX_SHAPES = 256


def _insert_of(table: Table) -> Insert:
    statement = _inserts.get(table)
    if statement is None:
        statement = _inserts[table] = insert(table)
    return statement


def _insert_together(
    shape: tuple[tuple[Table, tuple[str, ...], int], ...], quote: Callable[[str], str]
) -> tuple[TextClause, tuple[str, ...]]:
    """One INSERT of every group of `shape`, the groups before the last as CTEs of the last;
    the value of row `n`'s `column` in group `g` bound as `g{g}_{n}_{column}`, typed as the
    column (its conversions apply), and the binds' names in the order of the groups, their
    rows and columns (kept with the statement: ~50 names made again at every create took
    ~15 µs). Text, not an `insert()` with CTEs: SQLAlchemy does not cache the compiled form
    of a multi-row insert in a CTE ("no key"), and compiled it again at every create
    (~1.7 ms)."""
    known = _inserts_together.get(shape)
    if known is not None:
        return known
    parts: list[str] = []
    parameters: list[BindParameter[Any]] = []
    for group, (table, columns, count) in enumerate(shape):
        rows = []
        for number in range(count):
            names = [f"g{group}_{number}_{column}" for column in columns]
            parameters += [
                bindparam(name, type_=table.c[column].type)
                for name, column in zip(names, columns, strict=True)
            ]
            rows.append("(" + ", ".join(f":{name}" for name in names) + ")")
        parts.append(
            # Names from the models, quoted; every value bound.
            f"INSERT INTO {quote(table.name)} "  # noqa: S608
            f"({', '.join(quote(table.c[column].name) for column in columns)}) "
            f"VALUES {', '.join(rows)}"
        )
    *first, last = parts
    ctes = ", ".join(f"insert_{group} AS ({one})" for group, one in enumerate(first))
    statement = text(f"WITH {ctes} {last}" if ctes else last).bindparams(*parameters)
    if len(_inserts_together) >= _MAX_SHAPES:
        _inserts_together.clear()
    known = _inserts_together[shape] = (statement, tuple(one.key for one in parameters))
    return known


# Of each column of a mapped class: its attribute's key, its column's, whether it stores None
# as a value (JSON's `null`), and its Python default's kind and argument.
_Plan = tuple[tuple[str, str, bool, str | None, Any], ...]
_plans: dict[Any, _Plan] = {}


def _plan_of(mapper: Any) -> _Plan:
    plan = _plans.get(mapper)
    if plan is None:
        columns = []
        for attribute in mapper.column_attrs:
            column = attribute.columns[0]
            default = column.default
            kind: str | None = None
            if default is not None:
                if default.is_scalar:
                    kind = "scalar"
                elif default.is_callable:
                    kind = "callable"
                else:
                    kind = "other"
            arg = default.arg if default is not None else column
            columns.append((attribute.key, column.key, column.type.should_evaluate_none, kind, arg))
        plan = _plans[mapper] = tuple(columns)
    return plan


def _new_row(mapper: Any, one: Any) -> dict[str, Any]:
    given = one.__dict__
    row: dict[str, Any] = {}
    # What to read of each column worked out once per class: a post and its target 20 → 13 µs.
    for key, column_key, evaluate_none, default, arg in _plan_of(mapper):
        value = given.get(key)
        if value is None and not (evaluate_none and key in given):
            if default is not None:
                if default == "other":
                    raise TypeError(f"{arg} has a default insert_new cannot compute")
                value = arg if default == "scalar" else arg(None)
                setattr(one, key, value)
            elif key not in given:
                continue  # not given, no default: NULL, as the unit of work leaves it
        row[column_key] = value
    return row


class RowWith:
    """A row of columns with some of them changed, read by attribute as the row (or the ORM
    object it stands for) would be: what a statement just wrote, without reading it back."""

    __slots__ = ("_values",)

    def __init__(self, row: Any, **changes: Any) -> None:
        self._values: dict[str, Any] = {**row._mapping, **changes}

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None
