"""The live stream: Server-Sent Events read from the event table, woken by the hub.

The table is the source of truth, so a stream misses nothing a wake-up misses: it reads again at
least every `events_poll_s`. Events are sent in `(created_at, id)` order; each read looks back
`events_lookback_s` for events whose transaction committed after a later one was sent, and skips
those it already sent. A client reconnecting with `Last-Event-ID` gets every event after that one
(the id is a UUIDv7, so its time is known even once the event itself is gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.errors import ValidationFailed
from t21.core.ids import uuid7_time_ms
from t21.core.runtime import Runtime
from t21.events.hub import hub_of
from t21.events.models import EVENT_ID_PREFIX, Event
from t21.events.service import event_payload

BATCH = 200
HEARTBEAT = b": heartbeat\n\n"


def parse_last_event_id(value: str | None) -> str | None:
    """The `Last-Event-ID` header, checked: an event id of ours, or nothing (a fresh start)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        parsed = uuid.UUID(hex=value.removeprefix(EVENT_ID_PREFIX))
    except ValueError:
        parsed = None
    if not value.startswith(EVENT_ID_PREFIX) or parsed is None or parsed.version != 7:
        message = "Last-Event-ID must be the id of an event (`evt_…`) this stream sent."
        raise ValidationFailed(
            message, errors=[{"loc": ["header", "last-event-id"], "msg": message}]
        )
    return value


def sse_message(event: Event) -> bytes:
    data = json.dumps(event_payload(event), separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()


async def _resume_point(
    session: AsyncSession, organization_id: uuid.UUID, last_event_id: str | None
) -> tuple[datetime, str]:
    """Where the stream starts: right after the given event, else now."""
    if last_event_id is None:
        return clock.now(), ""
    created_at = await session.scalar(
        select(Event.created_at).where(
            Event.id == last_event_id, Event.organization_id == organization_id
        )
    )
    if created_at is None:
        # Purged (or never ours): its id still says when it was made.
        ms = uuid7_time_ms(uuid.UUID(hex=last_event_id.removeprefix(EVENT_ID_PREFIX)))
        created_at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return created_at, last_event_id


async def _read(
    session: AsyncSession, organization_id: uuid.UUID, after: tuple[datetime, str], limit: int
) -> list[Event]:
    statement = (
        select(Event)
        .where(
            Event.organization_id == organization_id,
            tuple_(Event.created_at, Event.id)
            > tuple_(literal(after[0], Event.created_at.type), literal(after[1])),
        )
        .order_by(Event.created_at, Event.id)
        .limit(limit)
    )
    return list(await session.scalars(statement))


async def open_event_stream(
    runtime: Runtime, organization_id: uuid.UUID, last_event_id: str | None
) -> AsyncIterator[bytes]:
    """The organization's events as SSE messages, from `last_event_id` (exclusive) or now.

    The stream is open when this returns: its start point is fixed and its wake-up registered
    before the response's headers go out. A client sees the stream open with the headers
    (`EventSource`'s `open`); a start fixed only once the body is first read would count a change
    it made in between as the past, and never send it."""
    stream = _event_stream(runtime, organization_id, last_event_id)
    # An error (or a cancellation) before the first line ends the generator with it.
    first = await anext(stream)
    return _sent_after(first, stream)


async def _sent_after(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    async with contextlib.aclosing(rest):
        yield first
        async for chunk in rest:
            yield chunk


async def _event_stream(
    runtime: Runtime, organization_id: uuid.UUID, last_event_id: str | None
) -> AsyncGenerator[bytes, None]:
    settings = runtime.settings
    lookback = timedelta(seconds=settings.events_lookback_s)
    async with hub_of(runtime).waiter(organization_id) as wake:
        async with runtime.sessionmaker() as session:
            start = await _resume_point(session, organization_id, last_event_id)
            # What was there before the start point counts as sent.
            rows = await session.execute(
                select(Event.id, Event.created_at).where(
                    Event.organization_id == organization_id,
                    Event.created_at >= start[0] - lookback,
                    tuple_(Event.created_at, Event.id)
                    <= tuple_(literal(start[0], Event.created_at.type), literal(start[1])),
                )
            )
            seen: dict[str, datetime] = {row.id: row.created_at for row in rows}
        newest = start[0]
        # A first line at once, so the client knows the stream is open (and `open_event_stream`
        # knows it started).
        yield HEARTBEAT
        last_beat = time.monotonic()
        while True:
            wake.clear()
            cursor = (newest - lookback, "")
            full = True
            while full:
                async with runtime.sessionmaker() as session:
                    batch = await _read(session, organization_id, cursor, BATCH)
                full = len(batch) == BATCH
                for event in batch:
                    cursor = (event.created_at, event.id)
                    if event.id in seen:
                        continue
                    seen[event.id] = event.created_at
                    newest = max(newest, event.created_at)
                    last_beat = time.monotonic()
                    yield sse_message(event)
            horizon = newest - lookback
            seen = {key: at for key, at in seen.items() if at >= horizon}
            waited = time.monotonic() - last_beat
            timeout = max(0.0, min(settings.events_poll_s, settings.events_heartbeat_s - waited))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=timeout)
            if time.monotonic() - last_beat >= settings.events_heartbeat_s:
                last_beat = time.monotonic()
                yield HEARTBEAT
