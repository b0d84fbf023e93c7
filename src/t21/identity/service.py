"""Accounts: registration, sign-in, sessions (refresh-token families), email verification and
password reset. Services take the session and never commit (see `core.uow`)."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.errors import BadRequest, Conflict, NotAuthenticated
from t21.core.ids import uuid7
from t21.core.principal_changes import principals_changed
from t21.core.security import (
    hash_password,
    issue_access_token,
    new_token,
    token_digest,
    verify_password,
)
from t21.core.settings import Settings
from t21.core.uow import release
from t21.identity import passkeys, twofactor
from t21.identity.errors import InvalidCredentials, InvalidSecondFactor
from t21.identity.models import (
    EmailToken,
    EmailTokenPurpose,
    PasskeyChallengePurpose,
    RefreshToken,
    User,
)
from t21.identity.passwords import check_password
from t21.identity.throttle import LoginThrottle
from t21.notifications.service import queue_email
from t21.organizations import service as organizations_service
from t21.worker.jobs import enqueue

SEND_PASSWORD_RESET_JOB = "identity.send_password_reset"  # noqa: S105 (a job name)


def normalise_email(email: str) -> str:
    """The form an address is stored and compared in: trimmed, NFKC, lower-case."""
    return unicodedata.normalize("NFKC", email).strip().lower()


@dataclass(frozen=True)
class Session:
    """What a sign-in gives the client."""

    user: User
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class SecondFactorNeeded:
    """A sign-in whose first factor was right, waiting for the second (see `twofactor`)."""

    challenge: str
    expires_in: int
    methods: list[str]


# --- registration and sign-in ------------------------------------------------------------------


async def register(
    session: AsyncSession, settings: Settings, *, email: str, password: str, name: str
) -> Session:
    """Create an account with its personal organization, send the verification email, sign in."""
    user = await create_account(session, email=email, password=password, name=name)
    await send_verification_email(session, settings, user)
    return await start_session(session, settings, user)


async def create_account(
    session: AsyncSession, *, email: str, password: str, name: str, verified: bool = False
) -> User:
    """A new account and its personal organization (an operator's `verified` one needs no email)."""
    email = normalise_email(email)
    check_password(password, email)
    password_hash = await hash_password(password)  # before the lookup: same time either way
    if await find_user(session, email) is not None:
        raise Conflict("An account with this email already exists.")
    user = User(
        email=email,
        name=name.strip(),
        password_hash=password_hash,
        email_verified_at=clock.now() if verified else None,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("An account with this email already exists.") from None
    await organizations_service.create_personal_organization(session, user)
    return user


async def find_user(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalise_email(email)))


async def authenticate(
    session: AsyncSession,
    settings: Settings,
    throttle: LoginThrottle,
    *,
    email: str,
    password: str,
    ip: str,
) -> Session | SecondFactorNeeded:
    """Sign in with a password (then a second factor, if on). Unknown email and wrong password
    get the same answer in about the same time. The attempt is counted before the password is
    checked (see `throttle`)."""
    email = normalise_email(email)
    await throttle.attempt(email, ip)
    user = await find_user(session, email)
    # The lookup's transaction ends before the ~0.2 s of Argon2: a burst of sign-ins checking
    # their passwords inside theirs held SQLite's write lock, and every other request, for seconds.
    await release(session)
    ok, upgraded_hash = await verify_password(password, user.password_hash if user else None)
    if user is None or not ok:
        raise InvalidCredentials()
    if upgraded_hash is not None:
        user.password_hash = upgraded_hash
    signed_in = await sign_in(session, settings, user)
    if isinstance(signed_in, Session):
        # With two factors the counts stay until the second one is right too: guesses of the
        # code are counted in the same buckets as guesses of the password.
        await throttle.succeeded(email, ip)
    return signed_in


async def sign_in(
    session: AsyncSession, settings: Settings, user: User
) -> Session | SecondFactorNeeded:
    """A session for a user whose identity was proven, or the second step when they have two
    factors on."""
    methods = await twofactor.methods(session, user.id)
    if methods:
        challenge = await twofactor.open_challenge(session, settings, user)
        return SecondFactorNeeded(challenge, settings.two_factor_challenge_ttl_s, methods)
    return await start_session(session, settings, user)


async def verify_second_factor(
    session: AsyncSession,
    settings: Settings,
    throttle: LoginThrottle,
    *,
    challenge: str,
    code: str | None,
    recovery_code: str | None,
    ip: str,
    passkey: dict[str, Any] | None = None,
) -> Session | InvalidSecondFactor:
    """The sign-in's second step. A wrong code is returned, not raised: the failure it counts on
    the challenge must be committed."""
    user = await twofactor.challenge_user(session, challenge)
    await throttle.attempt(user.email, ip)
    outcome = await twofactor.answer_challenge(
        session, settings, challenge, code=code, recovery_code=recovery_code, passkey=passkey
    )
    if outcome.user is None:
        if passkey is not None:
            return InvalidSecondFactor("The passkey could not be verified for this sign-in.")
        return InvalidSecondFactor("The code is wrong, expired or already used.")
    await throttle.succeeded(user.email, ip)
    return await start_session(session, settings, outcome.user)


async def sign_in_with_passkey(
    session: AsyncSession,
    settings: Settings,
    throttle: LoginThrottle,
    *,
    credential: dict[str, Any],
    ip: str,
) -> Session | passkeys.PasskeyRefused:
    """A passwordless sign-in: a verified passkey assertion (with user verification) is both
    factors. A refusal is returned so that the used challenge (and a clone's audit) commit."""
    # No account is named before the assertion is verified: the address's bucket counts it.
    await throttle.attempt_from(ip)
    outcome = await passkeys.assert_passkey(
        session, settings, credential, PasskeyChallengePurpose.SIGN_IN
    )
    if isinstance(outcome, passkeys.PasskeyRefused):
        return outcome
    user = await session.get(User, outcome.user_id)
    if user is None:
        return passkeys.PasskeyRefused("This passkey is not registered with T21.")
    return await start_session(session, settings, user)


async def start_session(session: AsyncSession, settings: Settings, user: User) -> Session:
    """A new refresh-token family and an access token for `user`."""
    user.last_login_at = clock.now()
    family_id = uuid7()
    refresh = await _issue_refresh_token(session, settings, user.id, family_id=family_id)
    access, expires_in = issue_access_token(settings, user.id, family_id)
    return Session(user=user, access_token=access, refresh_token=refresh, expires_in=expires_in)


async def _issue_refresh_token(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, *, family_id: uuid.UUID
) -> str:
    token = new_token()
    session.add(
        RefreshToken(
            user_id=user_id,
            family_id=family_id,
            token_digest=token_digest(token),
            expires_at=clock.now() + timedelta(seconds=settings.refresh_token_ttl_s),
        )
    )
    await session.flush()
    return token


# --- refresh-token rotation --------------------------------------------------------------------


class RefreshRefused(NotAuthenticated):
    """The refresh token is unknown, expired, revoked, or was already used."""

    def __init__(self, reused: bool = False) -> None:
        self.reused = reused
        super().__init__(
            "This refresh token was already used; every session of its sign-in is now ended."
            if reused
            else "The refresh token is invalid or expired; sign in again."
        )


async def refresh(
    session: AsyncSession, settings: Settings, token: str
) -> Session | RefreshRefused:
    """Exchange a refresh token for a new pair. Each token works once: presenting a used one
    revokes its whole family (someone else has it) and is refused.

    A refusal is returned, not raised, so that the revocation it may carry is committed.
    """
    now = clock.now()
    digest = token_digest(token)
    claimed = (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_digest == digest,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now, updated_at=now)
            .returning(RefreshToken.user_id, RefreshToken.family_id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if claimed is None:
        existing = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_digest == digest)
        )
        if existing is not None and existing.used_at is not None:
            await _revoke(session, RefreshToken.family_id == existing.family_id)
            return RefreshRefused(reused=True)
        return RefreshRefused()
    user = await session.get(User, claimed.user_id)
    if user is None:
        return RefreshRefused()
    new_refresh = await _issue_refresh_token(
        session, settings, user.id, family_id=claimed.family_id
    )
    access, expires_in = issue_access_token(settings, user.id, claimed.family_id)
    return Session(user=user, access_token=access, refresh_token=new_refresh, expires_in=expires_in)


