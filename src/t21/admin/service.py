"""What staff change: the staff flag itself (from the command line), and the console's actions on
an organization's targets and webhook deliveries. Every one writes an audit entry with actor type
`staff` in the organization concerned, in the change's own transaction.

The actions go through the domain's own services with a staff principal (`Principal.for_staff`:
an owner of that one organization), so their rules and events are the same as a member's.
"""

from __future__ import annotations

import getpass
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.core.errors import Conflict, NotFound
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.identity.models import User
from t21.identity.service import find_user
from t21.organizations.models import Membership, Organization
from t21.organizations.permissions import Role
from t21.organizations.tenancy import Principal
from t21.posts.models import PostTarget, TargetStatus
from t21.publishing import review
from t21.publishing.schemas import ResolvedNotPublished, ResolvedPublished
from t21.webhooks import service as webhooks
from t21.webhooks.models import WebhookDelivery, WebhookEndpoint


def command_line_actor() -> audit.Actor:
    """Who changes the staff flag: an operator at the machine's command line."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return audit.Actor("staff", None, f"command line ({who})")


async def personal_organization_id(session: AsyncSession, user: User) -> uuid.UUID | None:
    found: uuid.UUID | None = await session.scalar(
        select(Organization.id)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(
            Membership.user_id == user.id,
            Membership.role == Role.OWNER,
            Organization.personal.is_(True),
        )
    )
    return found


async def set_staff(
    session: AsyncSession, email: str, *, staff: bool, actor: audit.Actor
) -> tuple[User, bool]:
    """Grant or revoke the staff flag; the user and whether it changed (an audit entry in their
    personal organization when it did)."""
    user = await find_user(session, email)
    if user is None:
        raise NotFound(f"No account with the email {email!r}.")
    if user.is_staff == staff:
        return user, False
    user.is_staff = staff
    organization_id = await personal_organization_id(session, user)
    if organization_id is not None:
        await audit.record(
            session,
            organization_id=organization_id,
            actor=actor,
            action="staff.granted" if staff else "staff.revoked",
            target_type="user",
            target_id=user.id,
            details={"email": user.email},
        )
    await session.flush()
    return user, True


async def _target(runtime: Runtime, target_id: uuid.UUID) -> PostTarget:
    """The target, read in a short unit of work of its own: the review service opens its own."""
    async with session_scope(runtime) as session:
        target = await session.get(PostTarget, target_id)
    if target is None:
        raise NotFound("No such target.")
    return target


async def resolve_target(
    runtime: Runtime,
    staff: User,
    target_id: uuid.UUID,
    decision: ResolvedPublished | ResolvedNotPublished,
) -> PostTarget:
    """Settle a target in `needs_review` through the review service (audited there)."""
    target = await _target(runtime, target_id)
    principal = Principal.for_staff(staff, target.organization_id)
    await review.resolve(runtime, principal, target.post_id, target.id, decision)
    return target


async def retry_target(runtime: Runtime, staff: User, target_id: uuid.UUID) -> PostTarget:
    """Send a `needs_review` (as "not published, retry") or `failed` target out again now."""
    target = await _target(runtime, target_id)
    principal = Principal.for_staff(staff, target.organization_id)
    if target.status is TargetStatus.NEEDS_REVIEW:
        decision = ResolvedNotPublished(outcome="not_published", action="retry")
        await review.resolve(runtime, principal, target.post_id, target.id, decision)
    elif target.status is TargetStatus.FAILED:
        await review.retry_failed(runtime, principal, target.post_id, target.id)
    else:
        raise Conflict(
            "Only a target in needs_review or failed can be sent again; "
            f"this one is {target.status.value}."
        )
    return target


async def redeliver(runtime: Runtime, staff: User, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Send a webhook delivery again now (the endpoint's own retry), audited."""
    async with session_scope(runtime) as session:
        row = (
            await session.execute(
                select(WebhookDelivery, WebhookEndpoint.organization_id)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.id == delivery_id)
            )
        ).one_or_none()
        if row is None:
            raise NotFound("No such delivery.")
        delivery, organization_id = row
        before = delivery.status.value
        principal = Principal.for_staff(staff, organization_id)
        retried = await webhooks.retry_delivery(
            session, principal, delivery.endpoint_id, delivery.id
        )
        await audit.record(
            session,
            organization_id=organization_id,
            actor=audit.Actor.of(principal),
            action="webhook.delivery_retried",
            target_type="webhook_delivery",
            target_id=delivery.id,
            details={
                "event_type": delivery.event_type,
                "event_id": delivery.event_id,
                "from": before,
            },
        )
    return retried
