"""`/api/v1/auth`: accounts, sessions, email verification, password reset, OAuth sign-in."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Cookie, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from t21.core.deps import AppSettings, DbSession
from t21.core.errors import BadRequest, T21Error
from t21.core.problems import problem_response
from t21.core.ratelimit import RateLimit, client_ip
from t21.core.redirects import with_params
from t21.core.routing import APIRouter, model_json
from t21.core.security import decode_access_token
from t21.identity import account, oauth, service, twofactor
from t21.identity.errors import InvalidSecondFactor
from t21.identity.schemas import (
    ChangePasswordIn,
    DeleteAccountIn,
    EmailIn,
    FreshProofIn,
    LoginCodeIn,
    LoginIn,
    MeOut,
    MessageOut,
    ProfileIn,
    ProfileOut,
    RecoveryCodesOut,
    RefreshIn,
    RegisterIn,
    ResetPasswordIn,
    SecondFactorIn,
    TokenIn,
    TokensOut,
    TotpCodeIn,
    TotpEnrolmentOut,
    TwoFactorRequiredOut,
    TwoFactorVerifyIn,
    UserOut,
)
from t21.identity.throttle import LoginThrottle
from t21.organizations.auth import CurrentUser, current_user

router = APIRouter(prefix="/auth", tags=["authentication"])

# Unauthenticated endpoints that cost a password hash or send email: metered per IP.
auth_rate_limit = Depends(
    RateLimit(lambda settings: settings.rate_limit_auth_per_ip, key="ip", scope="auth")
)
# New accounts per IP: a real person makes one or two; a script making hundreds is refused.
registration_rate_limit = Depends(
    RateLimit(lambda settings: settings.registrations_per_ip, key="ip", scope="auth.register")
)
OAUTH_COOKIE = "t21_oauth_browser"


def _signed_in(
    outcome: service.Session | service.SecondFactorNeeded,
) -> TokensOut | TwoFactorRequiredOut:
    if isinstance(outcome, service.SecondFactorNeeded):
        return TwoFactorRequiredOut(
            challenge=outcome.challenge,
            expires_in=outcome.expires_in,
            methods=outcome.methods,  # type: ignore[arg-type]
        )
    return _tokens(outcome)


def _tokens(signed_in: service.Session) -> TokensOut:
    return TokensOut(
        user=UserOut.of(signed_in.user),
        access_token=signed_in.access_token,
        refresh_token=signed_in.refresh_token,
        expires_in=signed_in.expires_in,
    )


# First of the router's routes: FastAPI tries them in order (twice a request, ~1.5 µs a try),
# and apps call this one on every start, far more often than any other of them.
@router.get("/me", response_model=MeOut)
async def me(principal: CurrentUser, request: Request) -> Response:
    # Its one statement on a connection taken for it (`core.uow.read_rows`), not through a
    # session dependency: FastAPI runs a generator dependency in an exit stack with a cancel
    # scope and a shielded exit, which cost about as much as the statement itself. Its answer
    # written at once (`model_json`); `response_model` gives the document its schema.
    out = await account.me(request.app.state.runtime, principal)
    return Response(model_json(out), media_type="application/json")


@router.post("/register", status_code=201, dependencies=[auth_rate_limit, registration_rate_limit])
async def register(body: RegisterIn, session: DbSession, settings: AppSettings) -> TokensOut:
    """Create an account and its personal organization; a verification email is sent."""
    signed_in = await service.register(
        session, settings, email=body.email, password=body.password, name=body.name
    )
    return _tokens(signed_in)


@router.post("/login", dependencies=[auth_rate_limit])
async def login(
    body: LoginIn, request: Request, session: DbSession, settings: AppSettings
) -> TokensOut | TwoFactorRequiredOut:
    """Sign in with email and password. With two factors on, the answer is a challenge for
    `POST /api/v1/auth/2fa/verify` instead of tokens."""
    throttle = LoginThrottle(request.app.state.rate_limiter, settings)
    signed_in = await service.authenticate(
        session,
        settings,
        throttle,
        email=body.email,
        password=body.password,
        ip=client_ip(request.scope),
    )
    return _signed_in(signed_in)


@router.post("/2fa/verify", dependencies=[auth_rate_limit], response_model=TokensOut)
async def verify_second_factor(
    body: TwoFactorVerifyIn, request: Request, session: DbSession, settings: AppSettings
) -> Any:
    """The sign-in's second step: the challenge and a current code, a recovery code, or a
    passkey's assertion (for the options of `POST /2fa/passkey/options`)."""
    outcome = await service.verify_second_factor(
        session,
        settings,
        LoginThrottle(request.app.state.rate_limiter, settings),
        challenge=body.challenge,
        code=body.code,
        recovery_code=body.recovery_code,
        passkey=body.passkey.as_json() if body.passkey is not None else None,
        ip=client_ip(request.scope),
    )
    if isinstance(outcome, InvalidSecondFactor):
        # Returned, not raised: the failure counted on the challenge must be committed.
        return problem_response(outcome, request_id=request.state.request_id)
    return _tokens(outcome)