async def logout(session: AsyncSession, token: str) -> None:
    """End the sign-in this refresh token belongs to (all of its family, and the access tokens
    issued to it: see `organizations.auth`)."""
    existing = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_digest == token_digest(token))
    )
    if existing is not None:
        await _revoke(session, RefreshToken.family_id == existing.family_id)


async def logout_everywhere(session: AsyncSession, user: User) -> None:
    """End every session of `user`: refresh tokens are revoked and access tokens issued until
    now stop working."""
    await _revoke(session, RefreshToken.user_id == user.id)
    user.sessions_revoked_at = clock.now()
    await session.flush()


async def end_sign_in(session: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID) -> None:
    """End one sign-in: its refresh-token family, and the access tokens issued to it."""
    await _revoke(
        session, (RefreshToken.user_id == user_id) & (RefreshToken.family_id == family_id)
    )


async def _revoke(session: AsyncSession, condition: object) -> None:
    """Revoke the live refresh tokens matching `condition`; their sign-ins' access tokens stop
    too, in every process, once this commits (cached principals are dropped)."""
    now = clock.now()
    revoked = await session.scalars(
        update(RefreshToken)
        .where(condition, RefreshToken.revoked_at.is_(None))  # type: ignore[arg-type]
        .values(revoked_at=now, updated_at=now)
        .returning(RefreshToken.user_id)
        .execution_options(synchronize_session=False)
    )
    principals_changed(session, users=set(revoked))


