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

Its parts: `social.attempts` (the signed state, the attempt used once, the parked code),
`social.storing` (the plan's limit and the stored account) and `social.direct_connect`
(networks that connect from credentials given to T21, without a redirect).
"""

from __future__ import annotations

import hmac
import json
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit.service import SYSTEM, Actor
from t21.brands import service as brands_service
from t21.brands.models import Brand
from t21.core import clock
from t21.core.crypto import keyring
from t21.core.errors import Forbidden, UpstreamError, ValidationFailed
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
    PushedAuthorizer,
    PushedStart,
    instance_provider,
    pushed_authorizer,
)
from t21.social.attempts import (
    ATTEMPT_TTL,
    Attempt,
    ConnectFailure,
    as_problem,
    attempt_of,
    park,
    sign_state,
    use_attempt,
)
from t21.social.direct_connect import connects_with_credentials, with_credentials
from t21.social.instances import callback_url, instance_app, stored_app
from t21.social.models import ConnectAttempt, SocialAccount
from t21.social.storing import store_account, within_plan

# What the router calls on `connect`, whichever module holds it.
__all__ = [
    "ATTEMPT_TTL",
    "ConnectFailure",
    "as_problem",
    "complete",
    "connects_with_credentials",
    "finish",
    "start",
    "with_credentials",
]


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
    attempt = await use_attempt(runtime, platform, state)
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
        completion = await park(runtime, attempt, code)
        return with_params(attempt.redirect_uri, connect_code=completion)
    accounts = await _connect(runtime, attempt, code)
    return with_params(attempt.redirect_uri, connected=",".join(str(a.id) for a in accounts))


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
        attempt = attempt_of(row) if row is not None else None
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


async def _connect(runtime: Runtime, attempt: Attempt, code: str) -> list[SocialAccount]:
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
        await within_plan(
            session, runtime.settings, brand, platform, connections, attempt.redirect_uri
        )
        user = await session.get(User, attempt.user_id)
        actor = Actor.user(user) if user is not None else SYSTEM
        return [
            await store_account(session, runtime.settings, brand, platform, connection, actor)
            for connection in connections
        ]


def _failure_code(failure: OutsideFailure) -> str:
    if isinstance(failure, ReauthRequired):
        return "permission_missing"
    if isinstance(failure, Permanent):
        return "provider_refused"
    if isinstance(failure, Ambiguous):
        return "provider_unavailable"
    return "provider_unavailable"
