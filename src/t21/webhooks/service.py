"""Webhook endpoints of an organization (admins), their secrets, and their delivery log."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.audit.service import Actor
from t21.core import clock
from t21.core.errors import Conflict, NotFound, ValidationFailed
from t21.core.ids import uuid7
from t21.core.pagination import PageRequest, keyset_page
from t21.core.settings import Settings
from t21.core.urlguard import UnsafeURL, check_url
from t21.events.service import record_event
from t21.organizations.permissions import Action, allows
from t21.organizations.tenancy import Principal, get_scoped, scoped
from t21.webhooks.delivery import disable
from t21.webhooks.fanout import TEST_ENDPOINT_KEY, TEST_EVENT_TYPE, wake_dispatcher
from t21.webhooks.models import (
    ALL_EVENTS,
    DeliveryStatus,
    EndpointStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from t21.webhooks.schemas import WebhookIn, WebhookPatch
from t21.webhooks.secrets import seal
from t21.webhooks.signing import new_secret

WHAT = "webhook endpoint"


def _default_organization(principal: Principal) -> uuid.UUID:
    """The caller's personal organization (a user), or the API key's organization."""
    if principal.api_key is not None:
        return principal.api_key.organization_id
    personal = principal.personal_organization_id
    if personal is None:
        message = "organization_id is required: you have no personal organization."
        raise ValidationFailed(
            message, errors=[{"loc": ["body", "organization_id"], "msg": message}]
        )
    return personal


def _checked_url(settings: Settings, url: str) -> str:
    try:
        return check_url(url, production=settings.is_production)
    except UnsafeURL as refused:
        message = f"The URL {refused}."
        raise ValidationFailed(message, errors=[{"loc": ["body", "url"], "msg": message}]) from None


def _event_types(events: list[str] | None) -> list[str]:
    if not events or ALL_EVENTS in events:
        return [ALL_EVENTS]
    return list(dict.fromkeys(events))


async def create_endpoint(
    session: AsyncSession, settings: Settings, principal: Principal, fields: WebhookIn
) -> tuple[WebhookEndpoint, str]:
    """A new enabled endpoint and its secret (the only time it is shown, with rotation)."""
    organization_id = fields.organization_id or _default_organization(principal)
    principal.authorize(organization_id, Action.MANAGE_WEBHOOKS)
    url = _checked_url(settings, fields.url)
    secret = new_secret()
    endpoint_id = uuid7()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        organization_id=organization_id,
        url=url,
        events=_event_types(fields.events),
        description=fields.description,
        status=EndpointStatus.ENABLED,
        secret_encrypted=seal(settings, endpoint_id, secret),
    )
    session.add(endpoint)
    await session.flush()
    await audit.record(
        session,
        organization_id=endpoint.organization_id,
        actor=Actor.of(principal),
        action="webhook.created",
        target_type="webhook",
        target_id=endpoint.id,
        details={"url": url},
    )
    return endpoint, secret


async def get_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    return await get_scoped(
        session, principal, WebhookEndpoint, endpoint_id, what=WHAT, action=Action.MANAGE_WEBHOOKS
    )


async def list_endpoints(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    organization_id: uuid.UUID | None = None,
) -> tuple[list[WebhookEndpoint], str | None]:
    """The endpoints of the organizations where the caller may manage webhooks."""
    allowed = [
        org
        for org in principal.organization_ids
        if _may_manage(principal, org) and (organization_id is None or org == organization_id)
    ]
    if organization_id is not None:
        principal.authorize(organization_id, Action.MANAGE_WEBHOOKS)
    statement = scoped(select(WebhookEndpoint), principal, WebhookEndpoint.organization_id).where(
        WebhookEndpoint.organization_id.in_(allowed)
    )
    return await keyset_page(
        session,
        statement,
        keys=[WebhookEndpoint.id],
        key_of=lambda endpoint: (endpoint.id,),
        request=page,
    )


def _may_manage(principal: Principal, organization_id: uuid.UUID) -> bool:
    role = principal.role_in(organization_id)
    return role is not None and allows(role, Action.MANAGE_WEBHOOKS)


async def update_endpoint(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    endpoint_id: uuid.UUID,
    fields: WebhookPatch,
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, principal, endpoint_id)
    values = fields.model_dump(exclude_unset=True)
    if values.get("url") is not None:
        endpoint.url = _checked_url(settings, values["url"])
    if values.get("events") is not None:
        endpoint.events = _event_types(values["events"])
    if "description" in values:
        endpoint.description = values["description"]
    status = values.get("status")
    if status is EndpointStatus.DISABLED and endpoint.status is EndpointStatus.ENABLED:
        await disable(session, endpoint, reason="manual")
    elif status is EndpointStatus.ENABLED and endpoint.status is EndpointStatus.DISABLED:
        endpoint.status = EndpointStatus.ENABLED
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    await session.flush()
    if values:
        changed = {name: str(value) for name, value in values.items() if name != "events"}
        if "events" in values:
            changed["events"] = ", ".join(endpoint.events)
        await audit.record(
            session,
            organization_id=endpoint.organization_id,
            actor=Actor.of(principal),
            action="webhook.updated",
            target_type="webhook",
            target_id=endpoint.id,
            details=changed,
        )
    return endpoint


async def delete_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> None:
    endpoint = await get_endpoint(session, principal, endpoint_id)
    await audit.record(
        session,
        organization_id=endpoint.organization_id,
        actor=Actor.of(principal),
        action="webhook.deleted",
        target_type="webhook",
        target_id=endpoint.id,
        details={"url": endpoint.url},
    )
    await session.delete(endpoint)
    await session.flush()


async def rotate_secret(
    session: AsyncSession, settings: Settings, principal: Principal, endpoint_id: uuid.UUID
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the current one keeps signing too for `webhook_secret_grace_s`."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    secret = new_secret()
    if settings.webhook_secret_grace_s > 0:
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_secret_expires_at = clock.now() + timedelta(
            seconds=settings.webhook_secret_grace_s
        )
    else:
        endpoint.previous_secret_encrypted = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret_encrypted = seal(settings, endpoint.id, secret)
    await session.flush()
    await audit.record(
        session,
        organization_id=endpoint.organization_id,
        actor=Actor.of(principal),
        action="webhook.secret_rotated",
        target_type="webhook",
        target_id=endpoint.id,
        details={"previous_valid_until": str(endpoint.previous_secret_expires_at or "")},
    )
    return endpoint, secret


async def send_test(session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID) -> str:
    """Record a `webhook.test` event that only this endpoint receives; its id."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    if endpoint.status is not EndpointStatus.ENABLED:
        raise Conflict("The endpoint is disabled: enable it to send it a test event.")
    event = await record_event(
        session,
        organization_id=endpoint.organization_id,
        type=TEST_EVENT_TYPE,
        data={TEST_ENDPOINT_KEY: str(endpoint.id), "url": endpoint.url},
    )
    return event.id


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    page: PageRequest,
    status: DeliveryStatus | None = None,
) -> tuple[list[WebhookDelivery], str | None]:
    """The endpoint's deliveries, oldest first, optionally of one status."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    statement = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    return await keyset_page(
        session,
        statement,
        keys=[WebhookDelivery.id],
        key_of=lambda delivery: (delivery.id,),
        request=page,
    )


async def get_delivery(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    endpoint = await get_endpoint(session, principal, endpoint_id)
    delivery = await session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id
        )
    )
    if delivery is None:
        raise NotFound("No such delivery.")
    attempts = list(
        await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery.id)
            .order_by(WebhookAttempt.id)
        )
    )
    return delivery, attempts


async def retry_delivery(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send the delivery again now (a replay if it succeeded), with a fresh retry window; one
    that is being sent right now is left to that attempt."""
    delivery, _ = await get_delivery(session, principal, endpoint_id, delivery_id)
    endpoint = await get_endpoint(session, principal, endpoint_id)
    if endpoint.status is not EndpointStatus.ENABLED:
        raise Conflict("The endpoint is disabled: enable it to retry its deliveries.")
    now = clock.now()
    in_flight = delivery.lease_expires_at is not None and delivery.lease_expires_at > now
    if delivery.status is DeliveryStatus.PENDING and in_flight:
        return delivery
    delivery.status = DeliveryStatus.PENDING
    delivery.due_at = now
    delivery.retrying_since = now
    delivery.lease_token = None
    delivery.lease_expires_at = None
    await session.flush()
    wake_dispatcher()
    return delivery
