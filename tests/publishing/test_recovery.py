"""How fast the reaper recovers what chaos leaves behind, and what it can still see then."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from t21.core import clock
from t21.core.uow import session_scope
from t21.publishing import reaper
from tests.publishing.conftest import Engine

TWEETS = r"^/2/tweets$"


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
    assert held == [(uuid.UUID(target_id), "dead-worker")]
    later = clock.now() + timedelta(seconds=31)
    with clock.frozen(later):
        async with session_scope(runtime) as session:
            again = await reaper.claim_expired(session, settings)
    assert again == held


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
