"""Connecting a social account to a brand: the browser's trip to the network and back.

`start` records an attempt (who, which brand, which network, the PKCE verifier, where the front
end wants to land) and returns the network's authorization URL with a *signed* state. `finish`,
at the callback, checks the signature, uses the attempt once (it expires in 10 minutes),
exchanges the code outside any transaction, then stores each account with its tokens encrypted.

The connection is bound to the browser that started it. `start` also gives a random browser
token, set as a cookie on the `POST /connect` response, and the attempt keeps its digest. A
callback carrying that cookie completes at once (302 to the front end with `?connected=`). A
callback without it (a link someone else made and passed on, or an API client that started the
flow from a server) completes nothing: the network's code is parked, encrypted, and the browser
goes to the front end with a one-time `?connect_code=`, which only the person who started the
connection can redeem, signed in, at `POST /api/v1/social-accounts/connect/complete`. Whoever
merely consents at the network can never attach their account to someone else's brand.

Reconnecting an account updates it in place: no duplicate, and a missing refresh token in the
new grant never erases the stored one. Only accounts new to the brand count against the plan's
connected accounts, so a reconnect always goes through.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.audit.service import SYSTEM, Actor
from t21.billing import plans
from t21.brands import service as brands_service
from t21.brands.models import Brand
from t21.core import clock
from t21.core.crypto import keyring
from t21.core.errors import (
    BadRequest,
    Forbidden,
    QuotaExceeded,
    T21Error,
    UpstreamError,
    ValidationFailed,
)
from t21.core.ids import uuid7
from t21.core.outside import Ambiguous, OutsideFailure, Permanent, ReauthRequired
from t21.core.redirects import allowed_redirect, with_params
from t21.core.runtime import Runtime
from t21.core.security import new_token, token_digest
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.identity.models import User
from t21.organizations.models import Membership
from t21.organizations.permissions import Action, Role, allows
from t21.organizations.tenancy import Principal
from t21.platforms import registry
from t21.platforms.base import (
    Connection,
    CredentialsConnector,
    ProofRequired,
    Provider,
    PushedAuthorizer,
    PushedStart,
    instance_provider,
    proven_connector,
    pushed_authorizer,
)
from t21.social.events import account_event
from t21.social.instances import callback_url, instance_app, stored_app
from t21.social.models import AccountStatus, ConnectAttempt, SocialAccount
from t21.social.tokens import seal_grant

ATTEMPT_TTL = timedelta(minutes=10)


class ConnectFailure(Exception):
    """A connection that can't complete; `code` reaches the front end as `?error=`."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        redirect_uri: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.redirect_uri = redirect_uri
        # Added to the front end's query next to `error` (e.g. the limit that was reached).
        self.details = details or {}


def as_problem(failure: ConnectFailure) -> T21Error:
    """A failed completion as the API's error, for `POST /connect/complete`."""
    if isinstance(failure.__cause__, T21Error):  # e.g. the plan's limit, as it was raised
        return failure.__cause__
    if failure.code == "forbidden":
        return Forbidden(failure.message)
    if failure.code in ("invalid_code", "invalid_state"):
        return BadRequest(failure.message)
    return UpstreamError(failure.message)


