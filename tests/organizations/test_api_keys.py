"""API keys: `t21_…` secrets shown once, kept only as a digest, acting for one organization with
their role until revoked or the organization is gone."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from t21.core import clock
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.organizations.models import ApiKey
from tests.core.test_http import assert_problem
from tests.organizations.conftest import ORGANIZATIONS, Caller, Team, bearer
from tests.support.accounts import Account


async def _create(
    client: httpx.AsyncClient, team: Team, by: Account, role: str = "member", name: str = "Bot"
) -> httpx.Response:
    return await client.post(
        f"{ORGANIZATIONS}/{team.organization_id}/api-keys",
        json={"name": name, "role": role},
        headers=by.headers,
    )


async def _listed(client: httpx.AsyncClient, team: Team) -> dict[str, dict[str, Any]]:
    response = await client.get(
        f"{ORGANIZATIONS}/{team.organization_id}/api-keys", headers=team.owner.headers
    )
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["items"]}


async def test_the_key_is_shown_only_when_created(client: httpx.AsyncClient, team: Team) -> None:
    created = await _create(client, team, team.admin, name="  Deploy bot  ")
    assert created.status_code == 201, created.text
    body = created.json()
    secret: str = body["key"]
    assert secret.startswith("t21_")
    assert len(secret) >= len("t21_") + 40
    assert body["prefix"] == secret[:12]
    assert body["name"] == "Deploy bot"
    assert body["role"] == "member"
    assert body["last_used_at"] is None

    listing = await client.get(
        f"{ORGANIZATIONS}/{team.organization_id}/api-keys", headers=team.owner.headers
    )
    listed = {item["id"]: item for item in listing.json()["items"]}
    assert "key" not in listed[body["id"]]
    assert listed[body["id"]]["prefix"] == body["prefix"]
    assert secret not in listing.text


async def test_the_key_is_stored_only_as_its_digest(
    client: httpx.AsyncClient, runtime: Runtime, team: Team
) -> None:
    created = await _create(client, team, team.owner)
    assert created.status_code == 201, created.text
    secret: str = created.json()["key"]
    hidden = secret[len(created.json()["prefix"]) :]

    async with session_scope(runtime) as session:
        rows = (await session.execute(select(ApiKey.__table__))).all()
    assert len(rows) == 3  # the team's two and this one
    for row in rows:
        for value in row:
            assert secret not in str(value)
            assert hidden not in str(value)
    [stored] = [row for row in rows if str(row.id) == created.json()["id"]]
    assert stored.key_digest == hashlib.sha256(secret.encode()).hexdigest()


async def test_a_key_acts_with_its_role(client: httpx.AsyncClient, team: Team) -> None:
    path = f"{ORGANIZATIONS}/{team.organization_id}"
    read = await client.get(path, headers=team.headers("member_key"))
    assert read.status_code == 200, read.text
    assert read.json()["role"] == "member"

    refused = await client.patch(
        path, json={"name": "By a member key"}, headers=team.headers("member_key")
    )
    assert_problem(refused, 403, "forbidden")

    renamed = await client.patch(
        path, json={"name": "By an admin key"}, headers=team.headers("admin_key")
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "By an admin key"
    assert renamed.json()["role"] == "admin"


async def test_a_key_is_not_a_user(client: httpx.AsyncClient, team: Team) -> None:
    me = await client.get("/api/v1/auth/me", headers=team.headers("admin_key"))
    assert_problem(me, 403, "forbidden")


async def test_an_unknown_key_is_refused(
    client: httpx.AsyncClient, team: Team, subtests: pytest.Subtests
) -> None:
    secret: str = team.member_key["key"]
    forged = "t21_" + secret.removeprefix("t21_")[::-1]
    for credential in ("t21_not-a-key", "t21_", forged, secret.upper()):
        with subtests.test(credential=credential):
            response = await client.get(ORGANIZATIONS, headers=bearer(credential))
            assert_problem(response, 401, "not_authenticated")


async def test_a_revoked_key_is_refused(client: httpx.AsyncClient, team: Team) -> None:
    path = f"{ORGANIZATIONS}/{team.organization_id}/api-keys/{team.member_key['id']}"
    revoked = await client.delete(path, headers=team.admin.headers)
    assert revoked.status_code == 204, revoked.text

    response = await client.get(ORGANIZATIONS, headers=team.headers("member_key"))
    assert_problem(response, 401, "not_authenticated")
    assert team.member_key["id"] not in await _listed(client, team)
    assert_problem(await client.delete(path, headers=team.owner.headers), 404, "not_found")
    # The other key is unaffected.
    still = await client.get(ORGANIZATIONS, headers=team.headers("admin_key"))
    assert still.status_code == 200, still.text


async def test_last_used_at_is_set_once_the_key_is_used(
    client: httpx.AsyncClient, team: Team
) -> None:
    assert (await _listed(client, team))[team.member_key["id"]]["last_used_at"] is None
    before = clock.now()
    used = await client.get(ORGANIZATIONS, headers=team.headers("member_key"))
    assert used.status_code == 200, used.text
    listed = await _listed(client, team)
    last_used = datetime.fromisoformat(listed[team.member_key["id"]]["last_used_at"])
    assert before - timedelta(seconds=1) <= last_used <= clock.now()
    assert listed[team.admin_key["id"]]["last_used_at"] is None


async def test_a_key_of_a_deleted_organization_stops_working(
    client: httpx.AsyncClient, team: Team
) -> None:
    deleted = await client.delete(
        f"{ORGANIZATIONS}/{team.organization_id}", headers=team.owner.headers
    )
    assert deleted.status_code == 204, deleted.text
    callers: tuple[Caller, ...] = ("admin_key", "member_key")
    for caller in callers:
        response = await client.get(ORGANIZATIONS, headers=team.headers(caller))
        assert_problem(response, 401, "not_authenticated")


async def test_an_admin_cant_create_an_owner_key(client: httpx.AsyncClient, team: Team) -> None:
    refused = await _create(client, team, team.admin, role="owner")
    assert_problem(refused, 403, "forbidden")
    allowed = await _create(client, team, team.owner, role="owner")
    assert allowed.status_code == 201, allowed.text
    assert allowed.json()["role"] == "owner"


async def test_a_key_needs_a_name_of_1_to_100_characters(
    client: httpx.AsyncClient, team: Team, subtests: pytest.Subtests
) -> None:
    for name in ("", "   ", "x" * 101):
        with subtests.test(name=name):
            response = await _create(client, team, team.owner, name=name)
            problem = assert_problem(response, 422, "validation_error")
            assert problem["errors"][0]["loc"] == ["body", "name"]
    assert len(await _listed(client, team)) == 2


async def _make_brand(client: httpx.AsyncClient, team: Team, secret: str) -> httpx.Response:
    return await client.post(
        "/api/v1/brands",
        json={"name": "Key brand", "organization_id": str(team.organization_id)},
        headers=bearer(secret),
    )


async def test_a_key_acts_with_no_more_than_its_creators_current_role(
    client: httpx.AsyncClient, team: Team
) -> None:
    created = await _create(client, team, team.admin, role="admin")
    assert created.status_code == 201, created.text
    secret = created.json()["key"]
    assert (await _make_brand(client, team, secret)).status_code == 201
    demoted = await client.patch(
        f"{ORGANIZATIONS}/{team.organization_id}/members/{team.admin.user_id}",
        json={"role": "member"},
        headers=team.owner.headers,
    )
    assert demoted.status_code == 200, demoted.text
    # The admin-role key now acts as a member, like its creator: brands are beyond it...
    assert_problem(await _make_brand(client, team, secret), 403, "forbidden")
    # ...what a member may do still works.
    listed = await client.get("/api/v1/brands", headers=bearer(secret))
    assert listed.status_code == 200
    # Promoted back, the key has its own role again (never more than it was given).
    await client.patch(
        f"{ORGANIZATIONS}/{team.organization_id}/members/{team.admin.user_id}",
        json={"role": "admin"},
        headers=team.owner.headers,
    )
    assert (await _make_brand(client, team, secret)).status_code == 201


async def test_removing_a_member_revokes_their_keys(client: httpx.AsyncClient, team: Team) -> None:
    created = await _create(client, team, team.admin, role="admin")
    secret = created.json()["key"]
    removed = await client.delete(
        f"{ORGANIZATIONS}/{team.organization_id}/members/{team.admin.user_id}",
        headers=team.owner.headers,
    )
    assert removed.status_code == 204, removed.text
    assert_problem(
        await client.get("/api/v1/brands", headers=bearer(secret)), 401, "not_authenticated"
    )
    assert created.json()["id"] not in await _listed(client, team)
    # The owner's keys are untouched.
    assert (
        await client.get("/api/v1/brands", headers=team.headers("admin_key"))
    ).status_code == 200


async def test_a_key_whose_creator_left_acts_for_no_one(
    client: httpx.AsyncClient, team: Team
) -> None:
    created = await _create(client, team, team.admin, role="member")
    secret = created.json()["key"]
    left = await client.delete(
        f"{ORGANIZATIONS}/{team.organization_id}/members/{team.admin.user_id}",
        headers=team.admin.headers,
    )
    assert left.status_code == 204, left.text
    assert_problem(
        await client.get("/api/v1/brands", headers=bearer(secret)), 401, "not_authenticated"
    )
