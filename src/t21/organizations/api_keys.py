"""API keys: `t21_…` secrets acting for one organization with a role, shown once, stored hashed.

A key borrows its creator's access: it acts with its own role or its creator's *current* role in
the organization, whichever is lower, so demoting an admin demotes their keys with them. A key
whose creator has left the organization (or whose account is gone) acts for no one; removing a
member also revokes their keys outright.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.audit.service import SYSTEM, Actor
from t21.core import clock
from t21.core.errors import Forbidden, NotFound
from t21.core.pagination import PageRequest, keyset_page
from t21.core.security import new_token, token_digest
from t21.organizations.models import ApiKey, Membership
from t21.organizations.permissions import Action, Role, may_create_key
from t21.organizations.tenancy import Principal

KEY_PREFIX = "t21_"
SHOWN_PREFIX_LENGTH = 8
# `last_used_at` is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    secret: str


async def create(
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    *,
    name: str,
    role: Role,
) -> CreatedKey:
    mine = principal.authorize(organization_id, Action.MANAGE_API_KEYS)
    if not may_create_key(mine, role):
        raise Forbidden(f"Your role ({mine.value}) can't create a key with the role {role.value}.")
    secret = KEY_PREFIX + new_token()
    api_key = ApiKey(
        organization_id=organization_id,
        name=name.strip(),
        role=role,
        prefix=secret[: len(KEY_PREFIX) + SHOWN_PREFIX_LENGTH],
        key_digest=token_digest(secret),
        created_by_id=principal.user_id,
    )
    session.add(api_key)
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        actor=Actor.of(principal),
        action="api_key.created",
        target_type="api_key",
        target_id=api_key.id,
        details={"name": api_key.name, "role": role.value, "prefix": api_key.prefix},
    )
    return CreatedKey(api_key, secret)


async def list_keys(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, page: PageRequest
) -> tuple[list[ApiKey], str | None]:
    principal.authorize(organization_id, Action.MANAGE_API_KEYS)
    return await keyset_page(
        session,
        select(ApiKey).where(
            ApiKey.organization_id == organization_id, ApiKey.revoked_at.is_(None)
        ),
        keys=[ApiKey.id],
        key_of=lambda api_key: (api_key.id,),
        request=page,
    )


async def revoke(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, key_id: uuid.UUID
) -> None:
    principal.authorize(organization_id, Action.MANAGE_API_KEYS)
    api_key = await session.scalar(
        select(ApiKey).where(
            ApiKey.id == key_id,
            ApiKey.organization_id == organization_id,
            ApiKey.revoked_at.is_(None),
        )
    )
    if api_key is None:
        raise NotFound("No such API key.")
    api_key.revoked_at = clock.now()
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        actor=Actor.of(principal),
        action="api_key.revoked",
        target_type="api_key",
        target_id=api_key.id,
        details={"name": api_key.name},
    )


@dataclass(frozen=True)
class ActiveKey:
    api_key: ApiKey
    role: Role  # what the key may do now: its role, capped by its creator's current role


async def find_active(session: AsyncSession, secret: str) -> ActiveKey | None:
    """The live key with this secret and the role it acts with now, its use recorded (at most
    once a minute); None when the key is unknown, revoked, or its creator is no longer a member
    of its organization. One query: the creator's membership is joined in."""
    row = (
        await session.execute(
            select(ApiKey, Membership.role)
            .outerjoin(
                Membership,
                and_(
                    Membership.organization_id == ApiKey.organization_id,
                    Membership.user_id == ApiKey.created_by_id,
                ),
            )
            .where(ApiKey.key_digest == token_digest(secret), ApiKey.revoked_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        return None
    api_key = row[0]
    creator_role: Role | None = row[1]  # None: the creator is no longer a member
    if creator_role is None:
        return None
    now = clock.now()
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
        api_key.last_used_at = now
        await session.flush()
    role = creator_role if api_key.role.outranks(creator_role) else api_key.role
    return ActiveKey(api_key, role)


async def revoke_created_by(
    session: AsyncSession,
    user_id: uuid.UUID,
    organization_id: uuid.UUID | None = None,
    *,
    reason: str = "its creator left the organization",
) -> None:
    """Revoke the live keys `user_id` created (in `organization_id`, or everywhere), each
    recorded in its organization's audit log with `reason`."""
    condition = and_(ApiKey.created_by_id == user_id, ApiKey.revoked_at.is_(None))
    if organization_id is not None:
        condition = and_(condition, ApiKey.organization_id == organization_id)
    now = clock.now()
    revoked = (
        await session.execute(
            update(ApiKey)
            .where(condition)
            .values(revoked_at=now, updated_at=now)
            .returning(ApiKey.id, ApiKey.organization_id, ApiKey.name)
            .execution_options(synchronize_session=False)
        )
    ).all()
    for key_id, key_organization_id, name in revoked:
        await audit.record(
            session,
            organization_id=key_organization_id,
            actor=SYSTEM,
            action="api_key.revoked",
            target_type="api_key",
            target_id=key_id,
            details={"name": name, "reason": reason},
        )
