"""Resolving a target in `needs_review`: a person says whether it went out, T21 records who
decided, looks up what the network knows, and the post and its events follow."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from t21.billing import usage
from t21.core import clock
from t21.core.uow import session_scope
from t21.posts.models import TargetReview, TargetStatus
from tests.events.conftest import list_events
from tests.posts.conftest import POSTS
from tests.publishing.conftest import Engine
from tests.support.accounts import create_api_key, register

TWEETS = r"^/2/tweets$"


async def in_review(engine: Engine, content: str, *platforms: str) -> dict[str, Any]:
    """A post whose first target was cut off and couldn't be confirmed: in review."""
    post = await engine.publish_now(*(platforms or ("twitter",)), content=content)
    target_id = post["targets"][0]["id"]
    await engine.change_target(
        target_id,
        status=TargetStatus.NEEDS_REVIEW,
        attempts=1,
        attempt_started_at=clock.now() - timedelta(minutes=1),
        last_error_code="needs_review",
        last_error_message="T21 couldn't confirm whether it posted.",
    )
    return post


async def resolve(engine: Engine, post: dict[str, Any], body: dict[str, Any], **kwargs: Any) -> Any:
    target_id = kwargs.pop("target_id", post["targets"][0]["id"])
    headers = kwargs.pop("headers", engine.owner.headers)
    return await engine.api.post(
        f"{POSTS}/{post['id']}/targets/{target_id}/resolve", json=body, headers=headers
    )


async def reviews(engine: Engine) -> list[TargetReview]:
    async with session_scope(engine.world.runtime) as session:
        return list(await session.scalars(select(TargetReview)))


@pytest.mark.lost_answer
async def test_published_is_recorded_with_what_the_network_shows_and_who_decided(
    engine: Engine,
) -> None:
    engine.world.control(
        "twitter",
        "POST",
        "/faults",
        {"status": 200, "path": TWEETS, "method": "POST", "lose_response": True, "delay_s": 2},
    )
    post = await engine.publish_now("twitter", content="Did it go out?")
    await engine.tick()
    [tweet] = engine.published_at_network("twitter")
    await engine.change_target(
        post["targets"][0]["id"],
        status=TargetStatus.NEEDS_REVIEW,
        attempt_started_at=clock.now() - timedelta(minutes=1),
        lease_expires_at=None,
    )
    answer = await resolve(engine, post, {"outcome": "published"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "published"
    [target] = body["targets"]
    assert target["status"] == "published"
    assert target["external_id"] == tweet["id"]
    assert target["permalink"]
    assert target["last_error"] is None
    [review] = await reviews(engine)
    assert (review.outcome, review.action) == ("published", None)
    assert review.user_id == engine.owner.user_id
    async with session_scope(engine.world.runtime) as session:
        counted = await usage.usage(session, engine.owner.personal_organization_id)
    assert counted[usage.Metric.PUBLISHED_POSTS] == 1
    items = (await list_events(engine.api, engine.owner.headers, limit=5))["items"]
    assert [item["type"] for item in items[:3]] == [
        "post.published",
        "target.resolved",
        "target.published",
    ]
    resolution = items[1]["data"]["resolution"]
    assert resolution["outcome"] == "published"
    assert resolution["decided_by"] == {"type": "user", "id": str(engine.owner.user_id)}
    assert items[1]["data"]["target"]["external_id"] == tweet["id"]
    again = await resolve(engine, post, {"outcome": "published"})
    assert again.status_code == 409
    assert len(engine.published_at_network("twitter")) == 1


async def test_published_keeps_the_link_and_id_a_person_gives(engine: Engine) -> None:
    post = await in_review(engine, "Posted by hand")
    answer = await resolve(
        engine,
        post,
        {
            "outcome": "published",
            "external_id": "1789",
            "permalink": "https://x.com/acme/status/1789",
        },
    )
    assert answer.status_code == 200, answer.text
    [target] = answer.json()["targets"]
    assert (target["external_id"], target["permalink"]) == (
        "1789",
        "https://x.com/acme/status/1789",
    )


async def test_not_published_and_retried_goes_out_once_more(engine: Engine) -> None:
    post = await in_review(engine, "Try again")
    answer = await resolve(engine, post, {"outcome": "not_published", "action": "retry"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "scheduled"
    [target] = body["targets"]
    assert target["status"] == "scheduled"
    assert target["next_attempt_at"] is not None
    assert target["last_error"] is None
    await engine.tick()
    assert (await engine.read(post["id"]))["status"] == "published"
    assert len(engine.published_at_network("twitter")) == 1
    [review] = await reviews(engine)
    assert (review.outcome, review.action) == ("not_published", "retry")


async def test_not_published_and_cancelled_settles_the_post(engine: Engine) -> None:
    post = await in_review(engine, "Never mind", "twitter", "linkedin")
    await engine.tick()  # the other account publishes
    key = await create_api_key(engine.api, engine.owner, engine.owner.personal_organization_id)
    answer = await resolve(
        engine,
        post,
        {"outcome": "not_published", "action": "cancel"},
        headers={"Authorization": f"Bearer {key['key']}"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    statuses = {t["platform"]: t["status"] for t in body["targets"]}
    assert statuses == {"twitter": "cancelled", "linkedin": "published"}
    assert body["status"] == "published"
    [review] = await reviews(engine)
    assert review.api_key_id == uuid.UUID(key["id"])
    assert review.user_id is None
    items = (await list_events(engine.api, engine.owner.headers, type="target.resolved"))["items"]
    assert items[0]["data"]["resolution"]["decided_by"] == {"type": "api_key", "id": key["id"]}
    assert engine.published_at_network("twitter") == []


async def test_only_a_target_in_review_of_ones_own_post_can_be_resolved(engine: Engine) -> None:
    post = await in_review(engine, "Careful", "twitter", "linkedin")
    other_target = post["targets"][1]["id"]
    not_in_review = await resolve(engine, post, {"outcome": "published"}, target_id=other_target)
    assert not_in_review.status_code == 409
    assert not_in_review.headers["content-type"].startswith("application/problem+json")
    stranger = await register(engine.api)
    theirs = await resolve(engine, post, {"outcome": "published"}, headers=stranger.headers)
    assert theirs.status_code == 404
    elsewhere = await engine.draft("twitter", content="Another post")
    wrong_post = await resolve(
        engine, elsewhere, {"outcome": "published"}, target_id=post["targets"][0]["id"]
    )
    assert wrong_post.status_code == 404
    unknown = await resolve(engine, post, {"outcome": "published"}, target_id=str(uuid.uuid4()))
    assert unknown.status_code == 404
    viewer = await create_api_key(
        engine.api, engine.owner, engine.owner.personal_organization_id, role="viewer"
    )
    refused = await resolve(
        engine, post, {"outcome": "published"}, headers={"Authorization": f"Bearer {viewer['key']}"}
    )
    assert refused.status_code == 403
    for bad in (
        {"outcome": "maybe"},
        {"outcome": "not_published"},
        {"outcome": "not_published", "action": "later"},
        {"outcome": "published", "permalink": "not a link"},
        {"outcome": "published", "surprise": True},
    ):
        answer = await resolve(engine, post, bad)
        assert answer.status_code == 422, bad
    assert await reviews(engine) == []
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "needs_review"
