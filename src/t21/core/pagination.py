"""Keyset pagination: `?limit=` (1..100, default 20) and an opaque `?cursor=`, answered as
`{"items": [...], "next_cursor": "..." | null}`.

A page is "the next `limit` rows after the last one seen", found through an index on the sort
keys, so the millionth page costs what the first does (no OFFSET). The cursor is the last row's
sort keys, encoded; clients treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Integer, Select, bindparam, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.elements import ColumnElement

from t21.core.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 512
# A signed 64-bit column's range: larger integers would overflow in the database.
MIN_INT_KEY = -(2**63)
MAX_INT_KEY = 2**63 - 1

T = TypeVar("T")
Key = uuid.UUID | datetime | str | int


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    after: tuple[Key, ...] | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(keys: Sequence[Key]) -> str:
    encoded: list[list[str | int]] = []
    for key in keys:
        if isinstance(key, uuid.UUID):
            encoded.append(["u", key.hex])
        elif isinstance(key, datetime):
            encoded.append(["t", key.isoformat()])
        elif isinstance(key, bool):
            raise TypeError("booleans are not sort keys")
        elif isinstance(key, int):
            encoded.append(["i", key])
        else:
            encoded.append(["s", key])
    raw = json.dumps(encoded, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Key, ...]:
    """The sort keys in `cursor`; anything but what `encode_cursor` makes is a 422 at
    `["query","cursor"]`, so no crafted cursor reaches the database."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or not parts:
            raise ValueError("not a list of keys")
        keys = tuple(_decode_key(part) for part in parts)
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error):
        raise _bad_cursor() from None
    return keys


def _decode_key(part: object) -> Key:
    if not isinstance(part, list) or len(part) != 2:
        raise ValueError("a key is a [kind, value] pair")
    kind, value = part
    if kind == "i" and isinstance(value, int) and not isinstance(value, bool):
        if not MIN_INT_KEY <= value <= MAX_INT_KEY:
            raise ValueError("integer key out of range")
        return value
    if not isinstance(value, str):
        raise ValueError("key value is not a string")
    if kind == "u":
        return uuid.UUID(hex=value)
    if kind == "t":
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("naive timestamp")
        return moment.astimezone(UTC)
    if kind == "s":
        if "\x00" in value:
            raise ValueError("NUL in a string key")
        value.encode()  # a lone surrogate is refused here, not by the database driver
        return value
    raise ValueError("unknown key kind")


def _matches(value: Key, column: ColumnElement[Any] | InstrumentedAttribute[Any]) -> bool:
    """Whether a decoded key has the Python type of the column it is compared with (a `str`
    where a UUID is stored would otherwise reach the database and fail there)."""
    try:
        expected: type[Any] = column.type.python_type
    except NotImplementedError:
        return True
    if expected is int:
        return isinstance(value, int)
    return isinstance(value, expected)


def _bad_cursor() -> ValidationFailed:
    message = "Invalid cursor: pass back the next_cursor of a previous page."
    return ValidationFailed(message, errors=[{"loc": ["query", "cursor"], "msg": message}])


async def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page."),
    ] = None,
) -> PageRequest:
    # async: decoding a cursor is quick; a `def` dependency would go to the thread pool.
    return PageRequest(limit=limit, after=decode_cursor(cursor) if cursor else None)


PageParams = Annotated[PageRequest, Depends(page_request)]


# The bound parameters of a paged statement (`keyset_statement`): the page's size (plus one, to
# know whether another page follows) and the cursor's keys.
LIMIT_PARAMETER = "page_limit"
AFTER_PARAMETER = "page_after"


def keyset_statement(
    statement: Select[*tuple[Any, ...]],
    *,
    keys: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]],
    after: bool,
    partitions: Sequence[ColumnElement[bool]] = (),
) -> Select[*tuple[Any, ...]]:
    """`statement` paged in ascending order of `keys` (unique together, e.g. ending with the
    id), after a cursor's row if `after`: the page's size and the cursor's keys are bound
    parameters (`page_parameters`), so a statement built once serves every page.

    `partitions` (e.g. one condition per organization of the caller) split the page into one
    indexed walk per condition, merged: an index on (condition column, keys...) then serves
    each, where a single `IN (...)` would sort every matching row first. The statement selects
    one ORM entity whose `keys` are its attributes, or columns among which are `keys`, under
    their own names."""
    limit = bindparam(LIMIT_PARAMETER, type_=Integer)
    if after:
        bound = [bindparam(f"{AFTER_PARAMETER}_{i}", type_=key.type) for i, key in enumerate(keys)]
        statement = statement.where(tuple_(*keys) > tuple_(*bound))
    if len(partitions) > 1:
        return _merged(statement, keys, partitions, limit)
    return statement.order_by(*keys).limit(limit)


def page_parameters(
    request: PageRequest, keys: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]]
) -> dict[str, Any]:
    """The parameters of `keyset_statement(..., after=request.after is not None)` for this
    page; a cursor whose keys don't fit `keys` is a 422."""
    parameters: dict[str, Any] = {LIMIT_PARAMETER: request.limit + 1}
    if request.after is not None:
        if len(request.after) != len(keys) or not all(
            _matches(value, key) for key, value in zip(keys, request.after, strict=True)
        ):
            raise _bad_cursor()
        for i, value in enumerate(request.after):
            parameters[f"{AFTER_PARAMETER}_{i}"] = value
    return parameters


def page_of(
    rows: Sequence[T], request: PageRequest, key_of: Callable[[T], tuple[Key, ...]]
) -> tuple[list[T], str | None]:
    """The page in `rows` (read with `page_parameters`, one more than the page holds if
    another follows), and the cursor of the next page (None on the last one)."""
    if len(rows) <= request.limit:
        return list(rows), None
    page = list(rows[: request.limit])
    return page, encode_cursor(key_of(page[-1]))


async def keyset_page(
    session: AsyncSession,
    statement: Select[*tuple[Any, ...]],
    *,
    keys: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]],
    key_of: Callable[[Any], tuple[Key, ...]],
    request: PageRequest,
    scalars: bool = True,
    partitions: Sequence[ColumnElement[bool]] = (),
) -> tuple[list[Any], str | None]:
    """One page of `statement` (see `keyset_statement`) after the cursor's row. `key_of(row)`
    gives a row's key values; `scalars=False` for a statement of columns."""
    parameters = page_parameters(request, keys)
    paged = keyset_statement(
        statement, keys=keys, after=request.after is not None, partitions=partitions
    )
    result = await session.execute(paged, parameters)
    rows = result.scalars().all() if scalars else result.all()
    return page_of(rows, request, key_of)


def _merged(
    statement: Select[*tuple[Any, ...]],
    keys: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]],
    partitions: Sequence[ColumnElement[bool]],
    limit: ColumnElement[int],
) -> Select[*tuple[Any, ...]]:
    """The first `limit` rows of `statement` by `keys`, as the merge of each partition's own
    first `limit` rows."""
    branches = [
        select(statement.where(part).order_by(*keys).limit(limit).subquery()) for part in partitions
    ]
    union = union_all(*branches).subquery()
    [first, *others] = statement.column_descriptions
    if not others and first["expr"] is first["entity"]:  # one ORM entity
        merged = aliased(first["entity"], union)
        order = [getattr(merged, str(key.key)) for key in keys]
        return select(merged).order_by(*order).limit(limit)
    return select(*union.c).order_by(*(union.c[str(key.key)] for key in keys)).limit(limit)
