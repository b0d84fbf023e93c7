"""Connected accounts: listing, reading, disconnecting, forcing a refresh."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.audit.service import Actor
from t21.brands import service as brands_service
from t21.core import clock
from t21.core.errors import Conflict, NotFound, UpstreamError
from t21.core.logging import get_logger
from t21.core.outside import OutsideFailure, ReauthRequired
from t21.core.pagination import PageRequest
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal, get_scoped
from t21.platforms.base import Choice, choice_lister, instance_provider
from t21.platforms.registry import configured_provider
from t21.social.events import account_event
from t21.social.instances import stored_app
from t21.social.models import AccountStatus, SocialAccount
from t21.social.tokens import credentials, needs_refresh, refresh_account

log = get_logger("t21.social")


class AccountNeedsReconnecting(Conflict):
    code = "reauth_required"
    title = "Account must be reconnected"


async def get_account(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    action: Action = Action.READ,
) -> SocialAccount:
    return await get_scoped(
        session, principal, SocialAccount, account_id, what="social account", action=action
    )


async def list_accounts(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    brand_id: uuid.UUID | None = None,
) -> tuple[list[SocialAccount], str | None]:
    return await brands_service.list_of_brands(session, principal, SocialAccount, page, brand_id)


async def disconnect(runtime: Runtime, principal: Principal, account_id: uuid.UUID) -> None:
    """Revoke the account's tokens at the network where possible, then forget the account.
    A network that can't be reached doesn't keep the account here: it is disconnected anyway."""
    async with session_scope(runtime) as session:
        account = await get_account(session, principal, account_id, Action.MANAGE_SOCIAL_ACCOUNTS)
        held = credentials(runtime.settings, account)
        platform = account.platform
    try:
        provider = configured_provider(runtime, platform)
        federated = instance_provider(provider)
        if federated is None:
            await provider.revoke(held)
        else:
            # Revoking on a federated network goes through T21's app on the account's instance.
            async with session_scope(runtime) as session:
                app = await stored_app(
                    session, runtime.settings, platform, federated.instance_of(held)
                )
            if app is not None:
                await federated.revoke_at(app, held)
    except OutsideFailure as failure:
        log.warning(
            "revocation at the network failed", account_id=str(account_id), error=failure.message
        )
    async with session_scope(runtime) as session:
        gone = await session.get(SocialAccount, account_id)
        if gone is not None:
            await account_event(
                session, "social_account.disconnected", gone, status=AccountStatus.DISCONNECTED
            )
            await audit.record(
                session,
                organization_id=gone.organization_id,
                actor=Actor.of(principal),
                action="social_account.removed",
                target_type="social_account",
                target_id=gone.id,
                details={"platform": gone.platform, "username": gone.username},
            )
            await session.delete(gone)


async def force_refresh(
    runtime: Runtime, principal: Principal, account_id: uuid.UUID
) -> SocialAccount:
    asked_at = clock.now()
    async with session_scope(runtime) as session:
        await get_account(session, principal, account_id, Action.MANAGE_SOCIAL_ACCOUNTS)
    return await refresh_account(runtime, account_id, force=True, asked_at=asked_at)


async def list_choices(
    runtime: Runtime, principal: Principal, account_id: uuid.UUID, kind: str
) -> list[Choice]:
    """The account's choices of `kind` (its boards, its locations), asked of the network now.
    404 when the account's network has no such choices; 409 while it must be reconnected; 502
    when the network can't answer."""
    async with session_scope(runtime) as session:
        account = await get_account(session, principal, account_id)
        platform = account.platform
        held = None
        if account.status is AccountStatus.ACTIVE and not needs_refresh(
            account, runtime.settings, clock.now()
        ):
            held = credentials(runtime.settings, account)
        status = account.status
    provider = configured_provider(runtime, platform)
    lister = choice_lister(provider, kind)
    if lister is None:
        raise NotFound(f"A {provider.display_name} account has no {kind}.")
    if status is not AccountStatus.ACTIVE:
        raise AccountNeedsReconnecting(
            "The account must be reconnected before its choices can be listed."
        )
    try:
        if held is None:
            held = credentials(runtime.settings, await refresh_account(runtime, account_id))
        return await lister.list_choices(held, kind)
    except ReauthRequired:
        raise AccountNeedsReconnecting(
            "The network refused the account's tokens: reconnect it."
        ) from None
    except OutsideFailure as failure:
        raise UpstreamError(failure.message) from None
