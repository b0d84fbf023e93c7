"""Passkeys (WebAuthn): a second factor, and a passwordless sign-in.

- Every ceremony starts with options holding a fresh random challenge. The server keeps only the
  challenge's digest, with what it may be used for (registering, a sign-in's second step, a
  passwordless sign-in, confirming a change) and by whom; the browser's signed client data
  names the challenge, which is claimed (used once, if unexpired) before anything is verified.
- The relying party id and the accepted origins come from settings (`T21_WEBAUTHN_RP_ID`,
  `T21_WEBAUTHN_ORIGINS`; by default the front end's host and origin).
- An assertion's signature counter must grow (unless the authenticator keeps none: both zero).
  A lower or equal one means the key was cloned: the sign-in is refused, logged and audited.
- A passwordless sign-in requires user verification (PIN or biometrics) and counts as two
  factors; its options name no credential, so they say nothing about which accounts exist.

Parsing and verifying the attestation and assertion objects is py_webauthn's (Duo Labs).

Source: https://www.w3.org/TR/webauthn-3/#sctn-registering-a-new-credential
Source: https://www.w3.org/TR/webauthn-3/#sctn-verifying-assertion
Source: https://github.com/duo-labs/py_webauthn
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url, options_to_json_dict
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from t21.audit import service as audit
from t21.core import clock
from t21.core.errors import Conflict, NotFound, T21Error, ValidationFailed
from t21.core.logging import get_logger
from t21.core.security import token_digest
from t21.core.settings import Settings
from t21.identity.errors import ChallengeInvalid
from t21.identity.models import (
    Passkey,
    PasskeyChallenge,
    PasskeyChallengePurpose,
    TwoFactorChallenge,
    User,
)

log = get_logger("t21.passkeys")

MAX_PASSKEYS = 20
_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}


class PasskeyRefused(T21Error):
    """A passkey assertion that doesn't prove who it claims to: unknown or removed credential,
    bad signature, wrong origin or relying party, expired or used challenge, cloned key."""

    status = 401
    code = "invalid_passkey"
    title = "Passkey refused"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _challenge_digest(challenge: bytes) -> str:
    return token_digest(bytes_to_base64url(challenge))


def _signed_challenge(credential: dict[str, Any]) -> bytes | None:
    """The challenge named in the credential's client data (checked again by the verifier)."""
    try:
        client_data = json.loads(_b64url_decode(credential["response"]["clientDataJSON"]))
        return _b64url_decode(client_data["challenge"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None


async def _open(
    session: AsyncSession,
    settings: Settings,
    purpose: PasskeyChallengePurpose,
    *,
    user_id: uuid.UUID | None = None,
    sign_in_id: uuid.UUID | None = None,
) -> bytes:
    challenge = secrets.token_bytes(32)
    session.add(
        PasskeyChallenge(
            purpose=purpose.value,
            challenge_digest=_challenge_digest(challenge),
            user_id=user_id,
            sign_in_id=sign_in_id,
            expires_at=clock.now() + timedelta(seconds=settings.webauthn_challenge_ttl_s),
        )
    )
    await session.flush()
    return challenge


async def _claim(
    session: AsyncSession,
    credential: dict[str, Any],
    purpose: PasskeyChallengePurpose,
    *,
    user_id: uuid.UUID | None = None,
    sign_in_id: uuid.UUID | None = None,
) -> bytes | None:
    """Use the credential's challenge once: it must be live, for `purpose`, and for this user
    (and sign-in). The challenge, or None when it can't be used."""
    challenge = _signed_challenge(credential)
    if challenge is None:
        return None
    now = clock.now()
    statement = update(PasskeyChallenge).where(
        PasskeyChallenge.challenge_digest == _challenge_digest(challenge),
        PasskeyChallenge.purpose == purpose.value,
        PasskeyChallenge.used_at.is_(None),
        PasskeyChallenge.expires_at > now,
    )
    if user_id is not None:
        statement = statement.where(PasskeyChallenge.user_id == user_id)
    if sign_in_id is not None:
        statement = statement.where(PasskeyChallenge.sign_in_id == sign_in_id)
    claimed = await session.execute(
        statement.values(used_at=now, updated_at=now).execution_options(synchronize_session=False)
    )
    return challenge if getattr(claimed, "rowcount", 0) == 1 else None


def _options(options: Any) -> dict[str, Any]:
    converted: dict[str, Any] = options_to_json_dict(options)
    return converted


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=_b64url_decode(passkey.credential_id),
        transports=[AuthenticatorTransport(t) for t in passkey.transports if t in _TRANSPORTS],
    )


async def passkeys_of(session: AsyncSession, user_id: uuid.UUID) -> list[Passkey]:
    return list(
        await session.scalars(
            select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at)
        )
    )


async def has_passkey(session: AsyncSession, user_id: uuid.UUID) -> bool:
    count = await session.scalar(select(func.count(Passkey.id)).where(Passkey.user_id == user_id))
    return bool(count)


