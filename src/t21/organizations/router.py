"""`/api/v1/organizations` and `/api/v1/invitations/accept`: tenants, members, invitations, keys."""

from __future__ import annotations

import uuid

from fastapi import Response

from t21.core.deps import AppSettings, DbSession
from t21.core.pagination import PageParams
from t21.core.routing import IDEMPOTENT, APIRouter
from t21.organizations import api_keys, invitations, service
from t21.organizations.auth import (
    CurrentPrincipal,
    CurrentUser,
    OrgAdmin,
    OrgKeyManager,
    OrgMemberManager,
    OrgOwner,
    OrgReader,
    current_user,
)
from t21.organizations.models import Organization
from t21.organizations.permissions import Role
from t21.organizations.schemas import (
    AcceptIn,
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyList,
    ApiKeyOut,
    InvitationIn,
    InvitationList,
    InvitationOut,
    MemberList,
    MemberOut,
    MembershipOut,
    OrganizationIn,
    OrganizationList,
    OrganizationOut,
    OrganizationPatch,
    RoleIn,
)

router = APIRouter(prefix="/organizations", tags=["organizations"])
invitations_router = APIRouter(prefix="/invitations", tags=["organizations"])


@router.get("")
async def list_organizations(
    principal: CurrentPrincipal, session: DbSession, page: PageParams
) -> OrganizationList:
    """The organizations the caller belongs to (for an API key: its own)."""
    views, next_cursor = await service.list_organizations(session, principal, page)
    return OrganizationList(
        items=[OrganizationOut.of(view) for view in views], next_cursor=next_cursor
    )


@router.post("", status_code=201, openapi_extra=IDEMPOTENT)
async def create_organization(
    body: OrganizationIn, principal: CurrentUser, session: DbSession
) -> OrganizationOut:
    """A new organization; its creator is its owner."""
    organization = await service.create_organization(
        session, await current_user(session, principal), name=body.name
    )
    return OrganizationOut.of(service.OrganizationView(organization, Role.OWNER))


@router.get("/{organization_id}")
async def get_organization(access: OrgReader, session: DbSession) -> OrganizationOut:
    view = await service.get_organization(session, access.principal, access.organization_id)
    return OrganizationOut.of(view)


@router.patch("/{organization_id}")
async def rename_organization(
    body: OrganizationPatch, access: OrgAdmin, session: DbSession
) -> OrganizationOut:
    """Rename the organization, or require two-factor sign-in of its members (admins)."""
    view = await service.get_organization(session, access.principal, access.organization_id)
    if body.name is not None:
        view = await service.rename_organization(
            session, access.principal, access.organization_id, name=body.name
        )
    if body.require_two_factor is not None:
        view = await service.require_two_factor(
            session, access.principal, access.organization_id, required=body.require_two_factor
        )
    return OrganizationOut.of(view)


@router.delete("/{organization_id}", status_code=204)
async def delete_organization(access: OrgOwner, session: DbSession) -> Response:
    """Delete the organization and everything it owns (owners only; not a personal one)."""
    await service.delete_organization(session, access.principal, access.organization_id)
    return Response(status_code=204)


# --- members -----------------------------------------------------------------------------------


@router.get("/{organization_id}/members")
async def list_members(access: OrgReader, session: DbSession, page: PageParams) -> MemberList:
    views, next_cursor = await service.list_members(
        session, access.principal, access.organization_id, page
    )
    organization = await session.get_one(Organization, access.organization_id)
    return MemberList(
        items=[MemberOut.of_member(organization, view) for view in views], next_cursor=next_cursor
    )


@router.patch("/{organization_id}/members/{user_id}")
async def change_role(
    user_id: uuid.UUID, body: RoleIn, access: OrgMemberManager, session: DbSession
) -> MemberOut:
    """Change a member's role: admins manage roles below admin, owners any role. The last owner
    can't be demoted (409)."""
    view = await service.change_role(
        session, access.principal, access.organization_id, user_id, role=body.role
    )
    organization = await session.get_one(Organization, access.organization_id)
    return MemberOut.of_member(organization, view)


@router.delete("/{organization_id}/members/{user_id}", status_code=204)
async def remove_member(user_id: uuid.UUID, access: OrgReader, session: DbSession) -> Response:
    """Remove a member, or leave (your own id). The last owner can't leave (409)."""
    await service.remove_member(session, access.principal, access.organization_id, user_id)
    return Response(status_code=204)


# --- invitations -------------------------------------------------------------------------------


@router.post("/{organization_id}/invitations", status_code=201, openapi_extra=IDEMPOTENT)
async def invite(
    body: InvitationIn, access: OrgMemberManager, session: DbSession, settings: AppSettings
) -> InvitationOut:
    """Email a single-use invitation (7 days) for a role no higher than the inviter's own.
    Members and pending invitations fill the plan's seats: past them, 402 `quota_exceeded`."""
    invitation = await invitations.invite(
        session,
        settings,
        access.principal,
        access.organization_id,
        email=body.email,
        role=body.role,
    )
    return InvitationOut.of(invitation)


@router.get("/{organization_id}/invitations")
async def list_invitations(
    access: OrgMemberManager, session: DbSession, page: PageParams
) -> InvitationList:
    """Pending invitations."""
    pending, next_cursor = await invitations.list_pending(
        session, access.principal, access.organization_id, page
    )
    return InvitationList(
        items=[InvitationOut.of(invitation) for invitation in pending], next_cursor=next_cursor
    )


@router.delete("/{organization_id}/invitations/{invitation_id}", status_code=204)
async def revoke_invitation(
    invitation_id: uuid.UUID, access: OrgMemberManager, session: DbSession
) -> Response:
    await invitations.revoke(session, access.principal, access.organization_id, invitation_id)
    return Response(status_code=204)


@invitations_router.post("/accept")
async def accept_invitation(
    body: AcceptIn, principal: CurrentUser, session: DbSession
) -> MembershipOut:
    """Join the organization with the token from the invitation email; only the account with
    the invited address may."""
    membership = await invitations.accept(
        session, await current_user(session, principal), body.token
    )
    organization = await session.get_one(Organization, membership.organization_id)
    return MembershipOut.of(organization, membership)


# --- API keys ----------------------------------------------------------------------------------


@router.get("/{organization_id}/api-keys")
async def list_api_keys(access: OrgKeyManager, session: DbSession, page: PageParams) -> ApiKeyList:
    keys, next_cursor = await api_keys.list_keys(
        session, access.principal, access.organization_id, page
    )
    return ApiKeyList(items=[ApiKeyOut.of(key) for key in keys], next_cursor=next_cursor)


@router.post("/{organization_id}/api-keys", status_code=201)
async def create_api_key(
    body: ApiKeyIn, access: OrgKeyManager, session: DbSession
) -> ApiKeyCreatedOut:
    """A new key, shown this once (`key`); only its digest is kept. Not idempotent on purpose:
    a stored response would keep the secret."""
    created = await api_keys.create(
        session, access.principal, access.organization_id, name=body.name, role=body.role
    )
    return ApiKeyCreatedOut(**ApiKeyOut.of(created.api_key).model_dump(), key=created.secret)


@router.delete("/{organization_id}/api-keys/{key_id}", status_code=204)
async def revoke_api_key(key_id: uuid.UUID, access: OrgKeyManager, session: DbSession) -> Response:
    await api_keys.revoke(session, access.principal, access.organization_id, key_id)
    return Response(status_code=204)
