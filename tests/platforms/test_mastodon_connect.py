"""Connecting a Mastodon account through T21's API, as a front end does: the request names the
instance, T21 registers its app there once (secret stored encrypted), then the browser's trip
with PKCE completes the connection."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from t21.core import clock
from t21.core.uow import session_scope
from t21.social.models import InstanceAppRecord, SocialAccount
from t21.social.tokens import credentials
from tests.publishing.conftest import Engine, engine
from tests.social.conftest import World, query, sandbox, world

__all__ = ["engine", "sandbox", "world"]  # the fixtures these tests use

CONNECT = "/api/v1/social-accounts/connect"


async def _start(world: World, **body: object) -> tuple[int, dict[str, object]]:
    answer = await world.api.post(
        CONNECT,
        json={"brand_id": world.brand_id, "platform": "mastodon", **body},
        headers=world.owner.headers,
    )
    return answer.status_code, answer.json()


async def _connect(world: World, instance: str) -> list[str]:
    status, body = await _start(world, instance=instance)
    assert status == 200, body
    url = str(body["authorization_url"])
    assert "code_challenge=" in url
    finished = await world.back_to_t21(await world.to_network(url))
    assert finished.status_code == 302, finished.text
    return query(finished.headers["location"])["connected"].split(",")


async def test_connecting_names_the_instance_and_registers_t21_there_once(world: World) -> None:
    [first] = await _connect(world, "Mastodon.Example")
    [again] = await _connect(world, "mastodon.example")
    assert first == again  # a reconnect updates the same account
    async with session_scope(world.runtime) as session:
        account = await session.get(SocialAccount, uuid.UUID(first))
        apps = list(await session.scalars(select(InstanceAppRecord)))
        raw = " ".join(
            str(value)
            for row in (await session.execute(text("SELECT * FROM social_instance_apps"))).all()
            for value in row
        )
    assert account is not None
    assert account.external_id.endswith("@mastodon.example")
    assert account.username == "t21sandbox@mastodon.example"
    assert credentials(world.runtime.settings, account).access_token
    [app] = apps
    assert (app.platform, app.instance, app.pkce) == ("mastodon", "mastodon.example", True)
    registered = world.control("mastodon", "GET", "/requests")["requests"]
    assert [r["path"] for r in registered if r["path"] == "/api/v1/apps"] == ["/api/v1/apps"]
    # The app's secret is stored only encrypted.
    assert "client_secret" not in raw
    assert app.client_secret_encrypted not in (app.client_id, "")


async def test_another_instance_is_another_account_and_another_app(world: World) -> None:
    [one] = await _connect(world, "one.example")
    [two] = await _connect(world, "two.example:8443")
    assert one != two
    async with session_scope(world.runtime) as session:
        instances = sorted(await session.scalars(select(InstanceAppRecord.instance)))
    assert instances == ["one.example", "two.example:8443"]


async def test_the_instance_is_required_checked_and_refused_elsewhere(world: World) -> None:
    status, body = await _start(world)
    assert status == 422
    assert body["errors"] == [{"loc": ["body", "instance"], "msg": "required"}]
    status, body = await _start(world, instance="not a host/at all")
    assert status == 422
    assert body["errors"][0]["loc"] == ["body", "instance"]  # type: ignore[index]
    answer = await world.api.post(
        CONNECT,
        json={"brand_id": world.brand_id, "platform": "twitter", "instance": "x.example"},
        headers=world.owner.headers,
    )
    assert answer.status_code == 422
    assert world.control("mastodon", "GET", "/requests")["requests"] == []


async def test_disconnecting_revokes_the_token_with_the_instances_app(world: World) -> None:
    [account_id] = await _connect(world, "mastodon.example")
    [token] = world.control("mastodon", "GET", "/tokens")["tokens"]
    assert token["usable"] is True
    gone = await world.api.delete(
        f"/api/v1/social-accounts/{account_id}", headers=world.owner.headers
    )
    assert gone.status_code == 204, gone.text
    [token] = world.control("mastodon", "GET", "/tokens")["tokens"]
    assert token["revoked"] is True
    revoked = [r for r in world.control("mastodon", "GET", "/requests")["requests"]
               if r["path"] == "/oauth/revoke"]  # fmt: skip
    assert len(revoked) == 1


# --- publishing through the engine -------------------------------------------------------------


async def _engine_with_account(engine: Engine) -> None:
    [account_id] = await _connect(engine.world, "mastodon.example")
    engine.accounts["mastodon"] = account_id


async def test_a_post_is_published_once_on_mastodon(engine: Engine) -> None:
    await _engine_with_account(engine)
    post = await engine.publish_now("mastodon", content="Hello fediverse")
    await engine.tick()
    done = await engine.read(post["id"])
    [target] = done["targets"]
    assert target["status"] == "published", target
    [status] = engine.published_at_network("mastodon")
    assert target["external_id"] == status["id"]
    assert target["permalink"].endswith(f"/{status['id']}")
    for _ in range(2):
        await engine.tick()
    assert engine.sends("mastodon", "Hello fediverse") == ["accepted"]


@pytest.mark.lost_answer
async def test_a_lost_answer_is_settled_without_a_second_status(engine: Engine) -> None:
    await _engine_with_account(engine)
    # The instance creates the status, but its answer arrives after T21 stopped waiting.
    engine.world.control(
        "mastodon",
        "POST",
        "/faults",
        {"path": "^/api/v1/statuses$", "method": "POST", "status": 200,
         "lose_response": True, "delay_s": 1.5},
    )  # fmt: skip
    post = await engine.publish_now("mastodon", content="Exactly once, please")
    await engine.tick()
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "publishing"
    # Past the attempt's lease, the reaper asks the instance what it has.
    with clock.frozen(lambda: datetime.now(UTC) + timedelta(seconds=30)):
        await engine.tick()
    done = await engine.read(post["id"])
    [target] = done["targets"]
    [status] = engine.published_at_network("mastodon")
    assert target["status"] == "published", target
    assert target["external_id"] == status["id"]
    assert engine.sends("mastodon", "Exactly once, please") == ["fault-injected-after-effect"]
