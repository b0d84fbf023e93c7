"""Secrets handling: password hashes, access tokens (JWT), opaque tokens stored as hashes.

- Passwords: Argon2id through pwdlib; bcrypt hashes (imports) still verify and are re-hashed.
  One lane per hash (RFC 9106's 64 MiB and three passes, `p=1`) on a pool of half the cores the
  process may run on: a burst of sign-ins queues for that pool and leaves the other cores to the
  rest of the API (with argon2's four lanes, ten sign-ins at once held both cores of a 2-core
  server for 2 s). The pool's threads run at a lower scheduling priority (Linux: nice +10), so
  where a core is shared — a one-core server, or cores busy with requests — the hashes take the
  CPU the requests leave, and a burst of sign-ins waits longer instead of every request. Hashes
  of other parameters still verify and are re-hashed at the next sign-in.
- Access tokens: HS256 JWTs with a `kid` naming the key, `typ` "at+jwt" (RFC 9068), `iss` and
  `aud` checked, the algorithm pinned. Keys derive from `T21_SECRET_KEY`; the keys derived from
  `T21_PREVIOUS_SECRET_KEYS` still verify, so the secret can rotate without logging anyone out.
- Opaque tokens (refresh tokens, links in emails, API keys): 256 random bits, stored only as a
  SHA-256 digest, compared in constant time by looking the digest up.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from t21.core import clock
from t21.core.settings import Settings

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a JWT type, not a secret)
JWT_ALGORITHM = "HS256"
ISSUER = "t21"
CLOCK_LEEWAY = timedelta(seconds=5)
AUDIENCE = "t21-api"

ARGON2 = Argon2Hasher(time_cost=3, memory_cost=64 * 1024, parallelism=1)
_password_hash = PasswordHash((ARGON2, BcryptHasher()))
# Verified against when the account doesn't exist, so both answers take as long.
_DUMMY_HASH = _password_hash.hash("t21-dummy-password-for-constant-time")
# Password hashes run here, at most this many at once (each on one core); the rest wait their turn.
# The cores counted are those this process may run on (a container's CPU set, `taskset`), not the
# machine's.
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
PASSWORD_HASHING_THREADS = max(1, (_CORES or 2) // 2)
# How much lower than the process the hashing threads are scheduled (a nice increment).
PASSWORD_HASHING_NICENESS = 10


def _lower_priority() -> None:
    """Run this (hashing) thread at a lower priority than the requests. Linux schedules threads
    on their own, and setting a thread's priority by its id lowers that thread alone; elsewhere
    (where that id would not name a thread) the hashes keep the process's priority."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + PASSWORD_HASHING_NICENESS))
    except OSError:
        return  # not allowed here: the hashes run at the process's priority


_hashing = ThreadPoolExecutor(
    PASSWORD_HASHING_THREADS, thread_name_prefix="t21-password", initializer=_lower_priority
)


# --- passwords ---------------------------------------------------------------------------------


async def hash_password(password: str) -> str:
    """The Argon2id hash of `password`, computed on the hashing pool (~0.2 s of one core)."""
    return await asyncio.get_running_loop().run_in_executor(_hashing, _hash, password)


async def verify_password(password: str, stored: str | None) -> tuple[bool, str | None]:
    """See `check_password`; computed on the hashing pool."""
    return await asyncio.get_running_loop().run_in_executor(
        _hashing, check_password, password, stored
    )


def _hash(password: str) -> str:
    # Looked up at call time: the tests swap in a cheaper hasher.
    return _password_hash.hash(password)


def check_password(password: str, stored: str | None) -> tuple[bool, str | None]:
    """Whether `password` matches; and a new hash when the stored one should be upgraded.

    With no stored hash (unknown account, or one that only signs in through OAuth) a dummy hash
    is checked anyway, so the time taken doesn't tell whether the account exists.
    """
    if stored is None:
        _password_hash.verify(password, _DUMMY_HASH)
        return False, None
    try:
        return _password_hash.verify_and_update(password, stored)
    except Exception:
        # An unreadable stored hash is a wrong password, never a crash.
        return False, None


# --- opaque tokens -----------------------------------------------------------------------------


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of an opaque token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- access tokens -----------------------------------------------------------------------------


class InvalidToken(Exception):
    """The token is not one of ours (bad signature, key, type, issuer, audience or shape)."""


class ExpiredToken(InvalidToken):
    pass


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: bytes


@lru_cache(maxsize=32)
def _derive(secret: str) -> SigningKey:
    key = hmac.new(secret.encode(), b"t21 access tokens v1", hashlib.sha256).digest()
    return SigningKey(kid=hashlib.sha256(key).hexdigest()[:16], secret=key)


def signing_key(settings: Settings) -> SigningKey:
    return _derive(settings.secret())


def verification_keys(settings: Settings) -> dict[str, SigningKey]:
    keys = [signing_key(settings)]
    keys += [_derive(old.get_secret_value()) for old in settings.previous_secret_keys]
    return {key.kid: key for key in keys}


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    issued_at: datetime
    expires_at: datetime
    token_id: str
    # The sign-in (refresh-token family) the token was issued to: ending that sign-in ends
    # its access tokens too. None for a token not tied to one.
    session_id: uuid.UUID | None = None


def issue_access_token(
    settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID | None = None
) -> tuple[str, int]:
    """A signed access token for `user_id` (of the sign-in `session_id`) and its lifetime in
    seconds."""
    key = signing_key(settings)
    now = clock.now()
    ttl = settings.access_token_ttl_s
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        # Sub-second precision: a session ended at 12:00:00.4 refuses a token of 12:00:00.3.
        "iat": round(now.timestamp(), 6),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    if session_id is not None:
        claims["sid"] = str(session_id)
    token = jwt.encode(
        claims,
        key.secret,
        algorithm=JWT_ALGORITHM,
        headers={"kid": key.kid, "typ": ACCESS_TOKEN_TYPE},
    )
    return token, ttl


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """Verify `token` and return its claims; raises `ExpiredToken` or `InvalidToken`."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("malformed token") from exc
    if header.get("alg") != JWT_ALGORITHM:
        raise InvalidToken("unexpected algorithm")
    if header.get("typ") != ACCESS_TOKEN_TYPE:
        raise InvalidToken("not an access token")
    key = verification_keys(settings).get(str(header.get("kid")))
    if key is None:
        raise InvalidToken("unknown key")
    try:
        claims = jwt.decode(
            token,
            key.secret,
            algorithms=[JWT_ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            # Time is checked below against `core.clock`, like every other expiry in T21.
            options={
                "require": ["exp", "iat", "sub", "iss", "aud"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
        user_id = uuid.UUID(str(claims["sub"]))
        issued_at = datetime.fromtimestamp(float(claims["iat"]), tz=UTC)
        expires_at = datetime.fromtimestamp(float(claims["exp"]), tz=UTC)
        session_id = uuid.UUID(str(claims["sid"])) if "sid" in claims else None
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
        raise InvalidToken("invalid token") from exc
    now = clock.now()
    if expires_at + CLOCK_LEEWAY <= now:
        raise ExpiredToken("expired")
    if issued_at - CLOCK_LEEWAY > now:
        raise InvalidToken("issued in the future")
    return AccessClaims(
        user_id=user_id,
        issued_at=issued_at,
        expires_at=expires_at,
        token_id=str(claims.get("jti", "")),
        session_id=session_id,
    )


def peek_access_subject(settings: Settings, token: str) -> uuid.UUID | None:
    """The user of a valid access token, or None (never raises)."""
    try:
        return decode_access_token(settings, token).user_id
    except InvalidToken:
        return None
