"""Invitations: an emailed single-use link for one address and one role, valid for 7 days, that
only the invited address's account can accept."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import httpx
import pytest

from t21.core import clock
from t21.core.settings import Settings
from t21.worker.queue import JobQueue
from tests.core.test_http import assert_problem
from tests.organizations.conftest import (
    ACCEPT,
    API,
    INVITATION_LINK,
    ORGANIZATIONS,
    Team,
    accept,
    bearer,
    invite,
    roles_of,
)
from tests.support.accounts import emails_to, latest_token, register, sign_in

NEWCOMER = "new.hire@example.com"


def _time(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value)


async def _pending_emails(client: httpx.AsyncClient, team: Team) -> list[str]:
    response = await client.get(
        f"{ORGANIZATIONS}/{team.organization_id}/invitations", headers=team.owner.headers
    )
    assert response.status_code == 200, response.text
    return [item["email"] for item in response.json()["items"]]


async def test_the_invitation_email_names_the_organization_and_holds_a_7_day_link(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, team: Team
) -> None:
    response = await invite(client, team.owner, team.organization_id, NEWCOMER, "viewer")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["organization_id"] == str(team.organization_id)
    assert body["email"] == NEWCOMER
    assert body["role"] == "viewer"
    assert settings.invitation_ttl_s == 7 * 24 * 3600
    lifetime = _time(body["expires_at"]) - _time(body["created_at"])
    assert abs(lifetime - timedelta(days=7)) < timedelta(seconds=5)

    token = await latest_token(jobs, settings, NEWCOMER, INVITATION_LINK)
    [message] = emails_to(settings, NEWCOMER)
    assert "Acme" in message["Subject"]
    assert "Olive Owner" in message["Subject"]
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    content = str(text.get_content())
    assert f"{settings.resolved_frontend_url}/invitations/accept?token={token}" in content
    assert "expires in 7 days" in content
    assert "viewer" in content
    assert token not in response.text
    assert await _pending_emails(client, team) == [team.invitation["email"], NEWCOMER]


async def test_the_link_works_once(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, team: Team
) -> None:
    assert (await invite(client, team.admin, team.organization_id, NEWCOMER)).status_code == 201
    token = await latest_token(jobs, settings, NEWCOMER, INVITATION_LINK)
    newcomer = await register(client, NEWCOMER, name="Nia Newcomer")

    first = await accept(client, newcomer, token)
    assert first.status_code == 200, first.text
    assert first.json()["role"] == "member"
    assert first.json()["organization"]["id"] == str(team.organization_id)
    assert first.json()["organization"]["name"] == "Acme"
    assert (await roles_of(client, team.organization_id, team.owner))[newcomer.user_id] == "member"
    assert NEWCOMER not in await _pending_emails(client, team)

    again = await accept(client, newcomer, token)
    assert_problem(again, 400, "bad_request")


async def test_only_the_invited_addresss_account_may_accept(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, team: Team
) -> None:
    assert (await invite(client, team.owner, team.organization_id, NEWCOMER)).status_code == 201
    token = await latest_token(jobs, settings, NEWCOMER, INVITATION_LINK)

    stolen = await accept(client, team.outsider, token)
    assert_problem(stolen, 403, "forbidden")
    assert team.outsider.user_id not in await roles_of(client, team.organization_id, team.owner)

    # The refused attempt didn't use the link up.
    newcomer = await register(client, NEWCOMER.upper())
    accepted = await accept(client, newcomer, token)
    assert accepted.status_code == 200, accepted.text


async def test_accepting_needs_a_signed_in_user(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, team: Team
) -> None:
    assert (await invite(client, team.owner, team.organization_id, NEWCOMER)).status_code == 201
    token = await latest_token(jobs, settings, NEWCOMER, INVITATION_LINK)
    anonymous = await client.post(ACCEPT, json={"token": token})
    assert_problem(anonymous, 401, "not_authenticated")
    by_key = await client.post(ACCEPT, json={"token": token}, headers=bearer(team.admin_key["key"]))
    assert_problem(by_key, 403, "forbidden")


async def test_an_unknown_token_is_refused(client: httpx.AsyncClient, team: Team) -> None:
    response = await accept(client, team.outsider, "not-a-real-token")
    assert_problem(response, 400, "bad_request")


async def test_an_expired_invitation_is_refused(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, team: Team
) -> None:
    assert (await invite(client, team.owner, team.organization_id, NEWCOMER)).status_code == 201
    token = await latest_token(jobs, settings, NEWCOMER, INVITATION_LINK)
    newcomer = await register(client, NEWCOMER)

    with clock.frozen(clock.now() + timedelta(seconds=settings.invitation_ttl_s + 1)):
        # A week later everyone signs in again; the invitation, though, has expired.
        newcomer = await sign_in(client, newcomer)
        owner = await sign_in(client, team.owner)
        expired = await accept(client, newcomer, token)
        assert_problem(expired, 400, "bad_request")
        # No longer pending: the address may be invited again.
        assert NEWCOMER not in await _pending_emails(client, replace(team, owner=owner))
        again = await invite(client, owner, team.organization_id, NEWCOMER)
        assert again.status_code == 201, again.text
        assert newcomer.user_id not in await roles_of(client, team.organization_id, owner)


async def test_a_revoked_invitation_is_refused(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, team: Team
) -> None:
    invited = await invite(client, team.owner, team.organization_id, NEWCOMER)
    assert invited.status_code == 201, invited.text
    token = await latest_token(jobs, settings, NEWCOMER, INVITATION_LINK)
    path = f"{ORGANIZATIONS}/{team.organization_id}/invitations/{invited.json()['id']}"

    revoked = await client.delete(path, headers=team.admin.headers)
    assert revoked.status_code == 204, revoked.text
    assert NEWCOMER not in await _pending_emails(client, team)
    newcomer = await register(client, NEWCOMER)
    assert_problem(await accept(client, newcomer, token), 400, "bad_request")
    assert_problem(await client.delete(path, headers=team.owner.headers), 404, "not_found")


async def test_inviting_an_existing_member_is_a_conflict(
    client: httpx.AsyncClient, team: Team, subtests: pytest.Subtests
) -> None:
    for email in (team.member.email, team.member.email.upper(), team.owner.email):
        with subtests.test(email=email):
            response = await invite(client, team.owner, team.organization_id, email, "viewer")
            assert_problem(response, 409, "conflict")
    assert await _pending_emails(client, team) == [team.invitation["email"]]


async def test_re_inviting_a_pending_address_is_a_conflict(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, team: Team
) -> None:
    await jobs.drain()
    emailed = len(emails_to(settings, team.invitation["email"]))
    response = await invite(client, team.admin, team.organization_id, team.invitation["email"])
    assert_problem(response, 409, "conflict")
    assert await _pending_emails(client, team) == [team.invitation["email"]]
    await jobs.drain()
    assert len(emails_to(settings, team.invitation["email"])) == emailed


async def test_concurrent_invitations_to_one_address_make_one(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, team: Team
) -> None:
    answers = await asyncio.gather(
        *(invite(client, team.owner, team.organization_id, NEWCOMER) for _ in range(8))
    )
    assert sorted(answer.status_code for answer in answers) == [201] + [409] * 7
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "conflict")
    assert await _pending_emails(client, team) == [team.invitation["email"], NEWCOMER]
    await jobs.drain()
    assert len(emails_to(settings, NEWCOMER)) == 1


async def test_an_admin_cant_invite_at_or_above_their_own_role(
    client: httpx.AsyncClient, team: Team, subtests: pytest.Subtests
) -> None:
    for role in ("admin", "owner"):
        with subtests.test(role=role):
            response = await invite(client, team.admin, team.organization_id, NEWCOMER, role)
            assert_problem(response, 403, "forbidden")
    assert NEWCOMER not in await _pending_emails(client, team)
    allowed = await invite(client, team.admin, team.organization_id, NEWCOMER, "member")
    assert allowed.status_code == 201, allowed.text


async def test_an_owner_may_invite_any_role(
    client: httpx.AsyncClient, team: Team, subtests: pytest.Subtests
) -> None:
    for role in ("owner", "admin", "member", "viewer"):
        with subtests.test(role=role):
            email = f"future.{role}@example.com"
            response = await invite(client, team.owner, team.organization_id, email, role)
            assert response.status_code == 201, response.text
            assert response.json()["role"] == role


async def test_accepting_marks_the_email_verified(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, team: Team
) -> None:
    newcomer = await register(client, NEWCOMER)
    me = await client.get(f"{API}/auth/me", headers=newcomer.headers)
    assert me.json()["email_verified"] is False
    assert (await invite(client, team.owner, team.organization_id, NEWCOMER)).status_code == 201
    token = await latest_token(jobs, settings, NEWCOMER, INVITATION_LINK)
    assert (await accept(client, newcomer, token)).status_code == 200
    me = await client.get(f"{API}/auth/me", headers=newcomer.headers)
    assert me.json()["email_verified"] is True


async def test_an_invalid_invitation_is_a_validation_error(
    client: httpx.AsyncClient, team: Team, subtests: pytest.Subtests
) -> None:
    bodies: list[tuple[dict[str, str], str]] = [
        ({"email": "not-an-email", "role": "member"}, "email"),
        ({"email": "", "role": "member"}, "email"),
        ({"role": "member"}, "email"),
        ({"email": NEWCOMER, "role": "superuser"}, "role"),
    ]
    for body, field in bodies:
        with subtests.test(body=body):
            response = await client.post(
                f"{ORGANIZATIONS}/{team.organization_id}/invitations",
                json=body,
                headers=team.owner.headers,
            )
            problem = assert_problem(response, 422, "validation_error")
            assert [error["loc"] for error in problem["errors"]] == [["body", field]]
    assert await _pending_emails(client, team) == [team.invitation["email"]]
