"""Members and roles: an organization always keeps an owner, admins manage only those below them,
anyone may leave (except their personal organization), and changes show everywhere at once."""

from __future__ import annotations

import uuid

import httpx
import pytest

from t21.core.settings import Settings
from t21.worker.queue import JobQueue
from tests.core.test_http import assert_problem
from tests.organizations.conftest import ORGANIZATIONS, Team, join, memberships_in_me, roles_of
from tests.support.accounts import Account


async def _set_role(
    client: httpx.AsyncClient,
    by: Account,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
) -> httpx.Response:
    return await client.patch(
        f"{ORGANIZATIONS}/{organization_id}/members/{user_id}",
        json={"role": role},
        headers=by.headers,
    )


async def _remove(
    client: httpx.AsyncClient, by: Account, organization_id: uuid.UUID, user_id: uuid.UUID
) -> httpx.Response:
    return await client.delete(
        f"{ORGANIZATIONS}/{organization_id}/members/{user_id}", headers=by.headers
    )


async def test_the_last_owner_cant_be_demoted(client: httpx.AsyncClient, team: Team) -> None:
    for role in ("admin", "member", "viewer"):
        response = await _set_role(
            client, team.owner, team.organization_id, team.owner.user_id, role
        )
        assert_problem(response, 409, "conflict")
    roles = await roles_of(client, team.organization_id, team.owner)
    assert roles[team.owner.user_id] == "owner"


async def test_the_last_owner_cant_leave_or_be_removed(
    client: httpx.AsyncClient, team: Team
) -> None:
    left = await _remove(client, team.owner, team.organization_id, team.owner.user_id)
    assert_problem(left, 409, "conflict")
    removed_by_admin = await _remove(client, team.admin, team.organization_id, team.owner.user_id)
    assert_problem(removed_by_admin, 403, "forbidden")
    assert (await roles_of(client, team.organization_id, team.owner))[team.owner.user_id] == "owner"