async def _audit(
    session: AsyncSession, user: User, action: str, passkey: Passkey, actor: audit.Actor
) -> None:
    await audit.record_for_member(
        session,
        user=user,
        actor=actor,
        action=action,
        details={"passkey_id": str(passkey.id), "name": passkey.name},
    )


# --- registering ----------------------------------------------------------------------------


async def registration_options(
    session: AsyncSession, settings: Settings, user: User
) -> dict[str, Any]:
    """`PublicKeyCredentialCreationOptions` (JSON form) for a new passkey of `user`."""
    existing = await passkeys_of(session, user.id)
    if len(existing) >= MAX_PASSKEYS:
        raise Conflict(f"An account holds at most {MAX_PASSKEYS} passkeys; remove one first.")
    challenge = await _open(session, settings, PasskeyChallengePurpose.REGISTER, user_id=user.id)
    options = generate_registration_options(
        rp_id=settings.resolved_webauthn_rp_id,
        rp_name=settings.webauthn_rp_name,
        user_id=user.id.bytes,
        user_name=user.email,
        user_display_name=user.name,
        challenge=challenge,
        timeout=settings.webauthn_challenge_ttl_s * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(passkey) for passkey in existing],
    )
    return _options(options)


def _credential_problem(message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"loc": ["body", "credential"], "msg": message}])


async def register(
    session: AsyncSession,
    settings: Settings,
    user: User,
    credential: dict[str, Any],
    *,
    name: str | None,
) -> Passkey:
    """Verify the browser's attestation against a live registration challenge of `user` and
    keep the new credential."""
    challenge = await _claim(session, credential, PasskeyChallengePurpose.REGISTER, user_id=user.id)
    if challenge is None:
        raise _credential_problem(
            "The registration challenge is unknown, expired or used; ask for new options."
        )
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.resolved_webauthn_rp_id,
            expected_origin=settings.resolved_webauthn_origins,
        )
    except Exception as exc:  # the library raises several kinds on malformed input
        log.info("passkey.registration_refused", user_id=str(user.id), reason=str(exc)[:200])
        raise _credential_problem("The passkey could not be verified.") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    transports = credential.get("response", {}).get("transports") or []
    existing = await passkeys_of(session, user.id)
    passkey = Passkey(
        user_id=user.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name or f"Passkey {len(existing) + 1}",
        aaguid=verified.aaguid,
        transports=[t for t in transports if isinstance(t, str) and t in _TRANSPORTS],
        backed_up=verified.credential_backed_up,
    )
    if await session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)):
        raise Conflict("This passkey is already registered.")
    session.add(passkey)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("This passkey is already registered.") from None
    await _audit(session, user, "passkey.registered", passkey, audit.Actor.user(user))
    return passkey


async def remove(session: AsyncSession, user: User, passkey_id: uuid.UUID) -> None:
    """Delete one of `user`'s passkeys (the caller has checked a fresh proof)."""
    passkey = await get_passkey(session, user, passkey_id)
    await _audit(session, user, "passkey.removed", passkey, audit.Actor.user(user))
    await session.execute(delete(Passkey).where(Passkey.id == passkey.id))


async def get_passkey(session: AsyncSession, user: User, passkey_id: uuid.UUID) -> Passkey:
    passkey = await session.scalar(
        select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.id)
    )
    if passkey is None:
        raise NotFound("No such passkey.")
    return passkey


# --- asserting --------------------------------------------------------------------------------


async def _request_options(
    session: AsyncSession,
    settings: Settings,
    purpose: PasskeyChallengePurpose,
    *,
    user_id: uuid.UUID | None,
    sign_in_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    allowed = [] if user_id is None else await passkeys_of(session, user_id)
    if user_id is not None and not allowed:
        raise Conflict("This account has no passkey.")
    challenge = await _open(session, settings, purpose, user_id=user_id, sign_in_id=sign_in_id)
    options = generate_authentication_options(
        rp_id=settings.resolved_webauthn_rp_id,
        challenge=challenge,
        timeout=settings.webauthn_challenge_ttl_s * 1000,
        allow_credentials=[_descriptor(passkey) for passkey in allowed],
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if purpose is PasskeyChallengePurpose.SIGN_IN
            else UserVerificationRequirement.PREFERRED
        ),
    )
    return _options(options)


async def second_factor_options(
    session: AsyncSession, settings: Settings, sign_in_token: str
) -> dict[str, Any]:
    """Request options for the second step of a sign-in, naming that user's passkeys."""
    sign_in = await session.scalar(
        select(TwoFactorChallenge).where(
            TwoFactorChallenge.token_digest == token_digest(sign_in_token),
            TwoFactorChallenge.used_at.is_(None),
            TwoFactorChallenge.expires_at > clock.now(),
        )
    )
    if sign_in is None:
        raise ChallengeInvalid()
    return await _request_options(
        session,
        settings,
        PasskeyChallengePurpose.SECOND_FACTOR,
        user_id=sign_in.user_id,
        sign_in_id=sign_in.id,
    )