@router.post("/2fa/totp", status_code=201)
async def start_totp(
    principal: CurrentUser, session: DbSession, settings: AppSettings
) -> TotpEnrolmentOut:
    """Start enrolling an authenticator app: a new secret (shown once). Two factors are on once
    `POST /2fa/totp/confirm` gets a first code."""
    user = await current_user(session, principal)
    enrolment = await twofactor.start_totp(session, settings, user)
    return TotpEnrolmentOut(secret=enrolment.secret, otpauth_url=enrolment.otpauth_url)


@router.post("/2fa/totp/confirm")
async def confirm_totp(
    body: TotpCodeIn, principal: CurrentUser, session: DbSession, settings: AppSettings
) -> RecoveryCodesOut:
    """Turn two-factor sign-in on with the code the app shows; ten recovery codes (shown once)."""
    user = await current_user(session, principal)
    codes = await twofactor.confirm_totp(session, settings, user, body.code)
    return RecoveryCodesOut(recovery_codes=codes)


@router.delete("/2fa/totp", status_code=204)
async def disable_totp(
    body: SecondFactorIn, principal: CurrentUser, session: DbSession, settings: AppSettings
) -> Response:
    """Turn two-factor sign-in off, with a current code or a recovery code."""
    user = await current_user(session, principal)
    await twofactor.disable_totp(
        session, settings, user, code=body.code, recovery_code=body.recovery_code
    )
    return Response(status_code=204)


