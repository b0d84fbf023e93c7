"""A connection is bound to the browser that started it: a network callback without that
browser's cookie connects nothing, and only the person who started the connection can finish it
(with the one-time `connect_code`), so whoever consents at the network can't attach their account
to someone else's brand."""

from __future__ import annotations

from datetime import timedelta

import httpx

from t21.core import clock
from tests.core.test_http import assert_problem
from tests.social.conftest import FRONT_END, World, query
from tests.support.accounts import register

COMPLETE = "/api/v1/social-accounts/connect/complete"


async def _start(world: World, platform: str = "linkedin") -> str:
    started = await world.api.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": world.brand_id, "platform": platform},
        headers=world.owner.headers,
    )
    assert started.status_code == 200, started.text
    assert "t21_connect_browser" in started.headers["set-cookie"]
    assert "httponly" in started.headers["set-cookie"].lower()
    authorization_url: str = started.json()["authorization_url"]
    return authorization_url


async def _callback_in_another_browser(world: World, authorization_url: str) -> httpx.Response:
    """The network's callback followed by a browser that never saw T21's cookie."""
    location = await world.to_network(authorization_url)
    parts = httpx.URL(location)
    transport = httpx.ASGITransport(app=world.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger:
        return await stranger.get(f"{parts.path}?{parts.query.decode()}")


async def _brand_accounts(world: World) -> list[dict[str, str]]:
    listed = await world.api.get(
        "/api/v1/social-accounts",
        params={"brand_id": world.brand_id},
        headers=world.owner.headers,
    )
    assert listed.status_code == 200, listed.text
    items: list[dict[str, str]] = listed.json()["items"]
    return items


async def test_a_link_passed_to_someone_else_connects_nothing(world: World) -> None:
    # The brand's admin makes a connection link and passes it on; a stranger consents.
    finished = await _callback_in_another_browser(world, await _start(world))
    assert finished.status_code == 302
    landed = query(finished.headers["location"])
    assert finished.headers["location"].startswith(FRONT_END)
    assert "connected" not in landed
    assert set(landed) == {"connect_code"}
    assert await _brand_accounts(world) == []
    # The stranger, signed in to T21 too, can't redeem the code either: it is burnt.
    stranger = await register(world.api)
    refused = await world.api.post(
        COMPLETE, json={"code": landed["connect_code"]}, headers=stranger.headers
    )
    assert_problem(refused, 403, "forbidden")
    late = await world.api.post(
        COMPLETE, json={"code": landed["connect_code"]}, headers=world.owner.headers
    )
    assert_problem(late, 400, "bad_request")
    assert await _brand_accounts(world) == []


async def test_a_connection_started_from_a_server_is_completed_by_its_starter(
    world: World,
) -> None:
    finished = await _callback_in_another_browser(world, await _start(world, "twitter"))
    code = query(finished.headers["location"])["connect_code"]
    completed = await world.api.post(COMPLETE, json={"code": code}, headers=world.owner.headers)
    assert completed.status_code == 201, completed.text
    [account] = completed.json()["items"]
    assert account["platform"] == "twitter"
    assert account["brand_id"] == world.brand_id
    assert "access_token" not in completed.text
    assert [a["id"] for a in await _brand_accounts(world)] == [account["id"]]
    # Once only.
    again = await world.api.post(COMPLETE, json={"code": code}, headers=world.owner.headers)
    assert_problem(again, 400, "bad_request")


async def test_a_connect_code_expires_with_its_attempt(world: World) -> None:
    finished = await _callback_in_another_browser(world, await _start(world))
    code = query(finished.headers["location"])["connect_code"]
    with clock.frozen(clock.now() + timedelta(minutes=11)):
        expired = await world.api.post(COMPLETE, json={"code": code}, headers=world.owner.headers)
    assert_problem(expired, 400, "bad_request")
    assert await _brand_accounts(world) == []


async def test_the_starting_browser_completes_at_once(world: World) -> None:
    location = await world.to_network(await _start(world))
    finished = await world.back_to_t21(location)
    assert set(query(finished.headers["location"])) == {"connected"}


async def test_completing_needs_a_signed_in_user_and_a_well_formed_code(world: World) -> None:
    assert_problem(await world.api.post(COMPLETE, json={"code": "x"}), 401, "not_authenticated")
    for body in ({}, {"code": ""}, {"code": "x" * 200}, {"code": "x", "extra": 1}):
        response = await world.api.post(COMPLETE, json=body, headers=world.owner.headers)
        assert_problem(response, 422, "validation_error")
    unknown = await world.api.post(COMPLETE, json={"code": "nope"}, headers=world.owner.headers)
    assert_problem(unknown, 400, "bad_request")


async def test_a_state_with_any_characters_is_refused_not_a_500(world: World) -> None:
    for state in ("é.é", "\x12.\x0e", "nonce.ßignature", "a.b"):
        response = await world.api.get(
            "/api/v1/social-accounts/callback/linkedin", params={"state": state, "code": "c"}
        )
        assert_problem(response, 400, "bad_request")
