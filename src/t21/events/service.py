"""Recording events (the outbox) and reading them back.

`record_event` adds the event to the caller's transaction, so it commits or rolls back with the
change it describes, and queues the webhook deliveries in that same transaction. Once the
transaction commits, live streams of the organization are woken (`events.hub`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock, tracing
from t21.core.errors import ValidationFailed
from t21.core.pagination import Key, PageRequest, encode_cursor
from t21.core.prepared import JSONText
from t21.events import hub
from t21.events.models import Event, new_event_id
from t21.webhooks.fanout import create_deliveries, create_deliveries_for

# Events are kept (and listed, and replayed to streams) this long.
RETENTION = timedelta(days=30)


async def record_event(
    session: AsyncSession, *, organization_id: uuid.UUID, type: str, data: dict[str, Any]
) -> Event:
    """Write one event in the caller's transaction, with its webhook deliveries."""
    event = Event(organization_id=organization_id, type=type, data=data, created_at=clock.now())
    session.add(event)
    await session.flush()
    await create_deliveries(session, event)
    hub.wake_after_commit(session, organization_id)
    return event


async def record_events(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    events: Sequence[tuple[str, dict[str, Any]]],
) -> list[Event]:
    """Write many events (`type`, `data`) of one organization in the caller's transaction, with
    their webhook deliveries, in a few statements whatever their number (an import, a batch of
    publishing outcomes). The events are inserted as rows, not through the session's unit of
    work (nothing reads them back in the transaction); the `Event`s returned are not in it."""
    if not events:
        return []
    rows = new_events(organization_id, events)
    await session.execute(insert(_events), [_columns(event) for event in rows])
    await events_written(session, organization_id, rows)
    return rows


def new_events(
    organization_id: uuid.UUID, events: Sequence[tuple[str, dict[str, Any] | JSONText]]
) -> list[Event]:
    """The rows `record_events` writes, not yet written nor in a session: a caller that
    inserts them with its own rows (`core.rows.insert_rows`, one statement) then calls
    `events_written`. Their data as a dict, or as `JSONText` for rows written on the driver's
    path (`core.prepared.PooledDriver`) and not read again."""
    now = clock.now()
    traceparent = tracing.current_traceparent()
    return [
        Event(
            id=new_event_id(),
            organization_id=organization_id,
            type=type,
            data=data,
            created_at=now,
            traceparent=traceparent,
        )
        for type, data in events
    ]


async def events_written(
    session: AsyncSession, organization_id: uuid.UUID, rows: Sequence[Event], *, quiet: bool = False
) -> None:
    """What follows the insert of `new_events`' rows, in the same transaction: their webhook
    deliveries, and the organization's streams woken after the commit. `quiet`: the
    organization was known to have no enabled endpoint when the caller began
    (`webhooks.fanout.quiet_everywhere`), so there are no deliveries to write."""
    if not quiet:
        await create_deliveries_for(session, organization_id, rows)
    hub.wake_after_commit(session, organization_id)


_events = Event.metadata.tables[Event.__tablename__]


def _columns(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "organization_id": event.organization_id,
        "type": event.type,
        "data": event.data,
        "created_at": event.created_at,
        "traceparent": event.traceparent,
    }


def rfc3339(moment: datetime) -> str:
    """`moment` in UTC as RFC 3339 with a `Z`, to the microsecond."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_payload(event: Event) -> dict[str, Any]:
    """The event as webhooks send it and the API lists it."""
    return {
        "id": event.id,
        "type": event.type,
        "created_at": rfc3339(event.created_at),
        "organization_id": str(event.organization_id),
        "data": event.data,
    }


async def purge_old_events(session: AsyncSession, *, limit: int) -> int:
    """Delete up to `limit` events older than the retention period; how many went."""
    cutoff = clock.now() - RETENTION
    ids = list(
        await session.scalars(
            select(Event.id)
            .where(Event.created_at < cutoff)
            .order_by(Event.created_at)
            .limit(limit)
        )
    )
    if ids:
        await session.execute(delete(Event).where(Event.id.in_(ids)))
    return len(ids)


# --- reading ------------------------------------------------------------------------------------


async def list_events(
    session: AsyncSession,
    organization_id: uuid.UUID,
    page: PageRequest,
    type: str | None = None,
) -> tuple[list[Event], str | None]:
    """The organization's events of the last 30 days, newest first, a page at a time (keyset on
    the `(organization_id, created_at, id)` index)."""
    statement = select(Event).where(
        Event.organization_id == organization_id,
        Event.created_at >= clock.now() - RETENTION,
    )
    if type is not None:
        statement = statement.where(Event.type == type)
    if page.after is not None:
        after_at, after_id = _cursor_keys(page.after)
        statement = statement.where(
            tuple_(Event.created_at, Event.id)
            < tuple_(literal(after_at, Event.created_at.type), literal(after_id))
        )
    rows = list(
        await session.scalars(
            statement.order_by(Event.created_at.desc(), Event.id.desc()).limit(page.limit + 1)
        )
    )
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, encode_cursor([rows[-1].created_at, rows[-1].id])


def _cursor_keys(keys: tuple[Key, ...]) -> tuple[datetime, str]:
    if len(keys) == 2 and isinstance(keys[0], datetime) and isinstance(keys[1], str):
        return keys[0], keys[1]
    message = "Invalid cursor: pass back the next_cursor of a previous page."
    raise ValidationFailed(message, errors=[{"loc": ["query", "cursor"], "msg": message}])
