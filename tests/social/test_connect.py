"""Connecting accounts over real HTTP against the sandbox's networks: the state is signed, used
once and short-lived; tokens are stored only encrypted and never shown; reconnecting updates."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from t21.core import clock
from t21.core.uow import session_scope
from t21.social.models import ConnectAttempt, SocialAccount
from t21.social.tokens import credentials
from tests.core.test_http import assert_problem
from tests.social.conftest import FRONT_END, World, query

NETWORKS = ["linkedin", "tiktok", "instagram", "facebook", "twitter"]


async def _account(world: World, account_id: str) -> SocialAccount:
    async with session_scope(world.runtime) as session:
        account = await session.get(SocialAccount, uuid.UUID(account_id))
    assert account is not None
    return account


@pytest.mark.parametrize("platform", NETWORKS)
async def test_connecting_stores_the_account_with_encrypted_tokens(
    world: World, platform: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        ids = await world.connected_ids(platform)
    # Facebook gives access to each of the person's Pages (two in the sandbox): one account each.
    assert len(ids) == (2 if platform == "facebook" else 1)
    account_id = ids[0]
    shown = await world.api.get(
        f"/api/v1/social-accounts/{account_id}", headers=world.owner.headers
    )
    assert shown.status_code == 200
    body = shown.json()
    assert body["platform"] == platform
    assert body["brand_id"] == world.brand_id
    assert body["status"] == "active"
    assert body["external_id"]
    assert body["connected_at"]
    assert not {"access_token", "refresh_token"} & set(body)

    account = await _account(world, account_id)
    held = credentials(world.runtime.settings, account)
    assert len(held.access_token) > 10
    # The raw row holds no token bytes, in any column.
    async with session_scope(world.runtime) as session:
        row = (
            await session.execute(
                text("SELECT * FROM social_accounts WHERE id = :id"),
                {
                    "id": account.id
                    if session.get_bind().dialect.name == "postgresql"
                    else account.id.hex
                },
            )
        ).one()
    raw = " ".join(str(value) for value in row)
    assert held.access_token not in raw
    if held.refresh_token:
        assert held.refresh_token not in raw
    # Nor in any answer or log line.
    listed = await world.api.get("/api/v1/social-accounts", headers=world.owner.headers)
    assert held.access_token not in listed.text
    assert held.access_token not in caplog.text
    if held.refresh_token:
        assert held.refresh_token not in caplog.text


async def test_reconnecting_updates_the_account_and_keeps_its_refresh_token(
    world: World,
) -> None:
    [first] = await world.connected_ids("linkedin")
    before = credentials(world.runtime.settings, await _account(world, first))
    # The network stops handing out refresh tokens (LinkedIn outside partner mode).
    world.control("linkedin", "POST", "/settings", {"partner_mode": False})
    [second] = await world.connected_ids("linkedin")
    assert second == first
    after = credentials(world.runtime.settings, await _account(world, second))
    assert after.access_token != before.access_token
    assert after.refresh_token == before.refresh_token is not None
    listed = await world.api.get(
        "/api/v1/social-accounts", params={"brand_id": world.brand_id}, headers=world.owner.headers
    )
    assert [item["id"] for item in listed.json()["items"]] == [first]


async def test_a_replayed_state_is_refused(world: World) -> None:
    started = await world.api.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": world.brand_id, "platform": "linkedin"},
        headers=world.owner.headers,
    )
    callback = await world.to_network(started.json()["authorization_url"])
    assert (await world.back_to_t21(callback)).status_code == 302
    replay = await world.back_to_t21(callback)
    assert replay.status_code == 302
    assert query(replay.headers["location"]) == {"error": "invalid_state"}


async def test_a_forged_state_is_refused_without_a_redirect(world: World) -> None:
    started = await world.api.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": world.brand_id, "platform": "linkedin"},
        headers=world.owner.headers,
    )
    callback = await world.to_network(started.json()["authorization_url"])
    state = query(callback)["state"]
    nonce, signature = state.split(".")
    forged = callback.replace(state, f"{nonce}.{'0' * len(signature)}")
    assert_problem(await world.back_to_t21(forged), 400, "bad_request")
    made_up = callback.replace(state, f"{uuid.uuid4().hex}.{signature}")
    assert_problem(await world.back_to_t21(made_up), 400, "bad_request")


async def test_an_expired_state_is_refused(world: World) -> None:
    started = await world.api.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": world.brand_id, "platform": "linkedin"},
        headers=world.owner.headers,
    )
    callback = await world.to_network(started.json()["authorization_url"])
    async with session_scope(world.runtime) as session:
        await session.execute(
            update(ConnectAttempt).values(expires_at=clock.now() - timedelta(seconds=1))
        )
    finished = await world.back_to_t21(callback)
    assert query(finished.headers["location"]) == {"error": "invalid_state"}
    async with session_scope(world.runtime) as session:
        assert (await session.scalars(select(SocialAccount))).all() == []


async def test_a_state_for_one_network_is_refused_by_another(world: World) -> None:
    started = await world.api.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": world.brand_id, "platform": "linkedin"},
        headers=world.owner.headers,
    )
    callback = await world.to_network(started.json()["authorization_url"])
    crossed = callback.replace("/callback/linkedin", "/callback/tiktok")
    finished = await world.back_to_t21(crossed)
    assert query(finished.headers["location"]) == {"error": "invalid_state"}


async def test_declining_at_the_network_comes_back_with_the_error(world: World) -> None:
    started = await world.api.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": world.brand_id, "platform": "linkedin"},
        headers=world.owner.headers,
    )
    state = query(started.json()["authorization_url"])["state"]
    declined = await world.api.get(
        "/api/v1/social-accounts/callback/linkedin",
        params={"error": "user_cancelled_login", "state": state},
    )
    assert declined.headers["location"] == f"{FRONT_END}?error=access_denied"


async def test_only_admins_connect_and_only_to_their_brands(world: World) -> None:
    from tests.support.accounts import register

    stranger = await register(world.api)
    refused = await world.api.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": world.brand_id, "platform": "linkedin"},
        headers=stranger.headers,
    )
    assert_problem(refused, 404, "not_found")
    unknown = await world.api.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": world.brand_id, "platform": "myspace"},
        headers=world.owner.headers,
    )
    assert_problem(unknown, 422, "validation_error")
    off_list = await world.api.post(
        "/api/v1/social-accounts/connect",
        json={
            "brand_id": world.brand_id,
            "platform": "linkedin",
            "redirect_uri": "https://evil.example.com/",
        },
        headers=world.owner.headers,
    )
    assert_problem(off_list, 422, "validation_error")


async def test_disconnecting_revokes_at_the_network_and_forgets_the_account(world: World) -> None:
    [account_id] = await world.connected_ids("linkedin")
    held = credentials(world.runtime.settings, await _account(world, account_id))
    gone = await world.api.delete(
        f"/api/v1/social-accounts/{account_id}", headers=world.owner.headers
    )
    assert gone.status_code == 204
    revocations = [
        r
        for r in world.control("linkedin", "GET", "/requests")["requests"]
        if r["path"].endswith("/oauth/v2/revoke")
    ]
    assert revocations
    assert_problem(
        await world.api.get(f"/api/v1/social-accounts/{account_id}", headers=world.owner.headers),
        404,
        "not_found",
    )
    tokens = world.control("linkedin", "GET", "/tokens")["tokens"]
    assert tokens
    assert not any(token["usable"] and token["kind"] == "access" for token in tokens)
    assert held.access_token not in str(tokens)


async def test_platforms_lists_every_network_with_its_limits(world: World) -> None:
    listed = await world.api.get("/api/v1/platforms")
    assert listed.status_code == 200
    by_name = {item["name"]: item for item in listed.json()["items"]}
    assert set(by_name) == {"instagram", "twitter", "linkedin", "tiktok", "facebook"}
    assert by_name["linkedin"]["max_text"] == 3000
    assert by_name["linkedin"]["min_multi_images"] == 2
    assert by_name["tiktok"]["requires_media"] is True
    assert by_name["linkedin"]["available"] is True
    assert "properties" in by_name["linkedin"]["options"]
