"""What the organization endpoints take and give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from t21.organizations.models import ApiKey, Invitation, Organization
from t21.organizations.permissions import Role
from t21.organizations.service import MemberView, OrganizationView

OrgName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class OrganizationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: OrgName


class OrganizationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: OrgName | None = None
    require_two_factor: bool | None = Field(
        default=None,
        description="Members must have two-factor sign-in on to act in the organization "
        "(turning it on needs it on for you).",
    )

    @model_validator(mode="after")
    def _something_to_change(self) -> OrganizationPatch:
        for name in ("name", "require_two_factor"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"`{name}` can't be null")
        if not self.model_fields_set:
            raise ValueError("send `name`, `require_two_factor`, or both")
        return self


class OrganizationOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    tier: str
    personal: bool
    require_two_factor: bool
    role: Role
    created_at: datetime

    @classmethod
    def of(cls, view: OrganizationView) -> OrganizationOut:
        org = view.organization
        return cls(
            id=org.id,
            name=org.name,
            slug=org.slug,
            tier=org.tier,
            personal=org.personal,
            require_two_factor=org.require_two_factor,
            role=view.role,
            created_at=org.created_at,
        )


class OrganizationRecord(Protocol):
    """What an organization's reference reads: an `Organization`, or a row of its columns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def name(self) -> str: ...
    @property
    def slug(self) -> str: ...
    @property
    def tier(self) -> str: ...


class MembershipRecord(Protocol):
    """What a membership's answer reads: a `Membership`, or a row of its columns."""

    @property
    def role(self) -> Role: ...
    @property
    def created_at(self) -> datetime: ...


class OrganizationRef(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    tier: str

    @classmethod
    def of(cls, organization: OrganizationRecord) -> OrganizationRef:
        return cls(
            id=organization.id,
            name=organization.name,
            slug=organization.slug,
            tier=organization.tier,
        )


class MembershipOut(BaseModel):
    """A user's place in an organization: the one shape of a membership everywhere (`/auth/me`,
    an accepted invitation, and each member of `GET /organizations/{id}/members` with its
    `user`)."""

    organization: OrganizationRef
    role: Role
    joined_at: datetime

    @classmethod
    def of(cls, organization: OrganizationRecord, membership: MembershipRecord) -> MembershipOut:
        return cls(
            organization=OrganizationRef.of(organization),
            role=membership.role,
            joined_at=membership.created_at,
        )


class OrganizationList(BaseModel):
    items: list[OrganizationOut]
    next_cursor: str | None = None


class MemberUser(BaseModel):
    id: uuid.UUID
    email: str
    name: str


class MemberOut(MembershipOut):
    user: MemberUser

    @classmethod
    def of_member(cls, organization: Organization, view: MemberView) -> MemberOut:
        return cls(
            organization=OrganizationRef.of(organization),
            user=MemberUser(id=view.user.id, email=view.user.email, name=view.user.name),
            role=view.membership.role,
            joined_at=view.membership.created_at,
        )


class MemberList(BaseModel):
    items: list[MemberOut]
    next_cursor: str | None = None


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role


class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    role: Role = Role.MEMBER


class InvitationOut(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    email: str
    role: Role
    expires_at: datetime
    created_at: datetime

    @classmethod
    def of(cls, invitation: Invitation) -> InvitationOut:
        return cls(
            id=invitation.id,
            organization_id=invitation.organization_id,
            email=invitation.email,
            role=invitation.role,
            expires_at=invitation.expires_at,
            created_at=invitation.created_at,
        )


class InvitationList(BaseModel):
    items: list[InvitationOut]
    next_cursor: str | None = None


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: KeyName
    role: Role = Role.MEMBER


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    prefix: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, api_key: ApiKey) -> ApiKeyOut:
        return cls(
            id=api_key.id,
            name=api_key.name,
            role=api_key.role,
            prefix=api_key.prefix,
            created_at=api_key.created_at,
            last_used_at=api_key.last_used_at,
        )


class ApiKeyCreatedOut(ApiKeyOut):
    key: str


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]
    next_cursor: str | None = None
