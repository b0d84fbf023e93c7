"""`POST /posts/validate`: what creating the post would answer, with nothing stored."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from t21.billing import usage
from t21.billing.models import UsageCounter
from t21.core import clock
from t21.core.idempotency import IdempotencyRecord
from t21.core.uow import session_scope
from t21.posts.models import Post, PostMedia, PostTarget
from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk
from tests.queue.test_queue import EVERY_DAY, member, next_slots, set_slots

VALIDATE = f"{POSTS}/validate"


def tomorrow() -> str:
    return (clock.now() + timedelta(days=1)).isoformat()


async def rows(desk: Desk) -> dict[str, int]:
    """How many rows each table a create or a request key could touch holds."""
    async with session_scope(desk.world.runtime) as session:
        return {
            model.__tablename__: int(
                await session.scalar(select(func.count()).select_from(model)) or 0
            )
            for model in (Post, PostTarget, PostMedia, IdempotencyRecord, UsageCounter)
        }


async def validate(desk: Desk, expect: int = 200, **body: Any) -> Any:
    body.setdefault("brand_id", desk.brand_id)
    answer = await desk.api.post(
        VALIDATE,
        json=body,
        headers={**desk.owner.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert answer.status_code == expect, answer.text
    return answer.json()


async def test_a_valid_post_answers_each_targets_length_and_limit_and_stores_nothing(
    desk: Desk,
) -> None:
    x, linkedin = await desk.account("twitter"), await desk.account("linkedin")
    photo = await desk.upload()
    before = await rows(desk)
    checked = await validate(
        desk,
        content="Hello https://example.com/a/very/long/path/indeed 👋",
        media_ids=[photo],
        targets=[
            {"social_account_id": x},
            {"social_account_id": linkedin, "content": "Hello LinkedIn"},
        ],
        scheduled_at=tomorrow(),
    )
    assert checked == {
        "valid": True,
        "errors": [],
        "warnings": [],
        "targets": [
            # X counts a link as 23 and an emoji as 2.
            {"social_account_id": x, "platform": "twitter", "length": 6 + 23 + 1 + 2, "limit": 280},
            {"social_account_id": linkedin, "platform": "linkedin", "length": 14, "limit": 3000},
        ],
    }
    assert await rows(desk) == before
    listed = await desk.api.get(POSTS, headers=desk.owner.headers)
    assert listed.json()["items"] == []


async def test_errors_are_those_create_answers_with_a_422(desk: Desk) -> None:
    x = await desk.account("twitter")
    body: dict[str, Any] = {
        "brand_id": desk.brand_id,
        "content": "x" * 300,
        "media_ids": [str(uuid.uuid4())],
        "targets": [{"social_account_id": x}, {"social_account_id": str(uuid.uuid4())}],
        "scheduled_at": (clock.now() - timedelta(days=1)).isoformat(),
    }
    created = await desk.create(expect=422, **body)
    refused = assert_problem(created, 422, "validation_error")
    before = await rows(desk)
    checked = await validate(desk, **body)
    assert checked["valid"] is False
    assert checked["errors"] == refused["errors"]
    assert {entry.get("rule") for entry in checked["errors"]} >= {"account"}
    assert checked["targets"] == [
        {"social_account_id": x, "platform": "twitter", "length": 300, "limit": 280}
    ]
    assert await rows(desk) == before
    text = await validate(desk, content="x" * 300, targets=[{"social_account_id": x}])
    [too_long] = text["errors"]
    assert too_long["rule"] == "text_too_long"
    assert too_long["loc"] == ["body", "targets", 0, "content"]
    assert (
        text["errors"]
        == (
            await desk.create(expect=422, content="x" * 300, targets=[{"social_account_id": x}])
        ).json()["errors"]
    )


async def test_the_months_quota_is_a_warning_as_when_scheduling(desk: Desk) -> None:
    x = await desk.account("twitter")
    async with session_scope(desk.world.runtime) as session:
        await usage.increment(
            session, desk.owner.personal_organization_id, usage.Metric.PUBLISHED_POSTS, 30
        )
    draft = await validate(desk, content="Just a draft", targets=[{"social_account_id": x}])
    assert draft["valid"] is True
    assert draft["warnings"] == []
    before = await rows(desk)
    scheduled = await validate(
        desk, content="Over quota", targets=[{"social_account_id": x}], scheduled_at=tomorrow()
    )
    assert scheduled["valid"] is True
    [warning] = scheduled["warnings"]
    assert warning["code"] == "quota_exceeded"
    created = await desk.create(
        content="Over quota", targets=[{"social_account_id": x}], scheduled_at=tomorrow()
    )
    assert created.json()["warnings"] == [warning]
    assert (await rows(desk))["usage_counters"] == before["usage_counters"]


async def test_a_queued_post_is_checked_against_the_next_free_slot_without_taking_it(
    desk: Desk,
) -> None:
    x = await desk.account("twitter")
    body: dict[str, Any] = {
        "content": "Queued",
        "targets": [{"social_account_id": x}],
        "schedule": "queue",
    }
    no_slots = await validate(desk, **body)
    assert no_slots["valid"] is False
    [problem] = no_slots["errors"]
    assert problem["rule"] == "queue_empty"
    await set_slots(desk, EVERY_DAY)
    first = (await next_slots(desk, 1))[0]["at"]
    for _ in range(2):
        assert (await validate(desk, **body))["valid"] is True
    assert (await next_slots(desk, 1))[0]["at"] == first
    both = await desk.api.post(
        VALIDATE,
        json={**body, "brand_id": desk.brand_id, "scheduled_at": tomorrow()},
        headers=desk.owner.headers,
    )
    assert_problem(both, 422, "validation_error")


async def test_only_writers_of_the_brand_may_validate(desk: Desk) -> None:
    x = await desk.account("twitter")
    body = {"brand_id": desk.brand_id, "content": "Hi", "targets": [{"social_account_id": x}]}
    viewer = await member(desk, "viewer")
    assert_problem(
        await desk.api.post(VALIDATE, json=body, headers=viewer.headers), 403, "forbidden"
    )
    writer = await member(desk, "member")
    allowed = await desk.api.post(VALIDATE, json=body, headers=writer.headers)
    assert allowed.json()["valid"] is True
    other = {**body, "brand_id": str(uuid.uuid4())}
    assert_problem(
        await desk.api.post(VALIDATE, json=other, headers=desk.owner.headers), 404, "not_found"
    )
    assert_problem(await desk.api.post(VALIDATE, json=body), 401, "not_authenticated")
    malformed = await desk.api.post(VALIDATE, json={"brand_id": "x"}, headers=desk.owner.headers)
    assert_problem(malformed, 422, "validation_error")
