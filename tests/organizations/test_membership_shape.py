"""One shape for a membership everywhere: `{organization: {id, name, slug, tier}, role,
joined_at}` in `/auth/me`, in the answer to accepting an invitation, and in each member of an
organization's member list (with its `user`)."""

from __future__ import annotations

import httpx

from t21.core.settings import Settings
from t21.worker.queue import JobQueue
from tests.support.accounts import latest_token, register

KEYS = {"organization", "role", "joined_at"}
ORGANIZATION_KEYS = {"id", "name", "slug", "tier"}


async def test_a_membership_has_one_shape_in_me_invitations_and_member_lists(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    owner = await register(client, name="Olive")
    team = await client.post("/api/v1/organizations", json={"name": "Acme"}, headers=owner.headers)
    assert team.status_code == 201, team.text
    team_id = team.json()["id"]
    guest = await register(client, name="Gus")
    invited = await client.post(
        f"/api/v1/organizations/{team_id}/invitations",
        json={"email": guest.email, "role": "member"},
        headers=owner.headers,
    )
    assert invited.status_code == 201, invited.text
    token = await latest_token(jobs, settings, guest.email, "/invitations/accept")

    accepted = await client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=guest.headers
    )
    assert accepted.status_code == 200, accepted.text
    joined = accepted.json()
    assert set(joined) == KEYS
    assert set(joined["organization"]) == ORGANIZATION_KEYS
    assert (joined["organization"]["id"], joined["organization"]["name"]) == (team_id, "Acme")
    assert joined["role"] == "member"

    me = (await client.get("/api/v1/auth/me", headers=guest.headers)).json()
    [in_me] = [m for m in me["memberships"] if m["organization"]["id"] == team_id]
    assert in_me == joined
    assert all(set(m) == KEYS for m in me["memberships"])

    listed = await client.get(f"/api/v1/organizations/{team_id}/members", headers=owner.headers)
    assert listed.status_code == 200, listed.text
    members = {item["user"]["id"]: item for item in listed.json()["items"]}
    as_member = members[str(guest.user_id)]
    assert set(as_member) == KEYS | {"user"}
    assert {key: as_member[key] for key in KEYS} == joined
    assert members[str(owner.user_id)]["role"] == "owner"
    # A changed role answers the same shape.
    changed = await client.patch(
        f"/api/v1/organizations/{team_id}/members/{guest.user_id}",
        json={"role": "admin"},
        headers=owner.headers,
    )
    assert changed.status_code == 200, changed.text
    assert set(changed.json()) == KEYS | {"user"}
    assert changed.json()["organization"] == joined["organization"]
