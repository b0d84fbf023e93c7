"""Two-factor sign-in with an authenticator app (TOTP, RFC 6238) and single-use recovery codes.

- Enrolment: `start_totp` makes a secret (shown once, as text and as an `otpauth://` URL for a QR
  code); `confirm_totp` turns it on with a first valid code and returns ten recovery codes, shown
  once and kept only as digests. Until confirmed, sign-in doesn't ask for it.
- Sign-in: a right password (or outside identity) for a user with two factors gives a challenge
  instead of a session; `verify` turns the challenge and a code into a session. A challenge lives
  `two_factor_challenge_ttl_s`, is used once, and dies after `two_factor_max_failures` wrong
  codes; the sign-in throttle counts every attempt too.
- A code is accepted once: its time step is recorded, and that step and every earlier one are
  refused afterwards (a code seen over someone's shoulder is worth nothing). A recovery code is
  marked used in the same statement that checks it, so two concurrent uses can't both pass.
- Turning the app on or off, replacing the recovery codes and spending one are written to the
  audit log of each of the user's organizations (`audit.record_for_member`), as passkeys are.

The TOTP computation is pyotp's (a well-kept implementation of RFC 4226/6238).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.core import clock
from t21.core.crypto import keyring
from t21.core.errors import Conflict, T21Error, ValidationFailed
from t21.core.security import new_token, token_digest, verify_password
from t21.core.settings import Settings
from t21.core.uow import release
from t21.identity import passkeys
from t21.identity.errors import ChallengeInvalid, InvalidSecondFactor
from t21.identity.models import (
    Passkey,
    PasskeyChallengePurpose,
    RecoveryCode,
    TotpFactor,
    TwoFactorChallenge,
    User,
)

ISSUER = "T21"
RECOVERY_CODES = 10
# Codes of the step before and after the current one are accepted (clock drift of ±30 s).
VALID_WINDOW = 1
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def _associated(user_id: uuid.UUID) -> str:
    return f"totp:{user_id}"


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _normalise_recovery_code(code: str) -> str:
    return code.strip().lower().replace(" ", "")


async def factor_of(session: AsyncSession, user_id: uuid.UUID) -> TotpFactor | None:
    factor: TotpFactor | None = await session.scalar(
        select(TotpFactor).where(TotpFactor.user_id == user_id)
    )
    return factor


async def _totp_on(session: AsyncSession, user_id: uuid.UUID) -> bool:
    factor = await factor_of(session, user_id)
    return factor is not None and factor.confirmed_at is not None


async def methods(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """The second factors `user_id` can answer a sign-in challenge with (none: one factor)."""
    found = ["totp", "recovery_code"] if await _totp_on(session, user_id) else []
    if await passkeys.has_passkey(session, user_id):
        found.append("passkey")
    return found


async def has_two_factors(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """An authenticator app or a passkey: either is a second factor."""
    return bool(await methods(session, user_id))


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_url: str


async def start_totp(session: AsyncSession, settings: Settings, user: User) -> Enrolment:
    """A new secret for the user's app; replaces an unconfirmed one. 409 once two factors are on
    (turn them off first: enrolling again must not silently replace a working app)."""
    factor = await factor_of(session, user.id)
    if factor is not None and factor.confirmed_at is not None:
        raise Conflict("Two-factor sign-in is already on; turn it off before enrolling again.")
    secret = pyotp.random_base32()
    sealed = keyring(settings).encrypt(secret, associated=_associated(user.id))
    if factor is None:
        session.add(TotpFactor(user_id=user.id, secret_encrypted=sealed))
    else:
        factor.secret_encrypted = sealed
        factor.last_used_step = None
    await session.flush()
    url = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return Enrolment(secret=secret, otpauth_url=url)


def _code_problem(message: str, field: str = "code") -> ValidationFailed:
    return ValidationFailed(message, errors=[{"loc": ["body", field], "msg": message}])


async def _accept_totp(
    session: AsyncSession, settings: Settings, factor: TotpFactor, code: str
) -> bool:
    """Whether `code` is a valid code not used before; records its step if so (atomically)."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    secret = keyring(settings).decrypt(
        factor.secret_encrypted, associated=_associated(factor.user_id)
    )
    totp = pyotp.TOTP(secret)
    now = clock.now()
    current_step = int(now.timestamp()) // totp.interval
    for offset in (0, -1, 1)[: 2 * VALID_WINDOW + 1]:
        step = current_step + offset
        if not secrets.compare_digest(totp.generate_otp(step), code):
            continue
        taken = await session.execute(
            update(TotpFactor)
            .where(
                TotpFactor.id == factor.id,
                (TotpFactor.last_used_step.is_(None)) | (TotpFactor.last_used_step < step),
            )
            .values(last_used_step=step, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return getattr(taken, "rowcount", 0) == 1
    return False


async def _new_recovery_codes(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(user_id=user_id, code_digest=token_digest(code)) for code in codes)
    await session.flush()
    return codes


async def confirm_totp(
    session: AsyncSession, settings: Settings, user: User, code: str
) -> list[str]:
    """Turn two factors on with a first valid code; the recovery codes (shown this once)."""
    factor = await factor_of(session, user.id)
    if factor is None:
        raise Conflict("Start with POST /api/v1/auth/2fa/totp to get a secret for your app.")
    if factor.confirmed_at is not None:
        raise Conflict("Two-factor sign-in is already on.")
    if not await _accept_totp(session, settings, factor, code):
        raise _code_problem("The code is wrong or has expired; enter the one your app shows now.")
    factor.confirmed_at = clock.now()
    codes = await _new_recovery_codes(session, user.id)
    await audit.record_for_member(
        session, user=user, actor=audit.Actor.user(user), action="totp.enabled"
    )
    return codes


async def _accept_recovery_code(session: AsyncSession, user_id: uuid.UUID, code: str) -> bool:
    """Spend `code` if it is one of the user's unused recovery codes (audited)."""
    used = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_digest == token_digest(_normalise_recovery_code(code)),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=clock.now(), updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:
        return False
    user = await session.get(User, user_id)
    if user is not None:
        await audit.record_for_member(
            session,
            user=user,
            actor=audit.Actor.user(user),
            action="recovery_code.used",
            details={"remaining": await remaining_recovery_codes(session, user_id)},
        )
    return True


async def second_factor_ok(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    *,
    code: str | None,
    recovery_code: str | None,
) -> bool:
    """Whether the code (or recovery code) proves the second factor; spends it if so."""
    factor = await factor_of(session, user_id)
    if factor is None or factor.confirmed_at is None:
        return False
    if code is not None:
        return await _accept_totp(session, settings, factor, code)
    if recovery_code is not None:
        return await _accept_recovery_code(session, user_id, recovery_code)
    return False


async def disable_totp(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    code: str | None,
    recovery_code: str | None,
) -> None:
    """Turn the authenticator app off, proven by a current code or an unused recovery code
    (passkeys stay, and keep two factors on)."""
    if not await _totp_on(session, user.id):
        raise Conflict("Two-factor sign-in with an authenticator app is not on.")
    if not await second_factor_ok(
        session, settings, user.id, code=code, recovery_code=recovery_code
    ):
        raise InvalidSecondFactor("The code is wrong, expired or already used.")
    await session.execute(delete(TotpFactor).where(TotpFactor.user_id == user.id))
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await audit.record_for_member(
        session,
        user=user,
        actor=audit.Actor.user(user),
        action="totp.disabled",
        details={"proof": "code" if code is not None else "recovery_code"},
    )


@dataclass(frozen=True)
class HolderProof:
    """A fresh proof that the signed-in user holds the account: one of the password, a current
    authenticator code, a recovery code or a passkey assertion (its JSON)."""

    password: str | None = None
    code: str | None = None
    recovery_code: str | None = None
    passkey: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """The name of the proof given, for an audit entry (never the proof itself)."""
        if self.password is not None:
            return "password"
        if self.passkey is not None:
            return "passkey"
        return "code" if self.code is not None else "recovery_code"


async def regenerate_recovery_codes(
    session: AsyncSession, settings: Settings, user: User, proof: HolderProof
) -> list[str] | T21Error:
    """Replace the user's recovery codes (used up, or seen by someone else) with ten new ones,
    shown this once; every old one stops working. Proven like any change to how the account
    signs in (`prove_holder`); the refusal is returned, so a spent challenge is committed. 409
    without an authenticator app (recovery codes stand in for it)."""
    if not await _totp_on(session, user.id):
        raise Conflict("Recovery codes come with an authenticator app; turn one on first.")
    refused = await prove_holder(session, settings, user, proof)
    if refused is not None:
        return refused
    codes = await _new_recovery_codes(session, user.id)
    await audit.record_for_member(
        session,
        user=user,
        actor=audit.Actor.user(user),
        action="recovery_codes.regenerated",
        details={"proof": proof.kind},
    )
    return codes


async def prove_holder(
    session: AsyncSession, settings: Settings, user: User, proof: HolderProof
) -> T21Error | None:
    """Check a fresh proof that the signed-in user holds the account (before a change that
    weakens its sign-in): None when it holds, else the refusal, returned so that a spent
    passkey challenge (or a clone's audit entry) is committed."""
    if proof.password is not None:
        # Outside any transaction: the ~0.2 s of Argon2 would hold SQLite's write lock.
        await release(session)
        ok, _upgraded = await verify_password(proof.password, user.password_hash)
        return None if ok else InvalidSecondFactor("The password is wrong.")
    if proof.passkey is not None:
        asserted = await passkeys.assert_passkey(
            session, settings, proof.passkey, PasskeyChallengePurpose.CONFIRM, user_id=user.id
        )
        return asserted if isinstance(asserted, passkeys.PasskeyRefused) else None
    if await second_factor_ok(
        session, settings, user.id, code=proof.code, recovery_code=proof.recovery_code
    ):
        return None
    return InvalidSecondFactor("The code is wrong, expired or already used.")


async def remaining_recovery_codes(session: AsyncSession, user_id: uuid.UUID) -> int:
    rows = await session.scalars(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
        )
    )
    return len(list(rows))


# --- the sign-in's second step ------------------------------------------------------------------


async def open_challenge(session: AsyncSession, settings: Settings, user: User) -> str:
    """A new single-use challenge for `user`'s second step; its token."""
    token = new_token()
    session.add(
        TwoFactorChallenge(
            user_id=user.id,
            token_digest=token_digest(token),
            expires_at=clock.now() + timedelta(seconds=settings.two_factor_challenge_ttl_s),
        )
    )
    await session.flush()
    return token


async def challenge_user(session: AsyncSession, token: str) -> User:
    """The user a live challenge belongs to (to count the attempt before checking the code)."""
    user = await session.scalar(
        select(User)
        .join(TwoFactorChallenge, TwoFactorChallenge.user_id == User.id)
        .where(
            TwoFactorChallenge.token_digest == token_digest(token),
            TwoFactorChallenge.used_at.is_(None),
            TwoFactorChallenge.expires_at > clock.now(),
        )
    )
    if user is None:
        raise ChallengeInvalid()
    return user


@dataclass(frozen=True)
class ChallengeOutcome:
    user: User | None  # the user signed in, or None when the code was wrong


async def answer_challenge(
    session: AsyncSession,
    settings: Settings,
    token: str,
    *,
    code: str | None,
    recovery_code: str | None,
    passkey: dict[str, Any] | None = None,
) -> ChallengeOutcome:
    """Check a code (or a passkey's assertion) against the challenge. Right: the challenge is
    used and the user returned. Wrong: the failure is counted (the caller commits it) and
    `user` is None. An unknown, used, expired or exhausted challenge raises `ChallengeInvalid`."""
    now = clock.now()
    challenge = await session.scalar(
        select(TwoFactorChallenge)
        .where(TwoFactorChallenge.token_digest == token_digest(token))
        .with_for_update()
    )
    if (
        challenge is None
        or challenge.used_at is not None
        or challenge.expires_at <= now
        or challenge.failures >= settings.two_factor_max_failures
    ):
        raise ChallengeInvalid()
    if passkey is not None:
        asserted = await passkeys.assert_passkey(
            session,
            settings,
            passkey,
            PasskeyChallengePurpose.SECOND_FACTOR,
            user_id=challenge.user_id,
            sign_in_id=challenge.id,
        )
        proven = isinstance(asserted, Passkey)
    else:
        proven = await second_factor_ok(
            session, settings, challenge.user_id, code=code, recovery_code=recovery_code
        )
    if proven:
        claimed = await session.execute(
            update(TwoFactorChallenge)
            .where(TwoFactorChallenge.id == challenge.id, TwoFactorChallenge.used_at.is_(None))
            .values(used_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            raise ChallengeInvalid()
        return ChallengeOutcome(user=await session.get(User, challenge.user_id))
    await session.execute(
        update(TwoFactorChallenge)
        .where(TwoFactorChallenge.id == challenge.id)
        .values(failures=TwoFactorChallenge.failures + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return ChallengeOutcome(user=None)


async def purge_challenges(session: AsyncSession, *, limit: int) -> int:
    """Delete up to `limit` challenges past their expiry."""
    ids = list(
        await session.scalars(
            select(TwoFactorChallenge.id)
            .where(TwoFactorChallenge.expires_at < clock.now() - timedelta(hours=1))
            .limit(limit)
        )
    )
    if ids:
        await session.execute(delete(TwoFactorChallenge).where(TwoFactorChallenge.id.in_(ids)))
    return len(ids)
