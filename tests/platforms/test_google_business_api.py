"""Google Business Profile through T21's API, as a front end uses it: connecting with Google
(one account per location), the account's locations, the rules in `GET /platforms` and at
writing time, and local posts published through the engine to the sandbox's fake."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from t21.analytics.models import MetricSnapshot
from t21.core import clock
from t21.core.uow import session_scope
from t21.social.models import SocialAccount
from tests.core.test_http import assert_problem
from tests.publishing.conftest import Engine, _engine, engine  # noqa: F401  (fixture)
from tests.social.conftest import World, sandbox, world  # noqa: F401  (fixtures)
from tests.support.loopback import PublicPort

NETWORK = "google_business"
LOCATION = "accounts/1100000000000000001/locations/2200000000000000001"
EVENT = {"title": "Winter fair", "start": "2026-12-20T10:00:00", "end": "2026-12-20T16:30:00"}


@pytest.fixture
async def fetching_engine(app_factory: Any, sandbox: str) -> AsyncIterator[Engine]:  # noqa: F811
    """An engine whose media Google's fake can fetch (T21 also answers on a loopback port), and
    which waits for the answer while the fake downloads the photo from this busy machine."""
    with closing(PublicPort()) as public:
        async with (
            _engine(app_factory, sandbox, public.url, platform_timeout_s=10.0) as built,
            public.serve(built.world.app),
        ):
            yield built


def second_location(world: World) -> None:  # noqa: F811
    world.control(NETWORK, "POST", "/accounts", {"name": "accounts/900"})
    world.control(NETWORK, "POST", "/locations", {"id": "3300", "account": "accounts/900",
                                                  "title": "Acme Station Road"})  # fmt: skip


async def test_connecting_gives_one_account_per_location_and_each_lists_the_locations(
    world: World,  # noqa: F811
) -> None:
    second_location(world)
    ids = await world.connected_ids(NETWORK)
    assert len(ids) == 2
    accounts = []
    for account_id in ids:
        read = await world.api.get(
            f"/api/v1/social-accounts/{account_id}", headers=world.owner.headers
        )
        accounts.append(read.json())
    by_location = {a["external_id"]: a for a in accounts}
    assert set(by_location) == {LOCATION, "accounts/900/locations/3300"}
    bakery = by_location[LOCATION]
    assert (bakery["platform"], bakery["display_name"]) == (NETWORK, "Sandbox Bakery")
    assert bakery["status"] == "active"
    assert bakery["token_expires_at"] is not None
    listed = await world.api.get(
        f"/api/v1/social-accounts/{bakery['id']}/locations", headers=world.owner.headers
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == [
        {"id": LOCATION, "name": "Sandbox Bakery"},
        {"id": "accounts/900/locations/3300", "name": "Acme Station Road"},
    ]
    boards = await world.api.get(
        f"/api/v1/social-accounts/{bakery['id']}/boards", headers=world.owner.headers
    )
    assert_problem(boards, 404, "not_found")
    # Connecting again updates the same accounts.
    assert sorted(await world.connected_ids(NETWORK)) == sorted(ids)


async def test_platforms_list_business_profile_with_its_limits_and_options(
    world: World,  # noqa: F811
) -> None:
    listed = await world.api.get("/api/v1/platforms")
    [gbp] = [item for item in listed.json()["items"] if item["name"] == NETWORK]
    assert gbp["available"] is True
    assert gbp["max_text"] == 1500
    assert (gbp["max_images"], gbp["max_videos"]) == (1, 0)
    assert set(gbp["options"]["properties"]) == {"post_type", "call_to_action", "event", "offer"}
    assert "no per-post numbers" in gbp["options"]["description"]


async def test_options_are_checked_when_the_post_is_written(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = await engine.account(NETWORK)

    async def refused(options: dict[str, Any], content: str = "Hello") -> dict[str, Any]:
        target = {"social_account_id": account_id, "options": options}
        response = await engine.create(expect=None, content=content, targets=[target])
        assert_problem(response, 422, "validation_error")
        [entry] = response.json()["errors"]
        return dict(entry)

    unknown = await refused({"pinned": True})
    assert unknown["rule"] == "invalid_options"
    call = await refused({"call_to_action": {"type": "CALL", "url": "https://a.example"}})
    assert call["rule"] == "call_takes_no_url"
    assert (await refused({"post_type": "event"}))["rule"] == "event_needs_event"
    offer = {"post_type": "offer", "event": EVENT, "call_to_action": {"type": "CALL"}}
    assert (await refused(offer))["rule"] == "call_to_action_on_offer"
    assert (await refused({}, content="x" * 1501))["rule"] == "text_too_long"


async def test_standard_event_and_offer_posts_are_published_once(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = await engine.account(NETWORK)
    kinds = {
        "Fresh bread daily": {"call_to_action": {"type": "LEARN_MORE",
                                                 "url": "https://acme.example"}},
        "Come to the fair": {"post_type": "event", "event": EVENT,
                             "call_to_action": {"type": "CALL"}},
        "10% off this week": {"post_type": "offer", "event": EVENT,
                              "offer": {"coupon_code": "BREAD10", "terms": "One per visit"}},
    }  # fmt: skip
    posts = []
    for text, options in kinds.items():
        target = {"social_account_id": account_id, "options": options}
        created = (await engine.create(content=text, targets=[target])).json()
        published = await engine.api.post(
            f"/api/v1/posts/{created['id']}/publish", headers=engine.owner.headers
        )
        assert published.status_code == 202, published.text
        posts.append(created)
    await engine.tick()
    for post in posts:
        done = await engine.read(post["id"])
        assert done["status"] == "published", done
        [target] = done["targets"]
        assert target["external_id"].startswith(f"{LOCATION}/localPosts/")
        assert "use=posts" in target["permalink"]
    topics = [p["topicType"] for p in engine.world.control(NETWORK, "GET", "/posts")["posts"]]
    assert sorted(topics) == ["EVENT", "OFFER", "STANDARD"]
    for text in kinds:
        assert engine.sends(NETWORK, text) == ["accepted"]


async def test_a_photo_is_fetched_by_google_from_t21s_link(fetching_engine: Engine) -> None:
    engine = fetching_engine  # noqa: F811
    await engine.account(NETWORK)
    photo = await engine.upload()
    post = await engine.publish_now(NETWORK, content="Our new loaf", media_ids=[photo])
    await engine.tick()
    done = await engine.read(post["id"])
    assert done["status"] == "published", done
    [kept] = engine.world.control(NETWORK, "GET", "/posts")["posts"]
    assert kept["media"][0]["mediaFormat"] == "PHOTO"


@pytest.mark.lost_answer
async def test_a_doubtful_publish_is_settled_by_reading_the_posts_without_a_second_post(
    engine: Engine,  # noqa: F811
) -> None:
    await engine.account(NETWORK)
    engine.world.control(
        NETWORK,
        "POST",
        "/faults",
        {"status": 200, "path": "localPosts$", "method": "POST", "lose_response": True,
         "delay_s": 3},
    )  # fmt: skip
    post = await engine.publish_now(NETWORK, content="Did it go out?")
    await engine.tick()
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "publishing"
    with clock.frozen(lambda: datetime.now(UTC) + timedelta(seconds=30)):
        await engine.tick()
    for _ in range(2):
        await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["status"] == "published", target
    [kept] = engine.world.control(NETWORK, "GET", "/posts")["posts"]
    assert target["external_id"] == kept["name"]
    assert engine.sends(NETWORK, "Did it go out?") == ["fault-injected-after-effect"]


async def test_the_edit_quota_makes_the_post_wait_for_the_next_minute(
    engine: Engine,  # noqa: F811
) -> None:
    await engine.account(NETWORK)
    engine.world.control(
        NETWORK,
        "POST",
        "/faults",
        {"status": 429, "path": "localPosts$", "method": "POST",
         "body": {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota"}}},
    )  # fmt: skip
    post = await engine.publish_now(NETWORK, content="Later, please")
    await engine.tick()
    waiting = (await engine.read(post["id"]))["targets"][0]
    assert waiting["status"] == "retrying", waiting
    assert waiting["last_error"]["code"] == "rate_limited"
    due = datetime.fromisoformat(waiting["next_attempt_at"].replace("Z", "+00:00"))
    assert due >= clock.now() + timedelta(seconds=45)


async def test_a_revoked_grant_makes_the_account_need_reconnecting(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = await engine.account(NETWORK)
    engine.world.control(NETWORK, "POST", "/tokens/revoke", {})
    post = await engine.publish_now(NETWORK, content="Anyone there?")
    for _ in range(2):
        await engine.tick()
    target = (await engine.read(post["id"]))["targets"][0]
    assert target["status"] in ("failed", "retrying"), target
    read = await engine.api.get(
        f"/api/v1/social-accounts/{account_id}", headers=engine.owner.headers
    )
    assert read.json()["status"] == "reauth_required"
    assert engine.sends(NETWORK, "Anyone there?") in ([], ["refused-other"])


async def test_no_numbers_are_collected_and_the_account_says_why(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = await engine.account(NETWORK)
    post = await engine.publish_now(NETWORK, content="Count me")
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
        held = await session.get(SocialAccount, uuid.UUID(account_id))
    assert snapshots == []
    assert held is not None
    assert held.status.value == "active"
    assert held.metrics_unavailable is not None
    assert "reportInsights" in held.metrics_unavailable


async def test_a_posts_analytics_say_why_business_profile_has_no_numbers_without_inventing_any(
    engine: Engine,  # noqa: F811
) -> None:
    post = await engine.publish_now(NETWORK, content="How did it do?")
    await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["status"] == "published"
    # Before any collection, and after one: the same clear answer.
    for collect in (False, True):
        if collect:
            await engine.change_target(
                target["id"], next_collect_at=clock.now() - timedelta(seconds=1)
            )
            await engine.loops.run_once("analytics.collect")
            await engine.world.drain()
        read = await engine.api.get(
            f"/api/v1/analytics/posts/{post['id']}", headers=engine.owner.headers
        )
        assert read.status_code == 200, read.text
        body = read.json()
        [answer] = body["targets"]
        assert (answer["latest"], answer["history"]) == (None, [])
        assert "per post" in answer["metrics_unavailable"]
        assert all(value is None for value in body["totals"].values())


async def test_disconnecting_the_only_location_revokes_the_grant_at_google(
    world: World,  # noqa: F811
) -> None:
    [account_id] = await world.connected_ids(NETWORK)
    deleted = await world.api.delete(
        f"/api/v1/social-accounts/{account_id}", headers=world.owner.headers
    )
    assert deleted.status_code == 204, deleted.text
    tokens = world.control(NETWORK, "GET", "/tokens")["tokens"]
    assert tokens
    assert not any(token["usable"] for token in tokens)
