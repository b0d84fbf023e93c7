"""`POST /posts/bulk`: reschedule, cancel or delete many posts, each under its own rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from t21.core import clock
from t21.posts.models import TargetStatus
from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk
from tests.queue.test_queue import member
from tests.support.accounts import Account, register

BULK = f"{POSTS}/bulk"


def later(hours: int) -> datetime:
    return (clock.now() + timedelta(hours=hours)).replace(microsecond=0).astimezone(UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def bulk(
    desk: Desk, expect: int | None = 200, who: Account | None = None, **body: Any
) -> httpx.Response:
    answer = await desk.api.post(BULK, json=body, headers=(who or desk.owner).headers)
    if expect is not None:
        assert answer.status_code == expect, answer.text
    return answer


async def scheduled(desk: Desk, hours: int, content: str | None = None) -> Any:
    # Each its own text: the duplicate guard refuses the same text twice on one account.
    text = content or f"Hello {uuid.uuid4().hex[:8]}"
    return await desk.draft("twitter", content=text, scheduled_at=later(hours).isoformat())


async def get(desk: Desk, post_id: str, who: Account | None = None) -> Any:
    answer = await desk.api.get(f"{POSTS}/{post_id}", headers=(who or desk.owner).headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_reschedule_by_shift_moves_each_post_and_refuses_those_that_cant_move(
    desk: Desk,
) -> None:
    one, two = await scheduled(desk, 5, "One"), await scheduled(desk, 7, "Two")
    published = await scheduled(desk, 9, "Published")
    await desk.set_targets(published["id"], TargetStatus.PUBLISHED)
    draft = await desk.draft("twitter", content="No time")
    ids = [one["id"], two["id"], published["id"], draft["id"]]
    answer = (await bulk(desk, action="reschedule", post_ids=ids, shift_minutes=90)).json()
    assert answer["done"] == [one["id"], two["id"]]
    refused = {entry["post_id"]: entry for entry in answer["refused"]}
    assert refused[published["id"]]["code"] == "conflict"
    assert "published" in refused[published["id"]]["detail"]
    assert refused[draft["id"]]["code"] == "not_scheduled"
    for before in (one, two):
        after = await get(desk, before["id"])
        assert at(after["scheduled_at"]) == at(before["scheduled_at"]) + timedelta(minutes=90)
        assert at(after["targets"][0]["next_attempt_at"]) == at(after["scheduled_at"])
    assert (await get(desk, draft["id"]))["status"] == "draft"
    # Shifting into the past is refused per post, as scheduling it alone would be.
    back = (await bulk(desk, action="reschedule", post_ids=[one["id"]], shift_minutes=-600)).json()
    assert back["done"] == []
    assert back["refused"][0]["code"] == "validation_error"


async def test_reschedule_to_one_time_schedules_drafts_too(desk: Desk) -> None:
    one, draft = await scheduled(desk, 5), await desk.draft("twitter", content="Draft")
    when = later(30)
    answer = (
        await bulk(
            desk,
            action="reschedule",
            post_ids=[one["id"], draft["id"]],
            scheduled_at=when.isoformat(),
        )
    ).json()
    assert answer == {"done": [one["id"], draft["id"]], "refused": []}
    for post_id in (one["id"], draft["id"]):
        post = await get(desk, post_id)
        assert post["status"] == "scheduled"
        assert at(post["scheduled_at"]) == when
    past = await bulk(
        desk,
        expect=422,
        action="reschedule",
        post_ids=[one["id"]],
        scheduled_at="2001-01-01T00:00:00Z",
    )
    assert assert_problem(past, 422, "validation_error")["errors"][0]["loc"] == [
        "body",
        "scheduled_at",
    ]


async def test_cancel_and_delete_by_filter_touch_only_the_selected_posts(desk: Desk) -> None:
    soon, later_one = await scheduled(desk, 3, "Soon"), await scheduled(desk, 48, "Later")
    draft = await desk.draft("twitter", content="Draft")
    window = {"brand_id": desk.brand_id, "status": "scheduled", "to": later(24).isoformat()}
    cancelled = (await bulk(desk, action="cancel", filter=window)).json()
    assert cancelled == {"done": [soon["id"]], "refused": []}
    assert (await get(desk, soon["id"]))["status"] == "cancelled"
    assert (await get(desk, later_one["id"]))["status"] == "scheduled"
    deleted = (
        await bulk(desk, action="delete", filter={"brand_id": desk.brand_id, "status": "draft"})
    ).json()
    assert deleted == {"done": [draft["id"]], "refused": []}
    gone = await desk.api.get(f"{POSTS}/{draft['id']}", headers=desk.owner.headers)
    assert_problem(gone, 404, "not_found")
    # A published post can't be deleted, alone or in bulk; nor cancelled.
    await desk.set_targets(later_one["id"], TargetStatus.PUBLISHED)
    for action in ("delete", "cancel"):
        refused = (await bulk(desk, action=action, post_ids=[later_one["id"]])).json()
        assert refused["done"] == []
        assert refused["refused"][0]["code"] == "conflict"
    assert (await get(desk, later_one["id"]))["targets"][0]["status"] == "published"


async def test_another_organizations_posts_are_refused_as_not_found_and_left_alone(
    desk: Desk,
) -> None:
    mine = await scheduled(desk, 5)
    stranger = await register(desk.api)
    brand = await desk.api.post("/api/v1/brands", json={"name": "S"}, headers=stranger.headers)
    theirs = await desk.api.post(
        POSTS,
        json={"brand_id": brand.json()["id"], "content": "Theirs", "targets": []},
        headers=stranger.headers,
    )
    assert theirs.status_code == 201, theirs.text
    theirs_id, unknown = theirs.json()["id"], str(uuid.uuid4())
    answer = (await bulk(desk, action="delete", post_ids=[theirs_id, unknown, mine["id"]])).json()
    assert answer["done"] == [mine["id"]]
    refused = {entry["post_id"]: entry for entry in answer["refused"]}
    # The same answer as for a post that doesn't exist: nothing leaks.
    assert refused[theirs_id]["code"] == refused[unknown]["code"] == "not_found"
    assert refused[theirs_id]["detail"] == refused[unknown]["detail"]
    assert (await get(desk, theirs_id, who=stranger))["content"] == "Theirs"
    # A filter only ever selects the caller's posts; another's brand is not found.
    listed = (await bulk(desk, who=stranger, action="cancel", filter={})).json()
    touched = listed["done"] + [entry["post_id"] for entry in listed["refused"]]
    assert touched == [theirs_id]
    foreign = await bulk(desk, expect=404, action="cancel", filter={"brand_id": brand.json()["id"]})
    assert_problem(foreign, 404, "not_found")


async def test_each_post_is_under_the_callers_permission(desk: Desk) -> None:
    post = await scheduled(desk, 5)
    viewer = await member(desk, "viewer")
    answer = (await bulk(desk, who=viewer, action="cancel", post_ids=[post["id"]])).json()
    assert answer["done"] == []
    assert answer["refused"][0]["code"] == "forbidden"
    assert (await get(desk, post["id"]))["status"] == "scheduled"


async def test_bad_requests_and_too_many_posts_are_refused_with_422(desk: Desk) -> None:
    post = await scheduled(desk, 5)
    bodies: list[dict[str, Any]] = [
        {"action": "cancel"},
        {"action": "cancel", "post_ids": [post["id"]], "filter": {}},
        {"action": "reschedule", "post_ids": [post["id"]]},
        {
            "action": "reschedule",
            "post_ids": [post["id"]],
            "shift_minutes": 5,
            "scheduled_at": later(3).isoformat(),
        },
        {"action": "cancel", "post_ids": [post["id"]], "shift_minutes": 5},
        {"action": "archive", "post_ids": [post["id"]]},
        {"action": "cancel", "filter": {"platform": "myspace"}},
        {"action": "cancel", "filter": {"from": later(5).isoformat(), "to": later(1).isoformat()}},
        {"action": "reschedule", "post_ids": [post["id"]], "shift_minutes": 10**9},
    ]
    for wrong in bodies:
        assert_problem(await bulk(desk, expect=None, **wrong), 422, "validation_error")
    desk.world.runtime.settings.bulk_max_posts = 2
    too_many = await bulk(
        desk, expect=None, action="cancel", post_ids=[str(uuid.uuid4()) for _ in range(3)]
    )
    body = assert_problem(too_many, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "post_ids"]
    assert body["errors"][0]["rule"] == "too_many"
    await scheduled(desk, 6)
    await scheduled(desk, 7)
    by_filter = await bulk(desk, expect=None, action="cancel", filter={"brand_id": desk.brand_id})
    assert assert_problem(by_filter, 422, "validation_error")["errors"][0]["loc"] == [
        "body",
        "filter",
    ]
    assert (await get(desk, post["id"]))["status"] == "scheduled"
