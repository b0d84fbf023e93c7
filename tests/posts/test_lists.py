"""Listing posts: the contract's order and filters, keyset pages, a calendar window, and a page
loaded in the same number of queries whatever its size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from t21.core import clock
from t21.core.runtime import Runtime
from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk, engine_events
from tests.social.conftest import World
from tests.support.accounts import register


def at(days: float) -> str:
    moment = clock.now().replace(microsecond=0) + timedelta(days=days)
    return moment.isoformat().replace("+00:00", "Z")


async def listed(desk: Desk, **params: Any) -> list[dict[str, Any]]:
    """Every post the filters select, walking the pages."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await desk.api.get(POSTS, params=query, headers=desk.owner.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_posts_come_in_schedule_order_with_drafts_last_across_pages(desk: Desk) -> None:
    late = await desk.draft("twitter", content="late", scheduled_at=at(9))
    draft = await desk.draft("twitter", content="draft")
    early = await desk.draft("twitter", content="early", scheduled_at=at(1))
    middle = await desk.draft("linkedin", content="middle", scheduled_at=at(5))
    second_draft = await desk.draft("linkedin", content="second draft")
    expected = [early["id"], middle["id"], late["id"], draft["id"], second_draft["id"]]
    assert [post["id"] for post in await listed(desk, limit=2)] == expected
    assert [post["id"] for post in await listed(desk, limit=100)] == expected


async def test_filters_by_brand_status_platform_and_calendar_window(desk: Desk) -> None:
    x_post = await desk.draft("twitter", content="x", scheduled_at=at(2))
    linkedin_post = await desk.draft("linkedin", content="li", scheduled_at=at(20))
    both = await desk.draft("twitter", "linkedin", content="both")
    other = await desk.api.post(
        "/api/v1/brands", json={"name": "Other"}, headers=desk.owner.headers
    )
    other_id = other.json()["id"]

    def ids(items: list[dict[str, Any]]) -> list[str]:
        return [item["id"] for item in items]

    assert ids(await listed(desk, platform="twitter")) == [x_post["id"], both["id"]]
    assert ids(await listed(desk, platform="linkedin")) == [linkedin_post["id"], both["id"]]
    assert ids(await listed(desk, status="draft")) == [both["id"]]
    assert ids(await listed(desk, status="scheduled")) == [x_post["id"], linkedin_post["id"]]
    assert ids(await listed(desk, brand_id=desk.brand_id)) == [
        x_post["id"],
        linkedin_post["id"],
        both["id"],
    ]
    assert await listed(desk, brand_id=other_id) == []
    window = await listed(desk, **{"from": at(1), "to": at(10)})
    assert ids(window) == [x_post["id"]]
    month = await listed(desk, **{"from": at(0), "to": at(31), "platform": "linkedin"})
    assert ids(month) == [linkedin_post["id"]]


async def test_posts_of_every_organization_merge_in_one_order(desk: Desk) -> None:
    team = await desk.api.post(
        "/api/v1/organizations", json={"name": "Team"}, headers=desk.owner.headers
    )
    brand = await desk.api.post(
        "/api/v1/brands",
        json={"name": "Team brand", "organization_id": team.json()["id"]},
        headers=desk.owner.headers,
    )
    team_brand = brand.json()["id"]
    finished = await desk.world.connect("twitter", brand_id=team_brand)
    team_account = finished.headers["location"].split("connected=")[1]
    expected = []
    for day in range(6):
        if day % 2:
            post = await desk.draft("twitter", content=f"personal {day}", scheduled_at=at(day + 1))
        else:
            created = await desk.create(
                brand_id=team_brand,
                content=f"team {day}",
                targets=[{"social_account_id": team_account}],
                scheduled_at=at(day + 1),
            )
            post = created.json()
        expected.append(post["id"])
    draft = await desk.draft("twitter", content="unscheduled")
    expected.append(draft["id"])
    assert [post["id"] for post in await listed(desk, limit=2)] == expected
    assert [post["id"] for post in await listed(desk, limit=100)] == expected
    scheduled = await listed(desk, limit=3, status="scheduled")
    assert [post["id"] for post in scheduled] == expected[:-1]


async def test_bad_filters_are_refused(desk: Desk) -> None:
    headers = desk.owner.headers
    cases: list[dict[str, str | int]] = [
        {"status": "lost"},
        {"platform": "myspace"},
        {"from": "yesterday"},
        {"from": "2030-01-01T00:00:00"},  # no offset
        {"from": at(5), "to": at(1)},
        {"limit": 0},
        {"limit": 101},
        {"cursor": "not-a-cursor"},
    ]
    for params in cases:
        response = await desk.api.get(POSTS, params=params, headers=headers)
        assert_problem(response, 422, "validation_error")
    stranger_brand = "018f0000-0000-7000-8000-000000000000"
    response = await desk.api.get(POSTS, params={"brand_id": stranger_brand}, headers=headers)
    assert_problem(response, 404, "not_found")


