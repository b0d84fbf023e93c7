"""Tenant isolation: another organization's resources answer 404 (never 403, so nothing about
their existence leaks), whether reached by their own path or by ids guessed into the caller's."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.core.test_http import assert_problem
from tests.organizations.conftest import API, ORGANIZATIONS, Caller, Team, roles_of

ORG = "/organizations/{org}"
# A's resources, reached the way their own members reach them.
REQUESTS_ON_A: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", ORG, None),
    ("PATCH", ORG, {"name": "Taken over"}),
    ("DELETE", ORG, None),
    ("GET", ORG + "/members", None),
    ("PATCH", ORG + "/members/{member}", {"role": "viewer"}),
    ("DELETE", ORG + "/members/{member}", None),
    ("PATCH", ORG + "/members/{owner}", {"role": "viewer"}),
    ("DELETE", ORG + "/members/{owner}", None),
    ("GET", ORG + "/invitations", None),
    ("POST", ORG + "/invitations", {"email": "spy@example.com", "role": "member"}),
    ("DELETE", ORG + "/invitations/{invitation}", None),
    ("GET", ORG + "/api-keys", None),
    ("POST", ORG + "/api-keys", {"name": "spy", "role": "member"}),
    ("DELETE", ORG + "/api-keys/{key}", None),
]
# A's member, invitation and key ids, guessed into B's own organization.
GUESSES_IN_B: list[tuple[str, str, dict[str, Any] | None]] = [
    ("PATCH", "/organizations/{outsider_org}/members/{member}", {"role": "viewer"}),
    ("DELETE", "/organizations/{outsider_org}/members/{member}", None),
    ("DELETE", "/organizations/{outsider_org}/invitations/{invitation}", None),
    ("DELETE", "/organizations/{outsider_org}/api-keys/{key}", None),
]


def _path(team: Team, template: str) -> str:
    return API + team.path(template.replace("{outsider_org}", str(team.outsider_organization_id)))


async def _a_is_untouched(client: httpx.AsyncClient, team: Team) -> None:
    organization = await client.get(
        f"{ORGANIZATIONS}/{team.organization_id}", headers=team.owner.headers
    )
    assert organization.json()["name"] == "Acme"
    roles = await roles_of(client, team.organization_id, team.owner)
    assert roles[team.member.user_id] == "member"
    assert roles[team.owner.user_id] == "owner"
    invitations = await client.get(
        f"{ORGANIZATIONS}/{team.organization_id}/invitations", headers=team.owner.headers
    )
    assert [item["email"] for item in invitations.json()["items"]] == [team.invitation["email"]]
    keys = await client.get(
        f"{ORGANIZATIONS}/{team.organization_id}/api-keys", headers=team.owner.headers
    )
    assert {item["id"] for item in keys.json()["items"]} == {
        team.admin_key["id"],
        team.member_key["id"],
    }


async def _request_as(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    requests: list[tuple[str, str, dict[str, Any] | None]],
    path_of: Callable[[str], str],
    subtests: pytest.Subtests,
) -> None:
    """Every request answers 404 `not_found`."""
    for method, template, body in requests:
        with subtests.test(request=f"{method} {template}"):
            response = await client.request(method, path_of(template), json=body, headers=headers)
            assert_problem(response, 404, "not_found")


async def test_a_stranger_gets_404_for_every_resource_of_another_organization(
    client: httpx.AsyncClient, team: Team, subtests: pytest.Subtests
) -> None:
    await _request_as(
        client, team.outsider.headers, REQUESTS_ON_A, lambda t: _path(team, t), subtests
    )
    await _a_is_untouched(client, team)


async def test_ids_of_another_organization_guessed_into_ones_own_are_not_found(
    client: httpx.AsyncClient, team: Team, subtests: pytest.Subtests
) -> None:
    await _request_as(
        client, team.outsider.headers, GUESSES_IN_B, lambda t: _path(team, t), subtests
    )
    await _a_is_untouched(client, team)


async def test_an_existing_foreign_organization_answers_like_a_missing_one(
    client: httpx.AsyncClient, team: Team
) -> None:
    callers: dict[Caller, uuid.UUID] = {
        "outsider": team.organization_id,
        "admin_key": team.outsider_organization_id,
    }
    for caller, foreign in callers.items():
        existing = await client.get(f"{ORGANIZATIONS}/{foreign}", headers=team.headers(caller))
        missing = await client.get(f"{ORGANIZATIONS}/{uuid.uuid4()}", headers=team.headers(caller))
        assert_problem(existing, 404, "not_found")
        assert_problem(missing, 404, "not_found")
        assert existing.json()["detail"] == missing.json()["detail"]


async def test_an_api_key_cant_see_another_organization(
    client: httpx.AsyncClient, team: Team, subtests: pytest.Subtests
) -> None:
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "", None),
        ("PATCH", "", {"name": "Taken over"}),
        ("DELETE", "", None),
        ("GET", "/members", None),
        ("PATCH", "/members/{outsider}", {"role": "viewer"}),
        ("GET", "/invitations", None),
        ("GET", "/api-keys", None),
    ]
    other = f"{ORGANIZATIONS}/{team.outsider_organization_id}"
    await _request_as(
        client,
        team.headers("admin_key"),
        requests,
        lambda t: other + t.format(outsider=team.outsider.user_id),
        subtests,
    )
    still = await client.get(other, headers=team.outsider.headers)
    assert still.json()["name"] == "Other"


async def _listed(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[uuid.UUID, str]:
    response = await client.get(ORGANIZATIONS, headers=headers)
    assert response.status_code == 200, response.text
    return {uuid.UUID(item["id"]): item["name"] for item in response.json()["items"]}


async def test_listing_organizations_shows_only_the_callers(
    client: httpx.AsyncClient, team: Team
) -> None:
    assert await _listed(client, team.outsider.headers) == {
        team.outsider.personal_organization_id: "Otto Outsider",
        team.outsider_organization_id: "Other",
    }
    assert await _listed(client, team.owner.headers) == {
        team.owner.personal_organization_id: "Olive Owner",
        team.organization_id: "Acme",
    }
    assert await _listed(client, team.viewer.headers) == {
        team.viewer.personal_organization_id: "Vic Viewer",
        team.organization_id: "Acme",
    }
    assert await _listed(client, team.headers("member_key")) == {team.organization_id: "Acme"}
