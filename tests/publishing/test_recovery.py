"""How fast the reaper recovers what chaos leaves behind, and what it can still see then."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import select

from t21.core import clock
from t21.core.outside import Retryable
from t21.core.uow import session_scope
from t21.events.models import Event
from t21.posts.events import TARGET_EVENTS
from t21.posts.models import TargetStatus
from t21.publishing import reaper
from t21.publishing.service.attempt import LEASE_MARGIN, Attempt, attempt_outcome
from t21.sandbox.platform import text_digest
from tests.publishing.conftest import Engine, _engine, lost_answer

TWEETS = r"^/2/tweets$"
LINKEDIN_POSTS = r"^/rest/posts$"
# An app LinkedIn granted r_member_social (restricted), and T21 configured to ask for it.
READ_SCOPES = "openid profile email w_member_social r_member_social"


@pytest.fixture
async def reading_engine(
    app_factory: Any, sandbox: str, request: pytest.FixtureRequest
) -> AsyncIterator[Engine]:
    async with _engine(
        app_factory,
        sandbox,
        "http://testserver",
        linkedin_scopes=READ_SCOPES,
        **lost_answer(request),
    ) as built:
        built.world.control("linkedin", "POST", "/settings", {"app_scopes": READ_SCOPES.split()})
        yield built


async def _lose_a_linkedin_post(engine: Engine, content: str) -> dict[str, Any]:
    """Publish to LinkedIn with the answer to the post lost, then let the reaper reconcile."""
    engine.world.control(
        "linkedin",
        "POST",
        "/faults",
        {"status": 200, "path": LINKEDIN_POSTS, "method": "POST", "lose_response": True,
         "delay_s": 3},
    )  # fmt: skip
    post = await engine.publish_now("linkedin", content=content)
    await engine.tick()
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "publishing"
    assert len(engine.published_at_network("linkedin")) == 1
    with clock.frozen(lambda: datetime.now(UTC) + timedelta(seconds=30)):
        await engine.tick()
    target: dict[str, Any] = (await engine.read(post["id"]))["targets"][0]
    return target


@pytest.mark.lost_answer
async def test_a_linkedin_post_t21_may_not_check_goes_to_review_saying_so(
    engine: Engine,
) -> None:
    target = await _lose_a_linkedin_post(engine, "Went out, but who can tell?")
    assert target["status"] == "needs_review", target
    assert target["last_error"]["code"] == "cannot_check"
    assert "r_member_social" in target["last_error"]["message"]
    # Nothing was asked that LinkedIn would refuse, and nothing was sent twice.
    requests = engine.world.control("linkedin", "GET", "/requests")["requests"]
    assert not [r for r in requests if r["method"] == "GET" and r["path"] == "/rest/posts"]
    assert len(engine.published_at_network("linkedin")) == 1


@pytest.mark.lost_answer
async def test_a_linkedin_account_granted_r_member_social_is_checked_and_found(
    reading_engine: Engine,
) -> None:
    target = await _lose_a_linkedin_post(reading_engine, "Went out, and T21 can tell")
    assert target["status"] == "published", target
    [post] = reading_engine.published_at_network("linkedin")
    assert target["external_id"] == post["id"]


async def test_a_lost_reconciliation_is_tried_again_once_an_attempts_lease_has_passed(
    engine: Engine,
) -> None:
    post = await engine.publish_now("twitter", content="Cut off")
    target_id = post["targets"][0]["id"]
    await engine.cut_off(target_id)
    runtime = engine.world.runtime
    settings = runtime.settings.model_copy(update={"publish_lease_s": 30.0})
    # The reaper holds the target for a reconciliation whose job is then lost with its worker.
    async with session_scope(runtime) as session:
        held = await reaper.claim_expired(session, settings)
    [attempts] = held.values()
    assert attempts == [(uuid.UUID(target_id), "dead-worker")]
    later = clock.now() + timedelta(seconds=31)
    with clock.frozen(later):
        async with session_scope(runtime) as session:
            again = await reaper.claim_expired(session, settings)
    assert again == held


@pytest.mark.lost_answer
async def test_a_lost_answer_is_found_after_the_account_published_many_more_posts(
    engine: Engine,
) -> None:
    engine.world.control(
        "twitter",
        "POST",
        "/faults",
        {"status": 200, "path": TWEETS, "method": "POST", "lose_response": True, "delay_s": 3},
    )
    doubtful = await engine.publish_now("twitter", content="Did this one go?")
    await engine.tick()
    assert (await engine.read(doubtful["id"]))["targets"][0]["status"] == "publishing"
    for number in range(25):
        await engine.publish_now("twitter", content=f"Busy day, post {number}")
    await engine.tick()
    assert len(engine.published_at_network("twitter")) == 26
    with clock.frozen(lambda: datetime.now(UTC) + timedelta(seconds=30)):
        await engine.tick()
    done = (await engine.read(doubtful["id"]))["targets"][0]
    assert done["status"] == "published", done
    [tweet] = [t for t in engine.published_at_network("twitter") if t["text"] == "Did this one go?"]
    assert done["external_id"] == tweet["id"]
    assert engine.sends("twitter", "Did this one go?") == ["fault-injected-after-effect"]
    assert len(engine.published_at_network("twitter")) == 26


async def test_an_account_t21_cannot_check_publishes_one_post_at_a_time_each_recorded_first(
    engine: Engine,
) -> None:
    """A worker killed mid-batch leaves in doubt what it sent and had not yet recorded; for a
    LinkedIn member (no r_member_social) each doubt is a person's to settle. So that account's
    posts of a batch leave one at a time, each recorded before the next is sent, while an
    account T21 can check publishes its share of the batch at once (`bench/` measures it)."""
    due = clock.now() + timedelta(hours=1)
    posts = [
        await engine.draft(
            network, content=f"{network} in a batch, {n}", scheduled_at=due.isoformat()
        )
        for network in ("linkedin", "twitter")
        for n in range(3)
    ]
    for post in posts:
        await engine.make_due(post["targets"][0]["id"])
    await engine.tick()  # one dispatch: the six targets in one publish job
    for post in posts:
        assert (await engine.read(post["id"]))["targets"][0]["status"] == "published"
    async with session_scope(engine.world.runtime) as session:
        events = (
            await session.scalars(
                select(Event).where(Event.type == TARGET_EVENTS[TargetStatus.PUBLISHED])
            )
        ).all()
    recorded = {event.data["target"]["id"]: event.created_at.timestamp() for event in events}
    sends = engine.world.control("linkedin", "GET", "/sends")["sends"]
    assert len(sends) == 3
    by_text = {text_digest(post["content"]): post["targets"][0]["id"] for post in posts}
    for sent, following in pairwise(sends):
        # The earlier post was recorded before the next request left.
        assert recorded[by_text[sent["text_sha256"]]] <= following["received_at"]
    assert len(engine.world.control("twitter", "GET", "/sends")["sends"]) == 3


async def test_an_attempt_that_waited_its_lease_away_sends_nothing_and_is_retried(
    engine: Engine,
) -> None:
    runtime = engine.world.runtime
    account_id = uuid.UUID(await engine.account("twitter"))
    waited = timedelta(seconds=runtime.settings.publish_lease_s) - LEASE_MARGIN
    late = Attempt(
        target_id=uuid.uuid4(),
        attempt_id="late",
        post_id=uuid.uuid4(),
        account_id=account_id,
        platform="twitter",
        text="Too late to go",
        options={},
        started_at=clock.now() - waited,
    )
    _attempt, outcome = await attempt_outcome(runtime, late)
    assert isinstance(outcome, Retryable), outcome
    assert engine.sends("twitter", "Too late to go") == []