@contextmanager
def counting_queries(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_a_page_takes_the_same_few_queries_however_many_posts_it_holds(
    desk: Desk,
) -> None:
    photo = await desk.upload()
    for number in range(12):
        await desk.draft(
            "twitter",
            "linkedin",
            content=f"post {number}",
            media_ids=[photo],
            scheduled_at=at(1 + number),
        )
    runtime = desk.world.runtime
    counts = []
    for limit in (2, 12):
        with counting_queries(runtime) as statements:
            response = await desk.api.get(
                POSTS, params={"limit": limit}, headers=desk.owner.headers
            )
        assert response.status_code == 200
        items = response.json()["items"]
        assert len(items) == limit
        assert all(len(item["targets"]) == 2 and len(item["media"]) == 1 for item in items)
        counts.append(len([s for s in statements if "post" in s.lower() or "media" in s.lower()]))
    # The page with its targets, then the media of its posts.
    assert counts == [2, 2]


async def test_a_page_without_media_is_read_in_one_statement(desk: Desk) -> None:
    for number in range(3):
        await desk.draft("twitter", "linkedin", content=f"post {number}", scheduled_at=at(number))
    await desk.draft(content="no target yet")
    with counting_queries(desk.world.runtime) as statements:
        response = await desk.api.get(POSTS, params={"limit": 3}, headers=desk.owner.headers)
    assert response.status_code == 200
    page = response.json()
    assert [len(item["targets"]) for item in page["items"]] == [2, 2, 2]
    assert page["next_cursor"] is not None
    assert len([s for s in statements if "post" in s.lower()]) == 1
    rest = await desk.api.get(
        POSTS, params={"limit": 3, "cursor": page["next_cursor"]}, headers=desk.owner.headers
    )
    assert [item["content"] for item in rest.json()["items"]] == ["no target yet"]
    assert rest.json()["items"][0]["targets"] == []
    assert rest.json()["next_cursor"] is None


async def test_without_a_brand_filter_each_tenant_lists_only_its_own_posts(desk: Desk) -> None:
    mine = await desk.draft("twitter", content="mine")
    rival = await register(desk.api)
    brand = await desk.api.post("/api/v1/brands", json={"name": "Rival"}, headers=rival.headers)
    assert brand.status_code == 201, brand.text
    other = Desk(
        World(
            app=desk.world.app,
            api=desk.api,
            sandbox=desk.world.sandbox,
            owner=rival,
            brand_id=brand.json()["id"],
        )
    )
    theirs = await other.draft("linkedin", content="theirs")
    assert [post["id"] for post in await listed(desk)] == [mine["id"]]
    assert [post["id"] for post in await listed(other)] == [theirs["id"]]
    assert [post["id"] for post in await listed(desk, status="draft")] == [mine["id"]]
    assert [post["id"] for post in await listed(other, platform="linkedin")] == [theirs["id"]]


@pytest.mark.postgres
async def test_a_page_of_every_brand_is_read_without_a_session(desk: Desk) -> None:
    """On PostgreSQL the list of all the caller's brands reads its page on a pooled connection
    taken for it alone (`list_page_pooled`): no session, no SQLAlchemy connection; with media,
    those on a connection of their own; a brand's list checks the brand in a session first.
    The same page either way."""
    runtime = desk.world.runtime
    plain = await desk.draft("twitter", content="Plain")
    illustrated = (
        await desk.create(
            content="With a photo",
            media_ids=[await desk.upload()],
            targets=[{"social_account_id": await desk.account("twitter")}],
        )
    ).json()
    with engine_events(runtime, "engine_connect") as made:
        first = await desk.api.get(POSTS, params={"limit": 1}, headers=desk.owner.headers)
    assert first.status_code == 200, first.text
    assert made == []
    assert [item["id"] for item in first.json()["items"]] == [plain["id"]]
    with engine_events(runtime, "engine_connect") as made:
        every = await listed(desk)
    assert len(made) == 1  # the media's statement
    assert _unsigned(every) == _unsigned([plain, illustrated])
    with engine_events(runtime, "engine_connect") as made:
        of_brand = await listed(desk, brand_id=desk.brand_id)
    assert made
    assert _unsigned(of_brand) == _unsigned(every)


def _unsigned(posts: list[Any]) -> list[Any]:
    """`posts` with their media's URLs unsigned: each answer signs them anew, with an expiry
    counted from the clock's second, which may have ticked between two answers."""
    return [post | {"media": [_unsigned_media(media) for media in post["media"]]} for post in posts]


def _unsigned_media(media: dict[str, Any]) -> dict[str, Any]:
    urls = {key: media[key] for key in ("url", "thumbnail_url") if media.get(key)}
    return media | {key: url.split("?", 1)[0] for key, url in urls.items()}
