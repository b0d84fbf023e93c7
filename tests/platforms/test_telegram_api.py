"""Telegram through T21's API, as a front end uses it: connecting a channel with `credentials`
{chat} and a posted proof code, then publishing through the engine to the sandbox's Bot API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from t21.analytics.models import MetricSnapshot
from t21.core import clock
from t21.core.uow import session_scope
from t21.social.models import SocialAccount
from tests.core.test_http import assert_problem
from tests.media.files import mp4
from tests.publishing.conftest import Engine, _engine, engine  # noqa: F401  (fixture)
from tests.social.conftest import World, sandbox, world  # noqa: F401  (fixtures)

CONNECT = "/api/v1/social-accounts/connect"
CHAT = "@acme_news"


@pytest.fixture
async def patient_engine(app_factory: Any, sandbox: str) -> AsyncIterator[Engine]:  # noqa: F811
    """An engine that waits longer for Telegram's answer to an upload, as this busy machine's
    fake may take more than the usual second to read a multipart album."""
    async with _engine(app_factory, sandbox, "http://testserver", platform_timeout_s=10.0) as built:
        yield built


async def _connect(world: World, chat: str = CHAT) -> Any:  # noqa: F811
    return await world.api.post(
        CONNECT,
        json={"brand_id": world.brand_id, "platform": "telegram", "credentials": {"chat": chat}},
        headers=world.owner.headers,
    )


async def connected(world: World, chat: str = CHAT) -> dict[str, Any]:  # noqa: F811
    """The chat connected in one request: in the sandbox its owner posts the proof code."""
    done = await _connect(world, chat)
    assert done.status_code == 201, done.text
    [item] = done.json()["items"]
    return dict(item)


async def test_a_channel_connects_after_its_owner_posts_the_code_t21_gives(
    world: World,  # noqa: F811
) -> None:
    # A sandbox chat whose owner leaves the code to the caller, as at Telegram.
    world.control("telegram", "POST", "/chats", {"username": "acme_news",
                                                 "owner_posts_proofs": False})  # fmt: skip
    asked = await _connect(world)
    assert_problem(asked, 422, "validation_error")
    [entry] = asked.json()["errors"]
    assert entry["loc"] == ["body", "credentials"]
    assert entry["rule"] == "ownership_unproven"
    assert entry["proof"].startswith("T21-")
    assert entry["proof"] in asked.json()["detail"]
    listed = await world.api.get(
        f"/api/v1/social-accounts?brand_id={world.brand_id}", headers=world.owner.headers
    )
    assert listed.json()["items"] == []
    world.control("telegram", "POST", f"/chats/{CHAT}/posts", {"text": f"T21: {entry['proof']}"})
    done = await _connect(world)
    assert done.status_code == 201, done.text
    [item] = done.json()["items"]
    assert item["platform"] == "telegram"
    assert item["status"] == "active"
    assert item["username"] == "acme_news"
    assert item["external_id"].startswith("-100")
    assert item["token_expires_at"] is None
    assert "t21-sandbox-secret" not in done.text
    # Connecting again (the code is still in the chat) keeps the one account.
    again = await _connect(world)
    assert [a["id"] for a in again.json()["items"]] == [item["id"]]


async def test_in_the_sandbox_a_channel_connects_in_one_request(
    world: World,  # noqa: F811
) -> None:
    item = await connected(world, "@t21_demo_channel")
    assert (item["platform"], item["username"]) == ("telegram", "t21_demo_channel")
    private = await connected(world, "-1001234567890")
    assert (private["external_id"], private["username"]) == ("-1001234567890", None)


async def test_a_chat_the_bot_may_not_post_in_is_a_422_saying_what_to_do(
    world: World,  # noqa: F811
) -> None:
    world.control("telegram", "POST", "/chats", {"username": "acme_member", "bot_status": "member"})
    refused = await _connect(world, "@acme_member")
    assert_problem(refused, 422, "validation_error")
    assert "administrator" in refused.json()["detail"]
    malformed = await world.api.post(
        CONNECT,
        json={"brand_id": world.brand_id, "platform": "telegram", "credentials": {"handle": "x"}},
        headers=world.owner.headers,
    )
    assert_problem(malformed, 422, "validation_error")


async def test_platforms_list_telegram_with_its_limits_and_no_views(
    world: World,  # noqa: F811
) -> None:
    listed = await world.api.get("/api/v1/platforms")
    [telegram] = [item for item in listed.json()["items"] if item["name"] == "telegram"]
    assert telegram["available"] is True
    assert telegram["max_text"] == 4096
    assert (telegram["max_images"], telegram["max_videos"]) == (10, 10)
    assert telegram["mixed_media"] is True
    assert telegram["image"]["max_size_bytes"] == 10 * 1024 * 1024
    assert telegram["video"]["max_size_bytes"] == 50 * 1024 * 1024
    assert set(telegram["options"]["properties"]) == {"silent", "parse_mode"}
    assert "no view counts" in telegram["options"]["description"]


async def test_options_markup_and_captions_are_checked_when_the_post_is_written(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = (await connected(engine.world))["id"]
    photo = await engine.upload()

    async def refused(**body: Any) -> dict[str, Any]:
        target = {"social_account_id": account_id, "options": body.pop("options", {})}
        response = await engine.create(expect=None, targets=[target], **body)
        assert_problem(response, 422, "validation_error")
        [entry] = response.json()["errors"]
        return dict(entry)

    unknown = await refused(content="Hi", options={"pin": True})
    assert (unknown["rule"], unknown["loc"][-1]) == ("invalid_options", "options")
    markup = await refused(content="<b>Hi", options={"parse_mode": "HTML"})
    assert markup["rule"] == "invalid_markup"
    caption = await refused(content="x" * 1025, media_ids=[photo])
    assert caption["rule"] == "caption_too_long"
    too_long = await refused(content="x" * 4097)
    assert too_long["rule"] == "text_too_long"
    # Tags don't count: 4,096 characters in bold fit.
    fits = {"social_account_id": account_id, "options": {"parse_mode": "HTML"}}
    await engine.create(content=f"<b>{'x' * 4096}</b>", targets=[fits])


async def test_a_photo_and_an_album_are_published_once_with_their_links(
    patient_engine: Engine,
) -> None:
    engine = patient_engine  # noqa: F811
    engine.accounts["telegram"] = (await connected(engine.world))["id"]
    photo = await engine.upload()
    uploaded = await engine.api.post(
        "/api/v1/media",
        data={"brand_id": engine.brand_id},
        files={"file": ("clip.mp4", mp4(), "video/mp4")},
        headers=engine.owner.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    clip = uploaded.json()["id"]
    single = await engine.publish_now("telegram", content="One photo", media_ids=[photo])
    album = await engine.publish_now("telegram", content="An album", media_ids=[photo, clip])
    await engine.tick()
    for post in (single, album):
        done = await engine.read(post["id"])
        assert done["status"] == "published", done
        [target] = done["targets"]
        chat_id, message_id = target["external_id"].split(":")
        assert chat_id.startswith("-100")
        assert target["permalink"] == f"https://t.me/acme_news/{message_id}"
    for _ in range(2):
        await engine.tick()
    assert engine.sends("telegram", "One photo") == ["accepted"]
    assert engine.sends("telegram", "An album") == ["accepted"]
    sent = engine.world.control("telegram", "GET", f"/chats/{CHAT}/messages?sent_by=bot")
    # The two posts go out side by side: two photos (the single one and the album's first)
    # and the album's video.
    assert sorted(("photo" in m, "video" in m) for m in sent["messages"]) == [
        (False, True),
        (True, False),
        (True, False),
    ]


@pytest.mark.lost_answer
async def test_a_doubtful_publish_goes_to_review_without_a_second_post(
    engine: Engine,  # noqa: F811
) -> None:
    engine.accounts["telegram"] = (await connected(engine.world))["id"]
    engine.world.control(
        "telegram",
        "POST",
        "/faults",
        {"status": 200, "path": "sendMessage$", "lose_response": True, "delay_s": 3},
    )
    post = await engine.publish_now("telegram", content="Did it go out?")
    await engine.tick()
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "publishing"
    with clock.frozen(lambda: datetime.now(UTC) + timedelta(seconds=30)):
        await engine.tick()
    target = (await engine.read(post["id"]))["targets"][0]
    assert target["status"] == "needs_review", target
    for _ in range(2):
        await engine.tick()
    assert engine.sends("telegram", "Did it go out?") == ["fault-injected-after-effect"]


async def test_a_429_waits_for_telegrams_retry_after(engine: Engine) -> None:  # noqa: F811
    engine.accounts["telegram"] = (await connected(engine.world))["id"]
    engine.world.control("telegram", "POST", "/limits", {"per_chat_per_minute": 1})
    first = await engine.publish_now("telegram", content="First")
    await engine.tick()
    assert (await engine.read(first["id"]))["status"] == "published"
    second = await engine.publish_now("telegram", content="Second")
    await engine.tick()
    waiting = (await engine.read(second["id"]))["targets"][0]
    assert waiting["status"] == "retrying", waiting
    assert waiting["last_error"]["code"] == "rate_limited"
    due = datetime.fromisoformat(waiting["next_attempt_at"].replace("Z", "+00:00"))
    assert due >= clock.now() + timedelta(seconds=45)
    assert engine.sends("telegram", "Second") == ["refused-other"]


async def test_a_kicked_bot_makes_the_account_need_reconnecting(
    engine: Engine,  # noqa: F811
) -> None:
    account = await connected(engine.world)
    engine.accounts["telegram"] = account["id"]
    engine.world.control("telegram", "POST", f"/chats/{CHAT}/bot", {"status": "kicked"})
    post = await engine.publish_now("telegram", content="Anyone there?")
    await engine.tick()
    target = (await engine.read(post["id"]))["targets"][0]
    assert target["status"] == "failed", target
    read = await engine.api.get(
        f"/api/v1/social-accounts/{account['id']}", headers=engine.owner.headers
    )
    assert read.json()["status"] == "reauth_required"
    assert "kicked" in read.json()["last_error"]


async def test_metrics_are_not_collected_and_the_account_says_why(
    engine: Engine,  # noqa: F811
) -> None:
    account = await connected(engine.world)
    engine.accounts["telegram"] = account["id"]
    post = await engine.publish_now("telegram", content="Count me")
    await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["status"] == "published"
    await engine.change_target(target["id"], next_collect_at=clock.now() - timedelta(seconds=1))
    await engine.loops.run_once("analytics.collect")
    await engine.world.drain()
    async with session_scope(engine.world.runtime) as session:
        snapshots = (
            await session.scalars(
                select(MetricSnapshot).where(MetricSnapshot.target_id == uuid.UUID(target["id"]))
            )
        ).all()
        held = await session.get(SocialAccount, uuid.UUID(account["id"]))
    assert snapshots == []
    assert held is not None
    assert held.status.value == "active"
    assert held.metrics_unavailable is not None
    assert "view" in held.metrics_unavailable
