"""Every due post goes out once: on time, retried when the network says so, failed honestly,
and never sent twice, whatever is lost or duplicated on the way."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from t21.billing import usage
from t21.core import clock
from t21.core.uow import session_scope
from t21.platforms import registry
from t21.posts.models import TargetStatus
from t21.publishing import budgets, service
from t21.publishing.tasks import publish_target
from t21.social.models import AccountStatus
from t21.worker.loops import LoopRunner, registered_loops
from tests.posts.conftest import POSTS
from tests.publishing.conftest import Engine, _engine
from tests.social.conftest import sandbox  # noqa: F401  (fixture)
from tests.support.accounts import emails_to
from tests.support.metrics import scrape, value

TWEETS = r"^/2/tweets$"


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_due_post_is_published_once_with_its_id_and_link(engine: Engine) -> None:
    post = await engine.publish_now("twitter", "linkedin", content="Launch day")
    await engine.tick()
    done = await engine.read(post["id"])
    assert done["status"] == "published"
    assert done["published_at"] is not None
    for target in done["targets"]:
        assert target["status"] == "published", target
        assert target["external_id"]
        assert target["permalink"]
        assert target["attempts"] == 1
        assert target["next_attempt_at"] is None
        assert target["last_error"] is None
    [tweet] = engine.published_at_network("twitter")
    assert tweet["text"] == "Launch day"
    assert len(engine.published_at_network("linkedin")) == 1
    for _ in range(3):
        await engine.tick()
    assert engine.sends("twitter", "Launch day") == ["accepted"]
    assert engine.sends("linkedin", "Launch day") == ["accepted"]
    async with session_scope(engine.world.runtime) as session:
        counted = await usage.usage(session, engine.owner.personal_organization_id)
    assert counted[usage.Metric.PUBLISHED_POSTS] == 2  # once per published target


async def test_images_are_uploaded_and_published_with_the_post(engine: Engine) -> None:
    photos = [await engine.upload() for _ in range(2)]
    post = await engine.publish_now("twitter", content="Two photos", media_ids=photos)
    await engine.tick()
    assert (await engine.read(post["id"]))["status"] == "published"
    [tweet] = engine.published_at_network("twitter")
    assert len(tweet["media"]) == 2


async def test_a_post_waits_for_its_time(engine: Engine) -> None:
    post = await engine.draft(
        "twitter", content="Tomorrow", scheduled_at=(clock.now() + timedelta(days=1)).isoformat()
    )
    await engine.tick()
    assert (await engine.read(post["id"]))["status"] == "scheduled"
    assert engine.published_at_network("twitter") == []


async def published_by_the_dispatcher(
    engine: Engine, content: str, due: datetime
) -> dict[str, Any]:
    """A post scheduled for `due`, with the dispatcher running as in a worker (not ticked by
    the test): the post as read once published, or within 15 s."""
    dispatch = registered_loops()["publishing.dispatch"]
    runner = LoopRunner(engine.world.runtime, {"publishing.dispatch": dispatch})
    post = await engine.draft("twitter", content=content, scheduled_at=due.isoformat())
    runner.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            await engine.world.drain()
            body = await engine.read(post["id"])
            if body["status"] == "published":
                break
            await asyncio.sleep(0.1)
    finally:
        await runner.stop(timeout=5)
    assert body["status"] == "published", body
    return body


def lateness(body: dict[str, Any]) -> timedelta:
    return instant(body["targets"][0]["published_at"]) - instant(body["scheduled_at"])


async def test_a_scheduled_post_goes_out_by_itself_and_never_before_its_time(
    engine: Engine,
) -> None:
    """The running dispatcher publishes a post once its time comes (how soon after is measured
    in bench/, not asserted here)."""
    body = await published_by_the_dispatcher(
        engine, "On the dot", clock.now() + timedelta(seconds=2)
    )
    assert lateness(body) >= timedelta(0), lateness(body)


async def test_a_post_falling_due_between_polls_goes_out_without_waiting_for_the_next(
    app_factory: Any,
    sandbox: str,  # noqa: F811
) -> None:
    """The dispatcher polls every 30 s here; a post due 1.5 s after a poll goes out once due
    (within the 15 s the helper waits), not at the next poll: the dispatcher wakes when the next
    target falls due."""
    async with _engine(app_factory, sandbox, "http://testserver", dispatch_interval_s=30) as engine:
        due = clock.now() + timedelta(seconds=1.5)
        body = await published_by_the_dispatcher(engine, "Between polls", due)
        assert timedelta(0) <= lateness(body) < timedelta(seconds=15), lateness(body)


async def test_a_duplicate_delivery_publishes_once(engine: Engine) -> None:
    post = await engine.publish_now("twitter", content="Only once")
    await engine.loops.run_once("publishing.dispatch")
    target_id = post["targets"][0]["id"]
    await asyncio.gather(
        publish_target.run(target_id), publish_target.run(target_id), engine.world.drain()
    )
    await publish_target.run(target_id)
    assert engine.sends("twitter", "Only once") == ["accepted"]
    done = await engine.read(post["id"])
    assert done["targets"][0]["attempts"] == 1


@pytest.mark.postgres
async def test_two_sessions_taking_the_same_queued_target_at_once_make_one_attempt(
    engine: Engine,
) -> None:
    runtime = engine.world.runtime
    assert runtime.settings.resolved_database_url.startswith("postgresql")
    raced = await engine.publish_now("twitter", content="Raced for")
    target_id = uuid.UUID(raced["targets"][0]["id"])
    await engine.change_target(str(target_id), status=TargetStatus.QUEUED, queued_at=clock.now())
    # Two connections ask for the row at once; the second waits on the first's lock, then
    # finds the target no longer queued.
    taken = await asyncio.gather(*(service.begin(runtime, target_id) for _ in range(2)))
    assert len([attempt for attempt in taken if attempt is not None]) == 1, taken
    held = (await engine.read(raced["id"]))["targets"][0]
    assert (held["status"], held["attempts"]) == ("publishing", 1)
    # The same race through whole attempts: one send, one attempt.
    both = await engine.publish_now("twitter", content="Raced through")
    both_id = uuid.UUID(both["targets"][0]["id"])
    await engine.change_target(str(both_id), status=TargetStatus.QUEUED, queued_at=clock.now())
    await asyncio.gather(*(service.publish(runtime, both_id) for _ in range(2)))
    done = (await engine.read(both["id"]))["targets"][0]
    assert (done["status"], done["attempts"]) == ("published", 1)
    assert engine.sends("twitter", "Raced through") == ["accepted"]


async def test_a_rate_limit_is_retried_after_the_networks_reset_and_then_succeeds(
    engine: Engine,
) -> None:
    reset = int(time.time()) + 3
    engine.world.control(
        "twitter",
        "POST",
        "/faults",
        {
            "status": 429,
            "path": TWEETS,
            "method": "POST",
            "body": {"title": "Too Many Requests", "detail": "Too Many Requests"},
            "headers": {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
        },
    )
    post = await engine.publish_now("twitter", content="Busy day")
    await engine.tick()
    waiting = (await engine.read(post["id"]))["targets"][0]
    assert waiting["status"] == "retrying"
    assert waiting["attempts"] == 1
    assert waiting["last_error"]["code"] == "rate_limited"
    # Not before the network's reset (to the second X gives it in).
    reset_at = datetime.fromtimestamp(reset, UTC)
    assert instant(waiting["next_attempt_at"]) >= reset_at - timedelta(seconds=1)
    assert engine.published_at_network("twitter") == []
    while time.time() < reset + 0.2:
        await asyncio.sleep(0.1)
    await engine.tick()
    done = (await engine.read(post["id"]))["targets"][0]
    assert done["status"] == "published"
    assert done["attempts"] == 2
    assert engine.sends("twitter", "Busy day") == ["accepted"]


async def test_retries_stop_at_the_maximum_and_the_post_fails(engine: Engine) -> None:
    settings = engine.world.runtime.settings
    engine.world.control(
        "twitter",
        "POST",
        "/faults",
        {
            "status": 429,
            "path": TWEETS,
            "method": "POST",
            "count": settings.publish_max_attempts,
            "headers": {"retry-after": "0"},
        },
    )
    post = await engine.publish_now("twitter", content="Never lucky")
    target_id = post["targets"][0]["id"]
    for _ in range(settings.publish_max_attempts):
        await engine.make_due(target_id)
        await engine.tick()
    done = (await engine.read(post["id"]))["targets"][0]
    assert done["status"] == "failed"
    assert done["attempts"] == settings.publish_max_attempts
    assert "gave up" in done["last_error"]["message"]
    assert engine.published_at_network("twitter") == []


async def test_a_permanent_refusal_fails_once_with_the_networks_message_and_one_email(
    engine: Engine,
) -> None:
    engine.world.control(
        "twitter",
        "POST",
        "/faults",
        {
            "status": 403,
            "path": TWEETS,
            "method": "POST",
            "body": {
                "title": "Forbidden",
                "detail": "You are not allowed to create a Tweet with duplicate content.",
                "type": "about:blank",
                "status": 403,
            },
        },
    )
    post = await engine.publish_now("twitter", content="Said before")
    for _ in range(3):
        await engine.tick()
    done = await engine.read(post["id"])
    assert done["status"] == "failed"
    [target] = done["targets"]
    assert target["status"] == "failed"
    assert target["attempts"] == 1
    assert target["last_error"]["code"] == "duplicate"
    assert "duplicate content" in target["last_error"]["message"]
    assert engine.published_at_network("twitter") == []
    [email] = emails_to(engine.world.runtime.settings, engine.owner.email)[-1:]
    assert "didn't go out" in str(email["subject"])
    # People read the network's name, not its id.
    assert str(email["subject"]) == "Your X post didn't go out"
    body = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "duplicate content" in body
    assert "twitter" not in body.lower()
    reported = [
        message
        for message in emails_to(engine.world.runtime.settings, engine.owner.email)
        if "didn't go out" in str(message["subject"])
    ]
    assert len(reported) == 1


async def test_a_revoked_token_marks_the_account_and_fails_the_target(engine: Engine) -> None:
    post = await engine.draft("linkedin", content="Revoked")
    engine.world.control("linkedin", "POST", "/tokens/revoke", {})
    await engine.api.post(f"{POSTS}/{post['id']}/publish", headers=engine.owner.headers)
    await engine.tick()
    done = await engine.read(post["id"])
    [target] = done["targets"]
    assert target["status"] == "failed"
    assert target["last_error"]["code"] == "account_disconnected"
    account = await engine.api.get(
        f"/api/v1/social-accounts/{target['social_account_id']}", headers=engine.owner.headers
    )
    assert account.json()["status"] == AccountStatus.REAUTH_REQUIRED.value
    subjects = [
        str(message["subject"])
        for message in emails_to(engine.world.runtime.settings, engine.owner.email)
    ]
    assert any("Reconnect" in subject for subject in subjects)
    assert any("didn't go out" in subject for subject in subjects)
    refused = await engine.create(
        expect=422,
        content="Still revoked",
        targets=[{"social_account_id": target["social_account_id"]}],
    )
    assert "reconnecting" in refused.json()["errors"][0]["msg"]


async def test_a_lost_job_is_sent_again_by_the_reaper(engine: Engine) -> None:
    post = await engine.publish_now("twitter", content="Lost in transit")
    target_id = post["targets"][0]["id"]
    # What the dispatcher leaves behind when the broker loses its message.
    stale = clock.now() - timedelta(seconds=engine.world.runtime.settings.queued_stale_s + 5)
    await engine.change_target(target_id, status=TargetStatus.QUEUED, queued_at=stale)
    await engine.loops.run_once("publishing.reap")
    await engine.world.drain()
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "published"
    assert engine.sends("twitter", "Lost in transit") == ["accepted"]
    await engine.loops.run_once("publishing.reap")
    await engine.world.drain()
    assert engine.sends("twitter", "Lost in transit") == ["accepted"]


async def test_the_reaper_leaves_alone_a_target_due_after_the_latest_one_taken(
    engine: Engine,
) -> None:
    """A worker minutes behind a burst takes targets that have been queued for long: one due
    after the latest it took is still waiting for its job, which the reaper doesn't send
    again; one due before that was passed over (its job lost) and is sent again. Once the
    engine has moved on, the waiting one is sent again too if it is still queued."""
    stale_s = engine.world.runtime.settings.queued_stale_s
    texts = ("Taken from the backlog", "Behind in the queue", "Passed over")
    taken, waiting, passed = [await engine.publish_now("twitter", content=text) for text in texts]
    now = clock.now()
    for post, due_s in ((taken, 3 * stale_s), (waiting, 2 * stale_s), (passed, 4 * stale_s)):
        await engine.change_target(
            post["targets"][0]["id"],
            status=TargetStatus.QUEUED,
            due_at=now - timedelta(seconds=due_s),
            queued_at=now - timedelta(seconds=due_s),
        )
    await publish_target.run(taken["targets"][0]["id"])  # its job comes, late
    await engine.loops.run_once("publishing.reap")
    await engine.world.drain()
    assert (await engine.read(passed["id"]))["targets"][0]["status"] == "published"
    assert (await engine.read(waiting["id"]))["targets"][0]["status"] == "queued"
    assert engine.sends("twitter", "Behind in the queue") == []
    with clock.frozen(lambda: clock_later(stale_s + 1)):
        await engine.loops.run_once("publishing.reap")
        await engine.world.drain()
    assert (await engine.read(waiting["id"]))["targets"][0]["status"] == "published"
    assert engine.sends("twitter", "Behind in the queue") == ["accepted"]
    assert engine.sends("twitter", "Passed over") == ["accepted"]


@pytest.mark.lost_answer
async def test_a_post_accepted_whose_answer_was_lost_is_found_not_sent_again(
    engine: Engine,
) -> None:
    engine.world.control(
        "twitter",
        "POST",
        "/faults",
        {"status": 200, "path": TWEETS, "method": "POST", "lose_response": True, "delay_s": 3},
    )
    post = await engine.publish_now("twitter", content="Did it go?")
    await engine.tick()
    doubtful = (await engine.read(post["id"]))["targets"][0]
    assert doubtful["status"] == "publishing"
    assert len(engine.published_at_network("twitter")) == 1
    with clock.frozen(lambda: clock_later(30)):
        await engine.tick()
    done = (await engine.read(post["id"]))["targets"][0]
    assert done["status"] == "published"
    [tweet] = engine.published_at_network("twitter")
    assert done["external_id"] == tweet["id"]
    for _ in range(2):
        await engine.tick()
    assert engine.sends("twitter", "Did it go?") == ["fault-injected-after-effect"]


async def test_an_interrupted_attempt_with_nothing_at_the_network_is_retried(
    engine: Engine,
) -> None:
    post = await engine.publish_now("twitter", content="Worker died")
    target_id = post["targets"][0]["id"]
    # A worker took it and died before sending anything.
    await engine.cut_off(target_id)
    await engine.tick()
    retried = (await engine.read(post["id"]))["targets"][0]
    assert retried["status"] == "retrying"
    await engine.make_due(target_id)
    await engine.tick()
    done = (await engine.read(post["id"]))["targets"][0]
    assert done["status"] == "published"
    assert engine.sends("twitter", "Worker died") == ["accepted"]


async def test_an_attempt_the_network_cannot_confirm_needs_review_and_is_never_resent(
    engine: Engine,
) -> None:
    post = await engine.publish_now("twitter", content="Who knows")
    target_id = post["targets"][0]["id"]
    await engine.cut_off(target_id, "cut-off")
    engine.world.control(
        "twitter",
        "POST",
        "/faults",
        {"status": 503, "path": r"^/2/users/[^/]+/tweets$", "method": "GET", "count": 5},
    )
    await engine.tick()
    # The network couldn't be asked: the reaper asks again, for a while, then a person decides.
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "publishing"
    await engine.tick_once_the_reaper_gives_up()
    done = await engine.read(post["id"])
    [target] = done["targets"]
    assert target["status"] == "needs_review"
    assert target["last_error"]["code"] == "needs_review"
    assert "couldn't confirm" in target["last_error"]["message"]
    for _ in range(2):
        await engine.tick()
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "needs_review"
    assert engine.sends("twitter", "Who knows") == []
    subjects = [
        str(message["subject"])
        for message in emails_to(engine.world.runtime.settings, engine.owner.email)
    ]
    assert sum("didn't go out" in subject for subject in subjects) == 1


async def test_a_post_cancelled_after_its_claim_is_not_published(engine: Engine) -> None:
    post = await engine.publish_now("twitter", content="Changed my mind")
    target_id = post["targets"][0]["id"]
    # Claimed by the dispatcher; its job is still on its way.
    await engine.change_target(target_id, status=TargetStatus.QUEUED, queued_at=clock.now())
    cancelled = await engine.api.post(f"{POSTS}/{post['id']}/cancel", headers=engine.owner.headers)
    assert cancelled.json()["status"] == "cancelled"
    await publish_target.run(target_id)
    await engine.tick()
    assert engine.sends("twitter", "Changed my mind") == []
    assert (await engine.read(post["id"]))["status"] == "cancelled"


async def test_an_accounts_budget_defers_what_would_exceed_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    twitter = registry.provider_class("twitter")
    monkeypatch.setattr(twitter, "publish_budget", budgets.Budget(1, timedelta(hours=1)))
    first = await engine.publish_now("twitter", content="First")
    await engine.tick()
    second = await engine.publish_now("twitter", content="Second")
    await engine.tick()
    assert (await engine.read(first["id"]))["status"] == "published"
    waiting = (await engine.read(second["id"]))["targets"][0]
    assert waiting["status"] == "scheduled"
    assert instant(waiting["next_attempt_at"]) > clock.now() + timedelta(minutes=59)
    assert engine.sends("twitter", "First") == ["accepted"]
    assert engine.sends("twitter", "Second") == []


def clock_later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_metrics_show_the_pipeline_outcomes_and_latency(engine: Engine) -> None:
    before = await scrape(engine.api)
    await engine.publish_now("twitter", content="Measured")
    await engine.tick()
    await engine.loops.run_once("publishing.dispatch")
    after = await scrape(engine.api)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    outcome = {"outcome": "published", "platform": "twitter"}
    assert grew("t21_publish_outcomes_total", **outcome) == 1
    assert grew("t21_publish_latency_seconds_count", platform="twitter") == 1
    assert grew("t21_loop_iterations_total", loop="publishing.dispatch", outcome="ok") == 2
    assert value(after, "t21_post_targets_due_unclaimed") == 0
    assert value(after, "t21_post_targets", status="queued") == 0


async def test_a_post_past_the_months_quota_is_warned_at_scheduling_and_fails_when_due(
    engine: Engine,
) -> None:
    runtime = engine.world.runtime
    organization = engine.owner.personal_organization_id
    cap = 30  # the Free plan's published posts a month
    async with session_scope(runtime) as session:
        await usage.increment(session, organization, usage.Metric.PUBLISHED_POSTS, cap - 1)
    fits = await engine.publish_now("twitter", content="The last one this month")
    assert fits["warnings"] == []
    await engine.tick()
    assert (await engine.read(fits["id"]))["status"] == "published"
    over = await engine.publish_now("twitter", "linkedin", content="One too many")
    [warning] = over["warnings"]
    assert warning["code"] == "quota_exceeded"
    assert "30 published posts a month" in warning["message"]
    await engine.tick()
    refused = await engine.read(over["id"])
    assert {t["status"] for t in refused["targets"]} == {"failed"}
    assert {t["last_error"]["code"] for t in refused["targets"]} == {"quota_exceeded"}
    assert "Free plan includes 30" in refused["targets"][0]["last_error"]["message"]
    assert len(engine.published_at_network("twitter")) == 1
    assert engine.published_at_network("linkedin") == []
    async with session_scope(runtime) as session:
        counted = await usage.usage(session, organization)
    assert counted[usage.Metric.PUBLISHED_POSTS] == cap
