"""Organizations and their members: creation, renaming, deletion, roles, leaving.

Every function receives the principal's already-checked role where it matters; who may do what
is decided by `permissions` (through `Principal.authorize`) and nowhere else.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.audit.service import Actor
from t21.billing.models import BillingAccount
from t21.billing.subscriptions import PAID_STATUSES
from t21.core.errors import Conflict, Forbidden, NotFound
from t21.core.pagination import PageRequest, keyset_page
from t21.identity import twofactor
from t21.identity.models import User
from t21.organizations import api_keys
from t21.organizations.models import Membership, Organization
from t21.organizations.permissions import Action, Role, may_grant, may_manage
from t21.organizations.tenancy import Principal, scoped

SLUG_MAX = 50
SLUG_ATTEMPTS = 5


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:SLUG_MAX].strip("-") or "org"


async def _unique_slug(session: AsyncSession, name: str) -> str:
    base = slugify(name)
    candidate = base
    while await session.scalar(select(Organization.id).where(Organization.slug == candidate)):
        candidate = f"{base}-{secrets.token_hex(3)}"
    return candidate


async def create_organization(
    session: AsyncSession, owner: User, *, name: str, personal: bool = False
) -> Organization:
    for _attempt in range(SLUG_ATTEMPTS):
        organization = Organization(
            name=name.strip(),
            slug=await _unique_slug(session, name),
            tier="free",
            personal=personal,
        )
        try:
            # A savepoint: someone may take the same slug between the check and the insert.
            async with session.begin_nested():
                session.add(organization)
                await session.flush()
        except IntegrityError:
            continue
        break
    else:
        raise Conflict("Could not find a free slug for this name; try again.")
    session.add(Membership(organization_id=organization.id, user_id=owner.id, role=Role.OWNER))
    await session.flush()
    return organization


async def create_personal_organization(session: AsyncSession, user: User) -> Organization:
    return await create_organization(session, user, name=user.name or user.email, personal=True)


@dataclass(frozen=True)
class OrganizationView:
    organization: Organization
    role: Role


async def list_organizations(
    session: AsyncSession, principal: Principal, page: PageRequest
) -> tuple[list[OrganizationView], str | None]:
    rows, next_cursor = await keyset_page(
        session,
        # Every membership, those locked until two-factor sign-in is on included: the list is
        # where a member sees that an organization requires it.
        select(Organization).where(Organization.id.in_(principal.membership_ids)),
        keys=[Organization.id],
        key_of=lambda org: (org.id,),
        request=page,
    )
    return [OrganizationView(org, principal.roles[org.id]) for org in rows], next_cursor


async def get_organization(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID
) -> OrganizationView:
    role = principal.authorize(organization_id, Action.READ)
    organization = await session.scalar(
        scoped(select(Organization), principal, Organization.id).where(
            Organization.id == organization_id
        )
    )
    if organization is None:
        raise NotFound("No such organization.")
    return OrganizationView(organization, role)


async def rename_organization(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, *, name: str
) -> OrganizationView:
    principal.authorize(organization_id, Action.UPDATE_ORGANIZATION)
    view = await get_organization(session, principal, organization_id)
    before = view.organization.name
    view.organization.name = name.strip()
    await session.flush()
    if before != view.organization.name:
        await audit.record(
            session,
            organization_id=organization_id,
            actor=Actor.of(principal),
            action="organization.renamed",
            target_type="organization",
            target_id=organization_id,
            details={"from": before, "to": view.organization.name},
        )
    return view


async def require_two_factor(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, *, required: bool
) -> OrganizationView:
    """Require (or stop requiring) two-factor sign-in of every member. Turning it on needs the
    caller to have it on: nobody locks themselves out of their own organization."""
    principal.authorize(organization_id, Action.UPDATE_ORGANIZATION)
    view = await get_organization(session, principal, organization_id)
    if view.organization.require_two_factor == required:
        return view
    if required and (
        principal.user_id is None or not await twofactor.has_two_factors(session, principal.user_id)
    ):
        raise Conflict(
            "Turn on two-factor sign-in for yourself first (POST /api/v1/auth/2fa/totp): "
            "requiring it would otherwise lock you out of this organization."
        )
    view.organization.require_two_factor = required
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        actor=Actor.of(principal),
        action="organization.two_factor_required",
        target_type="organization",
        target_id=organization_id,
        details={"required": required},
    )
    return view


async def delete_organization(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID
) -> None:
    principal.authorize(organization_id, Action.DELETE_ORGANIZATION)
    view = await get_organization(session, principal, organization_id)
    if view.organization.personal:
        raise Conflict("A personal organization can't be deleted.")
    billing = await session.get(BillingAccount, organization_id)
    if billing is not None and billing.status in PAID_STATUSES:
        # Deleting it here would leave Stripe charging for an organization that is gone.
        raise Conflict(
            "This organization's subscription is still live: cancel it "
            "(POST /api/v1/subscriptions/cancel) and delete the organization once it has ended."
        )
    await session.execute(delete(Organization).where(Organization.id == organization_id))


# --- members -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberView:
    membership: Membership
    user: User


async def list_members(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, page: PageRequest
) -> tuple[list[MemberView], str | None]:
    principal.authorize(organization_id, Action.READ)
    rows, next_cursor = await keyset_page(
        session,
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization_id),
        keys=[Membership.id],
        key_of=lambda row: (row[0].id,),
        request=page,
        scalars=False,
    )
    return [MemberView(membership, user) for membership, user in rows], next_cursor


async def _membership(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> MemberView:
    row = (
        await session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == organization_id, Membership.user_id == user_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No such member.")
    return MemberView(row[0], row[1])


async def change_role(
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    role: Role,
) -> MemberView:
    mine = principal.authorize(organization_id, Action.MANAGE_MEMBERS)
    member = await _membership(session, organization_id, user_id)
    current = member.membership.role
    if not may_manage(mine, current) or not may_grant(mine, role):
        raise Forbidden(
            f"Your role ({mine.value}) can't change a {current.value} into a {role.value}."
        )
    if role is Role.OWNER and current is not Role.OWNER:
        await refuse_second_personal_owner(session, organization_id)
    if current is Role.OWNER and role is not Role.OWNER:
        await _keep_an_owner(session, organization_id)
    member.membership.role = role
    await session.flush()
    if current is not role:
        await audit.record(
            session,
            organization_id=organization_id,
            actor=Actor.of(principal),
            action="member.role_changed",
            target_type="member",
            target_id=user_id,
            details={"email": member.user.email, "from": current.value, "to": role.value},
        )
    return member


async def refuse_second_personal_owner(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """A personal organization has one owner, its person: others may join it, never own it,
    so no one can demote or remove that person from their own workspace."""
    organization = await session.get(Organization, organization_id)
    if organization is not None and organization.personal:
        raise Conflict("A personal organization has a single owner; invite people as admins.")


async def remove_member(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Remove a member; anyone may remove themselves (leave), except the last owner."""
    leaving = principal.user_id == user_id
    mine = principal.authorize(organization_id, Action.READ if leaving else Action.MANAGE_MEMBERS)
    member = await _membership(session, organization_id, user_id)
    if not leaving and not may_manage(mine, member.membership.role):
        raise Forbidden(f"Your role ({mine.value}) can't remove a {member.membership.role.value}.")
    if member.membership.role is Role.OWNER:
        await _keep_an_owner(session, organization_id)
    # Only its owner holds a personal organization as their own; others invited in may leave.
    organization = await session.get(Organization, organization_id)
    if (
        organization is not None
        and organization.personal
        and leaving
        and member.membership.role is Role.OWNER
    ):
        raise Conflict("You can't leave your personal organization.")
    await session.delete(member.membership)
    await audit.record(
        session,
        organization_id=organization_id,
        actor=Actor.of(principal),
        action="member.removed",
        target_type="member",
        target_id=user_id,
        details={
            "email": member.user.email,
            "role": member.membership.role.value,
            "left": leaving,
        },
    )
    # Their keys leave with them (they would act for no one anyway: see `api_keys`).
    await api_keys.revoke_created_by(session, user_id, organization_id)
    await session.flush()


async def _keep_an_owner(session: AsyncSession, organization_id: uuid.UUID) -> None:
    # Row locks on PostgreSQL keep two owners from demoting each other at the same moment.
    owners = select(Membership.id).where(
        Membership.organization_id == organization_id, Membership.role == Role.OWNER
    )
    if session.get_bind().dialect.name == "postgresql":
        owners = owners.with_for_update()
    if len((await session.scalars(owners)).all()) <= 1:
        raise Conflict(
            "The organization must keep at least one owner; make someone else owner first."
        )
