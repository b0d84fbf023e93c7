"""Claiming deliveries: who sends what, when, and how many at once per endpoint.

A claim is a lease (`lease_token`, `lease_expires_at`) on a pending, due delivery, taken in one
transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite); its job is
sent after the commit. If the job is lost (the broker flushed) or its worker dies, the delivery
is due again when the lease ends. At most `webhook_max_in_flight` deliveries of one endpoint are
leased at once, so a slow endpoint holds a few workers and no more. Claims come from three
places: the periodic dispatcher (retries that fell due, lapsed leases), the fan-out of a new
event (its endpoints' free slots, at once), and an attempt that just ended (its slot, handed to
the endpoint's next delivery).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import String, Update, Uuid, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.db import bound_rows, bound_rows_values, for_claim, is_postgres
from t21.core.settings import Settings
from t21.webhooks.models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint
from t21.worker.jobs import enqueue

# One attempt of one claimed delivery (the job is declared in `webhooks.tasks`).
DELIVER_JOB = "webhooks.deliver"
# A claim outlives the longest attempt by this much (reading, recording), so two workers never
# send one delivery at the same time.
LEASE_MARGIN_S = 5.0


@dataclass(frozen=True)
class Claim:
    delivery_id: uuid.UUID
    token: str


def lease_deadline(now: datetime, settings: Settings) -> datetime:
    """When a claim taken now lapses: never before an attempt could have timed out."""
    return now + timedelta(
        seconds=max(settings.webhook_lease_s, settings.webhook_timeout_s + LEASE_MARGIN_S)
    )


async def claim_due(session: AsyncSession, settings: Settings) -> list[Claim]:
    """Claim a batch of due deliveries of enabled endpoints, at most `webhook_max_in_flight`
    per endpoint including those already in flight; the caller enqueues their jobs."""
    now = clock.now()
    in_flight = and_(
        WebhookDelivery.lease_expires_at.is_not(None), WebhookDelivery.lease_expires_at > now
    )
    ranked = (
        select(
            WebhookDelivery.id.label("id"),
            in_flight.label("in_flight"),
            WebhookDelivery.due_at.label("due_at"),
            func.row_number()
            .over(
                partition_by=WebhookDelivery.endpoint_id,
                order_by=[in_flight.desc(), WebhookDelivery.due_at, WebhookDelivery.id],
            )
            .label("rank"),
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookEndpoint.status == EndpointStatus.ENABLED,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            or_(in_flight, WebhookDelivery.due_at <= now),
        )
        .subquery()
    )
    wanted = (
        select(ranked.c.id)
        .where(ranked.c.rank <= settings.webhook_max_in_flight, ranked.c.in_flight.is_(False))
        .order_by(ranked.c.due_at)
        .limit(settings.webhook_dispatch_batch)
    )
    ids = list(
        await session.scalars(
            for_claim(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.id.in_(wanted),
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.due_at <= now,
                    or_(
                        WebhookDelivery.lease_expires_at.is_(None),
                        WebhookDelivery.lease_expires_at <= now,
                    ),
                ),
                session,
            )
        )
    )
    return await _lease(session, settings, ids, now)


async def hand_over(session: AsyncSession, settings: Settings, endpoint_id: uuid.UUID) -> int:
    """Claim the endpoint's next due deliveries into the slots free now (an attempt just
    ended), and send their jobs after the commit: a busy endpoint's queue drains at the pace
    it answers, not at the dispatcher's. How many were claimed."""
    now = clock.now()
    in_flight = await session.scalar(
        select(func.count())
        .select_from(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.lease_expires_at > now,
        )
    )
    free = settings.webhook_max_in_flight - int(in_flight or 0)
    if free <= 0:
        return 0
    ids = list(
        await session.scalars(
            for_claim(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.endpoint_id == endpoint_id,
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.due_at <= now,
                    or_(
                        WebhookDelivery.lease_expires_at.is_(None),
                        WebhookDelivery.lease_expires_at <= now,
                    ),
                )
                .order_by(WebhookDelivery.due_at)
                .limit(free),
                session,
            )
        )
    )
    for claim in await _lease(session, settings, ids, now):
        enqueue(DELIVER_JOB, delivery_id=str(claim.delivery_id), token=claim.token)
    return len(ids)


async def _lease(
    session: AsyncSession, settings: Settings, ids: list[uuid.UUID], now: datetime
) -> list[Claim]:
    """Lease the deliveries, each under its own token, in one statement whatever their number."""
    claims = [Claim(delivery_id, uuid.uuid4().hex) for delivery_id in ids]
    if not claims:
        return claims
    postgres = is_postgres(session)
    rows = [(claim.delivery_id, claim.token) for claim in claims]
    await session.execute(
        _leasing(postgres),
        {
            **bound_rows_values("leasing", [name for name, _kind in _LEASING], rows, postgres),
            "expires": lease_deadline(now, settings),
        },
    )
    return claims


_LEASING = (("id", Uuid()), ("token", String()))


@lru_cache(maxsize=2)
def _leasing(postgres: bool) -> Update:
    leasing = bound_rows("leasing", _LEASING, postgres)
    deliveries = WebhookDelivery.metadata.tables[WebhookDelivery.__tablename__]
    return (
        update(deliveries)
        .where(deliveries.c.id == leasing.c.id)
        .values(
            lease_token=leasing.c.token,
            lease_expires_at=bindparam("expires", type_=deliveries.c.lease_expires_at.type),
        )
    )