async def confirm_options(session: AsyncSession, settings: Settings, user: User) -> dict[str, Any]:
    """Request options for a signed-in user to confirm a change with one of their passkeys."""
    return await _request_options(
        session, settings, PasskeyChallengePurpose.CONFIRM, user_id=user.id
    )


async def sign_in_options(session: AsyncSession, settings: Settings) -> dict[str, Any]:
    """Request options for a passwordless sign-in: no credential named, user verification
    required (the authenticator offers the passkeys it keeps for this site)."""
    return await _request_options(session, settings, PasskeyChallengePurpose.SIGN_IN, user_id=None)


async def assert_passkey(
    session: AsyncSession,
    settings: Settings,
    credential: dict[str, Any],
    purpose: PasskeyChallengePurpose,
    *,
    user_id: uuid.UUID | None = None,
    sign_in_id: uuid.UUID | None = None,
) -> Passkey | PasskeyRefused:
    """Verify an assertion against a live challenge for `purpose`. The passkey (its counter and
    last use updated), or a refusal, returned so that the used challenge and a clone's audit
    entry are committed."""
    challenge = await _claim(session, credential, purpose, user_id=user_id, sign_in_id=sign_in_id)
    if challenge is None:
        return PasskeyRefused("The passkey challenge is unknown, expired or used; start again.")
    credential_id = credential.get("id")
    passkey = (
        await session.scalar(select(Passkey).where(Passkey.credential_id == credential_id))
        if isinstance(credential_id, str)
        else None
    )
    if passkey is None or (user_id is not None and passkey.user_id != user_id):
        return PasskeyRefused("This passkey is not registered with T21.")
    if purpose is PasskeyChallengePurpose.SIGN_IN and not _handle_matches(credential, passkey):
        return PasskeyRefused("This passkey is not registered with T21.")
    try:
        # The counter is checked below, after the signature, so that a clone is told apart
        # from a forgery (the library would refuse both alike).
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.resolved_webauthn_rp_id,
            expected_origin=settings.resolved_webauthn_origins,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=0,
            require_user_verification=purpose is PasskeyChallengePurpose.SIGN_IN,
        )
    except Exception as exc:  # the library raises several kinds on malformed input
        log.info("passkey.assertion_refused", passkey_id=str(passkey.id), reason=str(exc)[:200])
        return PasskeyRefused("The passkey could not be verified.")
    if not await _advance_counter(session, passkey, verified.new_sign_count):
        return await _clone_suspected(session, passkey, verified.new_sign_count)
    return passkey


def _handle_matches(credential: dict[str, Any], passkey: Passkey) -> bool:
    handle = credential.get("response", {}).get("userHandle")
    if not isinstance(handle, str):
        return False
    try:
        return _b64url_decode(handle) == passkey.user_id.bytes
    except (ValueError, binascii.Error):
        return False


async def _advance_counter(session: AsyncSession, passkey: Passkey, presented: int) -> bool:
    """Record the use; False when the counter didn't grow (both zero: the authenticator keeps
    none). One conditional statement, so two uses with the same counter can't both pass."""
    now = clock.now()
    statement = update(Passkey).where(Passkey.id == passkey.id)
    if presented > 0 or passkey.sign_count > 0:
        statement = statement.where(Passkey.sign_count < presented)
    advanced = await session.execute(
        statement.values(sign_count=presented, last_used_at=now, updated_at=now).execution_options(
            synchronize_session=False
        )
    )
    if getattr(advanced, "rowcount", 0) != 1:
        return False
    await session.refresh(passkey)
    return True


async def _clone_suspected(
    session: AsyncSession, passkey: Passkey, presented: int
) -> PasskeyRefused:
    log.warning(
        "passkey.clone_suspected",
        passkey_id=str(passkey.id),
        user_id=str(passkey.user_id),
        stored_sign_count=passkey.sign_count,
        presented_sign_count=presented,
    )
    user = await session.get(User, passkey.user_id)
    if user is not None:
        await _audit(session, user, "passkey.clone_suspected", passkey, audit.SYSTEM)
    return PasskeyRefused(
        "This passkey's signature counter went backwards, as a copied key's does; "
        "it was refused. Use another factor and check your devices."
    )


async def purge_challenges(session: AsyncSession, *, limit: int) -> int:
    """Delete up to `limit` passkey challenges past their expiry."""
    ids = list(
        await session.scalars(
            select(PasskeyChallenge.id)
            .where(PasskeyChallenge.expires_at < clock.now() - timedelta(hours=1))
            .limit(limit)
        )
    )
    if ids:
        await session.execute(delete(PasskeyChallenge).where(PasskeyChallenge.id.in_(ids)))
    return len(ids)
