"""Organizations: creating (the creator owns it, the slug is derived and unique), reading,
renaming, deleting with everything in it, and Idempotency-Key on the POSTs that create."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select

from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.organizations.models import ApiKey, Invitation, Membership, Organization
from t21.worker.queue import JobQueue
from tests.core.test_http import assert_problem
from tests.organizations.conftest import (
    ORGANIZATIONS,
    Team,
    invite,
    memberships_in_me,
    roles_of,
)
from tests.support.accounts import Account, emails_to, register


async def _create(
    client: httpx.AsyncClient, account: Account, name: str, key: str | None = None
) -> httpx.Response:
    headers = dict(account.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(ORGANIZATIONS, json={"name": name}, headers=headers)


async def _count(runtime: Runtime, model: type[Organization | Invitation], **where: object) -> int:
    async with session_scope(runtime) as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return int(await session.scalar(query) or 0)


async def test_the_creator_owns_a_new_organization(client: httpx.AsyncClient, team: Team) -> None:
    created = await _create(client, team.member, "  Blue Sky Ltd.  ")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "Blue Sky Ltd."
    assert body["slug"] == "blue-sky-ltd"
    assert body["role"] == "owner"
    assert body["tier"] == "free"
    assert body["personal"] is False
    organization_id = uuid.UUID(body["id"])

    assert await roles_of(client, organization_id, team.member) == {team.member.user_id: "owner"}
    assert (await memberships_in_me(client, team.member))[organization_id] == "owner"
    fetched = await client.get(f"{ORGANIZATIONS}/{organization_id}", headers=team.member.headers)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == body


async def test_organizations_with_the_same_name_get_unique_slugs(
    client: httpx.AsyncClient, team: Team
) -> None:
    slugs = []
    for account in (team.owner, team.outsider, team.owner):
        created = await _create(client, account, "Acme")
        assert created.status_code == 201, created.text
        slugs.append(created.json()["slug"])
    acme = await client.get(f"{ORGANIZATIONS}/{team.organization_id}", headers=team.owner.headers)
    slugs.append(acme.json()["slug"])
    assert len(set(slugs)) == 4
    assert all(slug.startswith("acme") for slug in slugs)


async def test_the_slug_is_derived_from_the_name(
    client: httpx.AsyncClient, team: Team, subtests: pytest.Subtests
) -> None:
    slugs = {
        "Café Crème": "cafe-creme",
        "  --Hello,   World!--  ": "hello-world",
        "日本": "org",
        "x" * 100: "x" * 50,
    }
    for name, slug in slugs.items():
        with subtests.test(name=name):
            created = await _create(client, team.owner, name)
            assert created.status_code == 201, created.text
            assert created.json()["name"] == name.strip()
            assert created.json()["slug"] == slug


async def test_renaming_keeps_the_slug(client: httpx.AsyncClient, team: Team) -> None:
    path = f"{ORGANIZATIONS}/{team.organization_id}"
    before = (await client.get(path, headers=team.owner.headers)).json()
    renamed = await client.patch(path, json={"name": "  Acme Global  "}, headers=team.admin.headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Acme Global"
    assert renamed.json()["slug"] == before["slug"]
    assert renamed.json()["role"] == "admin"
    after = await client.get(path, headers=team.viewer.headers)
    assert after.json()["name"] == "Acme Global"


BAD_NAMES: list[dict[str, object]] = [
    {"name": ""},
    {"name": "   "},
    {"name": "x" * 101},
    {},
    {"name": None},
    {"name": ["Acme"]},
    {"name": "Acme", "tier": "business"},
]


async def test_a_bad_name_is_a_validation_error(
    client: httpx.AsyncClient, team: Team, subtests: pytest.Subtests
) -> None:
    for method, path in (
        ("POST", ORGANIZATIONS),
        ("PATCH", f"{ORGANIZATIONS}/{team.organization_id}"),
    ):
        for body in BAD_NAMES:
            with subtests.test(method=method, body=body):
                response = await client.request(method, path, json=body, headers=team.owner.headers)
                problem = assert_problem(response, 422, "validation_error")
                assert problem["errors"][0]["loc"][0] == "body"
    acme = await client.get(f"{ORGANIZATIONS}/{team.organization_id}", headers=team.owner.headers)
    assert acme.json()["name"] == "Acme"
    assert acme.json()["tier"] == "free"
    listed = await client.get(ORGANIZATIONS, headers=team.owner.headers)
    assert len(listed.json()["items"]) == 2


async def test_unknown_and_malformed_organization_ids_are_not_found(
    client: httpx.AsyncClient, team: Team
) -> None:
    missing = await client.get(f"{ORGANIZATIONS}/{uuid.uuid4()}", headers=team.owner.headers)
    assert_problem(missing, 404, "not_found")
    # Ids are opaque to clients: one that can't exist is not found, like one that doesn't.
    for malformed in ("not-a-uuid", "1"):
        answer = await client.get(f"{ORGANIZATIONS}/{malformed}", headers=team.owner.headers)
        assert_problem(answer, 404, "not_found")
    # A NUL character is refused wherever it appears, before any lookup.
    nul = await client.get(f"{ORGANIZATIONS}/%00", headers=team.owner.headers)
    assert_problem(nul, 422, "validation_error")


async def test_deleting_an_organization_deletes_everything_in_it(
    client: httpx.AsyncClient, runtime: Runtime, team: Team
) -> None:
    deleted = await client.delete(
        f"{ORGANIZATIONS}/{team.organization_id}", headers=team.owner.headers
    )
    assert deleted.status_code == 204, deleted.text

    for account in (team.owner, team.admin, team.member, team.viewer):
        gone = await client.get(f"{ORGANIZATIONS}/{team.organization_id}", headers=account.headers)
        assert_problem(gone, 404, "not_found")
        assert team.organization_id not in await memberships_in_me(client, account)
    refused = await client.get(ORGANIZATIONS, headers=team.headers("admin_key"))
    assert_problem(refused, 401, "not_authenticated")

    async with session_scope(runtime) as session:
        for column in (
            Organization.id,
            Membership.organization_id,
            Invitation.organization_id,
            ApiKey.organization_id,
        ):
            left = await session.scalar(select(func.count()).where(column == team.organization_id))
            assert left == 0, column
        # Nothing else went with it: the people and their other organizations stay.
        others = await session.scalar(
            select(func.count())
            .select_from(Organization)
            .where(Organization.id == team.outsider_organization_id)
        )
        assert others == 1
    assert (await memberships_in_me(client, team.member))[
        team.member.personal_organization_id
    ] == "owner"


# --- Idempotency-Key ---------------------------------------------------------------------------


async def test_a_repeated_creation_with_the_same_key_is_replayed(
    client: httpx.AsyncClient, runtime: Runtime, team: Team
) -> None:
    first = await _create(client, team.owner, "Once Only", key="create-once")
    again = await _create(client, team.owner, "Once Only", key="create-once")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _count(runtime, Organization, name="Once Only") == 1


async def test_the_same_key_with_another_body_is_a_conflict(
    client: httpx.AsyncClient, runtime: Runtime, team: Team
) -> None:
    first = await _create(client, team.owner, "First Body", key="reused")
    assert first.status_code == 201, first.text
    other = await _create(client, team.owner, "Second Body", key="reused")
    assert_problem(other, 409, "idempotency_conflict")
    assert await _count(runtime, Organization, name="Second Body") == 0


async def test_different_users_with_the_same_key_dont_collide(
    client: httpx.AsyncClient, runtime: Runtime, team: Team
) -> None:
    mine = await _create(client, team.owner, "Shared Name", key="same-key")
    theirs = await _create(client, team.outsider, "Shared Name", key="same-key")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers
    assert await _count(runtime, Organization, name="Shared Name") == 2


async def test_without_a_key_each_request_creates(
    client: httpx.AsyncClient, runtime: Runtime, team: Team
) -> None:
    first = await _create(client, team.owner, "Twice")
    second = await _create(client, team.owner, "Twice")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert await _count(runtime, Organization, name="Twice") == 2


async def test_a_repeated_invitation_with_the_same_key_is_replayed(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, runtime: Runtime, team: Team
) -> None:
    email = "once.invited@example.com"
    first = await invite(client, team.owner, team.organization_id, email, idempotency_key="inv-1")
    again = await invite(client, team.owner, team.organization_id, email, idempotency_key="inv-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await _count(runtime, Invitation, email=email) == 1
    await jobs.drain()
    assert len(emails_to(settings, email)) == 1

    # Without the key the same request is a second invitation, refused as a duplicate.
    duplicate = await invite(client, team.owner, team.organization_id, email)
    assert_problem(duplicate, 409, "conflict")


async def test_an_invitation_key_reused_with_another_body_is_a_conflict(
    client: httpx.AsyncClient, runtime: Runtime, team: Team
) -> None:
    first = await invite(
        client, team.owner, team.organization_id, "a@example.com", idempotency_key="inv-2"
    )
    assert first.status_code == 201, first.text
    other = await invite(
        client, team.owner, team.organization_id, "b@example.com", idempotency_key="inv-2"
    )
    assert_problem(other, 409, "idempotency_conflict")
    promoted = await invite(
        client, team.owner, team.organization_id, "a@example.com", "admin", idempotency_key="inv-2"
    )
    assert_problem(promoted, 409, "idempotency_conflict")
    assert await _count(runtime, Invitation, email="b@example.com") == 0


async def test_invitation_keys_of_different_users_dont_collide(
    client: httpx.AsyncClient, runtime: Runtime, team: Team
) -> None:
    by_owner = await invite(
        client, team.owner, team.organization_id, "c@example.com", idempotency_key="inv-3"
    )
    by_admin = await invite(
        client, team.admin, team.organization_id, "d@example.com", idempotency_key="inv-3"
    )
    assert by_owner.status_code == by_admin.status_code == 201
    assert by_owner.json()["id"] != by_admin.json()["id"]
    assert "idempotent-replayed" not in by_admin.headers


async def test_a_new_account_starts_with_only_its_personal_organization(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client, name="Nora New")
    listed = await client.get(ORGANIZATIONS, headers=account.headers)
    [personal] = listed.json()["items"]
    assert personal["id"] == str(account.personal_organization_id)
    assert personal["personal"] is True
    assert personal["role"] == "owner"
    assert personal["name"] == "Nora New"
