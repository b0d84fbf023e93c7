"""Every change of a post and its targets writes an event, with what an app needs to act."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from t21.billing import usage
from t21.core import clock
from t21.core.uow import session_scope
from t21.events.models import Event
from tests.events.conftest import EVENTS, list_events, types_of
from tests.posts.conftest import POSTS
from tests.publishing.conftest import Engine
from tests.support.accounts import emails_to

TWEETS = r"^/2/tweets$"


def by_type(items: list[dict[str, Any]], type: str) -> list[dict[str, Any]]:
    return [item for item in items if item["type"] == type]


async def post_events(engine: Engine) -> list[dict[str, Any]]:
    """The owner's post and target events, newest first (connecting accounts writes others)."""
    items = (await list_events(engine.api, engine.owner.headers, limit=100))["items"]
    return [item for item in items if item["type"].startswith(("post.", "target."))]


async def test_a_published_post_tells_its_whole_story_with_the_post_and_targets_as_shown(
    engine: Engine,
) -> None:
    post = await engine.publish_now("twitter", "linkedin", content="Launch day")
    await engine.tick()
    done = await engine.read(post["id"])
    items = await post_events(engine)
    assert [item["type"] for item in reversed(items)] == [
        "post.created",
        "post.scheduled",
        "target.published",
        "target.published",
        "post.published",
    ]
    organization = str(engine.owner.personal_organization_id)
    for item in items:
        assert item["id"].startswith("evt_")
        assert item["organization_id"] == organization
        assert item["created_at"].endswith("Z")
    [created] = by_type(items, "post.created")
    assert created["data"]["id"] == post["id"]
    assert created["data"]["status"] == "draft"
    assert created["data"]["content"] == "Launch day"
    assert len(created["data"]["targets"]) == 2
    [published] = by_type(items, "post.published")
    expected = dict(done)
    expected.pop("warnings")
    assert published["data"] == expected  # the post exactly as GET /posts/{id} shows it
    shown = {target["id"]: target for target in done["targets"]}
    for event in by_type(items, "target.published"):
        assert event["data"]["post_id"] == post["id"]
        target = event["data"]["target"]
        assert target == shown[target["id"]]
        assert target["external_id"]
        assert target["permalink"]
    # Ids never change: the same events, the same ids, on every read.
    again = await post_events(engine)
    assert [item["id"] for item in again] == [item["id"] for item in items]


async def test_edits_cancels_and_deletes_are_events_carrying_the_post(engine: Engine) -> None:
    post = await engine.draft("twitter", content="First words")
    edited = await engine.api.patch(
        f"{POSTS}/{post['id']}", json={"content": "Better words"}, headers=engine.owner.headers
    )
    assert edited.status_code == 200, edited.text
    later = (clock.now() + timedelta(days=1)).isoformat()
    scheduled = await engine.api.post(
        f"{POSTS}/{post['id']}/schedule", json={"scheduled_at": later}, headers=engine.owner.headers
    )
    assert scheduled.status_code == 200, scheduled.text
    cancelled = await engine.api.post(f"{POSTS}/{post['id']}/cancel", headers=engine.owner.headers)
    assert cancelled.status_code == 200, cancelled.text
    deleted = await engine.api.delete(f"{POSTS}/{post['id']}", headers=engine.owner.headers)
    assert deleted.status_code == 204
    items = await post_events(engine)
    assert [item["type"] for item in reversed(items)] == [
        "post.created",
        "post.updated",
        "post.scheduled",
        "post.cancelled",
        "post.deleted",
    ]
    [updated] = by_type(items, "post.updated")
    assert updated["data"]["content"] == "Better words"
    [on_schedule] = by_type(items, "post.scheduled")
    assert on_schedule["data"]["status"] == "scheduled"
    assert on_schedule["data"]["targets"][0]["status"] == "scheduled"
    [gone] = by_type(items, "post.deleted")
    assert gone["data"]["id"] == post["id"]
    assert gone["data"]["status"] == "cancelled"


async def test_a_refused_change_writes_no_event(engine: Engine) -> None:
    post = await engine.publish_now("twitter", content="Out already")
    await engine.tick()
    before = await types_of(engine)
    refused = await engine.api.patch(
        f"{POSTS}/{post['id']}", json={"content": "Too late"}, headers=engine.owner.headers
    )
    assert refused.status_code == 409
    assert await types_of(engine) == before