async def test_a_second_owner_lets_the_first_step_down_and_leave(
    client: httpx.AsyncClient, team: Team
) -> None:
    promoted = await _set_role(
        client, team.owner, team.organization_id, team.admin.user_id, "owner"
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "owner"

    demoted = await _set_role(client, team.owner, team.organization_id, team.owner.user_id, "admin")
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["role"] == "admin"
    restored = await _set_role(
        client, team.admin, team.organization_id, team.owner.user_id, "owner"
    )
    assert restored.status_code == 200, restored.text

    left = await _remove(client, team.owner, team.organization_id, team.owner.user_id)
    assert left.status_code == 204, left.text
    assert await roles_of(client, team.organization_id, team.admin) == {
        team.admin.user_id: "owner",
        team.member.user_id: "member",
        team.viewer.user_id: "viewer",
    }
    # Now the last owner again.
    stuck = await _set_role(client, team.admin, team.organization_id, team.admin.user_id, "admin")
    assert_problem(stuck, 409, "conflict")


async def test_an_owner_may_remove_another_owner(client: httpx.AsyncClient, team: Team) -> None:
    promoted = await _set_role(
        client, team.owner, team.organization_id, team.admin.user_id, "owner"
    )
    assert promoted.status_code == 200, promoted.text
    removed = await _remove(client, team.owner, team.organization_id, team.admin.user_id)
    assert removed.status_code == 204, removed.text
    assert team.admin.user_id not in await roles_of(client, team.organization_id, team.owner)


async def test_admins_cant_change_or_remove_admins_or_owners(
    client: httpx.AsyncClient, team: Team
) -> None:
    second_admin = await _set_role(
        client, team.owner, team.organization_id, team.member.user_id, "admin"
    )
    assert second_admin.status_code == 200, second_admin.text
    for target in (team.owner, team.member):  # an owner, another admin
        for role in ("member", "viewer"):
            changed = await _set_role(
                client, team.admin, team.organization_id, target.user_id, role
            )
            assert_problem(changed, 403, "forbidden")
        removed = await _remove(client, team.admin, team.organization_id, target.user_id)
        assert_problem(removed, 403, "forbidden")
    # Nor their own role: an admin can't change an admin.
    own = await _set_role(client, team.admin, team.organization_id, team.admin.user_id, "member")
    assert_problem(own, 403, "forbidden")
    assert await roles_of(client, team.organization_id, team.owner) == {
        team.owner.user_id: "owner",
        team.admin.user_id: "admin",
        team.member.user_id: "admin",
        team.viewer.user_id: "viewer",
    }


async def test_admins_cant_grant_admin_or_owner(
    client: httpx.AsyncClient, team: Team, subtests: pytest.Subtests
) -> None:
    for role in ("admin", "owner"):
        with subtests.test(role=role):
            response = await _set_role(
                client, team.admin, team.organization_id, team.member.user_id, role
            )
            assert_problem(response, 403, "forbidden")
    roles = await roles_of(client, team.organization_id, team.owner)
    assert roles[team.member.user_id] == "member"


async def test_admins_manage_members_below_admin(client: httpx.AsyncClient, team: Team) -> None:
    upgraded = await _set_role(
        client, team.admin, team.organization_id, team.viewer.user_id, "member"
    )
    assert upgraded.status_code == 200, upgraded.text
    removed = await _remove(client, team.admin, team.organization_id, team.member.user_id)
    assert removed.status_code == 204, removed.text
    assert await roles_of(client, team.organization_id, team.owner) == {
        team.owner.user_id: "owner",
        team.admin.user_id: "admin",
        team.viewer.user_id: "member",
    }


@pytest.mark.parametrize("leaver", ["admin", "member", "viewer"])
async def test_a_member_can_leave(client: httpx.AsyncClient, team: Team, leaver: str) -> None:
    account: Account = getattr(team, leaver)
    left = await _remove(client, account, team.organization_id, account.user_id)
    assert left.status_code == 204, left.text
    assert account.user_id not in await roles_of(client, team.organization_id, team.owner)
    gone = await client.get(f"{ORGANIZATIONS}/{team.organization_id}", headers=account.headers)
    assert_problem(gone, 404, "not_found")


async def test_a_personal_organization_cant_be_left_or_deleted(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, team: Team
) -> None:
    personal = team.owner.personal_organization_id
    left = await _remove(client, team.owner, personal, team.owner.user_id)
    assert_problem(left, 409, "conflict")
    # No one else can come to own it, so no one can push its person out.
    invited_owner = await client.post(
        f"{ORGANIZATIONS}/{personal}/invitations",
        json={"email": team.outsider.email, "role": "owner"},
        headers=team.owner.headers,
    )
    assert_problem(invited_owner, 409, "conflict")
    await join(
        client,
        jobs,
        settings,
        inviter=team.owner,
        organization_id=personal,
        members={"admin": team.outsider},
    )
    promoted = await _set_role(client, team.owner, personal, team.outsider.user_id, "owner")
    assert_problem(promoted, 409, "conflict")
    demoted_by_admin = await _set_role(client, team.outsider, personal, team.owner.user_id, "admin")
    assert_problem(demoted_by_admin, 403, "forbidden")
    deleted = await client.delete(f"{ORGANIZATIONS}/{personal}", headers=team.owner.headers)
    assert_problem(deleted, 409, "conflict")
    assert (await memberships_in_me(client, team.owner))[personal] == "owner"


async def test_role_changes_show_in_members_and_in_me(
    client: httpx.AsyncClient, team: Team
) -> None:
    changed = await _set_role(
        client, team.owner, team.organization_id, team.viewer.user_id, "admin"
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["user"] == {
        "id": str(team.viewer.user_id),
        "email": team.viewer.email,
        "name": "Vic Viewer",
    }
    assert changed.json()["role"] == "admin"
    assert (await roles_of(client, team.organization_id, team.member))[
        team.viewer.user_id
    ] == "admin"
    assert (await memberships_in_me(client, team.viewer))[team.organization_id] == "admin"
    # The new role takes effect on the very next request: an admin may rename.
    renamed = await client.patch(
        f"{ORGANIZATIONS}/{team.organization_id}",
        json={"name": "Acme Renamed"},
        headers=team.viewer.headers,
    )
    assert renamed.status_code == 200, renamed.text


async def test_removed_members_lose_access(client: httpx.AsyncClient, team: Team) -> None:
    removed = await _remove(client, team.owner, team.organization_id, team.admin.user_id)
    assert removed.status_code == 204, removed.text
    base = f"{ORGANIZATIONS}/{team.organization_id}"
    for path in (base, f"{base}/members", f"{base}/invitations", f"{base}/api-keys"):
        response = await client.get(path, headers=team.admin.headers)
        assert_problem(response, 404, "not_found")
    renamed = await client.patch(base, json={"name": "Mine now"}, headers=team.admin.headers)
    assert_problem(renamed, 404, "not_found")
    assert team.organization_id not in await memberships_in_me(client, team.admin)
    listed = await client.get(ORGANIZATIONS, headers=team.admin.headers)
    assert str(team.organization_id) not in {item["id"] for item in listed.json()["items"]}


async def test_an_unknown_member_is_not_found(client: httpx.AsyncClient, team: Team) -> None:
    changed = await _set_role(client, team.owner, team.organization_id, uuid.uuid4(), "viewer")
    assert_problem(changed, 404, "not_found")
    # A registered user who isn't a member is just as unknown.
    outsider = await _remove(client, team.owner, team.organization_id, team.outsider.user_id)
    assert_problem(outsider, 404, "not_found")


async def test_an_unknown_role_is_a_validation_error(client: httpx.AsyncClient, team: Team) -> None:
    response = await _set_role(
        client, team.owner, team.organization_id, team.member.user_id, "superuser"
    )
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "role"]


async def test_a_member_can_leave_someone_elses_personal_organization(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, team: Team
) -> None:
    personal = team.owner.personal_organization_id
    await join(
        client,
        jobs,
        settings,
        inviter=team.owner,
        organization_id=personal,
        members={"member": team.outsider},
    )
    left = await _remove(client, team.outsider, personal, team.outsider.user_id)
    assert left.status_code == 204, left.text
    assert team.outsider.user_id not in await roles_of(client, personal, team.owner)
