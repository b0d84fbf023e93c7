"""Pinterest through T21's API and publishing engine against the sandbox's Pinterest: an
account connects, lists its boards, posts are refused at the desk for what Pinterest would
refuse, and image and video pins go out once, doubts settled without a second pin."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from t21.analytics.models import MetricSnapshot
from t21.core import clock
from t21.core.tls import tls_context
from t21.core.uow import session_scope
from t21.social.models import SocialAccount
from t21.social.tokens import held_credentials
from tests.core.test_http import assert_problem
from tests.media.files import mp4
from tests.posts.conftest import jpeg
from tests.publishing.conftest import (  # noqa: F401  (fixtures)
    Engine,
    engine,
    public_engine,
)
from tests.social.conftest import World, sandbox, world  # noqa: F401  (fixtures)

RECIPES = "1100000000000000001"
NOT_YOURS = "1100000000000000003"


def boards_of(account_id: str) -> str:
    return f"/api/v1/social-accounts/{account_id}/boards"


async def pin_now(engine: Engine, content: str, **options: Any) -> dict[str, Any]:  # noqa: F811
    """A post to the Pinterest account on the Recipes board, queued to publish now."""
    media_ids = options.pop("media_ids")
    target = {"social_account_id": await engine.account("pinterest"),
              "options": {"board_id": RECIPES, **options}}  # fmt: skip
    created = await engine.create(content=content, media_ids=media_ids, targets=[target])
    post: dict[str, Any] = created.json()
    queued = await engine.api.post(
        f"/api/v1/posts/{post['id']}/publish", headers=engine.owner.headers
    )
    assert queued.status_code == 202, queued.text
    return post


async def settle(engine: Engine, post_id: str, status: str = "published") -> dict[str, Any]:  # noqa: F811
    """Tick (moving the clock past each wait) until the post's target reaches `status`."""
    later = clock.now()
    for _ in range(8):
        [target] = (await engine.read(post_id))["targets"]
        if target["status"] == status:
            return dict(target)
        later += timedelta(seconds=45)
        await engine.network_idle("pinterest")
        with clock.frozen(later):
            await engine.tick()
    [target] = (await engine.read(post_id))["targets"]
    assert target["status"] == status, target
    return dict(target)


async def test_an_account_connects_and_lists_its_boards_page_by_page(
    world: World,  # noqa: F811
) -> None:
    [account_id] = await world.connected_ids("pinterest")
    world.control("pinterest", "POST", "/boards", {"name": "Crafts", "count": 260})
    listed = await world.api.get(boards_of(account_id), headers=world.owner.headers)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert items[:2] == [{"id": RECIPES, "name": "Recipes"},
                         {"id": "1100000000000000002", "name": "Home ideas"}]  # fmt: skip
    assert len(items) == 262
    assert NOT_YOURS not in {item["id"] for item in items}
    account = await world.api.get(
        f"/api/v1/social-accounts/{account_id}", headers=world.owner.headers
    )
    assert (account.json()["platform"], account.json()["username"]) == ("pinterest", "t21sandbox")
    assert "t21-sandbox-secret" not in account.text


async def test_boards_of_a_revoked_account_answer_409(world: World) -> None:  # noqa: F811
    [account_id] = await world.connected_ids("pinterest")
    world.control("pinterest", "POST", "/tokens/revoke", {})
    refused = await world.api.get(boards_of(account_id), headers=world.owner.headers)
    assert_problem(refused, 409, "reauth_required")


async def test_platforms_list_pinterest_with_its_limits_and_options(
    world: World,  # noqa: F811
) -> None:
    listed = await world.api.get("/api/v1/platforms")
    [pinterest] = [item for item in listed.json()["items"] if item["name"] == "pinterest"]
    assert pinterest["available"] is True
    assert (pinterest["max_text"], pinterest["max_images"], pinterest["max_videos"]) == (500, 5, 1)
    assert pinterest["requires_media"] is True
    assert set(pinterest["options"]["properties"]) == {"board_id", "title", "link", "alt_text"}
    assert pinterest["options"]["required"] == ["board_id"]


async def test_a_pin_without_a_board_or_with_a_long_description_is_refused_at_the_desk(
    engine: Engine,  # noqa: F811
) -> None:
    account = await engine.account("pinterest")
    photo = await engine.upload()

    async def refused(content: str, options: dict[str, Any]) -> dict[str, Any]:
        target = {"social_account_id": account, "options": options}
        response = await engine.create(
            expect=None, content=content, media_ids=[photo], targets=[target]
        )
        assert_problem(response, 422, "validation_error")
        [entry] = response.json()["errors"]
        return dict(entry)

    missing = await refused("Napkins", {})
    assert missing["rule"] == "invalid_options"
    assert "board_id" in missing["msg"]
    title = await refused("Napkins", {"board_id": RECIPES, "title": "t" * 101})
    assert title["rule"] == "invalid_options"
    too_long = await refused("x" * 501, {"board_id": RECIPES})
    assert too_long["rule"] == "text_too_long"
    assert engine.published_at_network("pinterest") == []


