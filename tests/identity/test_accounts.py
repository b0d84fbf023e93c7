"""Registration, sign-in and /me, as the contract describes them."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.identity.models import User
from tests.core.test_http import assert_problem
from tests.support.accounts import PASSWORD, register


async def test_register_creates_the_user_a_personal_organization_and_a_session(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "Ada@Example.COM", "password": PASSWORD, "name": " Ada Lovelace "},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["user"]["email"] == "ada@example.com"
    assert body["user"]["name"] == "Ada Lovelace"
    assert body["user"]["email_verified"] is False
    assert body["access_token"]
    assert body["refresh_token"]
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    [membership] = me.json()["memberships"]
    assert membership["role"] == "owner"
    assert membership["organization"]["tier"] == "free"
    assert membership["organization"]["name"] == "Ada Lovelace"


async def test_emails_are_unique_whatever_their_case(client: httpx.AsyncClient) -> None:
    await register(client, "grace@example.com")
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": " GRACE@example.com", "password": PASSWORD, "name": "Other"},
    )
    assert_problem(response, 409, "conflict")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 8"),
        ("x" * 129, "at most 128"),
        ("password123", "too common"),
        ("Qwerty123", "too common"),
        ("aaaaaaaaaaaa", "repeats"),
        ("alan.turing", "email address"),
    ],
)
async def test_weak_passwords_are_refused_with_the_reason(
    client: httpx.AsyncClient, runtime: Runtime, password: str, reason: str
) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "alan.turing@example.com", "password": password, "name": "Alan"},
    )
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "password"]
    assert reason in body["detail"]
    assert password not in response.text
    async with session_scope(runtime) as session:
        assert await session.scalar(select(User)) is None


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "not-an-email", "password": PASSWORD, "name": "X"},
        {"email": "a@example.com", "password": PASSWORD, "name": ""},
        {"email": "a@example.com", "password": PASSWORD},
        {"email": "a@example.com", "password": PASSWORD, "name": "X", "role": "admin"},
    ],
)
async def test_malformed_registrations_are_refused(
    client: httpx.AsyncClient, payload: dict[str, str]
) -> None:
    assert_problem(
        await client.post("/api/v1/auth/register", json=payload), 422, "validation_error"
    )


async def test_login_returns_a_fresh_session(client: httpx.AsyncClient) -> None:
    account = await register(client, "hedy@example.com")
    response = await client.post(
        "/api/v1/auth/login", json={"email": "HEDY@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == str(account.user_id)
    assert body["refresh_token"] != account.refresh_token


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "katherine@example.com")
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": "katherine@example.com", "password": "not it at all"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "not it at all"}
    )
    for response in (wrong, unknown):
        assert_problem(response, 401, "invalid_credentials")
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_bcrypt_hashes_from_imports_verify_and_are_upgraded(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    import bcrypt

    account = await register(client, "imported@example.com")
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    async with session_scope(runtime) as session:
        user = await session.get(User, account.user_id)
        assert user is not None
        user.password_hash = legacy
    response = await client.post(
        "/api/v1/auth/login", json={"email": "imported@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    async with session_scope(runtime) as session:
        user = await session.get(User, account.user_id)
        assert user is not None
        assert user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")


async def test_me_needs_credentials(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/me")
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    malformed = await client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"})
    assert_problem(malformed, 401, "not_authenticated")


async def test_stored_passwords_are_argon2id_hashes(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await register(client)
    async with session_scope(runtime) as session:
        user = await session.get(User, account.user_id)
        assert user is not None
        assert user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


async def test_openapi_declares_the_bearer_scheme_on_protected_routes(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/api/v1/auth/me"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in document["paths"]["/api/v1/auth/login"]["post"]
