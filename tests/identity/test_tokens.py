"""Access tokens refuse anything T21 didn't sign as one; refresh tokens rotate, and a reused one
ends its whole sign-in."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from t21.core import clock
from t21.core.security import (
    AUDIENCE,
    ISSUER,
    issue_access_token,
    signing_key,
    token_digest,
)
from t21.core.settings import Settings
from tests.core.test_http import assert_problem
from tests.support.accounts import PASSWORD, Account, register


def _claims(user_id: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return claims


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def account(client: httpx.AsyncClient) -> Account:
    return await register(client)


async def test_a_valid_access_token_works(client: httpx.AsyncClient, account: Account) -> None:
    assert (await _me(client, account.access_token)).status_code == 200


async def test_access_tokens_carry_kid_and_type(account: Account, settings: Settings) -> None:
    header = jwt.get_unverified_header(account.access_token)
    assert header == {"alg": "HS256", "typ": "at+jwt", "kid": signing_key(settings).kid}


def _forge(settings: Settings, user_id: uuid.UUID, **header_overrides: Any) -> str:
    key = signing_key(settings)
    headers = {"kid": key.kid, "typ": "at+jwt", **header_overrides}
    return jwt.encode(_claims(user_id), key.secret, algorithm="HS256", headers=headers)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize(
    "case",
    ["alg_none", "other_hmac_algorithm", "wrong_key", "unknown_kid", "wrong_typ", "tampered"],
)
async def test_forged_access_tokens_are_refused(
    client: httpx.AsyncClient, account: Account, settings: Settings, case: str
) -> None:
    key = signing_key(settings)
    good_headers = {"kid": key.kid, "typ": "at+jwt"}
    if case == "alg_none":
        token = jwt.encode(_claims(account.user_id), "", algorithm="none", headers=good_headers)
    elif case == "other_hmac_algorithm":
        token = jwt.encode(
            _claims(account.user_id), key.secret, algorithm="HS512", headers=good_headers
        )
    elif case == "wrong_key":
        token = jwt.encode(
            _claims(account.user_id), b"k" * 32, algorithm="HS256", headers=good_headers
        )
    elif case == "unknown_kid":
        token = _forge(settings, account.user_id, kid="0000000000000000")
    elif case == "wrong_typ":
        token = _forge(settings, account.user_id, typ="JWT")
    else:
        header, _payload, signature = account.access_token.split(".")
        other = jwt.encode(_claims(uuid.uuid4()), b"x" * 32, algorithm="HS256").split(".")[1]
        token = ".".join([header, other, signature])
    assert_problem(await _me(client, token), 401, "not_authenticated")


@pytest.mark.parametrize(
    "claims",
    [{"aud": "someone-else"}, {"iss": "not-t21"}, {"sub": "not-a-uuid"}, {"exp": None}],
)
async def test_tokens_with_wrong_claims_are_refused(
    client: httpx.AsyncClient, account: Account, settings: Settings, claims: dict[str, Any]
) -> None:
    key = signing_key(settings)
    payload = {k: v for k, v in {**_claims(account.user_id), **claims}.items() if v is not None}
    token = jwt.encode(
        payload, key.secret, algorithm="HS256", headers={"kid": key.kid, "typ": "at+jwt"}
    )
    assert_problem(await _me(client, token), 401, "not_authenticated")


async def test_an_expired_access_token_says_so(
    client: httpx.AsyncClient, account: Account, settings: Settings
) -> None:
    with clock.frozen(clock.now() - timedelta(hours=1)):
        token, _ = issue_access_token(settings, account.user_id)
    assert_problem(await _me(client, token), 401, "token_expired")


async def test_a_token_of_a_deleted_user_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token, _ = issue_access_token(settings, uuid.uuid4())
    assert_problem(await _me(client, token), 401, "not_authenticated")


async def test_the_secret_rotates_without_signing_anyone_out(
    app_factory: Any, settings: Settings
) -> None:
    old_secret = settings.secret()
    new_secret = "n" * 48

    async def call(app: FastAPI, token: str) -> int:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                return (await _me(http, token)).status_code

    before = app_factory()
    async with before.router.lifespan_context(before):
        transport = httpx.ASGITransport(app=before)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            account = await register(http)
    rotated = app_factory(secret_key=new_secret, previous_secret_keys=old_secret)
    assert await call(rotated, account.access_token) == 200
    forgotten = app_factory(secret_key=new_secret)
    assert await call(forgotten, account.access_token) == 401


# --- refresh tokens ------------------------------------------------------------------------------


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def test_refresh_gives_a_new_pair_and_each_refresh_token_works_once(
    client: httpx.AsyncClient, account: Account
) -> None:
    first = await _refresh(client, account.refresh_token)
    assert first.status_code == 200
    pair = first.json()
    assert pair["refresh_token"] != account.refresh_token
    assert (await _me(client, pair["access_token"])).status_code == 200
    second = await _refresh(client, pair["refresh_token"])
    assert second.status_code == 200


async def test_a_reused_refresh_token_revokes_its_whole_family(
    client: httpx.AsyncClient, account: Account
) -> None:
    rotated = (await _refresh(client, account.refresh_token)).json()["refresh_token"]
    # Someone replays the first token: the family is compromised.
    reuse = await _refresh(client, account.refresh_token)
    body = assert_problem(reuse, 401, "not_authenticated")
    assert "already used" in body["detail"]
    # The legitimate holder's newer token is dead too.
    assert_problem(await _refresh(client, rotated), 401, "not_authenticated")


async def test_reuse_ends_the_access_tokens_of_that_sign_in_at_once(
    client: httpx.AsyncClient, account: Account
) -> None:
    other = (
        await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    ).json()
    rotated = (await _refresh(client, account.refresh_token)).json()
    assert (await _me(client, rotated["access_token"])).status_code == 200
    assert_problem(await _refresh(client, account.refresh_token), 401, "not_authenticated")
    # Every access token of the compromised sign-in, the first and the rotated one, is refused
    # on the very next request, long before it would expire.
    for token in (account.access_token, rotated["access_token"]):
        body = assert_problem(await _me(client, token), 401, "not_authenticated")
        assert "ended" in body["detail"]
    # The account's other sign-in is untouched.
    assert (await _me(client, other["access_token"])).status_code == 200


async def test_reuse_revokes_only_that_sign_in(client: httpx.AsyncClient, account: Account) -> None:
    other_login = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": PASSWORD}
    )
    other_refresh = other_login.json()["refresh_token"]
    await _refresh(client, account.refresh_token)
    await _refresh(client, account.refresh_token)
    assert (await _refresh(client, other_refresh)).status_code == 200


async def test_refresh_tokens_are_256_random_bits_stored_only_as_digests_for_7_days(
    client: httpx.AsyncClient, account: Account
) -> None:
    from sqlalchemy import text

    from t21.core.runtime import get_runtime
    from t21.core.uow import session_scope

    rotated = (await _refresh(client, account.refresh_token)).json()["refresh_token"]
    issued = {account.refresh_token, rotated}
    for token in issued:
        assert len(base64.urlsafe_b64decode(token + "=")) == 32
    async with session_scope(get_runtime()) as session:
        rows = (await session.execute(text("SELECT * FROM refresh_tokens"))).mappings().all()
    assert len(rows) == 2
    raw = " ".join(str(value) for row in rows for value in row.values())
    for token in issued:
        assert token not in raw
    assert {row["token_digest"] for row in rows} == {token_digest(token) for token in issued}
    for row in rows:
        expires_at = _as_utc(row["expires_at"])
        lifetime = expires_at - _as_utc(row["created_at"])
        assert timedelta(days=7) - timedelta(seconds=5) <= lifetime <= timedelta(days=7)


def _as_utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@pytest.mark.parametrize("token", ["garbage", "x" * 43, ""])
async def test_unknown_refresh_tokens_are_refused(client: httpx.AsyncClient, token: str) -> None:
    response = await _refresh(client, token)
    assert response.status_code in (401, 422)
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_expired_refresh_token_is_refused(
    client: httpx.AsyncClient, account: Account, settings: Settings
) -> None:
    later = clock.now() + timedelta(seconds=settings.refresh_token_ttl_s + 60)
    with clock.frozen(later):
        assert_problem(await _refresh(client, account.refresh_token), 401, "not_authenticated")


async def test_logout_ends_that_sign_in_only(client: httpx.AsyncClient, account: Account) -> None:
    other = (
        await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    ).json()
    response = await client.post(
        "/api/v1/auth/logout", json={"refresh_token": account.refresh_token}
    )
    assert response.status_code == 204
    assert_problem(await _refresh(client, account.refresh_token), 401, "not_authenticated")
    # That sign-in's access token ends with it; the other sign-in's works on.
    assert_problem(await _me(client, account.access_token), 401, "not_authenticated")
    assert (await _me(client, other["access_token"])).status_code == 200
    assert (await _refresh(client, other["refresh_token"])).status_code == 200
    again = await client.post("/api/v1/auth/logout", json={"refresh_token": "unknown"})
    assert again.status_code == 204


async def test_logout_all_ends_every_session_and_access_token(
    client: httpx.AsyncClient, account: Account
) -> None:
    other = (
        await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    ).json()
    response = await client.post("/api/v1/auth/logout-all", headers=account.headers)
    assert response.status_code == 204
    for refresh_token in (account.refresh_token, other["refresh_token"]):
        assert_problem(await _refresh(client, refresh_token), 401, "not_authenticated")
    assert_problem(await _me(client, other["access_token"]), 401, "not_authenticated")
    # Signing in again works.
    fresh = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": PASSWORD}
    )
    assert fresh.status_code == 200
