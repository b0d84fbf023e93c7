"""Connecting an account from credentials given to T21, for networks without a redirect
(Bluesky's app passwords, Telegram's proof in a chat)."""

from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit.service import Actor
from t21.brands import service as brands_service
from t21.core.errors import Forbidden, UpstreamError, ValidationFailed
from t21.core.outside import OutsideFailure, Permanent, ReauthRequired
from t21.core.runtime import Runtime
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal
from t21.platforms import registry
from t21.platforms.base import CredentialsConnector, ProofRequired, Provider, proven_connector
from t21.social.attempts import ConnectFailure, as_problem
from t21.social.models import SocialAccount
from t21.social.storing import store_account, within_plan


def connects_with_credentials(provider: Provider) -> bool:
    """Whether the network connects from credentials given to T21 (`connect_with_credentials`)
    rather than through a redirect."""
    return bool(getattr(provider, "connects_with_credentials", False))


async def with_credentials(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    *,
    brand_id: uuid.UUID,
    platform: str,
    credentials: dict[str, str] | None,
) -> list[SocialAccount]:
    """Connect the account the credentials sign in to (networks without a redirect) to the
    brand (admins), within the plan; credentials the network refuses are a 422."""
    brand = await brands_service.get_brand(
        session, principal, brand_id, Action.MANAGE_SOCIAL_ACCOUNTS
    )
    if principal.user_id is None:
        raise Forbidden("Connecting an account needs a signed-in user; API keys can't.")
    provider = registry.configured_provider(runtime, platform)
    if not credentials:
        raise ValidationFailed(
            f"{provider.display_name} connects with `credentials`.",
            errors=[{"loc": ["body", "credentials"], "msg": "required for this platform"}],
        )
    proven = proven_connector(provider)
    try:
        if proven is not None:
            requester = f"{principal.user_id}|{brand.id}"
            connections = await proven.connect_with_proof(credentials, requester=requester)
        else:
            connector = cast(CredentialsConnector, provider)
            connections = await connector.connect_with_credentials(credentials)
    except ProofRequired as failure:
        entry = {
            "loc": ["body", "credentials"],
            "msg": failure.message,
            "rule": failure.code,
            "proof": failure.proof,
        }
        raise ValidationFailed(failure.message, errors=[entry]) from None
    except (Permanent, ReauthRequired) as failure:
        raise ValidationFailed(
            failure.message, errors=[{"loc": ["body", "credentials"], "msg": failure.message}]
        ) from None
    except OutsideFailure as failure:
        raise UpstreamError(failure.message) from None
    if not connections:
        raise UpstreamError("The network gave access to no account.")
    try:
        await within_plan(session, runtime.settings, brand, platform, connections, None)
    except ConnectFailure as failure:
        raise as_problem(failure) from None
    actor = Actor.of(principal)
    return [
        await store_account(session, runtime.settings, brand, platform, connection, actor)
        for connection in connections
    ]
