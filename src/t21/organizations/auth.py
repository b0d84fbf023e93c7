"""Resolving the request's principal (a bearer access token or an API key), once per request,
and the dependency aliases routes declare to say who may call them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPBearer
from sqlalchemy import ColumnElement, exists, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from t21.core.errors import Forbidden, NotAuthenticated
from t21.core.ratelimit import PRINCIPAL_SCOPE, RateLimit, counted_subject
from t21.core.runtime import Runtime
from t21.core.security import (
    AccessClaims,
    ExpiredToken,
    InvalidToken,
    decode_access_token,
    peek_access_subject,
    token_digest,
)
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.identity.errors import TokenExpired
from t21.identity.models import Passkey, RefreshToken, TotpFactor, User
from t21.organizations import api_keys
from t21.organizations.models import Membership, Organization
from t21.organizations.permissions import Action, Role
from t21.organizations.principal_cache import PrincipalCache
from t21.organizations.tenancy import Principal

_principal_rate_limit = RateLimit(
    lambda settings: settings.rate_limit_per_principal, key="principal", scope=PRINCIPAL_SCOPE
)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise NotAuthenticated("The Authorization header must be `Bearer <token>`.")
    return credential.strip()


async def _user_principal(
    session: AsyncSession, settings: Settings, token: str
) -> tuple[Principal, datetime]:
    """The token's principal, and when the token expires."""
    try:
        claims = decode_access_token(settings, token)
    except ExpiredToken:
        raise TokenExpired() from None
    except InvalidToken:
        raise NotAuthenticated("The access token is invalid.") from None
    user, session_ended, two_factor = await user_and_session_state(session, claims)
    if user is None:
        raise NotAuthenticated("The access token is invalid.")
    revoked = user.sessions_revoked_at
    if session_ended or (revoked is not None and claims.issued_at < revoked):
        raise NotAuthenticated("This session was ended; sign in again.")
    rows = await session.execute(
        select(
            Membership.organization_id,
            Membership.role,
            Organization.personal,
            Organization.require_two_factor,
        )
        .join(Organization, Organization.id == Membership.organization_id)
        .where(Membership.user_id == user.id)
    )
    roles: dict[uuid.UUID, Role] = {}
    personal: uuid.UUID | None = None
    locked: set[uuid.UUID] = set()
    for organization_id, role, is_personal, requires_two_factor in rows:
        roles[organization_id] = role
        if is_personal and role is Role.OWNER:
            personal = organization_id
        if requires_two_factor and not two_factor:
            locked.add(organization_id)
    principal = Principal(
        user=user,
        api_key=None,
        roles=roles,
        personal_organization_id=personal,
        two_factor_locked=frozenset(locked),
    )
    return principal, claims.expires_at


async def user_and_session_state(
    session: AsyncSession, claims: AccessClaims
) -> tuple[User | None, bool, bool]:
    """The token's user, whether its sign-in (refresh-token family) was ended — by a logout or
    by the reuse of one of its refresh tokens —, and whether the user has two-factor sign-in on
    (an authenticator app or a passkey).
    One query: the family check is a correlated EXISTS on the (user_id, family_id) index, so an
    ended sign-in's access tokens stop at the next request, with no cache to wait out."""
    ended: ColumnElement[bool] = literal(False)
    if claims.session_id is not None:
        ended = (
            exists()
            .where(
                RefreshToken.user_id == User.id,
                RefreshToken.family_id == claims.session_id,
                RefreshToken.revoked_at.is_not(None),
            )
            .correlate(User)
        )
    two_factor = (
        exists()
        .where(TotpFactor.user_id == User.id, TotpFactor.confirmed_at.is_not(None))
        .correlate(User)
    ) | exists().where(Passkey.user_id == User.id).correlate(User)
    row = (
        await session.execute(
            select(User, ended.label("ended"), two_factor.label("two_factor")).where(
                User.id == claims.user_id
            )
        )
    ).one_or_none()
    if row is None:
        return None, False, False
    return row[0], bool(row[1]), bool(row[2])


async def _key_principal(session: AsyncSession, secret: str) -> Principal:
    active = await api_keys.find_active(session, secret)
    if active is None:
        raise NotAuthenticated("The API key is invalid or revoked.")
    organization_id = active.api_key.organization_id
    return Principal(user=None, api_key=active.api_key, roles={organization_id: active.role})


