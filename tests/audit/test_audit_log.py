"""The audit log: every listed action writes one entry with its actor, in the action's own
transaction; owners and admins read their organization's log (filtered, paginated, exported) and
nobody else's; entries past their retention go."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import func, select

from t21.audit import service as audit_service
from t21.audit.models import AuditEntry
from t21.audit.service import SYSTEM
from t21.audit.tasks import purge_audit_entries
from t21.core import clock
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from tests.core.test_http import assert_problem
from tests.organizations.conftest import ORGANIZATIONS, Team, bearer, invite
from tests.social.conftest import World
from tests.support.accounts import Account, register


def _log_path(organization_id: uuid.UUID | str) -> str:
    return f"{ORGANIZATIONS}/{organization_id}/audit-log"


async def _entries(
    client: httpx.AsyncClient, organization_id: uuid.UUID | str, by: Account, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(_log_path(organization_id), params=params, headers=by.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _count(runtime: Runtime) -> int:
    async with session_scope(runtime) as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def test_each_team_action_writes_one_entry_naming_its_actor(
    client: httpx.AsyncClient, team: Team
) -> None:
    org = team.organization_id
    before = {entry["id"] for entry in await _entries(client, org, team.owner, limit=100)}
    steps = [
        ("PATCH", f"{ORGANIZATIONS}/{org}", {"name": "Acme Ltd"}, team.admin),
        ("POST", f"{ORGANIZATIONS}/{org}/invitations", {"email": "x@example.com"}, team.owner),
        ("PATCH", f"{ORGANIZATIONS}/{org}/members/{team.member.user_id}", {"role": "viewer"},
         team.admin),
        ("DELETE", f"{ORGANIZATIONS}/{org}/members/{team.viewer.user_id}", None, team.owner),
        ("POST", f"{ORGANIZATIONS}/{org}/api-keys", {"name": "ci", "role": "member"}, team.admin),
        ("DELETE", f"{ORGANIZATIONS}/{org}/invitations/{team.invitation['id']}", None,
         team.admin),
    ]  # fmt: skip
    for method, path, body, who in steps:
        response = await client.request(method, path, json=body, headers=who.headers)
        assert response.status_code < 300, response.text
    entries = [
        entry
        for entry in await _entries(client, org, team.owner, limit=100)
        if entry["id"] not in before
    ]
    entries.reverse()  # oldest first, in the order of the steps
    assert [entry["action"] for entry in entries] == [
        "organization.renamed",
        "invitation.created",
        "member.role_changed",
        "member.removed",
        "api_key.created",
        "invitation.revoked",
    ]
    renamed, invited, changed, removed, key, revoked = entries
    assert renamed["actor"] == {"type": "user", "id": str(team.admin.user_id), "name": "Adam Admin"}
    assert renamed["details"] == {"from": "Acme", "to": "Acme Ltd"}
    assert renamed["target"] == {"type": "organization", "id": str(org)}
    assert invited["details"] == {"email": "x@example.com", "role": "member"}
    assert changed["details"]["from"] == "member"
    assert changed["details"]["to"] == "viewer"
    assert changed["target"] == {"type": "member", "id": str(team.member.user_id)}
    assert removed["details"]["role"] == "viewer"
    assert removed["details"]["left"] is False
    assert key["details"]["name"] == "ci"
    assert key["details"]["role"] == "member"
    assert "t21_" not in json.dumps(entries).replace(key["details"]["prefix"], "")
    assert revoked["target"]["id"] == team.invitation["id"]
    for entry in entries:
        assert entry["id"].startswith("aud_")
        assert entry["at"].endswith("Z")


async def test_an_api_key_is_the_actor_of_what_it_does(
    client: httpx.AsyncClient, team: Team
) -> None:
    org = team.organization_id
    renamed = await client.patch(
        f"{ORGANIZATIONS}/{org}", json={"name": "By key"}, headers=bearer(team.admin_key["key"])
    )
    assert renamed.status_code == 200, renamed.text
    [entry] = await _entries(client, org, team.owner, action="organization.renamed")
    assert entry["actor"] == {"type": "api_key", "id": team.admin_key["id"], "name": "key-admin"}


async def test_a_revoked_key_and_a_departed_creators_keys_are_recorded(
    client: httpx.AsyncClient, team: Team
) -> None:
    org = team.organization_id
    gone = await client.delete(
        f"{ORGANIZATIONS}/{org}/api-keys/{team.member_key['id']}", headers=team.admin.headers
    )
    assert gone.status_code == 204
    admin_key = await client.post(
        f"{ORGANIZATIONS}/{org}/api-keys",
        json={"name": "admins-bot", "role": "member"},
        headers=team.admin.headers,
    )
    assert admin_key.status_code == 201
    removed = await client.delete(
        f"{ORGANIZATIONS}/{org}/members/{team.admin.user_id}", headers=team.owner.headers
    )
    assert removed.status_code == 204
    revocations = await _entries(client, org, team.owner, action="api_key.revoked")
    by_key = {entry["target"]["id"]: entry for entry in revocations}
    assert by_key[team.member_key["id"]]["actor"]["id"] == str(team.admin.user_id)
    automatic = by_key[admin_key.json()["id"]]
    assert automatic["actor"] == {"type": "system", "id": None, "name": "T21"}
    assert automatic["details"]["reason"] == "its creator left the organization"


async def test_joining_by_invitation_is_recorded_with_the_newcomer_as_actor(
    client: httpx.AsyncClient, team: Team
) -> None:
    joined = await _entries(client, team.organization_id, team.owner, action="member.joined")
    assert {entry["actor"]["id"] for entry in joined} == {
        str(team.admin.user_id),
        str(team.member.user_id),
        str(team.viewer.user_id),
    }
    assert {entry["details"]["role"] for entry in joined} == {"admin", "member", "viewer"}


async def test_a_refused_action_writes_nothing(
    client: httpx.AsyncClient, team: Team, runtime: Runtime
) -> None:
    before = await _count(runtime)
    again = await invite(client, team.owner, team.organization_id, team.member.email)
    assert again.status_code == 409
    forbidden = await client.patch(
        f"{ORGANIZATIONS}/{team.organization_id}/members/{team.admin.user_id}",
        json={"role": "viewer"},
        headers=team.member.headers,
    )
    assert forbidden.status_code == 403
    assert await _count(runtime) == before


async def test_only_owners_and_admins_of_the_organization_read_its_log(
    client: httpx.AsyncClient, team: Team
) -> None:
    path = _log_path(team.organization_id)
    assert (await client.get(path, headers=team.owner.headers)).status_code == 200
    assert (await client.get(path, headers=team.admin.headers)).status_code == 200
    assert_problem(await client.get(path, headers=team.member.headers), 403, "forbidden")
    assert_problem(await client.get(path, headers=team.viewer.headers), 403, "forbidden")
    assert_problem(await client.get(path, headers=team.outsider.headers), 404, "not_found")
    assert_problem(await client.get(path), 401, "not_authenticated")
    # The outsider's own organization has its own log, without Acme's entries.
    renamed = await client.patch(
        f"{ORGANIZATIONS}/{team.outsider_organization_id}",
        json={"name": "Other Ltd"},
        headers=team.outsider.headers,
    )
    assert renamed.status_code == 200
    theirs = await _entries(client, team.outsider_organization_id, team.outsider)
    assert [entry["action"] for entry in theirs] == ["organization.renamed"]
    ours = await _entries(client, team.organization_id, team.owner, limit=100)
    assert all(entry["details"].get("to") != "Other Ltd" for entry in ours)


async def test_filters_and_pages(client: httpx.AsyncClient, team: Team) -> None:
    org = team.organization_id
    for name in ("One", "Two", "Three"):
        response = await client.patch(
            f"{ORGANIZATIONS}/{org}", json={"name": name}, headers=team.admin.headers
        )
        assert response.status_code == 200
    by_admin = await _entries(client, org, team.owner, actor_id=str(team.admin.user_id))
    assert {entry["action"] for entry in by_admin} == {"organization.renamed", "member.joined"}
    renames = await _entries(client, org, team.owner, action="organization.renamed")
    assert [entry["details"]["to"] for entry in renames] == ["Three", "Two", "One"]

    first = await client.get(
        _log_path(org),
        params={"action": "organization.renamed", "limit": 2},
        headers=team.owner.headers,
    )
    body = first.json()
    assert len(body["items"]) == 2
    assert body["next_cursor"]
    rest = await client.get(
        _log_path(org),
        params={"action": "organization.renamed", "limit": 2, "cursor": body["next_cursor"]},
        headers=team.owner.headers,
    )
    assert [entry["details"]["to"] for entry in rest.json()["items"]] == ["One"]
    assert rest.json()["next_cursor"] is None

    later = (clock.now() + timedelta(minutes=1)).isoformat()
    assert await _entries(client, org, team.owner, **{"from": later}) == []
    assert len(await _entries(client, org, team.owner, to=later, limit=100)) >= 3


async def test_bad_filters_are_refused_by_name(client: httpx.AsyncClient, team: Team) -> None:
    path = _log_path(team.organization_id)
    unknown = await client.get(path, params={"action": "nope"}, headers=team.owner.headers)
    problem = assert_problem(unknown, 422, "validation_error")
    assert problem["errors"][0]["loc"] == ["query", "action"]
    backwards = await client.get(
        path,
        params={"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        headers=team.owner.headers,
    )
    assert_problem(backwards, 422, "validation_error")
    naive = await client.get(
        path, params={"from": "2026-12-01T00:00:00"}, headers=team.owner.headers
    )
    assert_problem(naive, 422, "validation_error")
    cursor = await client.get(path, params={"cursor": "garbage"}, headers=team.owner.headers)
    assert_problem(cursor, 422, "validation_error")


async def test_the_export_streams_every_entry_with_formulas_defused(
    client: httpx.AsyncClient, team: Team
) -> None:
    org = team.organization_id
    renamed = await client.patch(
        f"{ORGANIZATIONS}/{org}", json={"name": "=HYPERLINK(1)"}, headers=team.owner.headers
    )
    assert renamed.status_code == 200
    listed = await _entries(client, org, team.owner, limit=100)

    exported = await client.get(f"{_log_path(org)}/export", headers=team.owner.headers)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["id"] for row in rows] == [entry["id"] for entry in listed]
    assert rows[0]["action"] == "organization.renamed"
    assert json.loads(rows[0]["details"])["to"] == "=HYPERLINK(1)"  # inside JSON: not a formula

    lines = await client.get(
        f"{_log_path(org)}/export",
        params={"format": "jsonl", "action": "member.joined"},
        headers=team.owner.headers,
    )
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    parsed = [json.loads(line) for line in lines.text.splitlines()]
    assert len(parsed) == 3
    assert {entry["action"] for entry in parsed} == {"member.joined"}

    refused = await client.get(f"{_log_path(org)}/export", headers=team.member.headers)
    assert_problem(refused, 403, "forbidden")
    bad = await client.get(
        f"{_log_path(org)}/export", params={"format": "xlsx"}, headers=team.owner.headers
    )
    assert_problem(bad, 422, "validation_error")


async def test_a_formula_in_a_csv_cell_is_defused(team: Team, runtime: Runtime) -> None:
    async with session_scope(runtime) as session:
        await audit_service.record(
            session,
            organization_id=team.organization_id,
            actor=audit_service.Actor("user", "u1", "=cmd|'/c calc'!A1"),
            action="organization.renamed",
            target_type="organization",
            target_id=team.organization_id,
        )
    chunks = [
        chunk
        async for chunk in audit_service.export(
            runtime, team.organization_id, audit_service.AuditFilter(), "csv"
        )
    ]
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert rows[0]["actor_name"] == "'=cmd|'/c calc'!A1"


async def test_entries_past_the_retention_are_purged(
    team: Team, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    retention = runtime.settings.audit_retention_days
    async with session_scope(runtime) as session:
        old = await audit_service.record(
            session,
            organization_id=team.organization_id,
            actor=SYSTEM,
            action="organization.renamed",
            target_type="organization",
            target_id=team.organization_id,
        )
        old.at = clock.now() - timedelta(days=retention + 1)
        old_id = old.id
    kept = await _count(runtime) - 1
    async with session_scope(runtime) as session:
        assert await purge_audit_entries(session) == 1
    assert await _count(runtime) == kept
    ids = {entry["id"] for entry in await _entries(client, team.organization_id, team.owner)}
    assert old_id not in ids


async def test_connecting_and_removing_an_account_and_deleting_content_are_recorded(
    world: World,
) -> None:
    api, owner = world.api, world.owner
    me = (await api.get("/api/v1/auth/me", headers=owner.headers)).json()
    [organization_id] = [m["organization"]["id"] for m in me["memberships"]]
    [account_id] = await world.connected_ids("twitter")
    post = await api.post(
        "/api/v1/posts",
        json={
            "brand_id": world.brand_id,
            "content": "Hello",
            "targets": [{"social_account_id": account_id}],
        },
        headers=owner.headers,
    )
    assert post.status_code == 201, post.text
    steps = [
        ("DELETE", f"/api/v1/posts/{post.json()['id']}"),
        ("DELETE", f"/api/v1/social-accounts/{account_id}"),
        ("DELETE", f"/api/v1/brands/{world.brand_id}"),
    ]
    for method, path in steps:
        response = await api.request(method, path, headers=owner.headers)
        assert response.status_code == 204, response.text
    entries = await _entries(api, organization_id, owner, limit=100)
    actions = [entry["action"] for entry in reversed(entries)]
    assert actions == [
        "social_account.connected",
        "post.deleted",
        "social_account.removed",
        "brand.deleted",
    ]
    connected = entries[-1]
    assert connected["actor"]["id"] == str(owner.user_id)
    assert connected["details"]["platform"] == "twitter"
    assert connected["target"] == {"type": "social_account", "id": account_id}
    assert entries[0]["details"] == {"name": "Acme"}


async def test_an_unknown_action_is_a_programming_error(team: Team, runtime: Runtime) -> None:
    async with session_scope(runtime) as session:
        with pytest.raises(ValueError, match=r"member\.teleported"):
            await audit_service.record(
                session,
                organization_id=team.organization_id,
                actor=SYSTEM,
                action="member.teleported",
                target_type="member",
                target_id=None,
            )


async def test_registration_writes_no_entry(client: httpx.AsyncClient, runtime: Runtime) -> None:
    before = await _count(runtime)
    await register(client)
    assert await _count(runtime) == before


async def test_webhook_endpoint_changes_are_recorded(client: httpx.AsyncClient, team: Team) -> None:
    org = team.organization_id
    created = await client.post(
        "/api/v1/webhooks",
        json={"organization_id": str(org), "url": "http://127.0.0.1:9/hook"},
        headers=team.admin.headers,
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    secret = hook["secret"]
    path = f"/api/v1/webhooks/{hook['id']}"
    for method, suffix, body in [
        ("PATCH", "", {"status": "disabled"}),
        ("POST", "/rotate-secret", None),
        ("DELETE", "", None),
    ]:
        response = await client.request(
            method, path + suffix, json=body, headers=team.admin.headers
        )
        assert response.status_code < 300, response.text
    entries = [
        entry
        for entry in await _entries(client, org, team.owner, limit=100)
        if entry["target"]["type"] == "webhook"
    ]
    assert [entry["action"] for entry in reversed(entries)] == [
        "webhook.created",
        "webhook.updated",
        "webhook.secret_rotated",
        "webhook.deleted",
    ]
    assert entries[-1]["details"] == {"url": "http://127.0.0.1:9/hook"}
    assert entries[-2]["details"] == {"status": "disabled"}
    assert secret not in json.dumps(entries)


def test_the_readme_lists_every_action() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Audit log", 1)[1].split("\n## ", 1)[0]
    for action in audit_service.ACTIONS:
        assert f"| `{action}` |" in section, action


async def test_two_factor_changes_write_one_entry_in_each_of_the_users_organizations(
    client: httpx.AsyncClient, team: Team
) -> None:
    auth = "/api/v1/auth"
    member = team.member
    logs = (team.organization_id, member.personal_organization_id)
    before = {
        entry["id"]
        for org in logs
        for entry in await _entries(client, org, _reader(team, org), limit=100)
    }
    started = await client.post(f"{auth}/2fa/totp", headers=member.headers)
    assert started.status_code == 201, started.text
    totp = pyotp.TOTP(started.json()["secret"])
    confirmed = await client.post(
        f"{auth}/2fa/totp/confirm", json={"code": totp.at(clock.now())}, headers=member.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]

    login = await client.post(
        f"{auth}/login", json={"email": member.email, "password": member.password}
    )
    signed_in = await client.post(
        f"{auth}/2fa/verify",
        json={"challenge": login.json()["challenge"], "recovery_code": codes[0]},
    )
    assert signed_in.status_code == 200, signed_in.text
    # Refused attempts write nothing.
    wrong = await client.post(
        f"{auth}/2fa/recovery-codes", json={"password": "not it"}, headers=member.headers
    )
    assert_problem(wrong, 401, "invalid_second_factor")
    renewed = await client.post(
        f"{auth}/2fa/recovery-codes", json={"password": member.password}, headers=member.headers
    )
    assert renewed.status_code == 200, renewed.text
    stale = await client.request(
        "DELETE", f"{auth}/2fa/totp", json={"recovery_code": codes[1]}, headers=member.headers
    )
    assert_problem(stale, 401, "invalid_second_factor")
    off = await client.request(
        "DELETE",
        f"{auth}/2fa/totp",
        json={"recovery_code": renewed.json()["recovery_codes"][0]},
        headers=member.headers,
    )
    assert off.status_code == 204, off.text

    for org in logs:
        entries = [
            entry
            for entry in await _entries(client, org, _reader(team, org), limit=100)
            if entry["id"] not in before
        ]
        assert sorted(entry["action"] for entry in entries) == sorted(
            [
                "totp.enabled",
                "recovery_code.used",
                "recovery_codes.regenerated",
                "recovery_code.used",
                "totp.disabled",
            ]
        )
        for entry in entries:
            assert entry["actor"]["type"] == "user"
            assert entry["actor"]["id"] == str(member.user_id)
            assert entry["target"] == {"type": "user", "id": str(member.user_id)}
        details = {entry["action"]: entry["details"] for entry in entries}
        assert details["recovery_codes.regenerated"] == {"proof": "password"}
        assert details["totp.disabled"] == {"proof": "recovery_code"}
        assert sorted(
            entry["details"]["remaining"]
            for entry in entries
            if entry["action"] == "recovery_code.used"
        ) == [9, 9]
        assert not any(code in json.dumps(entries) for code in codes)
    # Another tenant's log hears nothing of it.
    other = await _entries(client, team.outsider_organization_id, team.outsider, limit=100)
    assert not [entry for entry in other if entry["actor"]["id"] == str(member.user_id)]


def _reader(team: Team, organization_id: uuid.UUID) -> Account:
    """Who may read `organization_id`'s log: Acme's owner, or the member in their own."""
    return team.owner if organization_id == team.organization_id else team.member