async def test_an_image_pin_goes_out_once_with_its_title_and_link(
    public_engine: Engine,  # noqa: F811
) -> None:
    photo = await public_engine.upload(jpeg(1000, 1500))
    post = await pin_now(public_engine, "Fold a napkin", media_ids=[photo], title="Napkins",
                         link="https://example.com/napkins")  # fmt: skip
    await public_engine.tick()
    target = await settle(public_engine, post["id"])
    assert target["permalink"] == f"https://www.pinterest.com/pin/{target['external_id']}/"
    [record] = public_engine.published_at_network("pinterest")
    assert (record["board_id"], record["media_type"]) == (RECIPES, "image")
    assert public_engine.sends("pinterest", "Fold a napkin") == ["accepted"]


async def test_a_video_pin_is_uploaded_processed_and_pinned_once(
    engine: Engine,  # noqa: F811
) -> None:
    engine.world.control("pinterest", "POST", "/settings", {"processing_polls": 2})
    uploaded = await engine.api.post(
        "/api/v1/media",
        data={"brand_id": engine.brand_id},
        files={"file": ("clip.mp4", mp4(), "video/mp4")},
        headers=engine.owner.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    post = await pin_now(engine, "A minute of folding", media_ids=[uploaded.json()["id"]])
    await engine.tick()
    await settle(engine, post["id"])
    [record] = engine.published_at_network("pinterest")
    assert record["media_type"] == "video"
    assert engine.sends("pinterest", "A minute of folding") == ["accepted"]
    requests = engine.world.control("pinterest", "GET", "/requests")["requests"]
    assert sum(1 for r in requests if r["path"] == "/v5/media" and r["method"] == "POST") == 1


@pytest.mark.lost_answer
async def test_a_doubtful_pin_is_found_at_pinterest_and_not_sent_again(
    public_engine: Engine,  # noqa: F811
) -> None:
    engine = public_engine  # noqa: F811
    photo = await engine.upload(jpeg(1000, 1500))
    engine.world.control(
        "pinterest",
        "POST",
        "/faults",
        {"status": 201, "path": "^/v5/pins$", "method": "POST", "lose_response": True,
         "delay_s": 3},
    )  # fmt: skip
    post = await pin_now(engine, "Did it go out?", media_ids=[photo])
    await engine.tick()
    await engine.network_idle("pinterest")
    with clock.frozen(lambda: datetime.now(UTC) + timedelta(seconds=30)):
        await engine.tick()
    target = await settle(engine, post["id"])
    [record] = engine.published_at_network("pinterest")
    assert target["external_id"] == record["pin_id"]
    for _ in range(2):
        await engine.tick()
    assert engine.sends("pinterest", "Did it go out?") == ["fault-injected-after-effect"]


async def test_a_429_waits_for_pinterests_reset(public_engine: Engine) -> None:  # noqa: F811
    engine = public_engine  # noqa: F811
    engine.world.control("pinterest", "POST", "/settings", {"rate_limits": {"org_write": 1}})
    photo = await engine.upload(jpeg(1000, 1500))
    first = await pin_now(engine, "First", media_ids=[photo])
    await engine.tick()
    await settle(engine, first["id"])
    second = await pin_now(engine, "Second", media_ids=[photo])
    await engine.tick()
    [waiting] = (await engine.read(second["id"]))["targets"]
    assert waiting["status"] == "retrying", waiting
    assert waiting["last_error"]["code"] == "rate_limited"
    due = datetime.fromisoformat(waiting["next_attempt_at"].replace("Z", "+00:00"))
    assert due >= clock.now() + timedelta(seconds=30)
    # Refused at the gate, before Pinterest reads the pin.
    assert engine.sends("pinterest", "Second") == []
    assert len(engine.published_at_network("pinterest")) == 1


async def test_a_revoked_token_makes_the_account_need_reconnecting(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = await engine.account("pinterest")
    photo = await engine.upload()
    engine.world.control("pinterest", "POST", "/tokens/revoke", {})
    post = await pin_now(engine, "Anyone there?", media_ids=[photo])
    await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["status"] == "failed", target
    read = await engine.api.get(
        f"/api/v1/social-accounts/{account_id}", headers=engine.owner.headers
    )
    assert read.json()["status"] == "reauth_required"


async def test_metrics_are_collected_from_pin_analytics(
    public_engine: Engine,  # noqa: F811
) -> None:
    engine = public_engine  # noqa: F811
    photo = await engine.upload(jpeg(1000, 1500))
    post = await pin_now(engine, "Count me", media_ids=[photo])
    await engine.tick()
    target = await settle(engine, post["id"])
    engine.world.control("pinterest", "POST", "/metrics", {
        "pin_id": target["external_id"], "IMPRESSION": 300, "SAVE": 11, "PIN_CLICK": 5,
        "OUTBOUND_CLICK": 2})  # fmt: skip
    await engine.change_target(target["id"], next_collect_at=clock.now() - timedelta(seconds=1))
    await engine.loops.run_once("analytics.collect")
    await engine.world.drain()
    async with session_scope(engine.world.runtime) as session:
        [snapshot] = (
            await session.scalars(
                select(MetricSnapshot).where(MetricSnapshot.target_id == uuid.UUID(target["id"]))
            )
        ).all()
    assert (snapshot.impressions, snapshot.saves) == (300, 11)
    assert (snapshot.clicks, snapshot.outbound_clicks) == (5, 2)
    read = await engine.api.get(
        f"/api/v1/analytics/posts/{post['id']}", headers=engine.owner.headers
    )
    assert read.status_code == 200, read.text
    latest = read.json()["targets"][0]["latest"]
    assert (latest["clicks"], latest["outbound_clicks"]) == (5, 2)
    ranked = await engine.api.get(
        f"/api/v1/analytics/brands/{engine.brand_id}/top-posts?metric=outbound_clicks",
        headers=engine.owner.headers,
    )
    assert ranked.status_code == 200, ranked.text
    [top] = ranked.json()["items"]
    assert (top["post_id"], top["value"]) == (post["id"], 2)


async def _video_pin(engine: Engine, content: str) -> dict[str, Any]:  # noqa: F811
    engine.world.control("pinterest", "POST", "/settings", {"processing_polls": 0})
    uploaded = await engine.api.post(
        "/api/v1/media",
        data={"brand_id": engine.brand_id},
        files={"file": ("clip.mp4", mp4(), "video/mp4")},
        headers=engine.owner.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    return await pin_now(engine, content, media_ids=[uploaded.json()["id"]])


def _posts_to(engine: Engine, path: str) -> int:  # noqa: F811
    requests = engine.world.control("pinterest", "GET", "/requests")["requests"]
    return sum(1 for r in requests if r["method"] == "POST" and r["path"] == path)


async def test_a_worker_killed_mid_upload_starts_the_upload_again_and_pins_once(
    engine: Engine,  # noqa: F811
) -> None:
    post = await _video_pin(engine, "Cut off mid-upload")
    [target] = (await engine.read(post["id"]))["targets"]
    # The worker that took the target registered the upload and was killed while its form POST
    # was on the way: S3 keeps nothing of a form upload cut off, so only the registration is
    # left at Pinterest, and T21 has no media id of it (nothing was kept before the pin).
    account = await engine.account("pinterest")
    async with session_scope(engine.world.runtime) as db:
        held = await db.get(SocialAccount, uuid.UUID(account))
        assert held is not None
        token = held_credentials(engine.world.runtime, held).access_token
    async with httpx.AsyncClient(verify=tls_context(), timeout=10) as http:
        registered = await http.post(
            f"{engine.world.sandbox}/pinterest/v5/media",
            json={"media_type": "video"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert registered.status_code == 201, registered.text
    await engine.cut_off(target["id"])
    await engine.tick()  # the reaper: no such pin at Pinterest, so the publication goes on
    target = await settle(engine, post["id"])
    [pin] = engine.published_at_network("pinterest")
    assert (pin["pin_id"], pin["media_type"]) == (target["external_id"], "video")
    assert engine.sends("pinterest", "Cut off mid-upload") == ["accepted"]
    # Started again whole: a new registration, one complete upload.
    assert _posts_to(engine, "/v5/media") == 2
    assert _posts_to(engine, "/_bucket/") == 1


async def test_an_upload_that_keeps_failing_is_started_again_a_bounded_number_of_times(
    engine: Engine,  # noqa: F811
) -> None:
    engine.world.control(
        "pinterest",
        "POST",
        "/faults",
        {"status": 503, "path": "^/_bucket/$", "method": "POST", "count": 100,
         "body": "<Error><Code>ServiceUnavailable</Code></Error>"},
    )  # fmt: skip
    post = await _video_pin(engine, "Never uploads")
    target: dict[str, Any] = {}
    for _ in range(20):
        await engine.tick()
        [target] = (await engine.read(post["id"]))["targets"]
        if target["status"] == "failed":
            break
        await engine.make_due(target["id"])
    assert target["status"] == "failed", target
    assert target["last_error"]["code"] == "upload"
    attempts = engine.world.runtime.settings.publish_max_attempts
    assert target["attempts"] == attempts
    assert _posts_to(engine, "/_bucket/") == attempts
    assert engine.published_at_network("pinterest") == []
    assert engine.sends("pinterest", "Never uploads") == []
