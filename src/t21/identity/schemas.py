"""What the authentication endpoints take and give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from t21.identity.models import User
from t21.organizations.schemas import MembershipOut

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Length rules are checked by the password policy, which names the problem precisely.
Password = Annotated[str, Field(min_length=1, max_length=1024)]
Token = Annotated[str, Field(min_length=1, max_length=512)]


class RegisterIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"email": "ada@example.com", "password": "correct horse 42", "name": "Ada"}
            ]
        },
    )
    email: EmailStr
    password: Password
    name: Name


class LoginIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "password": "correct horse 42"}]
        },
    )
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Password


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: Token


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Token


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Annotated[str, Field(min_length=1, max_length=320)]


class ResetPasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Token
    password: Password


class LoginCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login_code: Token


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    email_verified: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            email_verified=user.email_verified_at is not None,
            created_at=user.created_at,
        )


class TokensOut(BaseModel):
    user: UserOut
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth token type)
    expires_in: int = Field(description="Seconds until the access token expires.")


class MeOut(UserOut):
    memberships: list[MembershipOut]


class MessageOut(BaseModel):
    message: str


class TwoFactorRequiredOut(BaseModel):
    """The answer to a right password (or outside sign-in) when two factors are on: send
    `challenge` with a code to `POST /api/v1/auth/2fa/verify`."""

    two_factor_required: Literal[True] = True
    challenge: str
    expires_in: int = Field(description="Seconds the challenge stays usable.")
    methods: list[Literal["totp", "recovery_code"]] = ["totp", "recovery_code"]


Code = Annotated[
    str, Field(min_length=1, max_length=16, description="The 6 digits your app shows.")
]
RecoveryCodeText = Annotated[
    str, Field(min_length=1, max_length=32, description="One of your single-use recovery codes.")
]


class SecondFactorIn(BaseModel):
    """A current authenticator code, or one recovery code."""

    model_config = ConfigDict(extra="forbid")
    code: Code | None = None
    recovery_code: RecoveryCodeText | None = None

    @model_validator(mode="after")
    def _one_proof(self) -> SecondFactorIn:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("send either `code` or `recovery_code`")
        return self


class TwoFactorVerifyIn(SecondFactorIn):
    challenge: Token


class TotpEnrolmentOut(BaseModel):
    secret: str = Field(description="Base32, for typing into the app; shown this once.")
    otpauth_url: str = Field(description="The same as an `otpauth://` URL, for a QR code.")


class TotpCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(description="Ten single-use codes; shown this once.")


# --- account self-service ------------------------------------------------------------------------


class ProfileIn(BaseModel):
    """`PATCH /auth/me`: a new name takes effect now; a new email once verified at it."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Ada Lovelace"}]}
    )
    name: Name | None = None
    email: EmailStr | None = None


class ProfileOut(MeOut):
    pending_email: str | None = Field(
        description="An address asked for and not verified yet: a link was sent to it, and the "
        "account's email changes when it is followed."
    )


class ChangePasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: Password
    new_password: Password


class DeleteAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Password
