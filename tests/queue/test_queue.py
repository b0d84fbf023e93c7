"""A brand's queue through the API: its weekly slots, the next free ones across daylight-saving
changes, and posts that take the next free slot."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from t21.core import clock
from t21.core.uow import session_scope
from t21.posts.models import Post
from t21.worker.queue import JobQueue
from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk
from tests.social.conftest import query
from tests.support.accounts import Account, add_member, create_api_key, register, sign_in


def queue_url(desk: Desk, brand_id: str | None = None) -> str:
    return f"/api/v1/brands/{brand_id or desk.brand_id}/queue"


async def set_slots(desk: Desk, slots: list[dict[str, str]], timezone: str = "UTC") -> Any:
    zoned = await desk.api.patch(
        f"/api/v1/brands/{desk.brand_id}", json={"timezone": timezone}, headers=desk.owner.headers
    )
    assert zoned.status_code == 200, zoned.text
    answer = await desk.api.put(queue_url(desk), json={"slots": slots}, headers=desk.owner.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def next_slots(desk: Desk, count: int, who: Account | None = None) -> list[dict[str, str]]:
    answer = await desk.api.get(
        f"{queue_url(desk)}/next",
        params={"count": count},
        headers=(who or desk.owner).headers,
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, str]] = answer.json()["items"]
    return items


async def member(desk: Desk, role: str) -> Account:
    runtime = desk.world.runtime
    assert isinstance(runtime.jobs, JobQueue)
    return await add_member(
        desk.api,
        runtime.jobs,
        runtime.settings,
        inviter=desk.owner,
        organization_id=desk.owner.personal_organization_id,
        role=role,
    )


async def post_count(desk: Desk) -> int:
    async with session_scope(desk.world.runtime) as session:
        return int(await session.scalar(select(func.count()).select_from(Post)) or 0)


EVERY_DAY = [{"day": day, "time": "09:00"} for day in ("mon", "tue", "wed", "thu", "fri")] + [
    {"day": day, "time": "17:30"} for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
]


# --- the weekly slots ---------------------------------------------------------------------------


async def test_admins_set_the_slots_in_weekly_order_and_members_read_them(desk: Desk) -> None:
    empty = await desk.api.get(queue_url(desk), headers=desk.owner.headers)
    assert empty.json() == {"timezone": "UTC", "slots": []}
    saved = await set_slots(
        desk,
        [
            {"day": "sun", "time": "08:00"},
            {"day": "mon", "time": "17:30"},
            {"day": "mon", "time": "09:05"},
        ],
        timezone="Europe/Paris",
    )
    ordered = [
        {"day": "mon", "time": "09:05"},
        {"day": "mon", "time": "17:30"},
        {"day": "sun", "time": "08:00"},
    ]
    assert saved == {"timezone": "Europe/Paris", "slots": ordered}
    writer = await member(desk, "member")
    read = await desk.api.get(queue_url(desk), headers=writer.headers)
    assert read.json()["slots"] == ordered
    refused = await desk.api.put(queue_url(desk), json={"slots": []}, headers=writer.headers)
    assert_problem(refused, 403, "forbidden")
    viewer = await member(desk, "viewer")
    assert_problem(await desk.api.get(queue_url(desk), headers=viewer.headers), 403, "forbidden")
    stranger = await register(desk.api)
    for method, path in [
        ("GET", queue_url(desk)),
        ("PUT", queue_url(desk)),
        ("GET", f"{queue_url(desk)}/next"),
    ]:
        answer = await desk.api.request(
            method, path, json={"slots": []} if method == "PUT" else None, headers=stranger.headers
        )
        assert_problem(answer, 404, "not_found")
    assert_problem(
        await desk.api.get(queue_url(desk, str(uuid.uuid4())), headers=desk.owner.headers),
        404,
        "not_found",
    )
    assert_problem(await desk.api.get(queue_url(desk)), 401, "not_authenticated")
    organization = desk.owner.personal_organization_id
    for role, put_status in (("member", 403), ("admin", 200)):
        key = await create_api_key(desk.api, desk.owner, organization, role=role)
        headers = {"Authorization": f"Bearer {key['key']}"}
        assert (await desk.api.get(f"{queue_url(desk)}/next", headers=headers)).status_code == 200
        put = await desk.api.put(queue_url(desk), json={"slots": ordered}, headers=headers)
        assert put.status_code == put_status, put.text
    cleared = await desk.api.put(queue_url(desk), json={"slots": []}, headers=desk.owner.headers)
    assert cleared.json()["slots"] == []


async def test_bad_slots_are_refused_and_the_queue_stays_as_it_was(desk: Desk) -> None:
    kept = await set_slots(desk, [{"day": "tue", "time": "10:00"}])
    for slots in [
        [{"day": "mon", "time": "09:00"}, {"day": "mon", "time": "09:00"}],
        [{"day": "monday", "time": "09:00"}],
        [{"day": "mon", "time": "9:00"}],
        [{"day": "mon", "time": "24:00"}],
        [{"day": "mon", "time": "12:60"}],
        [{"day": "mon", "time": "12:00:00"}],
        [{"day": "mon", "time": "ab:cd"}],
        [{"day": "mon"}],
        [{"day": "mon", "time": "09:00", "extra": 1}],
        [{"day": "mon", "time": "09:00"}] * 400,
    ]:
        answer = await desk.api.put(
            queue_url(desk), json={"slots": slots}, headers=desk.owner.headers
        )
        assert_problem(answer, 422, "validation_error")
    assert_problem(
        await desk.api.put(queue_url(desk), json={}, headers=desk.owner.headers),
        422,
        "validation_error",
    )
    after = await desk.api.get(queue_url(desk), headers=desk.owner.headers)
    assert after.json() == kept


# --- the next free slots ------------------------------------------------------------------------


async def test_next_slots_keep_their_wall_time_across_the_spring_change(desk: Desk) -> None:
    await set_slots(
        desk, [{"day": "sun", "time": "01:30"}, {"day": "sun", "time": "09:00"}], "Europe/London"
    )
    # Europe/London skips 01:00-02:00 on Sunday 2027-03-28.
    with clock.frozen(datetime(2027, 3, 27, 12, tzinfo=UTC)):
        owner = await sign_in(desk.api, desk.owner)
        items = await next_slots(desk, 4, owner)
    assert items == [
        {"at": "2027-03-28T01:00:00Z", "at_local": "2027-03-28T02:00:00+01:00"},
        {"at": "2027-03-28T08:00:00Z", "at_local": "2027-03-28T09:00:00+01:00"},
        {"at": "2027-04-04T00:30:00Z", "at_local": "2027-04-04T01:30:00+01:00"},
        {"at": "2027-04-04T08:00:00Z", "at_local": "2027-04-04T09:00:00+01:00"},
    ]


async def test_a_slot_in_the_autumn_overlap_happens_once(desk: Desk) -> None:
    await set_slots(desk, [{"day": "sun", "time": "01:30"}], "America/New_York")
    # America/New_York shows 01:00-02:00 twice on Sunday 2027-11-07.
    with clock.frozen(datetime(2027, 11, 6, tzinfo=UTC)):
        owner = await sign_in(desk.api, desk.owner)
        items = await next_slots(desk, 2, owner)
    assert items == [
        {"at": "2027-11-07T05:30:00Z", "at_local": "2027-11-07T01:30:00-04:00"},
        {"at": "2027-11-14T06:30:00Z", "at_local": "2027-11-14T01:30:00-05:00"},
    ]


async def test_lord_howes_half_hour_gap_moves_a_slot_to_its_end(desk: Desk) -> None:
    await set_slots(desk, [{"day": "sun", "time": "02:15"}], "Australia/Lord_Howe")
    # Australia/Lord_Howe goes from 02:00 +10:30 to 02:30 +11:00 on Sunday 2027-10-03.
    with clock.frozen(datetime(2027, 10, 1, tzinfo=UTC)):
        owner = await sign_in(desk.api, desk.owner)
        items = await next_slots(desk, 2, owner)
    assert items == [
        {"at": "2027-10-02T15:30:00Z", "at_local": "2027-10-03T02:30:00+11:00"},
        {"at": "2027-10-09T15:15:00Z", "at_local": "2027-10-10T02:15:00+11:00"},
    ]


async def test_next_takes_one_to_fifty_and_an_empty_queue_has_none(desk: Desk) -> None:
    assert await next_slots(desk, 5) == []
    for count in ("0", "51", "x"):
        answer = await desk.api.get(
            f"{queue_url(desk)}/next", params={"count": count}, headers=desk.owner.headers
        )
        assert_problem(answer, 422, "validation_error")
    await set_slots(desk, EVERY_DAY)
    items = await next_slots(desk, 50)
    assert len(items) == 50
    instants = [datetime.fromisoformat(item["at"]) for item in items]
    assert instants == sorted(set(instants))
    assert instants[0] > clock.now()
    assert instants[-1] - instants[0] < timedelta(days=29)
    assert len(await next_slots(desk, 1)) == 1


# --- posts in the queue -------------------------------------------------------------------------


async def test_a_queued_post_takes_the_next_free_slot(desk: Desk) -> None:
    await set_slots(desk, EVERY_DAY, "Europe/Berlin")
    first, second, third = (item["at"] for item in await next_slots(desk, 3))
    x = await desk.account("twitter")
    queued = (
        await desk.create(
            content="In the queue", targets=[{"social_account_id": x}], schedule="queue"
        )
    ).json()
    assert queued["status"] == "scheduled"
    assert queued["scheduled_at"] == first
    assert queued["targets"][0]["status"] == "scheduled"
    assert [item["at"] for item in await next_slots(desk, 2)] == [second, third]
    # A draft at a slot's time takes no slot; a post scheduled there does, until cancelled.
    await desk.create(
        content="Maybe", targets=[{"social_account_id": x}], scheduled_at=second, status="draft"
    )
    assert (await next_slots(desk, 1))[0]["at"] == second
    held = (
        await desk.create(
            content="Fixed time", targets=[{"social_account_id": x}], scheduled_at=second
        )
    ).json()
    assert (await next_slots(desk, 1))[0]["at"] == third
    cancelled = await desk.api.post(f"{POSTS}/{held['id']}/cancel", headers=desk.owner.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert (await next_slots(desk, 1))[0]["at"] == second
    again = (
        await desk.create(content="Next", targets=[{"social_account_id": x}], schedule="queue")
    ).json()
    assert again["scheduled_at"] == second
    assert (await next_slots(desk, 1))[0]["at"] == third


async def test_another_brands_posts_take_none_of_this_brands_slots(desk: Desk) -> None:
    await set_slots(desk, EVERY_DAY)
    first = (await next_slots(desk, 1))[0]["at"]
    other = await desk.api.post(
        "/api/v1/brands", json={"name": "Other"}, headers=desk.owner.headers
    )
    assert other.status_code == 201, other.text
    other_id = other.json()["id"]
    connected = await desk.world.connect("twitter", brand_id=other_id)
    assert connected.status_code == 302, connected.text
    [account] = query(connected.headers["location"])["connected"].split(",")
    await desk.create(
        brand_id=other_id,
        content="Other brand, same minute",
        targets=[{"social_account_id": account}],
        scheduled_at=first,
    )
    assert (await next_slots(desk, 1))[0]["at"] == first


async def test_queueing_without_a_slot_is_refused_and_stores_nothing(desk: Desk) -> None:
    x = await desk.account("twitter")
    target = [{"social_account_id": x}]
    empty = await desk.create(expect=422, content="Nowhere", targets=target, schedule="queue")
    body = assert_problem(empty, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "schedule"]
    assert body["errors"][0]["rule"] == "queue_empty"
    await set_slots(desk, EVERY_DAY)
    extras: list[dict[str, Any]] = [
        {"scheduled_at": (clock.now() + timedelta(days=1)).isoformat()},
        {"status": "draft"},
    ]
    for extra in extras:
        both = await desk.create(
            expect=422, content="Which", targets=target, schedule="queue", **extra
        )
        assert_problem(both, 422, "validation_error")
    unknown = await desk.create(expect=422, content="Later", targets=target, schedule="later")
    assert_problem(unknown, 422, "validation_error")
    no_account = await desk.create(expect=422, content="To no one", targets=[], schedule="queue")
    assert_problem(no_account, 422, "validation_error")
    assert await post_count(desk) == 0
    viewer = await member(desk, "viewer")
    refused = await desk.create(
        who=viewer, expect=403, content="Not mine to write", targets=target, schedule="queue"
    )
    assert_problem(refused, 403, "forbidden")
    assert await post_count(desk) == 0
