"""Connecting accounts over real HTTP against the sandbox's networks: the state is signed, used
once and short-lived; tokens are stored only encrypted and never shown; reconnecting updates."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update

from t21.core import clock
from t21.core.uow import session_scope
from t21.platforms import registry
from t21.social.models import ConnectAttempt, SocialAccount
from t21.social.tokens import credentials
from tests.core.test_http import assert_problem
from tests.social.conftest import FRONT_END, World, query
from tests.support.accounts import Account, add_member, create_organization, register

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
    assert set(by_name) == set(registry.names())
    assert by_name["linkedin"]["max_text"] == 3000
    assert by_name["linkedin"]["min_multi_images"] == 2
    assert by_name["tiktok"]["requires_media"] is True
    assert by_name["linkedin"]["available"] is True
    assert "properties" in by_name["linkedin"]["options"]


async def _start_and_reach_the_network(world: World, who: Account, brand_id: str) -> str:
    started = await world.api.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": brand_id, "platform": "linkedin"},
        headers=who.headers,
    )
    assert started.status_code == 200, started.text
    return await world.to_network(started.json()["authorization_url"])


async def test_a_connection_is_refused_when_its_admin_lost_the_right_meanwhile(
    world: World,
) -> None:
    organization_id = await create_organization(world.api, world.owner, "Team")
    brand = await world.api.post(
        "/api/v1/brands",
        json={"name": "Team brand", "organization_id": str(organization_id)},
        headers=world.owner.headers,
    )
    assert brand.status_code == 201, brand.text
    admin = await add_member(
        world.api,
        world.runtime.jobs,  # type: ignore[arg-type]
        world.runtime.settings,
        inviter=world.owner,
        organization_id=organization_id,
        role="admin",
    )
    callback = await _start_and_reach_the_network(world, admin, brand.json()["id"])
    demoted = await world.api.patch(
        f"/api/v1/organizations/{organization_id}/members/{admin.user_id}",
        json={"role": "member"},
        headers=world.owner.headers,
    )
    assert demoted.status_code == 200, demoted.text
    finished = await world.back_to_t21(callback)
    assert finished.status_code == 302
    assert query(finished.headers["location"]) == {"error": "forbidden"}
    async with session_scope(world.runtime) as session:
        assert (await session.scalars(select(SocialAccount))).all() == []


async def test_a_connection_is_refused_when_its_brand_was_deleted_meanwhile(
    world: World,
) -> None:
    callback = await _start_and_reach_the_network(world, world.owner, world.brand_id)
    gone = await world.api.delete(f"/api/v1/brands/{world.brand_id}", headers=world.owner.headers)
    assert gone.status_code == 204, gone.text
    # The attempt went with its brand: the link is no longer one T21 knows.
    assert_problem(await world.back_to_t21(callback), 400, "bad_request")
    async with session_scope(world.runtime) as session:
        assert (await session.scalars(select(SocialAccount))).all() == []


# Each network's settings, as an operator would set them for T21's own app there (or a fake).
_UPLOAD_HOSTS = {"instagram", "facebook"}


@pytest.mark.parametrize("platform", NETWORKS)
async def test_configured_credentials_and_urls_reach_the_network_without_the_sandbox(
    app_factory: Any, sandbox: str, platform: str
) -> None:
    base = f"{sandbox}/{platform}"
    configured: dict[str, Any] = {
        f"{platform}_client_id": "t21-sandbox",
        f"{platform}_client_secret": "t21-sandbox-secret",
        f"{platform}_auth_base": base,
        f"{platform}_api_base": base,
    }
    if platform in _UPLOAD_HOSTS:
        configured[f"{platform}_upload_base"] = base
    app = app_factory(
        sandbox="off", public_url="http://testserver", frontend_url=FRONT_END, **configured
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand = await api.post("/api/v1/brands", json={"name": "Acme"}, headers=owner.headers)
            world = World(
                app=app, api=api, sandbox=sandbox, owner=owner, brand_id=brand.json()["id"]
            )
            requests_before = len(world.control(platform, "GET", "/requests")["requests"])
            started = await api.post(
                "/api/v1/social-accounts/connect",
                json={"brand_id": world.brand_id, "platform": platform},
                headers=owner.headers,
            )
            assert started.status_code == 200, started.text
            assert started.json()["authorization_url"].startswith(base + "/")
            ids = await world.connected_ids(platform)
            assert ids
            # Only this network was configured: the others are not reachable at all.
            other = next(name for name in NETWORKS if name != platform)
            unavailable = await api.post(
                "/api/v1/social-accounts/connect",
                json={"brand_id": world.brand_id, "platform": other},
                headers=owner.headers,
            )
            assert_problem(unavailable, 503, "unavailable")
            assert f"T21_{other.upper()}_CLIENT_ID" in unavailable.json()["detail"]
    seen = world.control(platform, "GET", "/requests")["requests"][requests_before:]
    assert seen, "the configured network was never called"
    issued = world.control(platform, "GET", "/tokens")["tokens"]
    assert any(token["client_id"] == "t21-sandbox" and token["usable"] for token in issued)


async def test_each_tenant_lists_only_its_own_social_accounts(world: World) -> None:
    [mine] = await world.connected_ids("twitter")
    rival = await register(world.api)
    brand = await world.api.post("/api/v1/brands", json={"name": "Rival"}, headers=rival.headers)
    assert brand.status_code == 201, brand.text
    theirs = World(
        app=world.app,
        api=world.api,
        sandbox=world.sandbox,
        owner=rival,
        brand_id=brand.json()["id"],
    )
    [their_account] = await theirs.connected_ids("linkedin")
    for who, brand_id, own, foreign in [
        (world.owner, world.brand_id, mine, their_account),
        (rival, theirs.brand_id, their_account, mine),
    ]:
        listed = await world.api.get("/api/v1/social-accounts", headers=who.headers)
        assert listed.status_code == 200, listed.text
        assert [item["id"] for item in listed.json()["items"]] == [own]
        by_brand = await world.api.get(
            "/api/v1/social-accounts", params={"brand_id": brand_id}, headers=who.headers
        )
        assert [item["id"] for item in by_brand.json()["items"]] == [own]
        other_brand = theirs.brand_id if who is world.owner else world.brand_id
        refused = await world.api.get(
            "/api/v1/social-accounts", params={"brand_id": other_brand}, headers=who.headers
        )
        assert_problem(refused, 404, "not_found")
        guessed = await world.api.get(f"/api/v1/social-accounts/{foreign}", headers=who.headers)
        assert_problem(guessed, 404, "not_found")
