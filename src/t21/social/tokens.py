"""Token care: tokens encrypted at rest, refreshed ahead of expiry, one refresh per account at a
time, and an account the network refused for good marked `reauth_required` (admins told once).

Refreshing calls the network, so it runs in its own short units of work around that call (never
inside a request's transaction): claim the account, refresh outside any transaction, record.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.crypto import keyring
from t21.core.db import for_claim
from t21.core.errors import NotFound
from t21.core.logging import get_logger
from t21.core.outside import OutsideFailure, Permanent, ReauthRequired, Retryable
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.identity.models import User
from t21.notifications.service import queue_email
from t21.organizations.models import Membership
from t21.organizations.permissions import Action, Role, allows
from t21.platforms.base import Credentials, TokenGrant
from t21.platforms.registry import configured_provider, display_name
from t21.social.events import account_event
from t21.social.models import AccountStatus, SocialAccount

log = get_logger("t21.social")

CLAIM_FOR = timedelta(seconds=60)
WAIT_STEP_S = 0.1
MAX_ERROR_LENGTH = 1000


def _associated(account_id: uuid.UUID, field: str) -> str:
    return f"social_account:{account_id}:{field}"


def refresh_margin(settings: Settings, lifetime: timedelta) -> timedelta:
    """How long before its expiry a token living `lifetime` is refreshed: a share of its life,
    within the configured bounds, and never more than half of it (X's 2-hour token 24 minutes
    before, a 60-day Instagram or LinkedIn token 7 days before). Instagram refuses to refresh a
    token younger than 24 hours and can't refresh one that expired, so the margin is days, not
    minutes (developers.facebook.com/docs/instagram-platform/reference/refresh_access_token)."""
    life = lifetime.total_seconds()
    share = life * settings.token_refresh_fraction
    bounded = min(max(share, settings.token_refresh_ahead_s), settings.token_refresh_ahead_max_s)
    return timedelta(seconds=max(0.0, min(bounded, life / 2)))


def seal_grant(settings: Settings, account: SocialAccount, grant: TokenGrant) -> None:
    """Put `grant`'s tokens on `account`, encrypted, and when to refresh them. A grant without a
    refresh token keeps the stored one: losing it would force a person to reconnect."""
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
    if grant.expires_in:
        lifetime = timedelta(seconds=grant.expires_in)
        account.token_expires_at = now + lifetime
        account.refresh_due_at = account.token_expires_at - refresh_margin(settings, lifetime)
    else:
        account.token_expires_at = account.refresh_due_at = None
    if not _refresh_ends_first(account):
        # A token that can be refreshed again: a later dead end deserves a warning of its own.
        account.expiry_warned_at = None
    if grant.scopes:
        account.scopes = sorted(grant.scopes)
    if grant.dpop_key is not None:
        account.dpop_key_encrypted = ring.encrypt(
            grant.dpop_key, associated=_associated(account.id, "dpop_key")
        )


def _refresh_ends_first(account: SocialAccount) -> bool:
    """Whether the refresh token dies before the access token does (LinkedIn's refresh tokens
    last 365 days from the first grant, whatever the refreshes), so no refresh can follow."""
    return (
        account.refresh_expires_at is not None
        and account.token_expires_at is not None
        and account.refresh_expires_at <= account.token_expires_at
    )


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
        dpop_key=ring.decrypt(
            account.dpop_key_encrypted, associated=_associated(account.id, "dpop_key")
        )
        if account.dpop_key_encrypted
        else None,
    )


# Decrypted tokens kept per process, at most this many accounts (then the cache starts over).
HELD_CREDENTIALS_MAX = 10_000


def held_credentials(runtime: Runtime, account: SocialAccount) -> Credentials:
    """The account's tokens, decrypted once per process for as long as what is stored doesn't
    change: a refresh, a reconnect or a re-encryption writes new ciphertext (a fresh nonce), and
    the next use decrypts that instead. Kept in memory only, never logged."""
    cache: dict[uuid.UUID, tuple[tuple[object, ...], Credentials]] = runtime.state.setdefault(
        "held_credentials", {}
    )
    stored = (
        id(runtime.settings),
        account.access_token_encrypted,
        account.refresh_token_encrypted,
        account.dpop_key_encrypted,
        account.token_expires_at,
        account.external_id,
        account.username,
        tuple(account.scopes or ()),
    )
    found = cache.get(account.id)
    if found is not None and found[0] == stored:
        return found[1]
    if len(cache) >= HELD_CREDENTIALS_MAX:
        cache.clear()
    held = credentials(runtime.settings, account)
    cache[account.id] = (stored, held)
    return held


def reencrypt(settings: Settings, account: SocialAccount) -> bool:
    """Move the account's tokens to the current key; whether anything changed."""
    ring = keyring(settings)
    changed = False
    for field, attribute in (
        ("access", "access_token_encrypted"),
        ("refresh", "refresh_token_encrypted"),
        ("dpop_key", "dpop_key_encrypted"),
    ):
        sealed: str | None = getattr(account, attribute)
        if sealed is None or ring.key_id_of(sealed) == ring.current:
            continue
        plain = ring.decrypt(sealed, associated=_associated(account.id, field))
        setattr(account, attribute, ring.encrypt(plain, associated=_associated(account.id, field)))
        changed = True
    return changed


