"""Local times: a `scheduled_at` without an offset is read in the request's `timezone`; a wall
time the zone skips or repeats is refused with the rule it breaks; the list's `from`/`to` take
plain dates in the brand's zone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk


def _entry(problem: dict[str, Any]) -> dict[str, Any]:
    (entry,) = problem["errors"]
    return dict(entry)


async def test_a_wall_time_is_read_in_the_given_timezone(desk: Desk) -> None:
    post = await desk.draft("twitter", scheduled_at="2027-07-01T09:00:00", timezone="Europe/London")
    assert post["scheduled_at"] == "2027-07-01T08:00:00Z"  # British Summer Time is UTC+1
    winter = await desk.draft(
        "twitter", content="winter", scheduled_at="2027-01-15T09:00", timezone="Europe/London"
    )
    assert winter["scheduled_at"] == "2027-01-15T09:00:00Z"


async def test_an_offset_wins_over_the_timezone(desk: Desk) -> None:
    post = await desk.draft(
        "twitter", scheduled_at="2027-07-01T09:00:00+02:00", timezone="America/New_York"
    )
    assert post["scheduled_at"] == "2027-07-01T07:00:00Z"


@pytest.mark.parametrize(
    ("body", "loc", "rule"),
    [
        ({"scheduled_at": "2027-07-01T09:00:00"}, "scheduled_at", "offset_or_timezone_required"),
        (
            {"scheduled_at": "2027-03-28T01:30:00", "timezone": "Europe/London"},
            "scheduled_at",
            "nonexistent_local_time",
        ),
        (
            {"scheduled_at": "2027-10-31T01:30:00", "timezone": "Europe/London"},
            "scheduled_at",
            "ambiguous_local_time",
        ),
        (
            {"scheduled_at": "2027-07-01T09:00:00", "timezone": "Mars/Olympus_Mons"},
            "timezone",
            "unknown_timezone",
        ),
    ],
)
async def test_a_wall_time_that_cannot_be_placed_is_refused_with_its_rule(
    desk: Desk, body: dict[str, Any], loc: str, rule: str
) -> None:
    targets = [{"social_account_id": await desk.account("twitter")}]
    response = await desk.create(expect=None, content="Hi", targets=targets, **body)
    entry = _entry(assert_problem(response, 422, "validation_error"))
    assert entry["loc"] == ["body", loc]
    assert entry["rule"] == rule
    if rule == "nonexistent_local_time":
        assert "does not exist in Europe/London" in entry["msg"]


async def test_rescheduling_takes_a_wall_time_too(desk: Desk) -> None:
    post = await desk.draft("twitter")
    moved = await desk.api.post(
        f"{POSTS}/{post['id']}/schedule",
        json={"scheduled_at": "2027-07-01T18:30", "timezone": "Asia/Tokyo"},
        headers=desk.owner.headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["scheduled_at"] == "2027-07-01T09:30:00Z"
    gap = await desk.api.post(
        f"{POSTS}/{post['id']}/schedule",
        json={"scheduled_at": "2027-03-14T02:30", "timezone": "America/New_York"},
        headers=desk.owner.headers,
    )
    assert _entry(assert_problem(gap, 422, "validation_error"))["rule"] == (
        "nonexistent_local_time"
    )


async def test_list_dates_are_whole_days_in_the_brands_zone(desk: Desk) -> None:
    zoned = await desk.api.patch(
        f"/api/v1/brands/{desk.brand_id}",
        json={"timezone": "America/New_York"},
        headers=desk.owner.headers,
    )
    assert zoned.status_code == 200, zoned.text
    # 23:30 on 30 June, 08:00 on 1 July and 01:00 on 2 July in New York (UTC-4 in summer).
    before = await desk.draft("twitter", content="before", scheduled_at="2027-07-01T03:30:00Z")
    inside = await desk.draft("twitter", content="inside", scheduled_at="2027-07-01T12:00:00Z")
    after = await desk.draft("twitter", content="after", scheduled_at="2027-07-02T05:00:00Z")
    listed = await desk.api.get(
        POSTS,
        params={"brand_id": desk.brand_id, "from": "2027-07-01", "to": "2027-07-01"},
        headers=desk.owner.headers,
    )
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [inside["id"]]
    week = await desk.api.get(
        POSTS,
        params={"brand_id": desk.brand_id, "from": "2027-06-30", "to": "2027-07-02"},
        headers=desk.owner.headers,
    )
    assert [item["id"] for item in week.json()["items"]] == [
        before["id"],
        inside["id"],
        after["id"],
    ]
    # A date and an instant mix; a window that ends before it starts is refused.
    mixed = await desk.api.get(
        POSTS,
        params={"brand_id": desk.brand_id, "from": "2027-07-01T10:00:00Z", "to": "2027-07-01"},
        headers=desk.owner.headers,
    )
    assert [item["id"] for item in mixed.json()["items"]] == [inside["id"]]
    backwards = await desk.api.get(
        POSTS,
        params={"brand_id": desk.brand_id, "from": "2027-07-02", "to": "2027-07-01"},
        headers=desk.owner.headers,
    )
    assert_problem(backwards, 422, "validation_error")


async def test_a_list_date_is_only_a_plain_date(desk: Desk) -> None:
    for value in ("2027-07-01T00:00:00", "2027-7-1", "01/07/2027"):
        response = await desk.api.get(POSTS, params={"from": value}, headers=desk.owner.headers)
        assert_problem(response, 422, "validation_error")
