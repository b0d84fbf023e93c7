"""`/api/v1/webhooks`: endpoints, their secrets, test events and delivery log (admins)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response

from t21.core.deps import AppSettings, DbSession
from t21.core.pagination import PageParams
from t21.core.routing import APIRouter
from t21.organizations.auth import CurrentPrincipal
from t21.webhooks import service
from t21.webhooks.models import DeliveryStatus
from t21.webhooks.schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryList,
    DeliveryOut,
    SecretOut,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


# Not idempotent-replayable, like API keys: the answer carries the secret, which the
# idempotency store would keep in the clear.
@router.post("", status_code=201)
async def create_webhook(
    body: WebhookIn, principal: CurrentPrincipal, session: DbSession, settings: AppSettings
) -> WebhookCreated:
    """An endpoint of `organization_id` (default: the caller's personal organization) that
    receives signed events; its `secret` is shown only here and at rotation. Admins."""
    endpoint, secret = await service.create_endpoint(session, settings, principal, body)
    return WebhookCreated.with_secret(endpoint, secret)


@router.get("")
async def list_webhooks(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    organization_id: Annotated[
        uuid.UUID | None,
        Query(description="Default: every organization where the caller manages webhooks."),
    ] = None,
) -> WebhookList:
    endpoints, next_cursor = await service.list_endpoints(session, principal, page, organization_id)
    return WebhookList(items=[WebhookOut.of(e) for e in endpoints], next_cursor=next_cursor)


@router.get("/{webhook_id}")
async def get_webhook(
    webhook_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> WebhookOut:
    return WebhookOut.of(await service.get_endpoint(session, principal, webhook_id))


@router.patch("/{webhook_id}")
async def update_webhook(
    webhook_id: uuid.UUID,
    body: WebhookPatch,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> WebhookOut:
    """Change the URL, the event types or the description, or enable/disable the endpoint
    (disabling fails its pending deliveries)."""
    endpoint = await service.update_endpoint(session, settings, principal, webhook_id, body)
    return WebhookOut.of(endpoint)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(
    webhook_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> Response:
    await service.delete_endpoint(session, principal, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret")
async def rotate_webhook_secret(
    webhook_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession, settings: AppSettings
) -> SecretOut:
    """A new secret; the previous one also signs until `previous_secret_expires_at`."""
    endpoint, secret = await service.rotate_secret(session, settings, principal, webhook_id)
    return SecretOut(secret=secret, previous_secret_expires_at=endpoint.previous_secret_expires_at)


@router.post("/{webhook_id}/test", status_code=202)
async def test_webhook(
    webhook_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> dict[str, str]:
    """Send a `webhook.test` event to this endpoint only; its delivery shows in the log."""
    event_id = await service.send_test(session, principal, webhook_id)
    return {"event_id": event_id}


@router.get("/{webhook_id}/deliveries")
async def list_deliveries(
    webhook_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    status: DeliveryStatus | None = None,
) -> DeliveryList:
    deliveries, next_cursor = await service.list_deliveries(
        session, principal, webhook_id, page, status
    )
    return DeliveryList(items=[DeliveryOut.of(d) for d in deliveries], next_cursor=next_cursor)


@router.get("/{webhook_id}/deliveries/{delivery_id}")
async def get_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> DeliveryDetail:
    """One delivery with every attempt: status code, error, response excerpt, duration."""
    delivery, attempts = await service.get_delivery(session, principal, webhook_id, delivery_id)
    return DeliveryDetail(
        **DeliveryOut.of(delivery).model_dump(),
        attempt_log=[AttemptOut.of(attempt) for attempt in attempts],
    )


@router.post("/{webhook_id}/deliveries/{delivery_id}/retry", status_code=202)
async def retry_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> DeliveryOut:
    """Send the delivery again now, with the same `webhook-id`."""
    delivery = await service.retry_delivery(session, principal, webhook_id, delivery_id)
    return DeliveryOut.of(delivery)