def refresh_due_at(account: SocialAccount, settings: Settings) -> datetime | None:
    """When the account's token is due for a refresh; None if it never expires. An account
    sealed before due times were kept is due the least margin before its expiry."""
    if account.refresh_due_at is not None:
        return account.refresh_due_at
    if account.token_expires_at is None:
        return None
    return account.token_expires_at - timedelta(seconds=settings.token_refresh_ahead_s)


def needs_refresh(account: SocialAccount, settings: Settings, now: datetime) -> bool:
    due = refresh_due_at(account, settings)
    return due is not None and due <= now


async def _claim(session: AsyncSession, account: SocialAccount, now: datetime) -> bool:
    """Hold the account's refresh, unless another caller holds it, or its tokens are no longer
    the ones `account` was read with: a refresh that finished between that read and this
    claim has spent the refresh token read (networks rotate them), and sending it again would
    be refused for good."""
    claimed = await session.execute(
        update(SocialAccount)
        .where(
            SocialAccount.id == account.id,
            or_(
                SocialAccount.refresh_claimed_until.is_(None),
                SocialAccount.refresh_claimed_until < now,
            ),
            SocialAccount.access_token_encrypted == account.access_token_encrypted,
            SocialAccount.refresh_token_encrypted.is_not_distinct_from(
                account.refresh_token_encrypted
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
            if await _claim(session, account, now):
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
    dead = False
    async with session_scope(runtime) as session:
        account = await session.get(SocialAccount, account_id, populate_existing=True)
        if account is None:
            raise NotFound("No such social account.")
        now = clock.now()
        if grant is not None:
            seal_grant(settings, account, grant)
            if _refresh_ends_first(account) and account.refresh_expires_at is not None:
                await _warn_expiring(session, settings, account, account.refresh_expires_at)
        elif account.token_expires_at is not None and account.token_expires_at <= now:
            # Nothing to refresh with and nothing left: a person must reconnect. Recorded
            # before raising, outside the unit of work (raising inside would undo it).
            await _mark_reauth(session, settings, account, "The access token expired.")
            account.refresh_claimed_until = None
            dead = True
        elif account.token_expires_at is not None:
            # The network gives nothing to refresh with: tell the owners while the token still
            # works, and look again only when it expires.
            account.refresh_due_at = account.token_expires_at
            await _warn_expiring(session, settings, account, account.token_expires_at)
        if not dead:
            account.last_refreshed_at = now
            account.refresh_claimed_until = None
            account.status = AccountStatus.ACTIVE
            account.last_error = None
        await session.flush()
    if dead:
        raise ReauthRequired("The access token expired and can't be refreshed.")
    log.info("tokens refreshed", account_id=str(account_id), platform=platform)
    return account


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


async def _warn_expiring(
    session: AsyncSession, settings: Settings, account: SocialAccount, dies_at: datetime
) -> None:
    """Email the account's owners, once, that its access ends at `dies_at` and can't be
    refreshed: reconnecting before then keeps its posts going."""
    if account.expiry_warned_at is not None:
        return
    account.expiry_warned_at = clock.now()
    log.info("account access expiring", account_id=str(account.id), expires_at=dies_at)
    await account_event(session, "social_account.expiring", account)
    await _email_admins(
        session,
        settings,
        account,
        "account_expiring",
        {"expires_at": dies_at.strftime("%d %B %Y, %H:%M UTC")},
    )


async def _notify_admins(
    session: AsyncSession, settings: Settings, account: SocialAccount, reason: str
) -> None:
    await _email_admins(session, settings, account, "account_reauth", {"reason": reason})


async def _email_admins(
    session: AsyncSession,
    settings: Settings,
    account: SocialAccount,
    template: str,
    context: dict[str, str],
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
                template=template,
                context={
                    "platform": display_name(account.platform),
                    "account": account.username or account.display_name or account.external_id,
                    "link": f"{settings.resolved_frontend_url}/social-accounts/{account.id}",
                }
                | context,
            )


async def claim_due_refreshes(
    session: AsyncSession, settings: Settings, *, limit: int
) -> list[uuid.UUID]:
    """Claim active accounts whose tokens are due for a refresh, by moving their due time a
    retry interval ahead: any number of sweeps may run, each account goes to one of them, and
    a refresh that is lost or fails comes due again after the interval."""
    now = clock.now()
    legacy_due = now + timedelta(seconds=settings.token_refresh_ahead_s)
    ids = list(
        await session.scalars(
            for_claim(
                select(SocialAccount.id)
                .where(
                    SocialAccount.status == AccountStatus.ACTIVE,
                    or_(
                        SocialAccount.refresh_due_at <= now,
                        and_(
                            SocialAccount.refresh_due_at.is_(None),
                            SocialAccount.token_expires_at <= legacy_due,
                        ),
                    ),
                    or_(
                        SocialAccount.refresh_claimed_until.is_(None),
                        SocialAccount.refresh_claimed_until < now,
                    ),
                )
                .order_by(SocialAccount.token_expires_at)
                .limit(limit),
                session,
            )
        )
    )
    if ids:
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id.in_(ids))
            .values(refresh_due_at=now + timedelta(seconds=settings.token_refresh_retry_s))
            .execution_options(synchronize_session=False)
        )
    return ids
