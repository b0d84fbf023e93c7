"""Storing the accounts a connection gave access to: within the plan's connected accounts (a
reconnect is free), updated in place when the brand already has them (a missing refresh token
never erases the stored one), announced and audited."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.audit.service import Actor
from t21.billing import plans
from t21.brands.models import Brand
from t21.core import clock
from t21.core.errors import QuotaExceeded
from t21.core.ids import uuid7
from t21.core.settings import Settings
from t21.platforms.base import Connection
from t21.social.attempts import ConnectFailure
from t21.social.events import account_event
from t21.social.models import AccountStatus, SocialAccount
from t21.social.tokens import seal_grant


async def within_plan(
    session: AsyncSession,
    settings: Settings,
    brand: Brand,
    platform: str,
    connections: list[Connection],
    redirect_uri: str | None,
) -> None:
    """Refuse the connection when its new accounts would pass the plan's connected accounts;
    accounts the brand already has (a reconnect) are free."""
    external_ids = {connection.profile.external_id for connection in connections}
    known = set(
        await session.scalars(
            select(SocialAccount.external_id).where(
                SocialAccount.brand_id == brand.id,
                SocialAccount.platform == platform,
                SocialAccount.external_id.in_(external_ids),
                SocialAccount.status != AccountStatus.DISCONNECTED,
            )
        )
    )
    adding = len(external_ids - known)
    if not adding:
        return
    try:
        await plans.enforce(
            session, settings, brand.organization_id, plans.Limit.SOCIAL_ACCOUNTS, adding
        )
    except QuotaExceeded as refused:
        raise ConnectFailure(
            refused.code,
            refused.detail,
            redirect_uri=redirect_uri,
            details={key: str(value) for key, value in refused.extensions.items()},
        ) from refused


async def store_account(
    session: AsyncSession,
    settings: Settings,
    brand: Brand,
    platform: str,
    connection: Connection,
    actor: Actor,
) -> SocialAccount:
    profile = connection.profile
    account = await session.scalar(
        select(SocialAccount).where(
            SocialAccount.brand_id == brand.id,
            SocialAccount.platform == platform,
            SocialAccount.external_id == profile.external_id,
        )
    )
    now = clock.now()
    if account is None:
        account = SocialAccount(
            id=uuid7(),
            organization_id=brand.organization_id,
            brand_id=brand.id,
            platform=platform,
            external_id=profile.external_id,
            scopes=[],
        )
        session.add(account)
    account.username = profile.username
    account.display_name = profile.display_name
    account.avatar_url = profile.avatar_url
    account.status = AccountStatus.ACTIVE
    account.connected_at = now
    account.last_error = None
    account.reauth_notified_at = None
    account.refresh_claimed_until = None
    account.capabilities = dict(connection.capabilities) or None
    account.dpop_key_encrypted = None  # a new grant brings its own key, if it is bound to one
    seal_grant(settings, account, connection.grant)
    await session.flush()
    await account_event(session, "social_account.connected", account)
    await audit.record(
        session,
        organization_id=account.organization_id,
        actor=actor,
        action="social_account.connected",
        target_type="social_account",
        target_id=account.id,
        details={
            "platform": platform,
            "username": account.username,
            "brand_id": str(brand.id),
        },
    )
    return account