def _signature(settings: Settings, nonce: str) -> str:
    mac = hmac.new(settings.secret().encode(), f"social-connect:{nonce}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def sign_state(settings: Settings, nonce: str) -> str:
    return f"{nonce}.{_signature(settings, nonce)}"


def verified_nonce(settings: Settings, state: str | None) -> str | None:
    """The nonce of a state T21 signed, or None for anything else."""
    if not state or state.count(".") != 1:
        return None
    nonce, signature = state.split(".")
    return (
        nonce
        if hmac.compare_digest(signature.encode(), _signature(settings, nonce).encode())
        else None
    )


async def start(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    *,
    brand_id: uuid.UUID,
    platform: str,
    redirect_uri: str | None,
    instance: str | None = None,
    login_hint: str | None = None,
) -> tuple[str, str]:
    """The network's authorization URL for connecting an account to the brand (admins), and the
    browser token to set as a cookie. `instance` names the account's server, for networks whose
    provider needs one (T21's app there is registered on first use). A network whose sign-in
    is pushed to it first (Bluesky's OAuth) gets it now, for the account `login_hint` names."""
    settings = runtime.settings
    brand = await brands_service.get_brand(
        session, principal, brand_id, Action.MANAGE_SOCIAL_ACCOUNTS
    )
    if principal.user_id is None:
        raise Forbidden("Connecting an account needs a signed-in user; API keys can't.")
    provider = registry.configured_provider(runtime, platform)
    target = allowed_redirect(settings, redirect_uri or settings.resolved_frontend_url)
    federated = instance_provider(provider)
    app = None
    if federated is not None:
        if not instance:
            raise ValidationFailed(
                f"Connecting {provider.display_name} needs `instance`, the server's host name.",
                errors=[{"loc": ["body", "instance"], "msg": "required"}],
            )
        app = await instance_app(session, runtime, federated, platform, instance)
    elif instance is not None:
        raise ValidationFailed(
            f"{provider.display_name} accounts aren't on an instance; leave `instance` out.",
            errors=[{"loc": ["body", "instance"], "msg": "not taken by this network"}],
        )
    nonce, browser = new_token(), new_token()
    pushed = pushed_authorizer(provider)
    verifier = new_token() + new_token()[:20] if provider.uses_pkce or pushed is not None else None
    handoff = None
    if pushed is not None and verifier is not None:
        started = await _push(pushed, settings, platform, nonce, verifier, login_hint)
        handoff = keyring(settings).encrypt(
            json.dumps(started.handoff | {"issuer": started.issuer}),
            associated=f"connect-handoff:{token_digest(nonce)}",
        )
    session.add(
        ConnectAttempt(
            state_digest=token_digest(nonce),
            browser_digest=token_digest(browser),
            user_id=principal.user_id,
            brand_id=brand.id,
            platform=platform,
            code_verifier=verifier,
            redirect_uri=target,
            expires_at=clock.now() + ATTEMPT_TTL,
            instance=app.instance if app is not None else None,
            handoff_encrypted=handoff,
        )
    )
    await session.flush()
    if pushed is not None and handoff is not None:
        return started.authorization_url, browser
    if federated is not None and app is not None:
        url = federated.authorization_url_at(
            app,
            state=sign_state(settings, nonce),
            redirect_uri=callback_url(settings, platform),
            code_verifier=verifier,
        )
    else:
        url = provider.authorization_url(
            state=sign_state(settings, nonce),
            redirect_uri=callback_url(settings, platform),
            code_verifier=verifier,
        )
    return url, browser


async def _push(
    pushed: PushedAuthorizer,
    settings: Settings,
    platform: str,
    nonce: str,
    verifier: str,
    login_hint: str | None,
) -> PushedStart:
    """The sign-in pushed to the network; a handle it can't use is a 422, the network not
    answering a 502."""
    try:
        return await pushed.begin_authorization(
            login_hint=login_hint,
            state=sign_state(settings, nonce),
            redirect_uri=callback_url(settings, platform),
            code_verifier=verifier,
        )
    except Permanent as refused:
        raise ValidationFailed(
            refused.message, errors=[{"loc": ["body", "credentials"], "msg": refused.message}]
        ) from None
    except OutsideFailure as failure:
        raise UpstreamError(failure.message) from None


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
        await _within_plan(session, runtime.settings, brand, platform, connections, None)
    except ConnectFailure as failure:
        raise as_problem(failure) from None
    return [
        await _store(session, runtime.settings, brand, platform, connection, Actor.of(principal))
        for connection in connections
    ]


@dataclass(frozen=True)
class _Attempt:
    id: uuid.UUID
    platform: str
    browser_digest: str | None
    user_id: uuid.UUID
    brand_id: uuid.UUID
    code_verifier: str | None
    redirect_uri: str
    instance: str | None = None
    state_digest: str = ""
    handoff_encrypted: str | None = None

    def handoff(self, settings: Settings) -> dict[str, Any] | None:
        """What the pushed sign-in left for the callback, decrypted; None for other networks."""
        if self.handoff_encrypted is None:
            return None
        plain = keyring(settings).decrypt(
            self.handoff_encrypted, associated=f"connect-handoff:{self.state_digest}"
        )
        found: dict[str, Any] = json.loads(plain)
        return found


async def _use_attempt(runtime: Runtime, platform: str, state: str | None) -> _Attempt:
    nonce = verified_nonce(runtime.settings, state)
    if nonce is None:
        raise ConnectFailure("invalid_state", "This connection link is not one of ours.")
    now = clock.now()
    async with session_scope(runtime) as session:
        attempt = await session.scalar(
            select(ConnectAttempt).where(ConnectAttempt.state_digest == token_digest(nonce))
        )
        claimed = await session.execute(
            update(ConnectAttempt)
            .where(
                ConnectAttempt.state_digest == token_digest(nonce),
                ConnectAttempt.platform == platform,
                ConnectAttempt.used_at.is_(None),
                ConnectAttempt.expires_at > now,
            )
            .values(used_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    if attempt is None:
        raise ConnectFailure("invalid_state", "This connection link is unknown.")
    if getattr(claimed, "rowcount", 0) != 1:
        raise ConnectFailure(
            "invalid_state",
            "This connection link expired or was already used; start again.",
            redirect_uri=attempt.redirect_uri,
        )
    return _attempt_of(attempt)


def _attempt_of(attempt: ConnectAttempt) -> _Attempt:
    return _Attempt(
        attempt.id,
        attempt.platform,
        attempt.browser_digest,
        attempt.user_id,
        attempt.brand_id,
        attempt.code_verifier,
        attempt.redirect_uri,
        attempt.instance,
        attempt.state_digest,
        attempt.handoff_encrypted,
    )


async def finish(
    runtime: Runtime,
    platform: str,
    *,
    code: str | None,
    state: str | None,
    provider_error: str | None,
    browser: str | None,
    issuer: str | None = None,
) -> str:
    """Handle the network's callback; the front-end URL to land on: `?connected=<ids>` when the
    browser that started the connection came back, else `?connect_code=` for its starter. A
    pushed sign-in's callback must name the authorization server it was pushed to (`iss`)."""
    attempt = await _use_attempt(runtime, platform, state)
    if provider_error is not None or not code:
        raise ConnectFailure(
            "access_denied",
            f"The network did not connect the account ({provider_error or 'no code'}).",
            redirect_uri=attempt.redirect_uri,
        )
    handoff = attempt.handoff(runtime.settings)
    if handoff is not None and issuer != handoff.get("issuer"):
        raise ConnectFailure(
            "invalid_state",
            "The sign-in came back from another authorization server than it went to.",
            redirect_uri=attempt.redirect_uri,
        )
    same_browser = (
        browser is not None
        and attempt.browser_digest is not None
        and hmac.compare_digest(token_digest(browser), attempt.browser_digest)
    )
    if not same_browser:
        completion = await _park(runtime, attempt, code)
        return with_params(attempt.redirect_uri, connect_code=completion)
    accounts = await _connect(runtime, attempt, code)
    return with_params(attempt.redirect_uri, connected=",".join(str(a.id) for a in accounts))


async def _park(runtime: Runtime, attempt: _Attempt, code: str) -> str:
    """Hold the network's code for the connection's starter; the one-time completion code."""
    completion = new_token()
    sealed = keyring(runtime.settings).encrypt(code, associated=f"connect:{attempt.id}")
    async with session_scope(runtime) as session:
        await session.execute(
            update(ConnectAttempt)
            .where(ConnectAttempt.id == attempt.id)
            .values(
                completion_digest=token_digest(completion),
                network_code_encrypted=sealed,
                updated_at=clock.now(),
            )
            .execution_options(synchronize_session=False)
        )
    return completion


async def complete(runtime: Runtime, principal: Principal, completion: str) -> list[SocialAccount]:
    """Redeem a `connect_code` (once, within the attempt's 10 minutes): only the person who
    started the connection may; anyone else burns the code and is refused."""
    digest = token_digest(completion)
    async with session_scope(runtime) as session:
        row = await session.scalar(
            select(ConnectAttempt).where(
                ConnectAttempt.completion_digest == digest,
                ConnectAttempt.expires_at > clock.now(),
            )
        )
        attempt = _attempt_of(row) if row is not None else None
        sealed = row.network_code_encrypted if row is not None else None
        # Burnt in the same step as it is read: of two concurrent redemptions, one wins.
        burnt = await session.execute(
            update(ConnectAttempt)
            .where(ConnectAttempt.completion_digest == digest)
            .values(completion_digest=None, network_code_encrypted=None, updated_at=clock.now())
            .execution_options(synchronize_session=False)
        )
    if attempt is None or getattr(burnt, "rowcount", 0) != 1:
        raise ConnectFailure(
            "invalid_code", "This connection code is unknown, expired or already used."
        )
    if principal.user_id is None or principal.user_id != attempt.user_id:
        raise ConnectFailure(
            "forbidden", "This connection was started by someone else; start your own."
        )
    if sealed is None:
        raise ConnectFailure("invalid_code", "This connection code is unknown.")
    code = keyring(runtime.settings).decrypt(sealed, associated=f"connect:{attempt.id}")
    return await _connect(runtime, attempt, code)


async def _connect(runtime: Runtime, attempt: _Attempt, code: str) -> list[SocialAccount]:
    """Exchange the network's code and store the accounts on the attempt's brand, if its starter
    may still connect accounts there."""
    platform = attempt.platform
    provider = registry.configured_provider(runtime, platform)
    federated = instance_provider(provider)
    app = None
    if federated is not None and attempt.instance:
        async with session_scope(runtime) as session:
            app = await stored_app(session, runtime.settings, platform, attempt.instance)
    pushed = pushed_authorizer(provider)
    handoff = attempt.handoff(runtime.settings)
    try:
        if handoff is not None:
            if pushed is None or attempt.code_verifier is None:
                raise ReauthRequired("This network's OAuth is no longer configured here.")
            connections = await pushed.finish_authorization(
                handoff,
                code=code,
                redirect_uri=callback_url(runtime.settings, platform),
                code_verifier=attempt.code_verifier,
            )
        elif federated is not None and app is not None:
            connections = await federated.exchange_code_at(
                app,
                code=code,
                redirect_uri=callback_url(runtime.settings, platform),
                code_verifier=attempt.code_verifier,
            )
        else:
            connections = await provider.exchange_code(
                code=code,
                redirect_uri=callback_url(runtime.settings, platform),
                code_verifier=attempt.code_verifier,
            )
    except OutsideFailure as failure:
        raise ConnectFailure(
            _failure_code(failure), failure.message, redirect_uri=attempt.redirect_uri
        ) from failure
    if not connections:
        raise ConnectFailure(
            "no_accounts",
            "The network gave access to no account.",
            redirect_uri=attempt.redirect_uri,
        )
    async with session_scope(runtime) as session:
        brand = await session.get(Brand, attempt.brand_id)
        role = (
            await session.scalar(
                select(Membership.role).where(
                    Membership.organization_id == brand.organization_id,
                    Membership.user_id == attempt.user_id,
                )
            )
            if brand is not None
            else None
        )
        if brand is None or role is None or not allows(Role(role), Action.MANAGE_SOCIAL_ACCOUNTS):
            raise ConnectFailure(
                "forbidden",
                "You can no longer connect accounts to this brand.",
                redirect_uri=attempt.redirect_uri,
            )
        await _within_plan(
            session, runtime.settings, brand, platform, connections, attempt.redirect_uri
        )
        user = await session.get(User, attempt.user_id)
        actor = Actor.user(user) if user is not None else SYSTEM
        return [
            await _store(session, runtime.settings, brand, platform, connection, actor)
            for connection in connections
        ]


async def _within_plan(
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


def _failure_code(failure: OutsideFailure) -> str:
    if isinstance(failure, ReauthRequired):
        return "permission_missing"
    if isinstance(failure, Permanent):
        return "provider_refused"
    if isinstance(failure, Ambiguous):
        return "provider_unavailable"
    return "provider_unavailable"


async def _store(
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