# --- email verification and password reset ------------------------------------------------------


async def _new_email_token(
    session: AsyncSession,
    user: User,
    purpose: EmailTokenPurpose,
    ttl_s: int,
    *,
    email: str | None = None,
) -> str:
    """A single-use link token for `email` (default: the account's address)."""
    token = new_token()
    session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            email=email or user.email,
            token_digest=token_digest(token),
            expires_at=clock.now() + timedelta(seconds=ttl_s),
        )
    )
    await session.flush()
    return token


async def send_verification_email(session: AsyncSession, settings: Settings, user: User) -> None:
    token = await _new_email_token(
        session, user, EmailTokenPurpose.VERIFY_EMAIL, settings.email_verification_ttl_s
    )
    await queue_email(
        session,
        settings,
        to=user.email,
        template="verify_email",
        context={
            "name": user.name,
            "link": f"{settings.resolved_frontend_url}/verify-email?token={token}",
            "expires_in_s": settings.email_verification_ttl_s,
        },
    )


_UNUSABLE_LINK = "This link is invalid, expired or already used."


def _usable_email_token(
    token: str, purpose: EmailTokenPurpose, now: datetime
) -> tuple[ColumnElement[bool], ...]:
    return (
        EmailToken.token_digest == token_digest(token),
        EmailToken.purpose == purpose,
        EmailToken.used_at.is_(None),
        EmailToken.expires_at > now,
    )


async def _use_email_token(
    session: AsyncSession, token: str, purpose: EmailTokenPurpose, *, other_address: bool = False
) -> tuple[EmailToken, User]:
    """Use a link token once. It must name the account's current address, unless
    `other_address` (a verification link sent to the new address of an email change)."""
    now = clock.now()
    row = (
        await session.execute(
            update(EmailToken)
            .where(*_usable_email_token(token, purpose, now))
            .values(used_at=now, updated_at=now)
            .returning(EmailToken.id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if row is None:
        raise BadRequest(_UNUSABLE_LINK)
    email_token = await session.get(EmailToken, row.id)
    assert email_token is not None
    user = await session.get(User, email_token.user_id)
    if user is None or (user.email != email_token.email and not other_address):
        raise BadRequest(_UNUSABLE_LINK)
    return email_token, user


async def verify_email(session: AsyncSession, settings: Settings, token: str) -> User:
    """Follow a verification link. One sent to another address than the account's was sent by
    an email change (`PATCH /auth/me`): following it moves the account to that address."""
    email_token, user = await _use_email_token(
        session, token, EmailTokenPurpose.VERIFY_EMAIL, other_address=True
    )
    if email_token.email != user.email:
        from t21.identity.account import apply_email_change

        await apply_email_change(session, settings, user, email_token.email)
        return user
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
    await session.flush()
    return user


def request_password_reset(email: str) -> None:
    """Ask for a reset link. The lookup happens in a job, so the answer is the same, in the same
    time, whether or not the account exists."""
    enqueue(SEND_PASSWORD_RESET_JOB, email=normalise_email(email))


async def send_password_reset(session: AsyncSession, settings: Settings, email: str) -> bool:
    """Email a reset link if the account exists; whether one was sent."""
    user = await find_user(session, email)
    if user is None:
        return False
    token = await _new_email_token(
        session, user, EmailTokenPurpose.RESET_PASSWORD, settings.password_reset_ttl_s
    )
    await queue_email(
        session,
        settings,
        to=user.email,
        template="reset_password",
        context={
            "name": user.name,
            "link": f"{settings.resolved_frontend_url}/reset-password?token={token}",
            "expires_in_s": settings.password_reset_ttl_s,
        },
    )
    return True


async def reset_password(session: AsyncSession, token: str, password: str) -> User:
    """Set a new password with a reset link; every session of the account ends."""
    # The link is looked at, not used, before the ~0.2 s of Argon2, which runs outside any
    # transaction (see `authenticate`); it is used once the hash is ready.
    email = await session.scalar(
        select(User.email)
        .join(EmailToken, EmailToken.user_id == User.id)
        .where(
            *_usable_email_token(token, EmailTokenPurpose.RESET_PASSWORD, clock.now()),
            EmailToken.email == User.email,
        )
    )
    if email is None:
        raise BadRequest(_UNUSABLE_LINK)
    check_password(password, email)
    await release(session)
    password_hash = await hash_password(password)
    # Used by then (a second reset racing this one) or moved to another address: refused.
    _token, user = await _use_email_token(session, token, EmailTokenPurpose.RESET_PASSWORD)
    user.password_hash = password_hash
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()  # the link reached the inbox: the address works
    await logout_everywhere(session, user)
    return user