async def test_a_retried_then_refused_target_reports_each_step_and_the_post_fails(
    engine: Engine,
) -> None:
    engine.world.control(
        "twitter",
        "POST",
        "/faults",
        {
            "status": 429,
            "path": TWEETS,
            "method": "POST",
            "count": 1,
            "headers": {"retry-after": "0"},
        },
    )
    post = await engine.publish_now("twitter", content="Bumpy road")
    await engine.tick()
    target_id = post["targets"][0]["id"]
    engine.world.control(
        "twitter",
        "POST",
        "/faults",
        {
            "status": 403,
            "path": TWEETS,
            "method": "POST",
            "body": {"title": "Forbidden", "detail": "Not allowed.", "status": 403},
        },
    )
    await engine.make_due(target_id)
    await engine.tick()
    items = await post_events(engine)
    assert [item["type"] for item in reversed(items)] == [
        "post.created",
        "post.scheduled",
        "target.retrying",
        "target.failed",
        "post.failed",
    ]
    [retrying] = by_type(items, "target.retrying")
    assert retrying["data"]["target"]["status"] == "retrying"
    assert retrying["data"]["target"]["next_attempt_at"] is not None
    assert retrying["data"]["target"]["last_error"]["code"]
    [failed] = by_type(items, "target.failed")
    assert failed["data"]["target"]["last_error"]["message"]
    [post_failed] = by_type(items, "post.failed")
    assert post_failed["data"]["status"] == "failed"


async def test_an_unconfirmed_attempt_reports_the_target_and_the_post_for_review(
    engine: Engine,
) -> None:
    post = await engine.publish_now("twitter", "linkedin", content="Who knows")
    twitter = next(t for t in post["targets"] if t["platform"] == "twitter")
    await engine.cut_off(twitter["id"], "cut-off")
    engine.world.control(
        "twitter",
        "POST",
        "/faults",
        {"status": 503, "path": r"^/2/users/[^/]+/tweets$", "method": "GET", "count": 5},
    )
    await engine.tick()  # LinkedIn publishes; X can't be asked yet
    await engine.tick_once_the_reaper_gives_up()
    types = await types_of(engine)
    assert types.count("target.needs_review") == 1
    assert types.count("post.needs_review") == 1
    assert types[-2:] == ["post.partially_published", "post.needs_review"]
    items = await post_events(engine)
    [review] = by_type(items, "target.needs_review")
    assert review["data"]["target"]["id"] == twitter["id"]
    assert review["data"]["target"]["last_error"]["code"] == "needs_review"


async def test_a_post_whose_every_target_is_over_the_quota_fails_with_one_email(
    engine: Engine,
) -> None:
    runtime = engine.world.runtime
    async with session_scope(runtime) as session:
        await usage.increment(
            session, engine.owner.personal_organization_id, usage.Metric.PUBLISHED_POSTS, 30
        )
    post = await engine.publish_now("twitter", "linkedin", content="Over the line")
    for _ in range(2):
        await engine.tick()
    done = await engine.read(post["id"])
    assert done["status"] == "failed"
    assert {t["last_error"]["code"] for t in done["targets"]} == {"quota_exceeded"}
    await engine.world.drain()
    notices = [
        message
        for message in emails_to(runtime.settings, engine.owner.email)
        if "didn't go out" in str(message["subject"])
    ]
    assert len(notices) == 1
    text = notices[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Free plan includes 30" in text
    types = await types_of(engine, type="target.failed")
    assert types == ["target.failed", "target.failed"]
    assert (await types_of(engine, type="post.failed")) == ["post.failed"]


async def test_the_list_filters_by_type_and_pages_newest_first(engine: Engine) -> None:
    for number in range(5):
        await engine.draft("twitter", content=f"Draft {number}")
    first = await list_events(engine.api, engine.owner.headers, type="post.created", limit=2)
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    second = await list_events(
        engine.api, engine.owner.headers, type="post.created", limit=2, cursor=first["next_cursor"]
    )
    third = await list_events(
        engine.api, engine.owner.headers, type="post.created", limit=2, cursor=second["next_cursor"]
    )
    assert third["next_cursor"] is None
    contents = [
        item["data"]["content"] for page in (first, second, third) for item in page["items"]
    ]
    assert contents == [f"Draft {number}" for number in reversed(range(5))]
    assert (await list_events(engine.api, engine.owner.headers, type="post.deleted"))["items"] == []
    bad = await engine.api.get(EVENTS, params={"cursor": "nonsense"}, headers=engine.owner.headers)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_events_older_than_thirty_days_are_neither_listed_nor_kept(engine: Engine) -> None:
    await engine.draft("twitter", content="Long ago")
    await engine.draft("twitter", content="Recently")
    runtime = engine.world.runtime
    async with session_scope(runtime) as session:
        oldest = (await post_events(engine))[-1]
        await session.execute(
            update(Event)
            .where(Event.id == oldest["id"])
            .values(created_at=clock.now() - timedelta(days=31))
        )
    listed = await post_events(engine)
    assert [item["data"]["content"] for item in listed] == ["Recently"]
    assert await engine.loops.run_once("events.purge_old_events") == 1
    async with session_scope(runtime) as session:
        assert await session.get(Event, oldest["id"]) is None
