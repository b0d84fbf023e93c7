"""Staff sessions of the console: a signed cookie, checked against the database on every request,
and the CSRF tokens of its forms.

The cookie is a JWT (HS256, a key derived from the secret for this purpose only, so an API access
token is no console session and the other way round) naming the user and the sign-in
(refresh-token family) it came from. Each request reloads the user: a staff flag revoked, every
session ended (`logout-all`, a password reset) or this sign-in ended stops the cookie at once.

CSRF: every form carries a token that is an HMAC of the sign-in's id (synchroniser token); the
sign-in form, before there is a session, carries the value of a random cookie (double submit).
The cookies are also `SameSite=Strict`, so a cross-site form never carries them anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.security import AccessClaims
from t21.core.settings import Settings
from t21.identity.models import User
from t21.organizations.auth import user_and_session_state

SESSION_COOKIE = "t21_admin"
FORM_COOKIE = "t21_admin_form"
COOKIE_PATH = "/admin"
SESSION_TTL = timedelta(hours=8)
_AUDIENCE = "t21-admin"
_ALGORITHM = "HS256"


def _key(settings: Settings, purpose: bytes) -> bytes:
    return hmac.new(settings.secret().encode(), b"t21 admin " + purpose, hashlib.sha256).digest()


def issue(settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
    """The cookie's value for a staff member's new sign-in."""
    now = clock.now()
    claims: dict[str, Any] = {
        "aud": _AUDIENCE,
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": round(now.timestamp(), 6),
        "exp": int((now + SESSION_TTL).timestamp()),
    }
    return jwt.encode(claims, _key(settings, b"sessions v1"), algorithm=_ALGORITHM)


@dataclass(frozen=True)
class StaffSession:
    user: User
    session_id: uuid.UUID

    def csrf_token(self, settings: Settings) -> str:
        return csrf_token(settings, self.session_id)


def _claims(settings: Settings, value: str) -> AccessClaims | None:
    try:
        claims = jwt.decode(
            value,
            _key(settings, b"sessions v1"),
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["exp", "iat", "sub", "sid", "aud"], "verify_exp": False},
        )
        issued_at = datetime.fromtimestamp(float(claims["iat"]), tz=UTC)
        expires_at = datetime.fromtimestamp(float(claims["exp"]), tz=UTC)
        user_id = uuid.UUID(str(claims["sub"]))
        session_id = uuid.UUID(str(claims["sid"]))
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
        return None
    if expires_at <= clock.now():
        return None
    return AccessClaims(user_id, issued_at, expires_at, "", session_id)


async def load(session: AsyncSession, settings: Settings, value: str | None) -> StaffSession | None:
    """The staff member signed in by this cookie, or None (no cookie, forged, expired, ended, or
    no longer staff)."""
    if not value:
        return None
    claims = _claims(settings, value)
    if claims is None or claims.session_id is None:
        return None
    user, ended, _two_factor = await user_and_session_state(session, claims)
    if user is None or ended or not user.is_staff:
        return None
    if user.sessions_revoked_at is not None and claims.issued_at < user.sessions_revoked_at:
        return None
    return StaffSession(user=user, session_id=claims.session_id)


def csrf_token(settings: Settings, session_id: uuid.UUID) -> str:
    message = b"csrf " + str(session_id).encode()
    return hmac.new(_key(settings, b"csrf v1"), message, hashlib.sha256).hexdigest()


def new_form_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time equality of two tokens, both present."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
