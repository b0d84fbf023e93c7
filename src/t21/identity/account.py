"""Account self-service: editing one's profile, changing one's email (verified at the new
address first) and password, deleting one's account, exporting what T21 holds about one, and
reading the signed-in user with their memberships (`me`).
Services take the session and never commit (see `core.uow`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from t21.ai.models import AiCall
from t21.billing.models import BillingAccount
from t21.billing.subscriptions import PAID_STATUSES
from t21.core import clock
from t21.core.errors import Conflict, Forbidden, NotAuthenticated, ValidationFailed
from t21.core.prepared import fetch_rows
from t21.core.runtime import Runtime
from t21.core.security import hash_password, verify_password
from t21.core.settings import Settings
from t21.core.uow import read_rows, release
from t21.identity import passkeys
from t21.identity.models import EmailToken, EmailTokenPurpose, OAuthIdentity, RefreshToken, User
from t21.identity.passwords import check_password
from t21.identity.schemas import MeOut
from t21.identity.service import _new_email_token, _revoke, find_user, normalise_email
from t21.media.models import MediaAsset
from t21.notifications.service import queue_email
from t21.organizations.models import ApiKey, Invitation, Membership, Organization
from t21.organizations.permissions import Role
from t21.organizations.schemas import MembershipOut, OrganizationRef
from t21.organizations.tenancy import Principal
from t21.posts.models import Post


async def _require_password(
    session: AsyncSession, user: User, password: str, *, field: str
) -> None:
    """The account's password, or a 422 naming `field` (a form's field, not a failed sign-in).
    Checked outside any transaction (the ~0.2 s of Argon2 would hold SQLite's write lock), so
    it comes before the unit of work writes anything."""
    await release(session)
    ok, upgraded_hash = await verify_password(password, user.password_hash)
    if not ok:
        message = "The password is not this account's password."
        raise ValidationFailed(
            message, errors=[{"loc": ["body", field], "msg": message, "rule": "wrong_password"}]
        )
    if upgraded_hash is not None:
        user.password_hash = upgraded_hash


# --- profile and email ---------------------------------------------------------------------------


async def update_profile(
    session: AsyncSession, settings: Settings, user: User, *, name: str | None, email: str | None
) -> bool:
    """Rename now; a new email is only asked for: a link goes to the new address, and the
    account's address changes when it is followed (`verify_pending_email`). Whether a
    verification email was sent."""
    if name is not None:
        user.name = name.strip()
    sent = False
    if email is not None and normalise_email(email) != user.email:
        new_email = normalise_email(email)
        if await find_user(session, new_email) is not None:
            raise Conflict("An account with this email already exists.")
        token = await _new_email_token(
            session,
            user,
            EmailTokenPurpose.VERIFY_EMAIL,
            settings.email_verification_ttl_s,
            email=new_email,
        )
        await queue_email(
            session,
            settings,
            to=new_email,
            template="verify_email",
            context={
                "name": user.name,
                "link": f"{settings.resolved_frontend_url}/verify-email?token={token}",
                "expires_in_s": settings.email_verification_ttl_s,
            },
        )
        sent = True
    await session.flush()
    return sent


async def pending_email(session: AsyncSession, user: User) -> str | None:
    """The newest address the user asked to change to and has not verified yet."""
    return await session.scalar(
        select(EmailToken.email)
        .where(
            EmailToken.user_id == user.id,
            EmailToken.purpose == EmailTokenPurpose.VERIFY_EMAIL,
            EmailToken.email != user.email,
            EmailToken.used_at.is_(None),
            EmailToken.expires_at > clock.now(),
        )
        .order_by(EmailToken.created_at.desc())
        .limit(1)
    )


async def apply_email_change(
    session: AsyncSession, settings: Settings, user: User, new_email: str
) -> None:
    """The user followed the link sent to `new_email`: it becomes the account's address. Every
    other link still out (to the old address or another new one) stops working, and the old
    address is told (a security notice: whoever took the account over can't hide it)."""
    taken = await find_user(session, new_email)
    if taken is not None and taken.id != user.id:
        raise Conflict("An account with this email already exists.")
    now = clock.now()
    old_email = user.email
    await queue_email(
        session,
        settings,
        to=old_email,
        template="email_changed",
        context={"name": user.name, "old_email": old_email, "new_email": new_email},
    )
    user.email = new_email
    user.email_verified_at = now
    await session.execute(
        update(EmailToken)
        .where(EmailToken.user_id == user.id, EmailToken.used_at.is_(None))
        .values(used_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.flush()


# --- password ------------------------------------------------------------------------------------


async def change_password(
    session: AsyncSession,
    user: User,
    *,
    current_password: str,
    new_password: str,
    keep_session: uuid.UUID | None,
) -> None:
    """Set a new password; every other sign-in of the account ends (`keep_session`, the
    refresh-token family of the caller's access token, goes on)."""
    await _require_password(session, user, current_password, field="current_password")
    check_password(new_password, user.email)
    user.password_hash = await hash_password(new_password)
    others = RefreshToken.user_id == user.id
    if keep_session is not None:
        others = others & (RefreshToken.family_id != keep_session)
    await _revoke(session, others)
    await session.flush()


# --- deletion ------------------------------------------------------------------------------------


async def delete_account(session: AsyncSession, user: User, *, password: str) -> None:
    """Delete the account, and the organizations only it belongs to. Refused (409) while the
    user is the last owner of an organization with other members or a live subscription: it
    would be left with no one to run or pay for it."""
    await _require_password(session, user, password, field="password")
    owned = (
        await session.scalars(
            select(Organization)
            .join(Membership, Membership.organization_id == Organization.id)
            .where(Membership.user_id == user.id, Membership.role == Role.OWNER)
            .order_by(Organization.created_at)
        )
    ).all()
    blocking: list[Organization] = []
    alone_in: list[uuid.UUID] = []
    for organization in owned:
        other_owners = await _count_members(session, organization.id, user.id, Role.OWNER)
        if other_owners:
            continue
        others = await _count_members(session, organization.id, user.id)
        billing = await session.get(BillingAccount, organization.id)
        live = billing is not None and billing.status in PAID_STATUSES
        if others or live:
            blocking.append(organization)
        else:
            alone_in.append(organization.id)
    if blocking:
        names = ", ".join(f"“{organization.name}”" for organization in blocking)
        raise Conflict(
            f"You are the last owner of {names}, which still has other members or a live "
            "subscription: make someone else an owner, or cancel the subscription and remove "
            "the members, then delete your account.",
            organization_ids=[str(organization.id) for organization in blocking],
        )
    if alone_in:
        await session.execute(delete(Organization).where(Organization.id.in_(alone_in)))
    await session.execute(delete(User).where(User.id == user.id))
    session.expunge(user)


async def _count_members(
    session: AsyncSession, organization_id: uuid.UUID, besides: uuid.UUID, role: Role | None = None
) -> int:
    query = select(func.count()).where(
        Membership.organization_id == organization_id, Membership.user_id != besides
    )
    if role is not None:
        query = query.where(Membership.role == role)
    return int(await session.scalar(query) or 0)


# --- export --------------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


async def export(session: AsyncSession, user: User) -> dict[str, Any]:
    """Everything T21 holds about the user (GDPR access): the account, memberships, sign-in
    links, sessions, and what they authored, uploaded, invited, created and asked of the AI.
    Secrets (password hash, token digests, key digests) are never part of it."""
    memberships = await session.execute(
        select(Membership, Organization)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(Membership.user_id == user.id)
        .order_by(Membership.created_at)
    )
    identities = await session.scalars(
        select(OAuthIdentity).where(OAuthIdentity.user_id == user.id)
    )
    sessions = await session.execute(
        select(
            RefreshToken.family_id,
            func.min(RefreshToken.created_at),
            func.max(RefreshToken.created_at),
            func.max(RefreshToken.expires_at),
            func.max(RefreshToken.revoked_at),
        )
        .where(RefreshToken.user_id == user.id)
        .group_by(RefreshToken.family_id)
        .order_by(func.min(RefreshToken.created_at))
    )
    posts = await session.scalars(
        select(Post).where(Post.author_id == user.id).order_by(Post.created_at)
    )
    media = await session.scalars(
        select(MediaAsset)
        .where(MediaAsset.uploaded_by_id == user.id)
        .order_by(MediaAsset.created_at)
    )
    invitations = await session.scalars(
        select(Invitation)
        .where(Invitation.invited_by_id == user.id)
        .order_by(Invitation.created_at)
    )
    api_keys = await session.scalars(
        select(ApiKey).where(ApiKey.created_by_id == user.id).order_by(ApiKey.created_at)
    )
    ai_calls = await session.scalars(
        select(AiCall).where(AiCall.user_id == user.id).order_by(AiCall.created_at)
    )
    user_passkeys = await passkeys.passkeys_of(session, user.id)
    return {
        "exported_at": _time(clock.now()),
        "user": {
            "id": str(user.id),
            "email": user.email,
            "name": user.name,
            "email_verified": user.email_verified_at is not None,
            "email_verified_at": _time(user.email_verified_at),
            "pending_email": await pending_email(session, user),
            "has_password": user.password_hash is not None,
            "created_at": _time(user.created_at),
            "last_login_at": _time(user.last_login_at),
        },
        "memberships": [
            {
                "organization": {
                    "id": str(org.id),
                    "name": org.name,
                    "slug": org.slug,
                    "tier": org.tier,
                },
                "role": membership.role.value,
                "joined_at": _time(membership.created_at),
            }
            for membership, org in memberships
        ],
        "sign_in_links": [
            {"provider": i.provider, "email": i.email, "linked_at": _time(i.created_at)}
            for i in identities
        ],
        "passkeys": [
            {
                "id": str(p.id),
                "name": p.name,
                "created_at": _time(p.created_at),
                "last_used_at": _time(p.last_used_at),
            }
            for p in user_passkeys
        ],
        "sessions": [
            {
                "started_at": _time(started),
                "last_refreshed_at": _time(refreshed),
                "expires_at": _time(expires),
                "ended_at": _time(revoked),
            }
            for _family, started, refreshed, expires, revoked in sessions
        ],
        "posts": [
            {
                "id": str(post.id),
                "brand_id": str(post.brand_id),
                "content": post.content,
                "status": str(post.status),
                "scheduled_at": _time(post.scheduled_at),
                "published_at": _time(post.published_at),
                "created_at": _time(post.created_at),
            }
            for post in posts
        ],
        "media": [
            {
                "id": str(asset.id),
                "brand_id": str(asset.brand_id),
                "filename": asset.filename,
                "created_at": _time(asset.created_at),
            }
            for asset in media
        ],
        "invitations_sent": [
            {
                "organization_id": str(invitation.organization_id),
                "email": invitation.email,
                "role": invitation.role.value,
                "created_at": _time(invitation.created_at),
                "accepted_at": _time(invitation.accepted_at),
            }
            for invitation in invitations
        ],
        "api_keys_created": [
            {
                "id": str(key.id),
                "organization_id": str(key.organization_id),
                "name": key.name,
                "prefix": key.prefix,
                "created_at": _time(key.created_at),
                "revoked_at": _time(key.revoked_at),
            }
            for key in api_keys
        ],
        "ai_requests": [
            {
                "kind": call.kind,
                "model": call.model,
                "prompt_tokens": call.prompt_tokens,
                "completion_tokens": call.completion_tokens,
                "credits": call.credits,
                "outcome": call.outcome,
                "created_at": _time(call.created_at),
            }
            for call in ai_calls
        ],
    }


# `me`'s statement, built once, read as rows (the user's id bound at execution): the user with
# each membership (the organization's reference, the role, when they joined), a row each, or
# one row of nulls there without any: one round trip.
_users, _organizations, _memberships = User.__table__, Organization.__table__, Membership.__table__
_ME = (
    select(
        _users.c.id,
        _users.c.email,
        _users.c.name,
        _users.c.email_verified_at,
        _users.c.created_at,
        _organizations.c.id.label("organization_id"),
        _organizations.c.name.label("organization_name"),
        _organizations.c.slug.label("organization_slug"),
        _organizations.c.tier.label("organization_tier"),
        _memberships.c.role,
        _memberships.c.created_at.label("joined_at"),
    )
    .select_from(
        _users.outerjoin(
            _memberships.join(
                _organizations, _organizations.c.id == _memberships.c.organization_id
            ),
            _memberships.c.user_id == _users.c.id,
        )
    )
    .where(_users.c.id == bindparam("user_id"))
    .order_by(_organizations.c.created_at)
)


async def signed_in(connection: AsyncConnection, principal: Principal) -> MeOut:
    """The signed-in user (401 once deleted) and their memberships, as they stand in the
    database (the principal may be a few seconds old), read on `connection`."""
    return _me(await fetch_rows(connection, _ME, {"user_id": _signed_in_id(principal)}))


async def me(runtime: Runtime, principal: Principal) -> MeOut:
    """`signed_in`, read on a connection of its own (`GET /auth/me`: its one statement)."""
    return _me(await read_rows(_ME, {"user_id": _signed_in_id(principal)}, runtime))


def _signed_in_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise Forbidden("This needs a signed-in user; API keys can't use it.")
    return principal.user_id


def _me(rows: Sequence[Any]) -> MeOut:
    if not rows:
        raise NotAuthenticated("The access token is invalid.")
    # By position, in `_ME`'s order (the driver's rows have no attributes).
    memberships = [
        MembershipOut(
            organization=OrganizationRef(id=row[5], name=row[6], slug=row[7], tier=row[8]),
            role=row[9],
            joined_at=row[10],
        )
        for row in rows
        if row[5] is not None
    ]
    user = rows[0]
    return MeOut(
        id=user[0],
        email=user[1],
        name=user[2],
        email_verified=user[3] is not None,
        created_at=user[4],
        memberships=memberships,
    )
