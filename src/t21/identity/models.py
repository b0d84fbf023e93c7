"""Accounts and what proves who someone is: password hashes, refresh-token families, one-time
tokens sent by email, linked OAuth identities, and the short-lived state of OAuth sign-ins.

Every secret here is stored as a SHA-256 digest, never as the token itself.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from t21.core.models import RecordModel, enum_column


class User(RecordModel):
    __tablename__ = "users"

    # Normalised (trimmed, lower-case) at every entry point, so uniqueness is case-insensitive.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email_verified_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # Access tokens issued before this moment are refused (sign-out everywhere, password reset).
    sessions_revoked_at: Mapped[datetime | None]
    # One of T21's operators: may sign in to the console at /admin. Set only by `t21 staff`
    # or `t21 create-user --staff`, never through the API.
    is_staff: Mapped[bool] = mapped_column(default=False, server_default=false())


class RefreshToken(RecordModel):
    """One refresh token of a login's family. Using it marks it used and issues the next one;
    presenting a used one again means it leaked, and the whole family is revoked."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_user_id_family_id", "user_id", "family_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    family_id: Mapped[uuid.UUID]
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class EmailTokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (a purpose, not a secret)


class EmailToken(RecordModel):
    """A single-use token sent by email (address verification, password reset)."""

    __tablename__ = "email_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[EmailTokenPurpose] = mapped_column(
        enum_column(EmailTokenPurpose, "email_token_purpose")
    )
    email: Mapped[str] = mapped_column(String(320))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class OAuthIdentity(RecordModel):
    """An account at Google or GitHub linked to a user."""

    __tablename__ = "oauth_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320))


class OAuthLogin(RecordModel):
    """One browser's OAuth sign-in in progress: created at the redirect to the provider, used
    once at the callback. `browser_digest` binds it to a cookie set on that browser."""

    __tablename__ = "oauth_logins"

    provider: Mapped[str] = mapped_column(String(32))
    state_digest: Mapped[str] = mapped_column(String(64), unique=True)
    browser_digest: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class LoginCode(RecordModel):
    """What the front end exchanges for tokens after an OAuth sign-in: one use, short-lived."""

    __tablename__ = "login_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class TotpFactor(RecordModel):
    """A user's authenticator app (TOTP, RFC 6238). Its secret is encrypted with the token keys;
    `last_used_step` refuses a code (or an earlier one) used once already."""

    __tablename__ = "totp_factors"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # Set when the first code proved the app holds the secret: only then does sign-in ask for it.
    confirmed_at: Mapped[datetime | None]
    last_used_step: Mapped[int | None]


class RecoveryCode(RecordModel):
    """A single-use code that stands in for the authenticator app (its digest)."""

    __tablename__ = "recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None]


class TwoFactorChallenge(RecordModel):
    """The second step of a sign-in whose password (or outside identity) was right: a single-use,
    short-lived token that a second factor turns into a session; a few wrong codes end it."""

    __tablename__ = "two_factor_challenges"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    failures: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None]


class Passkey(RecordModel):
    """A WebAuthn credential (a passkey or a security key) registered by a user: a second factor,
    and a passwordless sign-in when the authenticator keeps it (a discoverable credential).
    `sign_count` is the highest signature counter seen: a lower one means a cloned key."""

    __tablename__ = "passkeys"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The credential id as the browser sends it (base64url, at most 1023 bytes decoded).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    name: Mapped[str] = mapped_column(String(100))
    aaguid: Mapped[str] = mapped_column(String(36))
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    backed_up: Mapped[bool] = mapped_column(default=False)
    last_used_at: Mapped[datetime | None]


class PasskeyChallengePurpose(StrEnum):
    REGISTER = "register"
    SECOND_FACTOR = "second_factor"
    SIGN_IN = "sign_in"
    CONFIRM = "confirm"


class PasskeyChallenge(RecordModel):
    """A WebAuthn challenge handed out with ceremony options: found again by its digest in the
    browser's signed client data, used once, short-lived. `user_id` is the user who may answer
    it (none for a passwordless sign-in); a second factor's is bound to its sign-in challenge."""

    __tablename__ = "passkey_challenges"

    purpose: Mapped[str] = mapped_column(String(16))
    challenge_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    sign_in_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("two_factor_challenges.id", ondelete="CASCADE")
    )
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
