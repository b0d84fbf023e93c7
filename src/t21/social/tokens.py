"""Token care: tokens encrypted at rest, refreshed ahead of expiry, one refresh per account at a
time, and an account the network refused for good marked `reauth_required` (admins told once).

Refreshing calls the network, so it runs in its own short units of work around that call (never
inside a request's transaction): claim the account, refresh outside any transaction, record.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.crypto import keyring
from t21.core.errors import NotFound
from t21.core.logging import get_logger
from t21.core.outside import OutsideFailure, Permanent, ReauthRequired, Retryable
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.events.models import Event
from t21.events.service import RETENTION
from t21.identity.models import User
from t21.notifications.service import queue_email
from t21.organizations.models import Membership
from t21.organizations.permissions import Action, Role, allows
from t21.platforms.base import Credentials, TokenGrant
from t21.platforms.registry import configured_provider
from t21.social.events import account_event
from t21.social.models import AccountStatus, SocialAccount
from t21.social.schemas import SocialAccountOut

log = get_logger("t21.social")

CLAIM_FOR = timedelta(seconds=60)
WAIT_STEP_S = 0.1
MAX_ERROR_LENGTH = 1000


def _associated(account_id: uuid.UUID, field: str) -> str:
    return f"social_account:{account_id}:{field}"


def seal_grant(settings: Settings, account: SocialAccount, grant: TokenGrant) -> None:
    """Put `grant`'s tokens on `account`, encrypted. A grant without a refresh token keeps the
    stored one: losing it would force a person to reconnect."""
    ring = keyring(settings)
    now = clock.now()
    account.access_token_encrypted = ring.encrypt(
        grant.access_token, associated=_associated(account.id, "access")
    )
    if grant.refresh_token is not None:
        account.refresh_token_encrypted = ring.encrypt(
            grant.refresh_token, associated=_associated(account.id, "refresh")
        )
        account.refresh_expires_at = (
            now + timedelta(seconds=grant.refresh_expires_in) if grant.refresh_expires_in else None
        )
    account.token_expires_at = (
        now + timedelta(seconds=grant.expires_in) if grant.expires_in else None
    )
    if grant.scopes:
        account.scopes = sorted(grant.scopes)


def credentials(settings: Settings, account: SocialAccount) -> Credentials:
    """The account's tokens, decrypted for one use."""
    ring = keyring(settings)
    refresh = (
        ring.decrypt(account.refresh_token_encrypted, associated=_associated(account.id, "refresh"))
        if account.refresh_token_encrypted
        else None
    )
    return Credentials(
        access_token=ring.decrypt(
            account.access_token_encrypted, associated=_associated(account.id, "access")
        ),
        external_id=account.external_id,
        username=account.username,
        refresh_token=refresh,
        expires_at=account.token_expires_at,
        scopes=frozenset(account.scopes or []),
    )


def reencrypt(settings: Settings, account: SocialAccount) -> bool:
    """Move the account's tokens to the current key; whether anything changed."""
    ring = keyring(settings)
    changed = False
    for field, attribute in (
        ("access", "access_token_encrypted"),
        ("refresh", "refresh_token_encrypted"),
    ):
        sealed: str | None = getattr(account, attribute)
        if sealed is None or ring.key_id_of(sealed) == ring.current:
            continue
        plain = ring.decrypt(sealed, associated=_associated(account.id, field))
        setattr(account, attribute, ring.encrypt(plain, associated=_associated(account.id, field)))
        changed = True
    return changed


def needs_refresh(account: SocialAccount, settings: Settings, now: datetime) -> bool:
    expires = account.token_expires_at
    return expires is not None and expires <= now + timedelta(
        seconds=settings.token_refresh_ahead_s
    )


async def _claim(session: AsyncSession, account_id: uuid.UUID, now: datetime) -> bool:
    claimed = await session.execute(
        update(SocialAccount)
        .where(
            SocialAccount.id == account_id,
            or_(
                SocialAccount.refresh_claimed_until.is_(None),
                SocialAccount.refresh_claimed_until < now,
            ),
        )
        .values(refresh_claimed_until=now + CLAIM_FOR)
        .execution_options(synchronize_session=False)
    )
    return getattr(claimed, "rowcount", 0) == 1


