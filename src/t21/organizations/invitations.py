"""Invitations: a single-use link, emailed, for one address and one role, for 7 days."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.audit.service import SYSTEM, Actor
from t21.billing import plans
from t21.core import clock
from t21.core.errors import BadRequest, Conflict, Forbidden, NotFound
from t21.core.pagination import PageRequest, keyset_page
from t21.core.security import new_token, token_digest
from t21.core.settings import Settings
from t21.identity.models import User
from t21.identity.service import normalise_email
from t21.notifications.service import queue_email
from t21.organizations.models import Invitation, Membership, Organization
from t21.organizations.permissions import Action, Role, may_grant
from t21.organizations.service import refuse_second_personal_owner
from t21.organizations.tenancy import Principal


def _pending(organization_id: uuid.UUID) -> list[object]:
    return [
        Invitation.organization_id == organization_id,
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > clock.now(),
    ]


async def invite(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    organization_id: uuid.UUID,
    *,
    email: str,
    role: Role,
) -> Invitation:
    mine = principal.authorize(organization_id, Action.MANAGE_MEMBERS)
    if not may_grant(mine, role):
        raise Forbidden(f"Your role ({mine.value}) can't invite a {role.value}.")
    email = normalise_email(email)
    # The organization's row lock (PostgreSQL) makes the checks below and the insert one step:
    # concurrent invitations to one address would otherwise all pass and all be sent.
    organization = await session.scalar(
        select(Organization).where(Organization.id == organization_id).with_for_update()
    )
    assert organization is not None
    if role is Role.OWNER:
        await refuse_second_personal_owner(session, organization_id)
    already_member = await session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization_id, User.email == email)
    )
    if already_member is not None:
        raise Conflict(f"{email} is already a member.")
    pending = await session.scalar(
        select(Invitation.id).where(*_pending(organization_id), Invitation.email == email)  # type: ignore[arg-type]
    )
    if pending is not None:
        raise Conflict(f"{email} already has a pending invitation; revoke it to send a new one.")
    # A seat is taken from the invitation on: members and pending invitations count.
    await plans.enforce(session, settings, organization_id, plans.Limit.SEATS)
    assert principal.user is not None
    token = new_token()
    invitation = Invitation(
        organization_id=organization_id,
        email=email,
        role=role,
        token_digest=token_digest(token),
        invited_by_id=principal.user.id,
        expires_at=clock.now() + timedelta(seconds=settings.invitation_ttl_s),
    )
    session.add(invitation)
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        actor=Actor.of(principal),
        action="invitation.created",
        target_type="invitation",
        target_id=invitation.id,
        details={"email": email, "role": role.value},
    )
    await queue_email(
        session,
        settings,
        to=email,
        template="invitation",
        context={
            "inviter": principal.user.name or principal.user.email,
            "organization": organization.name,
            "role": role.value,
            "link": f"{settings.resolved_frontend_url}/invitations/accept?token={token}",
            "expires_in_s": settings.invitation_ttl_s,
        },
    )
    return invitation


async def list_pending(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, page: PageRequest
) -> tuple[list[Invitation], str | None]:
    principal.authorize(organization_id, Action.MANAGE_MEMBERS)
    return await keyset_page(
        session,
        select(Invitation).where(*_pending(organization_id)),  # type: ignore[arg-type]
        keys=[Invitation.id],
        key_of=lambda invitation: (invitation.id,),
        request=page,
    )


async def revoke(
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    invitation_id: uuid.UUID,
) -> None:
    principal.authorize(organization_id, Action.MANAGE_MEMBERS)
    invitation = await session.scalar(
        select(Invitation).where(
            Invitation.id == invitation_id, Invitation.organization_id == organization_id
        )
    )
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
    ):
        raise NotFound("No such pending invitation.")
    invitation.revoked_at = clock.now()
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        actor=Actor.of(principal),
        action="invitation.revoked",
        target_type="invitation",
        target_id=invitation.id,
        details={"email": invitation.email},
    )


async def revoke_sent_by(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Revoke every pending invitation `user_id` sent, in every organization."""
    now = clock.now()
    revoked = (
        await session.execute(
            update(Invitation)
            .where(
                Invitation.invited_by_id == user_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .values(revoked_at=now, updated_at=now)
            .returning(Invitation.id, Invitation.organization_id, Invitation.email)
            .execution_options(synchronize_session=False)
        )
    ).all()
    for invitation_id, organization_id, email in revoked:
        await audit.record(
            session,
            organization_id=organization_id,
            actor=SYSTEM,
            action="invitation.revoked",
            target_type="invitation",
            target_id=invitation_id,
            details={"email": email, "reason": "its sender's unverified account was claimed"},
        )


async def accept(session: AsyncSession, user: User, token: str) -> Membership:
    """Join the organization; only the account of the invited address may accept."""
    now = clock.now()
    invitation = await session.scalar(
        select(Invitation).where(Invitation.token_digest == token_digest(token))
    )
    usable = (
        invitation is not None
        and invitation.accepted_at is None
        and invitation.revoked_at is None
        and invitation.expires_at > now
    )
    if not usable:
        raise BadRequest("This invitation is invalid, expired or already used.")
    assert invitation is not None
    if normalise_email(user.email) != invitation.email:
        raise Forbidden(
            "This invitation was sent to another email address; sign in with that account."
        )
    claimed = await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise BadRequest("This invitation is invalid, expired or already used.")
    existing = await session.scalar(
        select(Membership).where(
            Membership.organization_id == invitation.organization_id, Membership.user_id == user.id
        )
    )
    if existing is not None:
        raise Conflict("You are already a member of this organization.")
    if user.email_verified_at is None:
        user.email_verified_at = now  # the invitation reached this inbox
    membership = Membership(
        organization_id=invitation.organization_id, user_id=user.id, role=invitation.role
    )
    session.add(membership)
    await session.flush()
    await audit.record(
        session,
        organization_id=invitation.organization_id,
        actor=Actor.user(user),
        action="member.joined",
        target_type="member",
        target_id=user.id,
        details={"role": invitation.role.value, "invitation_id": str(invitation.id)},
    )
    return membership
