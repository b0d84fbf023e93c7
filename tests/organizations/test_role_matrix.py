"""Who may call which organization route: every route against every kind of caller.

Expected answers follow API.md: a viewer reads; an admin also renames and manages members below
admin, invitations and API keys; an owner also deletes the organization. Someone outside the
organization gets 404, never 403. An API key acts with its role but never manages members,
invitations or keys, never deletes the organization and can't create organizations.
Each case runs against a fresh `team`, so a DELETE in one case leaves the others untouched.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.core.test_http import assert_problem
from tests.organizations.conftest import ORGANIZATIONS, Caller, Team, roles_of
from tests.support.accounts import Account

CALLERS: tuple[Caller, ...] = (
    "owner",
    "admin",
    "member",
    "viewer",
    "outsider",
    "admin_key",
    "member_key",
    "anonymous",
)
CODES = {401: "not_authenticated", 403: "forbidden", 404: "not_found"}

NEW_ORG = {"name": "New Co"}
RENAME = {"name": "Renamed"}
TO_VIEWER = {"role": "viewer"}
INVITE = {"email": "new.person@example.com", "role": "member"}
NEW_KEY = {"name": "ci", "role": "member"}

# Paths under /api/v1/organizations; statuses in the order of CALLERS.
# fmt: off
MATRIX: list[tuple[str, str, dict[str, Any] | None, str]] = [
    # method   path                                body       own adm mem vie out akey mkey anon
    ("GET",    "",                                 None,      "200 200 200 200 200 200 200 401"),
    ("POST",   "",                                 NEW_ORG,   "201 201 201 201 201 403 403 401"),
    ("GET",    "/{org}",                           None,      "200 200 200 200 404 200 200 401"),
    ("PATCH",  "/{org}",                           RENAME,    "200 200 403 403 404 200 403 401"),
    ("DELETE", "/{org}",                           None,      "204 403 403 403 404 403 403 401"),
    ("GET",    "/{org}/members",                   None,      "200 200 200 200 404 200 200 401"),
    ("PATCH",  "/{org}/members/{member}",          TO_VIEWER, "200 200 403 403 404 403 403 401"),
    # The member removing themselves is leaving, which anyone may do.
    ("DELETE", "/{org}/members/{member}",          None,      "204 204 204 403 404 403 403 401"),
    ("POST",   "/{org}/invitations",               INVITE,    "201 201 403 403 404 403 403 401"),
    ("GET",    "/{org}/invitations",               None,      "200 200 403 403 404 403 403 401"),
    ("DELETE", "/{org}/invitations/{invitation}",  None,      "204 204 403 403 404 403 403 401"),
    ("GET",    "/{org}/api-keys",                  None,      "200 200 403 403 404 403 403 401"),
    ("POST",   "/{org}/api-keys",                  NEW_KEY,   "201 201 403 403 404 403 403 401"),
    ("DELETE", "/{org}/api-keys/{key}",            None,      "204 204 403 403 404 403 403 401"),
    ("GET",    "/{org}/audit-log",                 None,      "200 200 403 403 404 200 403 401"),
    ("GET",    "/{org}/audit-log/export",          None,      "200 200 403 403 404 200 403 401"),
]
# fmt: on


def _cases() -> list[Any]:
    cases = []
    for method, path, body, statuses in MATRIX:
        for caller, status in zip(CALLERS, map(int, statuses.split()), strict=True):
            cases.append(
                pytest.param(
                    caller,
                    method,
                    path,
                    body,
                    status,
                    CODES.get(status),
                    id=f"{caller}-{method} /organizations{path}",
                )
            )
    return cases


ROLE_OF: dict[Caller, str] = {
    "owner": "owner",
    "admin": "admin",
    "member": "member",
    "viewer": "viewer",
    "admin_key": "admin",
    "member_key": "member",
}


def _organization(team: Team) -> str:
    return f"{ORGANIZATIONS}/{team.organization_id}"


Check = Callable[[httpx.AsyncClient, Team, Caller, dict[str, Any]], Awaitable[None]]


async def _lists_the_callers_organizations(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    roles = {uuid.UUID(item["id"]): item["role"] for item in body["items"]}
    if caller == "outsider":
        assert team.organization_id not in roles
        assert roles[team.outsider_organization_id] == "owner"
    elif caller.endswith("_key"):
        assert roles == {team.organization_id: ROLE_OF[caller]}
    else:
        assert roles[team.organization_id] == ROLE_OF[caller]


async def _created_an_organization_owned_by_the_caller(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    assert body["name"] == "New Co"
    assert body["slug"].startswith("new-co")
    assert body["role"] == "owner"
    assert body["personal"] is False
    creator: Account = getattr(team, caller)
    assert await roles_of(client, uuid.UUID(body["id"]), creator) == {creator.user_id: "owner"}


async def _gives_the_organization_with_the_callers_role(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    assert body["id"] == str(team.organization_id)
    assert body["name"] == "Acme"
    assert body["role"] == ROLE_OF[caller]


async def _renamed(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    assert body["id"] == str(team.organization_id)
    assert body["name"] == "Renamed"
    again = await client.get(_organization(team), headers=team.owner.headers)
    assert again.json()["name"] == "Renamed"


async def _organization_gone(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    gone = await client.get(_organization(team), headers=team.owner.headers)
    assert_problem(gone, 404, "not_found")


async def _lists_every_member(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    roles = {item["user"]["id"]: item["role"] for item in body["items"]}
    assert roles == {
        str(team.owner.user_id): "owner",
        str(team.admin.user_id): "admin",
        str(team.member.user_id): "member",
        str(team.viewer.user_id): "viewer",
    }


async def _member_is_now_a_viewer(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    assert body["user"]["id"] == str(team.member.user_id)
    assert body["role"] == "viewer"
    assert (await roles_of(client, team.organization_id, team.owner))[
        team.member.user_id
    ] == "viewer"


async def _member_removed(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    assert team.member.user_id not in await roles_of(client, team.organization_id, team.owner)


async def _invitation_created(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    assert body["organization_id"] == str(team.organization_id)
    assert body["email"] == "new.person@example.com"
    assert body["role"] == "member"


async def _lists_the_pending_invitation(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    assert [item["id"] for item in body["items"]] == [team.invitation["id"]]


async def _invitation_revoked(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    pending = await client.get(f"{_organization(team)}/invitations", headers=team.owner.headers)
    assert pending.json()["items"] == []


async def _lists_the_keys_without_secrets(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    assert {item["id"] for item in body["items"]} == {team.admin_key["id"], team.member_key["id"]}
    assert all("key" not in item for item in body["items"])


async def _key_created(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    assert body["name"] == "ci"
    assert body["role"] == "member"
    assert body["key"].startswith("t21_")


async def _key_revoked(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    refused = await client.get(_organization(team), headers=team.headers("member_key"))
    assert_problem(refused, 401, "not_authenticated")


async def _lists_the_teams_history(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    actions = {item["action"] for item in body["items"]}
    assert {"member.joined", "invitation.created", "api_key.created"} <= actions


async def _exports_the_teams_history(
    client: httpx.AsyncClient, team: Team, caller: Caller, body: dict[str, Any]
) -> None:
    header, *rows = body["text"].splitlines()
    assert header.startswith("id,at,actor_type")
    assert any(",member.joined," in row for row in rows)


# What a successful call must have done, by route.
CHECKS: dict[tuple[str, str], Check] = {
    ("GET", ""): _lists_the_callers_organizations,
    ("POST", ""): _created_an_organization_owned_by_the_caller,
    ("GET", "/{org}"): _gives_the_organization_with_the_callers_role,
    ("PATCH", "/{org}"): _renamed,
    ("DELETE", "/{org}"): _organization_gone,
    ("GET", "/{org}/members"): _lists_every_member,
    ("PATCH", "/{org}/members/{member}"): _member_is_now_a_viewer,
    ("DELETE", "/{org}/members/{member}"): _member_removed,
    ("POST", "/{org}/invitations"): _invitation_created,
    ("GET", "/{org}/invitations"): _lists_the_pending_invitation,
    ("DELETE", "/{org}/invitations/{invitation}"): _invitation_revoked,
    ("GET", "/{org}/api-keys"): _lists_the_keys_without_secrets,
    ("POST", "/{org}/api-keys"): _key_created,
    ("DELETE", "/{org}/api-keys/{key}"): _key_revoked,
    ("GET", "/{org}/audit-log"): _lists_the_teams_history,
    ("GET", "/{org}/audit-log/export"): _exports_the_teams_history,
}


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


async def test_the_matrix_covers_every_organization_route(client: httpx.AsyncClient) -> None:
    paths: dict[str, dict[str, Any]] = (await client.get("/openapi.json")).json()["paths"]
    routes = {
        (method.upper(), _shape(path.removeprefix(ORGANIZATIONS)))
        for path, operations in paths.items()
        if path.startswith(ORGANIZATIONS)
        for method in operations
    }
    assert routes == {(method, _shape(path)) for method, path, _, _ in MATRIX}


@pytest.mark.parametrize(("caller", "method", "path", "body", "status", "code"), _cases())
async def test_caller_gets_the_expected_answer(
    client: httpx.AsyncClient,
    team: Team,
    caller: Caller,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    code: str | None,
) -> None:
    response = await client.request(
        method, ORGANIZATIONS + team.path(path), json=body, headers=team.headers(caller)
    )
    if code is not None:
        assert_problem(response, status, code)
        if status == 401:
            assert response.headers["www-authenticate"] == "Bearer"
        return
    assert response.status_code == status, response.text
    answer: dict[str, Any] = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {"text": response.text}
    )
    await CHECKS[(method, path)](client, team, caller, answer)