@router.post("/2fa/recovery-codes", response_model=RecoveryCodesOut)
async def regenerate_recovery_codes(
    body: FreshProofIn,
    request: Request,
    principal: CurrentUser,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    """Ten new recovery codes (shown once) in place of the old ones, which stop working; proven
    by the password, a current code, a recovery code or a passkey assertion. 409 without an
    authenticator app."""
    user = await current_user(session, principal)
    outcome = await twofactor.regenerate_recovery_codes(session, settings, user, body.proof())
    if isinstance(outcome, T21Error):
        # Returned, not raised: a spent passkey challenge (or a clone's audit entry) must be
        # committed.
        return problem_response(outcome, request_id=request.state.request_id)
    return RecoveryCodesOut(recovery_codes=outcome)


@router.post("/refresh", dependencies=[auth_rate_limit], response_model=TokensOut)
async def refresh(
    body: RefreshIn, request: Request, session: DbSession, settings: AppSettings
) -> Any:
    """A new token pair. Each refresh token works once; a reused one ends its whole sign-in."""
    outcome = await service.refresh(session, settings, body.refresh_token)
    if isinstance(outcome, service.RefreshRefused):
        # Returned, not raised: the revocation a reuse triggers must be committed.
        return problem_response(outcome, request_id=request.state.request_id)
    return _tokens(outcome)


@router.post("/logout", status_code=204, dependencies=[auth_rate_limit])
async def logout(body: RefreshIn, session: DbSession) -> Response:
    """End the sign-in of this refresh token. Always 204."""
    await service.logout(session, body.refresh_token)
    return Response(status_code=204)


@router.post("/logout-all", status_code=204)
async def logout_all(principal: CurrentUser, session: DbSession) -> Response:
    """End every session of the signed-in user, on every device."""
    await service.logout_everywhere(session, await current_user(session, principal))
    return Response(status_code=204)


@router.patch("/me")
async def update_me(
    body: ProfileIn, principal: CurrentUser, session: DbSession, settings: AppSettings
) -> ProfileOut:
    """Change one's name (now) or email: the new address gets a verification link, and the
    account's email changes when it is followed (`pending_email` until then)."""
    user = await current_user(session, principal)
    await account.update_profile(session, settings, user, name=body.name, email=body.email)
    view = await account.signed_in(await session.connection(), principal)
    return ProfileOut(**view.model_dump(), pending_email=await account.pending_email(session, user))


@router.post("/change-password", status_code=204)
async def change_password(
    body: ChangePasswordIn,
    request: Request,
    principal: CurrentUser,
    session: DbSession,
    settings: AppSettings,
) -> Response:
    """Set a new password with the current one; every other session of the account ends."""
    await account.change_password(
        session,
        await current_user(session, principal),
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session=_session_of(request, settings),
    )
    return Response(status_code=204)


@router.delete("/me", status_code=204)
async def delete_me(body: DeleteAccountIn, principal: CurrentUser, session: DbSession) -> Response:
    """Delete one's account and the organizations no one else is in. 409 while one is the
    last owner of an organization with other members or a live subscription."""
    await account.delete_account(
        session, await current_user(session, principal), password=body.password
    )
    return Response(status_code=204)


@router.get("/me/export")
async def export_me(principal: CurrentUser, session: DbSession) -> dict[str, Any]:
    """Everything T21 holds about the signed-in user, as JSON (GDPR access request)."""
    return await account.export(session, await current_user(session, principal))


def _session_of(request: Request, settings: AppSettings) -> uuid.UUID | None:
    """The sign-in (refresh-token family) of the request's access token."""
    _scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return decode_access_token(settings, token.strip()).session_id


@router.post("/verify-email", dependencies=[auth_rate_limit])
async def verify_email(body: TokenIn, session: DbSession, settings: AppSettings) -> UserOut:
    """Follow a verification link; one that confirms an email change also tells the old
    address, in case the change wasn't its owner's doing."""
    return UserOut.of(await service.verify_email(session, settings, body.token))


@router.post("/verify-email/resend", status_code=202)
async def resend_verification(
    principal: CurrentUser, session: DbSession, settings: AppSettings
) -> MessageOut:
    """Send the verification email again (no-op when the address is already verified)."""
    user = await current_user(session, principal)
    if user.email_verified_at is None:
        await service.send_verification_email(session, settings, user)
    return MessageOut(message="If the address still needs verifying, an email is on its way.")


@router.post("/forgot-password", status_code=202, dependencies=[auth_rate_limit])
async def forgot_password(body: EmailIn, session: DbSession) -> MessageOut:
    """Always 202: whether the account exists is never revealed."""
    service.request_password_reset(body.email)
    return MessageOut(message="If an account has this address, a reset link is on its way.")


@router.post("/reset-password", dependencies=[auth_rate_limit])
async def reset_password(body: ResetPasswordIn, session: DbSession) -> MessageOut:
    """Set a new password with a reset link; every session of the account ends."""
    await service.reset_password(session, body.token, body.password)
    return MessageOut(message="Your password is changed; sign in again.")


# --- OAuth ------------------------------------------------------------------------------------


def _callback_url(settings: AppSettings, provider_name: str) -> str:
    return f"{settings.resolved_public_url}/api/v1/auth/oauth/{provider_name}/callback"


def _provider(request: Request, settings: AppSettings, provider_name: str) -> oauth.Provider:
    sandbox_url = settings.sandbox_url or request.app.state.runtime.state.get("sandbox_url")
    return oauth.provider(settings, provider_name, sandbox_url)


@router.get("/oauth/{provider_name}", status_code=302, dependencies=[auth_rate_limit])
async def oauth_start(
    provider_name: str,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    redirect_uri: Annotated[str | None, Query(max_length=2048)] = None,
) -> RedirectResponse:
    """Send the browser to Google or GitHub. `redirect_uri` (default: the front end) is where it
    comes back with `?login_code=` or `?error=`; it must be on the allow-list."""
    config = _provider(request, settings, provider_name)
    target = redirect_uri or settings.resolved_frontend_url
    url, browser = await oauth.begin(
        session,
        settings,
        config,
        redirect_uri=target,
        callback_url=_callback_url(settings, provider_name),
    )
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        OAUTH_COOKIE,
        browser,
        max_age=settings.oauth_state_ttl_s,
        httponly=True,
        secure=settings.resolved_public_url.startswith("https://"),
        samesite="lax",
        path="/api/v1/auth/oauth",
    )
    return response


@router.get("/oauth/{provider_name}/callback", status_code=302, response_model=None)
async def oauth_callback(
    provider_name: str,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    browser: Annotated[str | None, Cookie(alias=OAUTH_COOKIE)] = None,
) -> Response:
    """Where the provider sends the browser back; it continues to the front end."""
    config = _provider(request, settings, provider_name)
    try:
        target = await oauth.complete(
            session,
            settings,
            config,
            code=code,
            state=state,
            browser=browser,
            provider_error=error,
            callback_url=_callback_url(settings, provider_name),
        )
    except oauth.OAuthFailure as failure:
        # Answered, not raised: the sign-in stays used even though it failed.
        if failure.redirect_uri is None:
            return problem_response(
                BadRequest(failure.message), request_id=request.state.request_id
            )
        target = with_params(failure.redirect_uri, error=failure.code)
    response = RedirectResponse(target, status_code=302)
    response.delete_cookie(OAUTH_COOKIE, path="/api/v1/auth/oauth")
    return response


@router.post("/oauth/exchange", dependencies=[auth_rate_limit])
async def oauth_exchange(
    body: LoginCodeIn, session: DbSession, settings: AppSettings
) -> TokensOut | TwoFactorRequiredOut:
    """Trade the one-time `login_code` from the OAuth redirect for tokens (or, with two factors
    on, for a challenge like the password sign-in's)."""
    return _signed_in(await oauth.exchange_login_code(session, settings, body.login_code))
