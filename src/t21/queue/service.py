"""A brand's queue: its weekly slots, the next free ones, and taking one for a new post.

A slot is taken when a post of the brand that is neither a draft nor cancelled is scheduled at
that instant. Taking a slot locks the brand's row first (`FOR UPDATE` on PostgreSQL; SQLite's
`BEGIN IMMEDIATE` already admits one writer at a time), so two posts queued at once wait for
each other and never take the same slot.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.brands import service as brands_service
from t21.brands.models import Brand
from t21.core import clock
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal
from t21.posts.models import Post, PostStatus
from t21.posts.schemas import PostIn
from t21.posts.validation import FURTHEST_AHEAD, error
from t21.queue.schemas import QueueIn, SlotIn
from t21.queue.slots import DAYS, Slot, upcoming

# Posts of these statuses hold no slot.
FREE_STATUSES = (PostStatus.DRAFT, PostStatus.CANCELLED)
# Candidates looked at per query while searching for free slots.
BATCH = 64


def slots_of(brand: Brand) -> list[Slot]:
    return sorted(
        Slot(DAYS.index(entry["day"]), time.fromisoformat(entry["time"]))
        for entry in brand.queue_slots or []
    )


def slots_in(slots: list[Slot]) -> list[SlotIn]:
    return [SlotIn(day=DAYS[slot.weekday], time=slot.at.strftime("%H:%M")) for slot in slots]


async def get_queue(session: AsyncSession, principal: Principal, brand_id: uuid.UUID) -> Brand:
    """The brand whose queue is read: members and above (those who write posts)."""
    return await brands_service.get_brand(session, principal, brand_id, Action.WRITE_CONTENT)


async def set_queue(
    session: AsyncSession, principal: Principal, brand_id: uuid.UUID, queue: QueueIn
) -> Brand:
    """The brand's whole weekly queue replaced (admins, like the rest of a brand). Posts
    already scheduled keep their time."""
    brand = await brands_service.get_brand(session, principal, brand_id, Action.MANAGE_BRANDS)
    slots = sorted(
        Slot(DAYS.index(entry.day), time.fromisoformat(entry.time)) for entry in queue.slots
    )
    brand.queue_slots = [entry.model_dump() for entry in slots_in(slots)]
    await session.flush()
    return brand


async def next_free(
    session: AsyncSession, brand: Brand, count: int, after: datetime | None = None
) -> list[datetime]:
    """Up to `count` free slots of the brand after `after` (default now), earliest first;
    fewer when the queue is empty or full for the next five years."""
    start = after or clock.now()
    horizon = start + FURTHEST_AHEAD
    happenings = upcoming(slots_of(brand), ZoneInfo(brand.timezone), start)
    free: list[datetime] = []
    while len(free) < count:
        batch = []
        for happening in happenings:
            if happening.at > horizon:
                break
            batch.append(happening.at)
            if len(batch) == BATCH:
                break
        if not batch:
            break
        taken = await _taken(session, brand.id, batch[0], batch[-1])
        free += [at for at in batch if at not in taken][: count - len(free)]
        if len(batch) < BATCH:
            break
    return free


async def take_next(session: AsyncSession, brand: Brand) -> datetime | None:
    """The next free slot of the brand, with the brand locked until the transaction ends so a
    post queued at the same time waits and takes the one after; `None` when there is none."""
    found = await take_free(session, brand, 1)
    return found[0] if found else None


async def take_free(session: AsyncSession, brand: Brand, count: int) -> list[datetime]:
    """The next `count` free slots (fewer when the queue runs out), locked as `take_next`
    locks one: an import queues many posts at once."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(Brand.id).where(Brand.id == brand.id).with_for_update())
    return await next_free(session, brand, count)


async def with_next_slot(
    session: AsyncSession,
    brand: Brand,
    fields: PostIn,
    errors: list[dict[str, Any]],
    *,
    take: bool,
) -> PostIn:
    """`fields` of a post asking for the queue, scheduled at the brand's next free slot; taken
    (the brand locked, see `take_next`) when `take`, only looked at for a dry run. Without a
    free slot, the problem goes to `errors` and `fields` stay as they are."""
    if take:
        at = await take_next(session, brand)
    else:
        found = await next_free(session, brand, 1)
        at = found[0] if found else None
    if at is not None:
        return fields.model_copy(update={"scheduled_at": at, "status": "scheduled"})
    message = (
        "The brand's queue is full for the next five years; give scheduled_at."
        if brand.queue_slots
        else "The brand's queue has no slots; add some (PUT /api/v1/brands/{id}/queue) or "
        "give scheduled_at."
    )
    errors.append(error(["body", "schedule"], message, rule="queue_empty"))
    return fields


async def _taken(
    session: AsyncSession, brand_id: uuid.UUID, first: datetime, last: datetime
) -> set[datetime]:
    # `sort_at` is `scheduled_at` for a scheduled post, and the brand's list index covers it.
    rows = await session.scalars(
        select(Post.scheduled_at).where(
            Post.brand_id == brand_id,
            Post.sort_at >= first,
            Post.sort_at <= last,
            Post.status.not_in(FREE_STATUSES),
        )
    )
    return {moment for moment in rows if moment is not None}
