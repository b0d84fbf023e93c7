"""What the authentication endpoints take and give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from t21.identity.models import Passkey
from t21.identity.twofactor import HolderProof
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


class UserRecord(Protocol):
    """What a user's answer reads: a `User`, or a row of its columns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def email_verified_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    email_verified: bool
    created_at: datetime

    @classmethod
    def of(cls, user: UserRecord) -> UserOut:
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
    methods: list[Literal["totp", "recovery_code", "passkey"]] = Field(
        description="What `POST /2fa/verify` accepts for this user: `code` (totp), "
        "`recovery_code`, `passkey` (an assertion for the options of `POST /2fa/passkey/options`)."
    )


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


class TwoFactorVerifyIn(BaseModel):
    """The sign-in's challenge with one proof: a code, a recovery code, or a passkey."""

    model_config = ConfigDict(extra="forbid")
    challenge: Token
    code: Code | None = None
    recovery_code: RecoveryCodeText | None = None
    passkey: AssertionIn | None = None

    @model_validator(mode="after")
    def _one_proof(self) -> TwoFactorVerifyIn:
        given = [p for p in (self.code, self.recovery_code, self.passkey) if p is not None]
        if len(given) != 1:
            raise ValueError("send one of `code`, `recovery_code` or `passkey`")
        return self


class TotpEnrolmentOut(BaseModel):
    secret: str = Field(description="Base32, for typing into the app; shown this once.")
    otpauth_url: str = Field(description="The same as an `otpauth://` URL, for a QR code.")


class TotpCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(description="Ten single-use codes; shown this once.")


# --- passkeys (WebAuthn) --------------------------------------------------------------------------
# What the browser's `PublicKeyCredential.toJSON()` gives (WebAuthn Level 3), passed on as is.

B64Url = Annotated[str, Field(min_length=1, max_length=16384, pattern=r"^[A-Za-z0-9_-]+=*$")]


class _CredentialBase(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    id: Annotated[str, Field(min_length=1, max_length=1400, pattern=r"^[A-Za-z0-9_-]+$")]
    raw_id: Annotated[str, Field(alias="rawId", min_length=1, max_length=1400)]
    type: Literal["public-key"]
    authenticator_attachment: Literal["platform", "cross-platform"] | None = Field(
        default=None, alias="authenticatorAttachment"
    )

    def as_json(self) -> dict[str, Any]:
        """The credential in the browser's JSON form, for the verifier."""
        data: dict[str, Any] = self.model_dump(by_alias=True, exclude_none=True)
        return data


class AttestationResponseIn(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    client_data_json: B64Url = Field(alias="clientDataJSON")
    attestation_object: B64Url = Field(alias="attestationObject")
    transports: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=10)] = []


class AttestationIn(_CredentialBase):
    """A new credential from `navigator.credentials.create()`."""

    response: AttestationResponseIn


class AssertionResponseIn(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    client_data_json: B64Url = Field(alias="clientDataJSON")
    authenticator_data: B64Url = Field(alias="authenticatorData")
    signature: B64Url
    user_handle: Annotated[str, Field(max_length=512)] | None = Field(
        default=None, alias="userHandle"
    )


class AssertionIn(_CredentialBase):
    """A signed challenge from `navigator.credentials.get()`."""

    response: AssertionResponseIn


class PasskeyLoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credential: AssertionIn


class PasskeyOptionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    challenge: Token = Field(description="The sign-in's challenge from `POST /login`.")


class PasskeyOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    backed_up: bool = Field(description="Whether the passkey is synced (a multi-device one).")

    @classmethod
    def of(cls, passkey: Passkey) -> PasskeyOut:
        return cls(
            id=passkey.id,
            name=passkey.name,
            created_at=passkey.created_at,
            last_used_at=passkey.last_used_at,
            backed_up=passkey.backed_up,
        )


class PasskeyListOut(BaseModel):
    items: list[PasskeyOut]


class FreshProofIn(BaseModel):
    """A fresh proof that it is the account's holder: the password, a current authenticator
    code, a recovery code, or a passkey assertion (options: `POST /passkeys/confirm/options`)."""

    model_config = ConfigDict(extra="forbid")
    password: Password | None = None
    code: Code | None = None
    recovery_code: RecoveryCodeText | None = None
    passkey: AssertionIn | None = None

    @model_validator(mode="after")
    def _one_proof(self) -> FreshProofIn:
        given = [
            p for p in (self.password, self.code, self.recovery_code, self.passkey) if p is not None
        ]
        if len(given) != 1:
            raise ValueError("send one of `password`, `code`, `recovery_code` or `passkey`")
        return self

    def proof(self) -> HolderProof:
        """The proof `twofactor.prove_holder` checks."""
        return HolderProof(
            password=self.password,
            code=self.code,
            recovery_code=self.recovery_code,
            passkey=self.passkey.as_json() if self.passkey is not None else None,
        )


class PasskeyRegisterIn(FreshProofIn):
    """The new credential, with a fresh proof that it is the account's holder adding it (as
    removing one asks): a stolen session alone can't plant a way back in."""

    credential: AttestationIn
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None


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


TwoFactorVerifyIn.model_rebuild()
