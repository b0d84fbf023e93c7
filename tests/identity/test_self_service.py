"""Account self-service: name, email (verified at the new address first), password (other
sessions end), deletion (refused while the last owner of a team or a subscription) and export."""

from __future__ import annotations

import httpx

from t21.billing.models import BillingAccount
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.worker.queue import JobQueue
from tests.core.test_http import assert_problem
from tests.support.accounts import (
    PASSWORD,
    Account,
    add_member,
    create_organization,
    emails_to,
    latest_token,
    register,
)

NEW_PASSWORD = "another long passphrase"


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_a_new_name_takes_effect_at_once(client: httpx.AsyncClient) -> None:
    ada = await register(client, name="Ada")
    response = await client.patch(
        "/api/v1/auth/me", json={"name": "  Ada Lovelace "}, headers=ada.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Ada Lovelace"
    assert response.json()["pending_email"] is None
    assert response.json()["memberships"]
    me = await client.get("/api/v1/auth/me", headers=ada.headers)
    assert me.json()["name"] == "Ada Lovelace"


async def test_a_new_email_is_verified_at_the_new_address_before_it_replaces_the_old(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    ada = await register(client, "ada@example.com")
    old_link = await latest_token(jobs, settings, "ada@example.com", "/verify-email")
    asked = await client.patch(
        "/api/v1/auth/me", json={"email": "Ada@New.example.com"}, headers=ada.headers
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["email"] == "ada@example.com"
    assert asked.json()["pending_email"] == "ada@new.example.com"
    # Until the link is followed, the old address signs in and the new one does not.
    assert (await _sign_in(client, "ada@new.example.com", PASSWORD)).status_code == 401
    token = await latest_token(jobs, settings, "ada@new.example.com", "/verify-email")
    verified = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json()["email"] == "ada@new.example.com"
    assert verified.json()["email_verified"] is True
    assert (await _sign_in(client, "ada@new.example.com", PASSWORD)).status_code == 200
    assert (await _sign_in(client, "ada@example.com", PASSWORD)).status_code == 401
    # Links still out for the old address stop working.
    stale = await client.post("/api/v1/auth/verify-email", json={"token": old_link})
    assert_problem(stale, 400, "bad_request")
    again = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert_problem(again, 400, "bad_request")


async def test_the_old_address_is_told_once_the_new_one_is_verified(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    ada = await register(client, "grace@example.com", name="Grace")
    await client.patch("/api/v1/auth/me", json={"email": "grace@new.example"}, headers=ada.headers)
    await jobs.drain(timeout=20)

    def notices(address: str) -> list[str]:
        return [
            str(message["Subject"])
            for message in emails_to(settings, address)
            if "was changed" in str(message["Subject"])
        ]

    # Only asked: nothing has changed yet, so nobody is told.
    assert notices("grace@example.com") == []
    token = await latest_token(jobs, settings, "grace@new.example", "/verify-email")
    assert (await client.post("/api/v1/auth/verify-email", json={"token": token})).is_success
    await jobs.drain(timeout=20)
    assert notices("grace@example.com") == ["Your T21 account's email address was changed"]
    [notice] = [
        m for m in emails_to(settings, "grace@example.com") if "was changed" in str(m["Subject"])
    ]
    text = str(notice.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert "grace@new.example" in text
    assert "reset your password" in text
    assert notices("grace@new.example") == []
    # A link followed twice tells nobody twice.
    assert not (await client.post("/api/v1/auth/verify-email", json={"token": token})).is_success
    await jobs.drain(timeout=20)
    assert len(notices("grace@example.com")) == 1


async def test_an_email_taken_by_another_account_is_refused(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    ada = await register(client, "ada@example.com")
    await register(client, "bea@example.com")
    taken = await client.patch(
        "/api/v1/auth/me", json={"email": "BEA@example.com"}, headers=ada.headers
    )
    assert_problem(taken, 409, "conflict")


async def test_an_address_taken_before_the_link_is_followed_is_refused_then(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    ada = await register(client, "ada@example.com")
    await client.patch("/api/v1/auth/me", json={"email": "new@example.com"}, headers=ada.headers)
    token = await latest_token(jobs, settings, "new@example.com", "/verify-email")
    await register(client, "new@example.com")
    refused = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert_problem(refused, 409, "conflict")
    me = await client.get("/api/v1/auth/me", headers=ada.headers)
    assert me.json()["email"] == "ada@example.com"


async def test_a_bad_profile_is_a_422(client: httpx.AsyncClient) -> None:
    ada = await register(client)
    for body in ({"email": "not an address"}, {"name": ""}, {"role": "owner"}):
        response = await client.patch("/api/v1/auth/me", json=body, headers=ada.headers)
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"][0] == "body"


async def test_changing_the_password_ends_the_other_sessions_only(
    client: httpx.AsyncClient,
) -> None:
    ada = await register(client)
    other = (await _sign_in(client, ada.email, PASSWORD)).json()
    other_headers = {"Authorization": f"Bearer {other['access_token']}"}
    assert (await client.get("/api/v1/auth/me", headers=other_headers)).status_code == 200
    changed = await client.post(
        "/api/v1/auth/change-password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=ada.headers,
    )
    assert changed.status_code == 204, changed.text
    assert (await client.get("/api/v1/auth/me", headers=ada.headers)).status_code == 200
    ended = await client.get("/api/v1/auth/me", headers=other_headers)
    assert_problem(ended, 401, "not_authenticated")
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}
    )
    assert refresh.status_code == 401
    kept = await client.post("/api/v1/auth/refresh", json={"refresh_token": ada.refresh_token})
    assert kept.status_code == 200, kept.text
    assert (await _sign_in(client, ada.email, PASSWORD)).status_code == 401
    assert (await _sign_in(client, ada.email, NEW_PASSWORD)).status_code == 200


async def test_a_wrong_current_password_or_a_weak_new_one_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    ada = await register(client)
    wrong = await client.post(
        "/api/v1/auth/change-password",
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
        headers=ada.headers,
    )
    problem = assert_problem(wrong, 422, "validation_error")
    assert problem["errors"][0]["loc"] == ["body", "current_password"]
    assert problem["errors"][0]["rule"] == "wrong_password"
    weak = await client.post(
        "/api/v1/auth/change-password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=ada.headers,
    )
    assert_problem(weak, 422, "validation_error")
    assert (await _sign_in(client, ada.email, PASSWORD)).status_code == 200
    anonymous = await client.post(
        "/api/v1/auth/change-password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert_problem(anonymous, 401, "not_authenticated")


async def test_deleting_the_account_removes_it_and_its_own_organizations(
    client: httpx.AsyncClient,
) -> None:
    ada = await register(client)
    team = await create_organization(client, ada, "Solo")
    wrong = await client.request(
        "DELETE", "/api/v1/auth/me", json={"password": "nope nope"}, headers=ada.headers
    )
    assert_problem(wrong, 422, "validation_error")
    deleted = await client.request(
        "DELETE", "/api/v1/auth/me", json={"password": PASSWORD}, headers=ada.headers
    )
    assert deleted.status_code == 204, deleted.text
    assert_problem(
        await client.get("/api/v1/auth/me", headers=ada.headers), 401, "not_authenticated"
    )
    assert (await _sign_in(client, ada.email, PASSWORD)).status_code == 401
    bea = await register(client, ada.email)  # the address is free again
    gone = await client.get(f"/api/v1/organizations/{team}", headers=bea.headers)
    assert gone.status_code == 404


async def test_the_last_owner_of_a_team_with_members_cannot_delete_the_account(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    ada = await register(client)
    team = await create_organization(client, ada, "Acme")
    bea = await add_member(client, jobs, settings, inviter=ada, organization_id=team, role="member")
    refused = await client.request(
        "DELETE", "/api/v1/auth/me", json={"password": PASSWORD}, headers=ada.headers
    )
    problem = assert_problem(refused, 409, "conflict")
    assert "Acme" in problem["detail"]
    assert problem["organization_ids"] == [str(team)]
    assert (await client.get("/api/v1/auth/me", headers=ada.headers)).status_code == 200
    # With a second owner, the account can go; the team stays with Bea.
    promoted = await client.patch(
        f"/api/v1/organizations/{team}/members/{bea.user_id}",
        json={"role": "owner"},
        headers=ada.headers,
    )
    assert promoted.status_code == 200, promoted.text
    deleted = await client.request(
        "DELETE", "/api/v1/auth/me", json={"password": PASSWORD}, headers=ada.headers
    )
    assert deleted.status_code == 204, deleted.text
    members = await client.get(f"/api/v1/organizations/{team}/members", headers=bea.headers)
    assert members.status_code == 200
    assert ada.email not in members.text


async def test_the_last_owner_of_a_live_subscription_cannot_delete_the_account(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    ada = await register(client)
    async with session_scope(runtime) as session:
        session.add(
            BillingAccount(
                organization_id=ada.personal_organization_id,
                stripe_customer_id="cus_selfservice",
                stripe_subscription_id="sub_selfservice",
                status="active",
            )
        )
    refused = await client.request(
        "DELETE", "/api/v1/auth/me", json={"password": PASSWORD}, headers=ada.headers
    )
    problem = assert_problem(refused, 409, "conflict")
    assert problem["organization_ids"] == [str(ada.personal_organization_id)]


async def test_the_export_holds_the_account_and_what_it_made_without_secrets(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    ada: Account = await register(client, "ada@example.com", name="Ada")
    team = await create_organization(client, ada, "Acme")
    brand = await client.post(
        "/api/v1/brands", json={"name": "Acme", "organization_id": str(team)}, headers=ada.headers
    )
    assert brand.status_code == 201, brand.text
    post = await client.post(
        "/api/v1/posts",
        json={"brand_id": brand.json()["id"], "content": "Hello from Ada", "targets": []},
        headers=ada.headers,
    )
    assert post.status_code == 201, post.text
    await client.post(
        f"/api/v1/organizations/{team}/invitations",
        json={"email": "bea@example.com", "role": "member"},
        headers=ada.headers,
    )
    response = await client.get("/api/v1/auth/me/export", headers=ada.headers)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["user"]["email"] == "ada@example.com"
    assert data["user"]["name"] == "Ada"
    assert {m["organization"]["name"] for m in data["memberships"]} >= {"Acme"}
    assert [p["content"] for p in data["posts"]] == ["Hello from Ada"]
    assert [i["email"] for i in data["invitations_sent"]] == ["bea@example.com"]
    assert len(data["sessions"]) == 1
    text = response.text
    assert ada.access_token not in text
    assert ada.refresh_token not in text
    assert "argon2" not in text
    assert "password_hash" not in text
    anonymous = await client.get("/api/v1/auth/me/export")
    assert_problem(anonymous, 401, "not_authenticated")
