"""Bluesky through T21's API, as a front end uses it: connecting with a handle and an app
password (no redirect), then publishing through the engine to the sandbox's Bluesky."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from t21.analytics.models import MetricSnapshot
from t21.core import clock
from t21.core.uow import session_scope
from t21.social.tokens import credentials
from tests.core.test_http import assert_problem
from tests.media.files import mp4
from tests.publishing.conftest import Engine, engine  # noqa: F401  (fixture)
from tests.social.conftest import World, sandbox, world  # noqa: F401  (fixtures)
from tests.social.test_connect import _account

CONNECT = "/api/v1/social-accounts/connect"
APP_PASSWORD = "abcd-efgh-1234-wxyz"


async def _connect(world: World, **body: Any) -> Any:  # noqa: F811
    return await world.api.post(
        CONNECT,
        json={"brand_id": world.brand_id, "platform": "bluesky"} | body,
        headers=world.owner.headers,
    )


async def test_a_handle_and_app_password_connect_at_once(world: World) -> None:  # noqa: F811
    given = {"handle": "alice.bsky.social", "app_password": APP_PASSWORD}
    connected = await _connect(world, credentials=given)
    assert connected.status_code == 201, connected.text
    [item] = connected.json()["items"]
    assert item["platform"] == "bluesky"
    assert item["status"] == "active"
    assert item["username"] == "alice.bsky.social"
    assert item["external_id"].startswith("did:plc:")
    assert APP_PASSWORD not in connected.text
    held = credentials(world.runtime.settings, await _account(world, item["id"]))
    assert held.refresh_token
    assert held.refresh_token not in connected.text
    assert held.access_token not in connected.text
    again = await _connect(world, credentials=given)
    assert again.status_code == 201
    assert [a["id"] for a in again.json()["items"]] == [item["id"]]
    listed = await world.api.get(
        f"/api/v1/social-accounts?brand_id={world.brand_id}", headers=world.owner.headers
    )
    assert [a["id"] for a in listed.json()["items"] if a["platform"] == "bluesky"] == [item["id"]]


async def test_credentials_that_cannot_work_are_a_422_and_connect_nothing(
    world: World,  # noqa: F811
) -> None:
    wrong = await _connect(
        world, credentials={"handle": "alice.bsky.social", "app_password": "main-password"}
    )
    assert_problem(wrong, 422, "validation_error")
    assert "app password" in wrong.json()["detail"]
    assert_problem(await _connect(world), 422, "validation_error")
    redirecting = await world.api.post(
        CONNECT,
        json={
            "brand_id": world.brand_id,
            "platform": "linkedin",
            "credentials": {"handle": "x.test"},
        },
        headers=world.owner.headers,
    )
    assert_problem(redirecting, 422, "validation_error")
    listed = await world.api.get(
        f"/api/v1/social-accounts?brand_id={world.brand_id}", headers=world.owner.headers
    )
    assert listed.json()["items"] == []


async def test_platforms_list_bluesky_with_its_limits(world: World) -> None:  # noqa: F811
    listed = await world.api.get("/api/v1/platforms")
    [bluesky] = [item for item in listed.json()["items"] if item["name"] == "bluesky"]
    assert bluesky["max_text"] == 300
    assert bluesky["text_counting"] == "graphemes"
    assert bluesky["max_images"] == 4
    assert bluesky["available"] is True


async def test_a_post_with_an_image_is_published_once(engine: Engine) -> None:  # noqa: F811
    connected = await _connect(
        engine.world, credentials={"handle": "shop.example.com", "app_password": APP_PASSWORD}
    )
    assert connected.status_code == 201, connected.text
    engine.accounts["bluesky"] = connected.json()["items"][0]["id"]
    photo = await engine.upload()
    text = "New in store 🎉 #spring https://example.com/spring"
    post = await engine.publish_now("bluesky", content=text, media_ids=[photo])
    await engine.tick()
    done = await engine.read(post["id"])
    assert done["status"] == "published", done
    [target] = done["targets"]
    assert target["external_id"].startswith("at://did:plc:")
    assert target["permalink"].startswith("https://bsky.app/profile/shop.example.com/post/")
    [record] = engine.published_at_network("bluesky")
    assert record["text"] == text
    for _ in range(2):
        await engine.tick()
    assert engine.sends("bluesky", text) == ["accepted"]


async def test_a_post_past_300_graphemes_is_refused_when_written(
    engine: Engine,  # noqa: F811
) -> None:
    connected = await _connect(
        engine.world, credentials={"handle": "shop.example.com", "app_password": APP_PASSWORD}
    )
    account_id = connected.json()["items"][0]["id"]
    refused = await engine.create(
        expect=None, content="é" * 301, targets=[{"social_account_id": account_id}]
    )
    assert_problem(refused, 422, "validation_error")
    assert "300" in refused.text


async def _connected_engine(engine: Engine) -> None:  # noqa: F811
    connected = await _connect(
        engine.world, credentials={"handle": "shop.example.com", "app_password": APP_PASSWORD}
    )
    assert connected.status_code == 201, connected.text
    engine.accounts["bluesky"] = connected.json()["items"][0]["id"]


@pytest.mark.lost_answer
async def test_a_doubtful_publish_is_reconciled_without_a_second_post(
    engine: Engine,  # noqa: F811
) -> None:
    await _connected_engine(engine)
    engine.world.control(
        "bluesky",
        "POST",
        "/faults",
        {"status": 200, "path": "createRecord", "lose_response": True, "delay_s": 3},
    )
    post = await engine.publish_now("bluesky", content="Did it go out?")
    await engine.tick()
    doubtful = (await engine.read(post["id"]))["targets"][0]
    assert doubtful["status"] == "publishing"
    with clock.frozen(lambda: datetime.now(UTC) + timedelta(seconds=30)):
        await engine.tick()
    done = (await engine.read(post["id"]))["targets"][0]
    assert done["status"] == "published", done
    [record] = engine.published_at_network("bluesky")
    assert done["external_id"] == record["uri"]
    for _ in range(2):
        await engine.tick()
    assert engine.sends("bluesky", "Did it go out?") == ["fault-injected-after-effect"]


async def test_metrics_are_collected_into_snapshots(engine: Engine) -> None:  # noqa: F811
    await _connected_engine(engine)
    post = await engine.publish_now("bluesky", content="Count me in")
    await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["status"] == "published"
    numbers = {"uri": target["external_id"], "likeCount": 9, "replyCount": 2, "repostCount": 3}
    engine.world.control("bluesky", "POST", "/metrics", numbers | {"quoteCount": 1})
    await engine.change_target(target["id"], next_collect_at=clock.now() - timedelta(seconds=1))
    await engine.loops.run_once("analytics.collect")
    await engine.world.drain()
    async with session_scope(engine.world.runtime) as session:
        [snapshot] = (
            await session.scalars(
                select(MetricSnapshot).where(MetricSnapshot.target_id == uuid.UUID(target["id"]))
            )
        ).all()
    assert (snapshot.likes, snapshot.comments, snapshot.shares) == (9, 2, 4)
    assert snapshot.impressions is None


async def test_a_video_post_is_published_with_the_processed_video(
    engine: Engine,  # noqa: F811
) -> None:
    await _connected_engine(engine)
    uploaded = await engine.api.post(
        "/api/v1/media",
        data={"brand_id": engine.brand_id},
        files={"file": ("clip.mp4", mp4(duration_s=20, width=720, height=1280), "video/mp4")},
        headers=engine.owner.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    post = await engine.publish_now(
        "bluesky", content="A short clip", media_ids=[uploaded.json()["id"]]
    )
    await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["status"] == "published", target
    listed = engine.world.control("bluesky", "GET", "/published")["published"]
    assert [p["text"] for p in listed] == ["A short clip"]
    assert engine.sends("bluesky", "A short clip") == ["accepted"]


async def test_a_video_past_three_minutes_is_refused_when_written(
    engine: Engine,  # noqa: F811
) -> None:
    await _connected_engine(engine)
    uploaded = await engine.api.post(
        "/api/v1/media",
        data={"brand_id": engine.brand_id},
        files={"file": ("long.mp4", mp4(duration_s=181), "video/mp4")},
        headers=engine.owner.headers,
    )
    refused = await engine.create(
        expect=None,
        content="Too long",
        media_ids=[uploaded.json()["id"]],
        targets=[{"social_account_id": engine.accounts["bluesky"]}],
    )
    assert_problem(refused, 422, "validation_error")
    assert "video_too_long" in refused.text
