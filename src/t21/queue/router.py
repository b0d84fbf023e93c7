"""`/api/v1/brands/{id}/queue`: a brand's weekly slots and the next free ones."""

from __future__ import annotations

import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Query

from t21.core.deps import DbSession
from t21.core.routing import APIRouter
from t21.organizations.auth import CurrentPrincipal
from t21.queue import service
from t21.queue.schemas import NextSlot, NextSlots, QueueIn, QueueOut

router = APIRouter(prefix="/brands/{brand_id}/queue", tags=["queue"])


@router.get("")
async def get_queue(
    brand_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> QueueOut:
    """The brand's weekly slots, wall times in its timezone (members and above)."""
    brand = await service.get_queue(session, principal, brand_id)
    return QueueOut(timezone=brand.timezone, slots=service.slots_in(service.slots_of(brand)))


@router.put("")
async def set_queue(
    brand_id: uuid.UUID, body: QueueIn, principal: CurrentPrincipal, session: DbSession
) -> QueueOut:
    """Replace the brand's weekly slots (admins); posts already scheduled keep their time."""
    brand = await service.set_queue(session, principal, brand_id, body)
    return QueueOut(timezone=brand.timezone, slots=service.slots_in(service.slots_of(brand)))


@router.get("/next")
async def next_slots(
    brand_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    count: Annotated[int, Query(ge=1, le=50)] = 1,
) -> NextSlots:
    """The next `count` free slots from now; a slot is taken by a post of the brand that is
    scheduled at it (drafts and cancelled posts take none)."""
    brand = await service.get_queue(session, principal, brand_id)
    zone = ZoneInfo(brand.timezone)
    return NextSlots(
        items=[
            NextSlot(at=at, at_local=at.astimezone(zone).isoformat())
            for at in await service.next_free(session, brand, count)
        ]
    )
