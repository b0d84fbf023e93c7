"""How a reconciliation decides about an attempt that was cut off: a complete listing without
our text is "absent" (retried), a near-match or a listing cut short goes to review, and each
network's own rewriting of text is undone before comparing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from t21.core import clock
from t21.platforms import registry
from t21.platforms.base import RecentPost
from t21.publishing.reaper import RECONCILE_AGAIN, match_recent
from tests.platforms.test_mastodon_connect import _engine_with_account
from tests.publishing.conftest import Engine

STARTED = datetime(2026, 12, 6, 9, 0, tzinfo=clock.now().tzinfo)


def posted(text: str, minutes_after: float, number: int = 1) -> RecentPost:
    return RecentPost(
        external_id=str(number),
        text=text,
        created_at=STARTED + timedelta(minutes=minutes_after),
    )


def test_a_complete_listing_without_our_text_means_absent() -> None:
    listing = [posted("Something else", 1, 1), posted("Another post", 2, 2)]
    assert match_recent(listing, "Our launch", STARTED, limit=100) is False


def test_a_listing_cut_short_of_the_window_cannot_tell() -> None:
    listing = [posted(f"Other post {n}", 1 + n / 100, n) for n in range(3)]
    assert match_recent(listing, "Our launch", STARTED, limit=3) is None


def test_a_listing_reaching_back_before_the_attempt_covers_its_window() -> None:
    listing = [posted(f"Other post {n}", 1 + n / 100, n) for n in range(2)]
    listing.append(posted("Old post", -60, 9))
    assert match_recent(listing, "Our launch", STARTED, limit=3) is False


def test_a_near_match_goes_to_review() -> None:
    listing = [posted("Our launch!!", 1)]
    assert match_recent(listing, "Our launch.", STARTED, limit=100) is None


def test_two_posts_of_our_text_go_to_review() -> None:
    listing = [posted("Our launch", 1, 1), posted("Our launch", 2, 2)]
    assert match_recent(listing, "Our launch", STARTED, limit=100) is None


def test_text_as_x_rewrites_it_is_found() -> None:
    x = registry.rules_provider("twitter")
    sent = "Fish & chips  at https://example.com/menu\u0301 today "
    listing = [posted("Fish &amp; chips at https://t.co/abc123 today", 1)]
    found = match_recent(listing, sent, STARTED, limit=100, comparable=x.comparable_text)
    assert isinstance(found, RecentPost)
    assert found.external_id == "1"


def test_unicode_forms_and_trailing_whitespace_do_not_hide_our_post() -> None:
    listing = [posted("Cafe\u0301 opens\n", 1)]
    found = match_recent(listing, "Caf\u00e9 opens", STARTED, limit=100)
    assert isinstance(found, RecentPost)


async def test_a_cut_off_attempt_on_a_busy_account_is_retried_and_posted_once(
    engine: Engine,
) -> None:
    """The account published other posts since the attempt began, none of them ours: the
    listing covers the window, so the attempt is known not to have posted and goes out again,
    instead of waiting for a person."""
    busy = await engine.publish_now("twitter", content="Published meanwhile")
    await engine.tick()
    assert (await engine.read(busy["id"]))["status"] == "published"
    post = await engine.publish_now("twitter", content="Cut off before sending")
    target_id = post["targets"][0]["id"]
    await engine.cut_off(target_id)
    await engine.tick()
    retried = (await engine.read(post["id"]))["targets"][0]
    assert retried["status"] == "retrying", retried
    await engine.make_due(target_id)
    await engine.tick()
    done = (await engine.read(post["id"]))["targets"][0]
    assert done["status"] == "published"
    assert engine.sends("twitter", "Cut off before sending") == ["accepted"]


@pytest.mark.lost_answer
async def test_a_doubt_at_a_network_with_an_idempotency_key_is_settled_by_repeating(
    engine: Engine,
) -> None:
    """Mastodon lost its answer and won't list the account's statuses: instead of review, the
    attempt is repeated under the same `Idempotency-Key`, and the instance answers with the
    status it made the first time."""
    await _engine_with_account(engine)
    engine.world.control(
        "mastodon",
        "POST",
        "/faults",
        {"path": "^/api/v1/statuses$", "method": "POST", "status": 200,
         "lose_response": True, "delay_s": 1.5},
    )  # fmt: skip
    engine.world.control(
        "mastodon",
        "POST",
        "/faults",
        {"path": "^/api/v1/accounts/[^/]+/statuses$", "method": "GET", "status": 503,
         "count": 5},
    )  # fmt: skip
    post = await engine.publish_now("mastodon", content="Exactly once, by its key")
    target_id = post["targets"][0]["id"]
    await engine.tick()
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "publishing"
    with clock.frozen(lambda: datetime.now(UTC) + timedelta(seconds=30)):
        await engine.tick()
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "retrying"
    await engine.make_due(target_id)
    await engine.tick()
    done = (await engine.read(post["id"]))["targets"][0]
    [status] = engine.published_at_network("mastodon")
    assert done["status"] == "published", done
    assert done["external_id"] == status["id"]


def timeline_reads(engine: Engine) -> int:
    requests = engine.world.control("twitter", "GET", "/requests")["requests"]
    return sum(
        1
        for request in requests
        if request["method"] == "GET" and re.fullmatch(r"/2/users/[^/]+/tweets", request["path"])
    )


async def test_doubts_of_one_account_are_answered_by_one_listing(engine: Engine) -> None:
    """Three attempts of one account were cut off (one of them had posted): the reaper reads the
    account's recent posts once and settles each from that listing, over its own window."""
    posted_one = await engine.publish_now("twitter", content="Posted before the cut")
    await engine.tick()
    [posted] = (await engine.read(posted_one["id"]))["targets"]
    assert posted["status"] == "published"
    await engine.cut_off(posted["id"], attempt_id="dead-0")
    absent = [
        await engine.publish_now("twitter", content=f"Never sent, number {number}")
        for number in (1, 2)
    ]
    for number, post in enumerate(absent, start=1):
        await engine.cut_off(post["targets"][0]["id"], attempt_id=f"dead-{number}")
    before = timeline_reads(engine)
    await engine.tick()
    assert timeline_reads(engine) - before == 1
    found = (await engine.read(posted_one["id"]))["targets"][0]
    assert found["status"] == "published"
    assert found["external_id"] == posted["external_id"]
    for post in absent:
        assert (await engine.read(post["id"]))["targets"][0]["status"] == "retrying"
        await engine.make_due(post["targets"][0]["id"])
    await engine.tick()
    for number, post in enumerate(absent, start=1):
        assert (await engine.read(post["id"]))["targets"][0]["status"] == "published"
        assert engine.sends("twitter", f"Never sent, number {number}") == ["accepted"]
    assert engine.sends("twitter", "Posted before the cut") == ["accepted"]


async def test_a_network_that_cannot_list_just_now_is_asked_again_not_left_for_review(
    engine: Engine,
) -> None:
    """The listing fails with a 503: the attempt stays held and the reaper asks again later,
    instead of handing the doubt to a person; once the network answers, it is settled."""
    post = await engine.publish_now("twitter", content="Asked again")
    target_id = post["targets"][0]["id"]
    await engine.cut_off(target_id)
    engine.world.control(
        "twitter",
        "POST",
        "/faults",
        {"path": r"^/2/users/[^/]+/tweets$", "method": "GET", "status": 503, "count": 1},
    )
    await engine.tick()
    held = (await engine.read(post["id"]))["targets"][0]
    assert held["status"] == "publishing", held
    with clock.frozen(lambda: datetime.now(UTC) + RECONCILE_AGAIN + timedelta(seconds=1)):
        await engine.tick()
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "retrying"
