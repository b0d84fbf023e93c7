"""`/api/v1/auth/passkeys` and `/api/v1/auth/2fa/passkey`: WebAuthn passkeys as a second factor
and as a passwordless sign-in (see `t21.identity.passkeys`)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request, Response

from t21.core.deps import AppSettings, DbSession
from t21.core.problems import problem_response
from t21.core.ratelimit import client_ip
from t21.core.routing import APIRouter
from t21.identity import passkeys, service, twofactor
from t21.identity.router import _tokens, auth_rate_limit
from t21.identity.schemas import (
    FreshProofIn,
    PasskeyListOut,
    PasskeyLoginIn,
    PasskeyOptionsIn,
    PasskeyOut,
    PasskeyRegisterIn,
    TokensOut,
)
from t21.identity.throttle import LoginThrottle
from t21.organizations.auth import CurrentUser, current_user

router = APIRouter(prefix="/auth", tags=["authentication"])

_OPTIONS_DOC = (
    "WebAuthn options in their JSON form (binary fields base64url): give them to "
    "`PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON`."
)


@router.post("/passkeys/register/options", description=_OPTIONS_DOC)
async def passkey_registration_options(
    principal: CurrentUser, session: DbSession, settings: AppSettings
) -> dict[str, Any]:
    """Options for `navigator.credentials.create()`: a new passkey for the signed-in user. The
    challenge is kept server-side, works once, and expires with the options' `timeout`."""
    user = await current_user(session, principal)
    return await passkeys.registration_options(session, settings, user)


@router.post("/passkeys/register", status_code=201, response_model=PasskeyOut)
async def register_passkey(
    body: PasskeyRegisterIn,
    request: Request,
    principal: CurrentUser,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    """Keep the credential the browser created for those options, proven by the password, a
    current code, a recovery code or a passkey assertion (as removing one is). From now on
    signing in asks for a second factor, and a passkey the authenticator keeps signs in without
    a password."""
    user = await current_user(session, principal)
    refused = await twofactor.prove_holder(session, settings, user, body.proof())
    if refused is not None:
        # Returned, not raised: a spent challenge or a clone's audit entry must be committed.
        return problem_response(refused, request_id=request.state.request_id)
    passkey = await passkeys.register(
        session, settings, user, body.credential.as_json(), name=body.name
    )
    return PasskeyOut.of(passkey)


@router.get("/passkeys")
async def list_passkeys(principal: CurrentUser, session: DbSession) -> PasskeyListOut:
    """The signed-in user's passkeys, oldest first."""
    user = await current_user(session, principal)
    items = await passkeys.passkeys_of(session, user.id)
    return PasskeyListOut(items=[PasskeyOut.of(passkey) for passkey in items])


@router.post("/passkeys/confirm/options", description=_OPTIONS_DOC)
async def passkey_confirm_options(
    principal: CurrentUser, session: DbSession, settings: AppSettings
) -> dict[str, Any]:
    """Options for `navigator.credentials.get()` naming the signed-in user's passkeys, to prove
    a change (such as removing a passkey) with one of them."""
    user = await current_user(session, principal)
    return await passkeys.confirm_options(session, settings, user)


@router.delete("/passkeys/{passkey_id}", status_code=204, response_model=None)
async def delete_passkey(
    passkey_id: uuid.UUID,
    body: FreshProofIn,
    request: Request,
    principal: CurrentUser,
    session: DbSession,
    settings: AppSettings,
) -> Response:
    """Remove a passkey, proven by the password, a current code, a recovery code or a passkey
    assertion. 404 for a passkey that isn't the caller's."""
    user = await current_user(session, principal)
    await passkeys.get_passkey(session, user, passkey_id)
    refused = await twofactor.prove_holder(session, settings, user, body.proof())
    if refused is not None:
        # Returned, not raised: a spent challenge or a clone's audit entry must be committed.
        return problem_response(refused, request_id=request.state.request_id)
    await passkeys.remove(session, user, passkey_id)
    return Response(status_code=204)


@router.post("/2fa/passkey/options", dependencies=[auth_rate_limit], description=_OPTIONS_DOC)
async def second_factor_passkey_options(
    body: PasskeyOptionsIn, session: DbSession, settings: AppSettings
) -> dict[str, Any]:
    """Options for `navigator.credentials.get()` for a sign-in's second step: the challenge
    from `POST /login` names the user, and the options name their passkeys. The assertion goes
    to `POST /2fa/verify` as `{challenge, passkey}`."""
    return await passkeys.second_factor_options(session, settings, body.challenge)


@router.post("/passkeys/login/options", dependencies=[auth_rate_limit], description=_OPTIONS_DOC)
async def passwordless_options(session: DbSession, settings: AppSettings) -> dict[str, Any]:
    """Options for a passwordless sign-in: they name no account (the authenticator offers the
    passkeys it keeps for this site) and require user verification."""
    return await passkeys.sign_in_options(session, settings)


@router.post("/passkeys/login", dependencies=[auth_rate_limit], response_model=TokensOut)
async def passwordless_sign_in(
    body: PasskeyLoginIn, request: Request, session: DbSession, settings: AppSettings
) -> Any:
    """Sign in with a passkey alone: a verified assertion (user verified) is both factors."""
    outcome = await service.sign_in_with_passkey(
        session,
        settings,
        LoginThrottle(request.app.state.rate_limiter, settings),
        credential=body.credential.as_json(),
        ip=client_ip(request.scope),
    )
    if isinstance(outcome, passkeys.PasskeyRefused):
        # Returned, not raised: the used challenge (and a clone's audit entry) must be committed.
        return problem_response(outcome, request_id=request.state.request_id)
    return _tokens(outcome)
