"""From an event to its deliveries: one pending row per endpoint that wants it, in the event's
own transaction (the outbox), so no event is committed without its deliveries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.runtime import PendingJob, get_runtime
from t21.core.uow import current_unit_of_work_or_none
from t21.webhooks.claims import hand_over
from t21.webhooks.models import (
    ALL_EVENTS,
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
)

if TYPE_CHECKING:
    from t21.events.models import Event

# The test event of one endpoint goes to that endpoint only, whatever it subscribes to; the
# endpoint is named in the event's data under this key.
TEST_EVENT_TYPE = "webhook.test"
TEST_ENDPOINT_KEY = "webhook_endpoint_id"
# Sent after a commit that made deliveries due (a retry by hand), to claim them at once.
DISPATCH_JOB = "webhooks.dispatch"


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    """Whether `endpoint` subscribes to events of `event_type`."""
    return ALL_EVENTS in endpoint.events or event_type in endpoint.events


async def create_deliveries(session: AsyncSession, event: Event) -> None:
    """Insert one delivery, due now, per enabled endpoint of the event's organization that
    subscribes to its type (`webhook.test`: only the endpoint being tested), and claim them
    into their endpoints' free slots, so they are sent as soon as the transaction commits."""
    await create_deliveries_for(session, event.organization_id, [event])


def _recipients(enabled: Sequence[WebhookEndpoint], event: Event) -> list[WebhookEndpoint]:
    if event.type == TEST_EVENT_TYPE:
        target = str(event.data.get(TEST_ENDPOINT_KEY, ""))
        return [e for e in enabled if str(e.id) == target]
    return [e for e in enabled if wants(e, event.type)]


async def create_deliveries_for(
    session: AsyncSession, organization_id: uuid.UUID, events: Sequence[Event]
) -> None:
    """`create_deliveries` for many events of one organization: its endpoints are read once."""
    enabled = list(
        await session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.organization_id == organization_id,
                WebhookEndpoint.status == EndpointStatus.ENABLED,
            )
        )
    )
    if not enabled:
        return
    now = clock.now()
    endpoints: dict[uuid.UUID, WebhookEndpoint] = {}
    for event in events:
        recipients = _recipients(enabled, event)
        endpoints.update((endpoint.id, endpoint) for endpoint in recipients)
        session.add_all(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                event_id=event.id,
                event_type=event.type,
                status=DeliveryStatus.PENDING,
                attempts=0,
                due_at=now,
                retrying_since=now,
            )
            for endpoint in recipients
        )
    if not endpoints:
        return
    await session.flush()
    if current_unit_of_work_or_none() is None:
        return  # no unit of work to send jobs after: the periodic dispatcher claims them
    try:
        settings = get_runtime().settings
    except RuntimeError:
        return
    for endpoint_id in endpoints:
        await hand_over(session, settings, endpoint_id)


def wake_dispatcher() -> None:
    """Ask for one dispatch right after the commit (once per unit of work). Without a unit of
    work the periodic dispatcher finds the deliveries within its interval."""
    uow = current_unit_of_work_or_none()
    if uow is None:
        return
    wake = PendingJob(name=DISPATCH_JOB, kwargs={})
    if wake not in uow.jobs:
        uow.jobs.append(wake)
