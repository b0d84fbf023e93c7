"""Telling an organization's owners that T21 stopped delivering to one of its endpoints."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.settings import Settings
from t21.identity.models import User
from t21.notifications.service import queue_email
from t21.notifications.templates import duration
from t21.organizations.models import Membership, Organization
from t21.organizations.permissions import Role
from t21.webhooks.models import WebhookEndpoint


async def notify_disabled(
    session: AsyncSession, settings: Settings, endpoint: WebhookEndpoint
) -> None:
    """One email to each owner of the endpoint's organization."""
    organization = await session.get(Organization, endpoint.organization_id)
    owners = await session.scalars(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.organization_id == endpoint.organization_id,
            Membership.role == Role.OWNER,
        )
        .order_by(User.email)
    )
    context = {
        "organization": organization.name if organization is not None else "your organization",
        "url": endpoint.url,
        "window": duration(settings.webhook_retry_window_s),
        "link": f"{settings.resolved_frontend_url}/settings/webhooks/{endpoint.id}",
    }
    for address in dict.fromkeys(owners):
        await queue_email(
            session, settings, to=address, template="webhook_disabled", context=context
        )