class _DeclaredBearer(HTTPBearer):
    """The bearer scheme as the OpenAPI document declares it; reads nothing (`_bearer` does)."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


# Declared for the OpenAPI document (the "Authorize" button of /docs); parsing is ours.
_bearer_scheme = _DeclaredBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An access token from /api/v1/auth, or an API key `t21_…`.",
)
# Where the request's principal is kept once resolved (in the ASGI scope's state).
_PRINCIPAL_KEY = "t21_principal"


async def get_principal(
    request: Request, _declared: Annotated[None, Depends(_bearer_scheme)]
) -> Principal:
    """Who is calling: from the process's principal cache when these credentials were resolved
    within its bound (no database round trip), else in a short unit of work of its own, one
    at a time per credential (`PrincipalCache.resolve`). The request's own session starts only
    when the handler uses it, so a handler that first calls an outside service holds no
    database lock meanwhile (SQLite has one writer at a time).

    One dependency with no others below it but the scheme's declaration (each level of
    FastAPI's dependency solving costs about as much as the cache's lookup)."""
    state = request.scope.setdefault("state", {})
    known: Principal | None = state.get(_PRINCIPAL_KEY)
    if known is not None:
        return known
    token = _bearer(request)
    if token is None:
        raise NotAuthenticated("Sign in: send `Authorization: Bearer <access token or API key>`.")
    app_state = request.app.state
    cache: PrincipalCache | None = app_state.principal_cache
    principal = cache.get(token) if cache is not None else None
    if principal is None:
        principal = await _resolve(request, app_state.settings, token, cache)
    elif cache is not None and cache.due(token):
        cache.refresh(token, _loader(request.app.state.runtime, app_state.settings, token))
    state["rate_limit_subject"] = principal.subject
    if counted_subject(request) != principal.subject:
        await _principal_rate_limit(request)
    state[_PRINCIPAL_KEY] = principal
    return principal


def cached_subject(scope: Scope) -> str | None:
    """The rate-limit subject of the request's credential if the principal cache holds it (no
    database access, no token decoding): the rate-limit middleware then counts the principal's
    limit with the IP's, in one round trip."""
    cache: PrincipalCache | None = scope["app"].state.principal_cache
    if cache is None:
        return None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer":
                return None
            principal = cache.get(credential.strip())
            return principal.subject if principal is not None else None
    return None


async def _resolve(
    request: Request, settings: Settings, token: str, cache: PrincipalCache | None
) -> Principal:
    load = _loader(request.app.state.runtime, settings, token)
    if cache is None:
        principal, _expires_at = await load()
        return principal
    return await cache.resolve(token, load)


def _loader(
    runtime: Runtime, settings: Settings, token: str
) -> Callable[[], Awaitable[tuple[Principal, datetime | None]]]:
    """The resolution of `token` in a short unit of work of its own, and its token's expiry."""

    async def load() -> tuple[Principal, datetime | None]:
        async with session_scope(runtime) as session:
            if token.startswith(api_keys.KEY_PREFIX):
                return await _key_principal(session, token), None
            return await _user_principal(session, settings, token)

    return load


async def get_user_principal(
    request: Request, _declared: Annotated[None, Depends(_bearer_scheme)]
) -> Principal:
    """`get_principal`, for a signed-in user only (403 for an API key); not a dependency of
    `get_principal` but a sibling, one level of dependency solving fewer."""
    principal = await get_principal(request, None)
    if principal.user is None:
        raise Forbidden("This needs a signed-in user; API keys can't use it.")
    return principal


async def current_user(session: AsyncSession, principal: Principal) -> User:
    """The signed-in user, loaded in `session` (to change it in this unit of work)."""
    if principal.user_id is None:
        raise Forbidden("This needs a signed-in user; API keys can't use it.")
    user = await session.get(User, principal.user_id)
    if user is None:
        raise NotAuthenticated("The access token is invalid.")
    return user


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
OrgAuditor = Annotated[OrganizationAccess, Depends(_organization_access(Action.READ_AUDIT_LOG))]


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
