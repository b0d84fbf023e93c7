"""`/api/v1/analytics`: numbers collected from the sandbox networks, read back over HTTP."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, update

from t21.core import clock
from t21.core.runtime import Runtime
from t21.core.spreadsheet import safe_cell
from t21.core.uow import session_scope
from t21.posts.models import PostTarget
from tests.analytics.conftest import Published, Studio
from tests.core.test_http import assert_problem
from tests.social.conftest import World
from tests.support.accounts import add_member, register


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


def midnight(days_ago: int) -> datetime:
    today = clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def collect_at(studio: Studio, at: datetime, *published: Published) -> None:
    """Collect exactly these targets at `at` (every other one is put off)."""
    async with session_scope(studio.world.runtime) as session:
        await session.execute(
            update(PostTarget)
            .where(PostTarget.next_collect_at.is_not(None))
            .values(next_collect_at=clock.now() + timedelta(days=365))
        )
    await studio.due(*published, at=at)
    await studio.collect(at=at)


# --- one post -----------------------------------------------------------------------------------


async def test_a_posts_analytics_give_each_targets_latest_numbers_and_their_history(
    studio: Studio,
) -> None:
    x, linkedin = await studio.publish_post("twitter", "linkedin")
    studio.set_x_metrics(x, impression_count=100, like_count=5)
    await studio.collect()
    studio.set_x_metrics(
        x, impression_count=200, like_count=10, reply_count=5, retweet_count=3, bookmark_count=2
    )
    studio.set_linkedin_analytics(linkedin, IMPRESSION=300, MEMBERS_REACHED=250, REACTION=30)
    await studio.due(x, linkedin)
    await studio.collect()

    response = await studio.get(f"/posts/{x.post_id}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["post_id"] == x.post_id
    assert body["brand_id"] == studio.brand_id
    targets = {target["platform"]: target for target in body["targets"]}
    on_x = targets["twitter"]
    assert on_x["target_id"] == x.target_id
    assert [one["impressions"] for one in on_x["history"]] == [100, 200]
    assert on_x["history"][0]["collected_at"] <= on_x["history"][1]["collected_at"]
    assert on_x["latest"] == on_x["history"][-1]
    latest = on_x["latest"]
    assert (latest["likes"], latest["comments"], latest["shares"], latest["saves"]) == (10, 5, 3, 2)
    assert latest["engagement_rate"] == 0.1  # (10 + 5 + 3 + 2) / 200
    assert latest["reach"] is None
    assert latest["collected_at"].endswith("Z")
    # LinkedIn had nothing at the first collection: one row only.
    on_linkedin = targets["linkedin"]
    assert len(on_linkedin["history"]) == 1
    assert on_linkedin["latest"]["engagement_rate"] == 0.1  # 30 / 300
    assert on_linkedin["latest"]["saves"] is None
    totals = body["totals"]
    assert totals["impressions"] == 500
    assert totals["likes"] == 40
    assert totals["saves"] == 2
    assert totals["reach"] == 250
    assert totals["engagement_rate"] == round((20 + 30) / 500, 4)


async def test_a_post_never_collected_has_targets_without_numbers(studio: Studio) -> None:
    post = await studio.publish("twitter")

    body = (await studio.get(f"/posts/{post.post_id}")).json()

    [target] = body["targets"]
    assert target["latest"] is None
    assert target["history"] == []
    assert target["next_collect_at"] is not None
    assert body["totals"]["impressions"] is None
    assert body["totals"]["engagement_rate"] is None


# --- a brand ------------------------------------------------------------------------------------


async def brand_with_history(studio: Studio) -> tuple[Published, Published, Published]:
    """Three days ago: an X post collected twice on day 1 and a LinkedIn post on day 2."""
    start = midnight(3)
    first = await studio.publish("twitter", at=start)
    second = await studio.publish("twitter", at=start)
    linkedin = await studio.publish("linkedin", at=start)
    studio.set_x_metrics(first, impression_count=100, like_count=10)
    await collect_at(studio, start + timedelta(days=1, hours=10), first)
    studio.set_x_metrics(first, impression_count=150, like_count=15)
    await collect_at(studio, start + timedelta(days=1, hours=20), first)
    studio.set_linkedin_analytics(linkedin, IMPRESSION=40, MEMBERS_REACHED=30, REACTION=4)
    studio.set_x_metrics(second, impression_count=10, like_count=5)
    await collect_at(studio, start + timedelta(days=2, hours=5), linkedin, second)
    return first, second, linkedin


async def test_a_brands_totals_and_daily_series_are_the_latest_numbers_up_to_each_day(
    studio: Studio,
) -> None:
    await brand_with_history(studio)
    start, end = midnight(3), midnight(0)

    response = await studio.get(
        f"/brands/{studio.brand_id}", query={"from": iso(start), "to": iso(end)}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["interval"]) == (iso(start), iso(end), "day")
    assert (body["posts"], body["targets"]) == (3, 3)
    totals = body["totals"]
    assert totals["impressions"] == 150 + 10 + 40
    assert totals["likes"] == 15 + 5 + 4
    assert totals["reach"] == 30
    assert totals["engagement_rate"] == round((15 + 5 + 4) / 200, 4)
    series = body["series"]
    assert [point["start"] for point in series] == [
        (start + timedelta(days=n)).date().isoformat() for n in range(3)
    ]
    assert [point["impressions"] for point in series] == [0, 150, 200]
    assert [point["likes"] for point in series] == [0, 15, 24]
    assert [point["reach"] for point in series] == [0, 0, 30]
    # Nobody reports video views for these posts: null throughout.
    assert {point["video_views"] for point in series} == {None}
    assert totals["video_views"] is None
    last = {key: value for key, value in series[-1].items() if key != "start"}
    assert last == totals


async def test_a_brands_weekly_series_starts_on_mondays_and_ends_at_the_totals(
    studio: Studio,
) -> None:
    await brand_with_history(studio)
    start = midnight(20)

    body = (
        await studio.get(f"/brands/{studio.brand_id}", interval="week", query={"from": iso(start)})
    ).json()

    starts = [datetime.fromisoformat(point["start"]) for point in body["series"]]
    assert all(moment.weekday() == 0 for moment in starts)
    assert starts[0].date() <= start.date() < starts[0].date() + timedelta(days=7)
    assert [b - a for a, b in itertools.pairwise(starts)] == [timedelta(days=7)] * (len(starts) - 1)
    assert body["series"][-1]["impressions"] == body["totals"]["impressions"] == 200


async def test_a_brands_analytics_filter_by_platform_and_window(studio: Studio) -> None:
    await brand_with_history(studio)

    linkedin_only = (
        await studio.get(
            f"/brands/{studio.brand_id}", platform="linkedin", query={"from": iso(midnight(5))}
        )
    ).json()
    assert linkedin_only["totals"]["impressions"] == 40
    assert linkedin_only["targets"] == 1
    # A window that ends before day 2 sees only the X post's day-1 numbers.
    early = (
        await studio.get(
            f"/brands/{studio.brand_id}",
            query={"from": iso(midnight(3)), "to": iso(midnight(1))},
        )
    ).json()
    assert early["totals"]["impressions"] == 150
    assert len(early["series"]) == 2


async def test_a_brand_without_numbers_has_empty_totals(studio: Studio) -> None:
    body = (await studio.get(f"/brands/{studio.brand_id}")).json()

    assert (body["posts"], body["targets"]) == (0, 0)
    assert body["totals"]["impressions"] is None
    assert len(body["series"]) in (30, 31)
    assert {point["impressions"] for point in body["series"]} == {None}


async def test_top_posts_rank_by_each_posts_latest_total(studio: Studio) -> None:
    first, second, linkedin = await brand_with_history(studio)

    by_impressions = (
        await studio.get(f"/brands/{studio.brand_id}/top-posts", metric="impressions")
    ).json()
    assert by_impressions["metric"] == "impressions"
    assert [item["post_id"] for item in by_impressions["items"]] == [
        first.post_id,
        linkedin.post_id,
        second.post_id,
    ]
    assert [item["value"] for item in by_impressions["items"]] == [150, 40, 10]
    assert by_impressions["items"][0]["totals"]["likes"] == 15
    assert by_impressions["items"][0]["content"].startswith("Post number")

    by_rate = (await studio.get(f"/brands/{studio.brand_id}/top-posts", limit=2)).json()
    assert by_rate["metric"] == "engagement_rate"
    # 5 / 10, then 4 / 40 and 15 / 150 tie at 0.1 (the later post first).
    assert [item["value"] for item in by_rate["items"]] == [0.5, 0.1]
    assert by_rate["items"][0]["post_id"] == second.post_id

    # Only X gives saves: the LinkedIn post is left out.
    by_saves = (await studio.get(f"/brands/{studio.brand_id}/top-posts", metric="saves")).json()
    assert {item["post_id"] for item in by_saves["items"]} == {first.post_id, second.post_id}


async def test_the_export_is_every_collection_in_the_window_as_csv(studio: Studio) -> None:
    first, second, linkedin = await brand_with_history(studio)

    response = await studio.get(
        f"/brands/{studio.brand_id}/export.csv",
        query={"from": iso(midnight(3)), "to": iso(midnight(0))},
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [
        "post_id",
        "target_id",
        "platform",
        "published_at",
        "collected_at",
        "impressions",
        "reach",
        "likes",
        "comments",
        "shares",
        "saves",
        "clicks",
        "video_views",
        "outbound_clicks",
        "engagement_rate",
    ]
    assert len(rows) == 4, response.text
    assert [row["collected_at"] for row in rows] == sorted(row["collected_at"] for row in rows)
    pairs = [(row["target_id"], row["impressions"]) for row in rows]
    assert pairs[:2] == [(first.target_id, "100"), (first.target_id, "150")]
    # Collected at the same moment: in either order.
    assert set(pairs[2:]) == {(linkedin.target_id, "40"), (second.target_id, "10")}
    by_target = {row["target_id"]: row for row in rows}
    assert by_target[linkedin.target_id]["platform"] == "linkedin"
    assert by_target[linkedin.target_id]["saves"] == ""
    assert by_target[linkedin.target_id]["published_at"] == iso(midnight(3))
    assert by_target[second.target_id]["engagement_rate"] == "0.5"
    assert by_target[first.target_id]["post_id"] == first.post_id


async def test_the_export_of_an_empty_window_is_its_header(studio: Studio) -> None:
    response = await studio.get(f"/brands/{studio.brand_id}/export.csv")

    assert response.status_code == 200
    assert response.text.splitlines() == [response.text.splitlines()[0]]
    assert response.text.startswith("post_id,target_id,platform")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("twitter", "twitter"),
        (42, 42),
        (None, ""),
    ],
)
def test_export_cells_that_a_spreadsheet_would_run_get_a_leading_apostrophe(
    value: Any, shown: Any
) -> None:
    assert safe_cell(value) == shown


# --- who may ------------------------------------------------------------------------------------


async def test_viewers_read_analytics_and_other_tenants_see_nothing(studio: Studio) -> None:
    post = await studio.publish("twitter")
    await studio.collect()
    runtime = studio.world.runtime
    viewer = await add_member(
        studio.api,
        runtime.jobs,  # type: ignore[arg-type]
        runtime.settings,
        inviter=studio.owner,
        organization_id=studio.owner.personal_organization_id,
        role="viewer",
    )
    stranger = await register(studio.api)
    paths = [
        f"/posts/{post.post_id}",
        f"/brands/{studio.brand_id}",
        f"/brands/{studio.brand_id}/top-posts",
        f"/brands/{studio.brand_id}/export.csv",
    ]
    for path in paths:
        assert (await studio.get(path, who=viewer)).status_code == 200, path
        assert_problem(await studio.get(path, who=stranger), 404, "not_found")
    unauthenticated = await studio.api.get(f"/api/v1/analytics/brands/{studio.brand_id}")
    assert unauthenticated.status_code == 401


async def test_with_data_on_both_sides_each_tenant_sees_only_its_own_analytics(
    studio: Studio,
) -> None:
    mine = await studio.publish("twitter")
    studio.set_x_metrics(mine, impression_count=100, like_count=10)
    rival = await register(studio.api)
    brand = await studio.api.post("/api/v1/brands", json={"name": "Rival"}, headers=rival.headers)
    assert brand.status_code == 201, brand.text
    other = Studio(
        World(
            app=studio.world.app,
            api=studio.api,
            sandbox=studio.world.sandbox,
            owner=rival,
            brand_id=brand.json()["id"],
        )
    )
    theirs = await other.publish("linkedin")
    other.set_linkedin_analytics(theirs, IMPRESSION=7, MEMBERS_REACHED=5, REACTION=1)
    await studio.collect()
    for me, you, own, foreign, impressions in [
        (studio, other, mine, theirs, 100),
        (other, studio, theirs, mine, 7),
    ]:
        body = (await me.get(f"/brands/{me.brand_id}")).json()
        assert (body["posts"], body["targets"]) == (1, 1)
        assert body["totals"]["impressions"] == impressions
        top = (await me.get(f"/brands/{me.brand_id}/top-posts", metric="impressions")).json()
        assert [item["post_id"] for item in top["items"]] == [own.post_id]
        export = (await me.get(f"/brands/{me.brand_id}/export.csv")).text
        assert own.post_id in export
        assert foreign.post_id not in export
        for path in [
            f"/brands/{you.brand_id}",
            f"/brands/{you.brand_id}/top-posts",
            f"/brands/{you.brand_id}/export.csv",
            f"/posts/{foreign.post_id}",
        ]:
            assert_problem(await me.get(path), 404, "not_found")


async def test_unknown_posts_and_brands_are_not_found(studio: Studio) -> None:
    for path in [
        "/posts/0190a5f4-0000-7000-8000-000000000000",
        "/brands/0190a5f4-0000-7000-8000-000000000000",
        "/brands/0190a5f4-0000-7000-8000-000000000000/top-posts",
        "/brands/0190a5f4-0000-7000-8000-000000000000/export.csv",
        "/posts/not-an-id",
    ]:
        assert_problem(await studio.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("", {"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}),
        ("", {"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}),
        ("", {"from": "2025-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}),
        ("", {"from": "2026-03-01T00:00:00"}),
        ("", {"to": "0001-01-05T00:00:00Z"}),
        ("", {"from": "0001-01-01T00:00:00+05:00", "to": "0001-01-02T00:00:00Z"}),
        ("", {"from": "yesterday"}),
        ("", {"interval": "month"}),
        ("", {"platform": "myspace"}),
        ("/top-posts", {"metric": "followers"}),
        ("/top-posts", {"limit": 0}),
        ("/top-posts", {"limit": 101}),
        ("/export.csv", {"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}),
        ("/export.csv", {"from": "2024-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}),
    ],
)
async def test_bad_queries_are_refused_with_the_field_named(
    studio: Studio, path: str, params: dict[str, Any]
) -> None:
    response = await studio.get(f"/brands/{studio.brand_id}{path}", query=params)

    body = assert_problem(response, 422, "validation_error")
    assert body["errors"], body
    assert body["errors"][0]["loc"][0] == "query"


async def test_windows_at_the_ends_of_the_calendar_answer_without_numbers(studio: Studio) -> None:
    for start, end in [
        ("9999-12-30T00:00:00Z", "9999-12-31T23:59:59.999999Z"),
        ("0001-01-01T00:00:00Z", "0001-01-08T00:00:00Z"),
    ]:
        for interval in ("day", "week"):
            response = await studio.get(
                f"/brands/{studio.brand_id}", interval=interval, query={"from": start, "to": end}
            )
            assert response.status_code == 200, response.text
            assert response.json()["totals"]["impressions"] is None
        export = await studio.get(
            f"/brands/{studio.brand_id}/export.csv", query={"from": start, "to": end}
        )
        assert export.status_code == 200


async def test_each_answer_takes_the_same_few_queries_however_many_posts_it_covers(
    studio: Studio,
) -> None:
    paths = [
        f"/brands/{studio.brand_id}",
        f"/brands/{studio.brand_id}/top-posts",
        f"/brands/{studio.brand_id}/export.csv",
    ]

    async def counts(post_id: str) -> list[int]:
        found = []
        for path in [f"/posts/{post_id}", *paths]:
            with counting_queries(studio.world.runtime) as statements:
                response = await studio.get(path)
            assert response.status_code == 200, response.text
            found.append(len([s for s in statements if "metric_snapshots" in s or "post" in s]))
        return found

    [one] = await studio.publish_post("twitter")
    await studio.collect()
    few = await counts(one.post_id)
    many = await studio.publish_post("twitter", "linkedin")
    for number in range(4):
        await studio.publish_post("twitter", "linkedin", text=f"More {number}")
    for target in many:
        studio.set_linkedin_analytics(
            target, IMPRESSION=5
        ) if target.platform == "linkedin" else None
    await studio.collect()
    await studio.due(one, *many)
    await studio.collect()

    assert await counts(many[0].post_id) == few
    assert max(few) <= 4
