"""Resolving the request's principal (a bearer access token or an API key), once per request,
and the dependency aliases routes declare to say who may call them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.deps import AppSettings, DbSession
from t21.core.errors import Forbidden, NotAuthenticated
from t21.core.ratelimit import RateLimit
from t21.core.security import (
    ExpiredToken,
    InvalidToken,
    decode_access_token,
    peek_access_subject,
    token_digest,
)
from t21.core.settings import Settings
from t21.identity.errors import TokenExpired
from t21.identity.models import User
from t21.organizations import api_keys
from t21.organizations.models import Membership
from t21.organizations.permissions import Action, Role
from t21.organizations.tenancy import Principal

_principal_rate_limit = RateLimit(
    lambda settings: settings.rate_limit_per_principal, key="principal", scope="principal"
)


# Declared for the OpenAPI document (the "Authorize" button of /docs); parsing is ours.
_bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An access token from /api/v1/auth, or an API key `t21_…`.",
)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise NotAuthenticated("The Authorization header must be `Bearer <token>`.")
    return credential.strip()


async def _user_principal(session: AsyncSession, settings: Settings, token: str) -> Principal:
    try:
        claims = decode_access_token(settings, token)
    except ExpiredToken:
        raise TokenExpired() from None
    except InvalidToken:
        raise NotAuthenticated("The access token is invalid.") from None
    user = await session.get(User, claims.user_id)
    if user is None:
        raise NotAuthenticated("The access token is invalid.")
    revoked = user.sessions_revoked_at
    if revoked is not None and claims.issued_at < revoked:
        raise NotAuthenticated("This session was ended; sign in again.")
    rows = await session.execute(
        select(Membership.organization_id, Membership.role).where(Membership.user_id == user.id)
    )
    roles: dict[uuid.UUID, Role] = dict(rows.all())
    return Principal(user=user, api_key=None, roles=roles)


async def _key_principal(session: AsyncSession, secret: str) -> Principal:
    api_key = await api_keys.find_active(session, secret)
    if api_key is None:
        raise NotAuthenticated("The API key is invalid or revoked.")
    return Principal(user=None, api_key=api_key, roles={api_key.organization_id: api_key.role})


async def get_principal(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> Principal:
    token = _bearer(request)
    if token is None:
        raise NotAuthenticated("Sign in: send `Authorization: Bearer <access token or API key>`.")
    if token.startswith(api_keys.KEY_PREFIX):
        principal = await _key_principal(session, token)
    else:
        principal = await _user_principal(session, settings, token)
    request.state.rate_limit_subject = principal.subject
    await _principal_rate_limit(request)
    return principal


async def get_user_principal(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.user is None:
        raise Forbidden("This needs a signed-in user; API keys can't use it.")
    return principal


def signed_in_user(principal: Principal) -> User:
    assert principal.user is not None
    return principal.user


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
CurrentUser = Annotated[Principal, Depends(get_user_principal)]


@dataclass(frozen=True)
class OrganizationAccess:
    principal: Principal
    organization_id: uuid.UUID
    role: Role


def _organization_access(action: Action) -> Callable[..., Awaitable[OrganizationAccess]]:
    async def check(
        principal: CurrentPrincipal,
        organization_id: Annotated[uuid.UUID, Path(description="The organization's id.")],
    ) -> OrganizationAccess:
        role = principal.authorize(organization_id, action)
        return OrganizationAccess(principal, organization_id, role)

    return check


# Who may call an organization's routes, by what they do there.
OrgReader = Annotated[OrganizationAccess, Depends(_organization_access(Action.READ))]
OrgAdmin = Annotated[OrganizationAccess, Depends(_organization_access(Action.UPDATE_ORGANIZATION))]
OrgMemberManager = Annotated[
    OrganizationAccess, Depends(_organization_access(Action.MANAGE_MEMBERS))
]
OrgKeyManager = Annotated[OrganizationAccess, Depends(_organization_access(Action.MANAGE_API_KEYS))]
OrgOwner = Annotated[OrganizationAccess, Depends(_organization_access(Action.DELETE_ORGANIZATION))]


def idempotency_owner(request: Request) -> str | None:
    """Whose Idempotency-Key this is, from the credentials alone (no database access)."""
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    if credential.startswith(api_keys.KEY_PREFIX):
        return f"key:{token_digest(credential)}"
    user_id = peek_access_subject(request.app.state.settings, credential)
    return f"user:{user_id}" if user_id is not None else None
