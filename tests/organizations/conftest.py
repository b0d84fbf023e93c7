"""Shared fixtures for the organization tests: `team`, an organization with a member of every
role, two API keys and a pending invitation, next to an outsider with an organization of their own.

The team is made through the HTTP API by the first test that asks for it. Registering costs a
password hash each, so its rows (users, organizations, memberships, invitations, API keys) are
kept, and every later test gets a fresh copy of them in its own empty database: each test still
starts from the same state and may delete whatever it likes.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest
from sqlalchemy import Table, insert, select

from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.models import Base
from t21.worker.queue import JobQueue
from tests.support.accounts import (
    Account,
    create_api_key,
    create_organization,
    latest_token,
    register,
)

API = "/api/v1"
ORGANIZATIONS = f"{API}/organizations"
ACCEPT = f"{API}/invitations/accept"
INVITATION_LINK = "/invitations/accept"

Caller = Literal[
    "owner", "admin", "member", "viewer", "outsider", "admin_key", "member_key", "anonymous"
]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def invite(
    client: httpx.AsyncClient,
    inviter: Account,
    organization_id: uuid.UUID,
    email: str,
    role: str = "member",
    *,
    idempotency_key: str | None = None,
) -> httpx.Response:
    headers = dict(inviter.headers)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return await client.post(
        f"{ORGANIZATIONS}/{organization_id}/invitations",
        json={"email": email, "role": role},
        headers=headers,
    )


async def accept(client: httpx.AsyncClient, account: Account, token: str) -> httpx.Response:
    return await client.post(ACCEPT, json={"token": token}, headers=account.headers)


async def join(
    client: httpx.AsyncClient,
    jobs: JobQueue,
    settings: Settings,
    *,
    inviter: Account,
    organization_id: uuid.UUID,
    members: dict[str, Account],
) -> None:
    """Invite each account with its role (the key), then accept every invitation."""
    for role, account in members.items():
        invited = await invite(client, inviter, organization_id, account.email, role)
        assert invited.status_code == 201, invited.text
    for account in members.values():
        token = await latest_token(jobs, settings, account.email, INVITATION_LINK)
        accepted = await accept(client, account, token)
        assert accepted.status_code == 200, accepted.text


async def roles_of(
    client: httpx.AsyncClient, organization_id: uuid.UUID, seen_by: Account
) -> dict[uuid.UUID, str]:
    """Every member's role by user id, as GET members lists them."""
    response = await client.get(
        f"{ORGANIZATIONS}/{organization_id}/members", headers=seen_by.headers
    )
    assert response.status_code == 200, response.text
    return {uuid.UUID(item["user"]["id"]): item["role"] for item in response.json()["items"]}


async def memberships_in_me(client: httpx.AsyncClient, account: Account) -> dict[uuid.UUID, str]:
    """The account's role by organization id, as GET /auth/me lists them."""
    response = await client.get(f"{API}/auth/me", headers=account.headers)
    assert response.status_code == 200, response.text
    return {
        uuid.UUID(item["organization"]["id"]): item["role"]
        for item in response.json()["memberships"]
    }


@dataclass
class Team:
    """ "Acme" with an owner, an admin, a member and a viewer (people), an admin and a member API
    key, and a pending invitation to an address without an account (its token is not kept).
    `outsider` belongs only to their personal organization and to "Other", which they own."""

    organization_id: uuid.UUID
    owner: Account
    admin: Account
    member: Account
    viewer: Account
    outsider: Account
    outsider_organization_id: uuid.UUID
    admin_key: dict[str, Any]
    member_key: dict[str, Any]
    invitation: dict[str, Any]

    def headers(self, caller: Caller) -> dict[str, str]:
        if caller == "anonymous":
            return {}
        if caller == "admin_key":
            return bearer(self.admin_key["key"])
        if caller == "member_key":
            return bearer(self.member_key["key"])
        account: Account = getattr(self, caller)
        return account.headers

    def path(self, template: str) -> str:
        """`template` with `{org}`, `{owner}`, `{admin}`, `{member}`, `{viewer}`, `{invitation}`
        and `{key}` (the member key's id) filled in."""
        return template.format(
            org=self.organization_id,
            owner=self.owner.user_id,
            admin=self.admin.user_id,
            member=self.member.user_id,
            viewer=self.viewer.user_id,
            invitation=self.invitation["id"],
            key=self.member_key["id"],
        )


async def build_team(client: httpx.AsyncClient, jobs: JobQueue, settings: Settings) -> Team:
    owner = await register(client, name="Olive Owner")
    organization_id = await create_organization(client, owner, "Acme")
    admin = await register(client, name="Adam Admin")
    member = await register(client, name="Mia Member")
    viewer = await register(client, name="Vic Viewer")
    await join(
        client,
        jobs,
        settings,
        inviter=owner,
        organization_id=organization_id,
        members={"admin": admin, "member": member, "viewer": viewer},
    )
    outsider = await register(client, name="Otto Outsider")
    outsider_organization_id = await create_organization(client, outsider, "Other")
    pending = await invite(client, owner, organization_id, "pending.invitee@example.com")
    assert pending.status_code == 201, pending.text
    return Team(
        organization_id=organization_id,
        owner=owner,
        admin=admin,
        member=member,
        viewer=viewer,
        outsider=outsider,
        outsider_organization_id=outsider_organization_id,
        admin_key=await create_api_key(client, owner, organization_id, "admin"),
        member_key=await create_api_key(client, owner, organization_id, "member"),
        invitation=pending.json(),
    )


# Parents before children, so the rows can be inserted back in this order.
TEAM_TABLES = (
    "users",
    "organizations",
    "memberships",
    "invitations",
    "api_keys",
    "audit_entries",
)


@dataclass
class TeamSnapshot:
    team: Team | None = None
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def tables(self) -> list[Table]:
        return [Base.metadata.tables[name] for name in TEAM_TABLES]

    async def save(self, runtime: Runtime, team: Team) -> None:
        async with session_scope(runtime) as session:
            for table in self.tables():
                result = await session.execute(select(table))
                self.rows[table.name] = [dict(row._mapping) for row in result]
        self.team = team

    async def restore(self, runtime: Runtime) -> Team:
        assert self.team is not None
        async with session_scope(runtime) as session:
            for table in self.tables():
                if self.rows[table.name]:
                    await session.execute(insert(table), self.rows[table.name])
        return copy.deepcopy(self.team)


@pytest.fixture(scope="session")
def team_snapshot() -> TeamSnapshot:
    return TeamSnapshot()


@pytest.fixture
async def team(
    client: httpx.AsyncClient,
    jobs: JobQueue,
    settings: Settings,
    runtime: Runtime,
    team_snapshot: TeamSnapshot,
) -> Team:
    if team_snapshot.team is not None:
        return await team_snapshot.restore(runtime)
    built = await build_team(client, jobs, settings)
    await team_snapshot.save(runtime, built)
    return copy.deepcopy(built)