async def refresh_account(
    runtime: Runtime,
    account_id: uuid.UUID,
    *,
    force: bool = False,
    asked_at: datetime | None = None,
) -> SocialAccount:
    """Make sure the account's tokens are fresh, refreshing them if they expire soon (or
    always, with `force`). Many callers at once lead to one refresh: the others wait for it.

    Raises `ReauthRequired` when the network refused for good (the account is then marked),
    `Retryable` when it couldn't answer now.
    """
    settings = runtime.settings
    # A refresh that completes after the caller asked (by someone else) satisfies it too.
    asked_at = asked_at or clock.now()
    deadline = clock.now() + CLAIM_FOR + timedelta(seconds=5)
    while True:
        async with session_scope(runtime) as session:
            account = await session.get(SocialAccount, account_id, populate_existing=True)
            if account is None:
                raise NotFound("No such social account.")
            now = clock.now()
            done_meanwhile = (
                account.last_refreshed_at is not None and account.last_refreshed_at >= asked_at
            )
            if done_meanwhile or (not force and not needs_refresh(account, settings, now)):
                return account
            if await _claim(session, account_id, now):
                held = credentials(settings, account)
                platform = account.platform
                break
        if clock.now() > deadline:
            raise Retryable("another refresh of this account is taking too long", after=5)
        await asyncio.sleep(WAIT_STEP_S)
    provider = configured_provider(runtime, platform)
    try:
        grant = await provider.refresh(held)
    except (ReauthRequired, Permanent) as failure:
        await _record_refusal(runtime, account_id, failure)
        raise ReauthRequired(failure.message, code=failure.code) from failure
    except (Retryable, OutsideFailure) as failure:
        await _release(runtime, account_id, error=failure.message)
        raise
    except Exception:
        await _release(runtime, account_id, error="the refresh failed unexpectedly")
        raise
    async with session_scope(runtime) as session:
        account = await session.get(SocialAccount, account_id, populate_existing=True)
        if account is None:
            raise NotFound("No such social account.")
        now = clock.now()
        if grant is not None:
            seal_grant(settings, account, grant)
        elif account.token_expires_at is not None and account.token_expires_at <= now:
            # Nothing to refresh with and nothing left: a person must reconnect.
            await _mark_reauth(session, settings, account, "The access token expired.")
            raise ReauthRequired("The access token expired and can't be refreshed.")
        elif account.token_expires_at is not None:
            await _warn_expiring(session, account)
        account.last_refreshed_at = now
        account.refresh_claimed_until = None
        account.status = AccountStatus.ACTIVE
        account.last_error = None
        await session.flush()
    log.info("tokens refreshed", account_id=str(account_id), platform=platform)
    return account


async def _warn_expiring(session: AsyncSession, account: SocialAccount) -> None:
    """The token will expire and the network offers no refresh: say so once per token (the
    refresh loop comes back to the account until then)."""
    expires = SocialAccountOut.of(account).model_dump(mode="json")["token_expires_at"]
    told = await session.scalars(
        select(Event.data).where(
            Event.organization_id == account.organization_id,
            Event.type == "social_account.expiring",
            Event.created_at >= clock.now() - RETENTION,
        )
    )
    if any(
        data.get("id") == str(account.id) and data.get("token_expires_at") == expires
        for data in told
    ):
        return
    await account_event(session, "social_account.expiring", account)


async def _release(runtime: Runtime, account_id: uuid.UUID, *, error: str) -> None:
    async with session_scope(runtime) as session:
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id == account_id)
            .values(refresh_claimed_until=None, last_error=error[:MAX_ERROR_LENGTH])
            .execution_options(synchronize_session=False)
        )


async def _record_refusal(runtime: Runtime, account_id: uuid.UUID, failure: OutsideFailure) -> None:
    async with session_scope(runtime) as session:
        account = await session.get(SocialAccount, account_id, populate_existing=True)
        if account is not None:
            await _mark_reauth(session, runtime.settings, account, failure.message)
            account.refresh_claimed_until = None
    log.warning("account needs reconnecting", account_id=str(account_id), error=failure.message)


async def mark_reauth_required(
    session: AsyncSession, settings: Settings, account: SocialAccount, reason: str
) -> None:
    """The network refused the account's tokens for good (at refresh or at publish)."""
    await _mark_reauth(session, settings, account, reason)


async def _mark_reauth(
    session: AsyncSession, settings: Settings, account: SocialAccount, reason: str
) -> None:
    changed = account.status is not AccountStatus.REAUTH_REQUIRED
    account.status = AccountStatus.REAUTH_REQUIRED
    account.last_error = reason[:MAX_ERROR_LENGTH]
    if account.reauth_notified_at is None:
        account.reauth_notified_at = clock.now()
        await _notify_admins(session, settings, account, reason)
    await session.flush()
    if changed:
        await account_event(session, "social_account.reauth_required", account)


async def _notify_admins(
    session: AsyncSession, settings: Settings, account: SocialAccount, reason: str
) -> None:
    rows = await session.execute(
        select(User.email, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == account.organization_id)
    )
    for email, role in rows:
        if allows(Role(role), Action.MANAGE_SOCIAL_ACCOUNTS):
            await queue_email(
                session,
                settings,
                to=email,
                template="account_reauth",
                context={
                    "platform": account.platform,
                    "account": account.username or account.display_name or account.external_id,
                    "reason": reason,
                    "link": f"{settings.resolved_frontend_url}/social-accounts/{account.id}",
                },
            )


async def due_for_refresh(
    session: AsyncSession, settings: Settings, *, limit: int
) -> list[uuid.UUID]:
    """Active accounts whose tokens expire soon and that nobody is refreshing."""
    now = clock.now()
    rows = await session.scalars(
        select(SocialAccount.id)
        .where(
            SocialAccount.status == AccountStatus.ACTIVE,
            SocialAccount.token_expires_at
            <= now + timedelta(seconds=settings.token_refresh_ahead_s),
            or_(
                SocialAccount.refresh_claimed_until.is_(None),
                SocialAccount.refresh_claimed_until < now,
            ),
        )
        .order_by(SocialAccount.token_expires_at)
        .limit(limit)
    )
    return list(rows)
