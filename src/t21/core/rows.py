"""Rows outside the unit of work: new ORM objects made into the rows Core statements insert
(`with_defaults`, `insert_rows`, `insert_together`), and rows read back as objects or with
changes (`row_object`, `RowWith`), where the ORM's flushes and loading bought nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Insert, Table, bindparam, insert, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter, TextClause

from t21.core.db import is_postgres

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
                    raise TypeError(f"{arg} has a default with_defaults cannot compute")
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
