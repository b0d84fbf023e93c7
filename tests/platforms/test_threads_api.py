"""Threads through T21's API and publishing engine against the Threads fake: an account
connects, a post is refused at the desk for what Threads would refuse (its own text count, its
options), and text and image posts go out once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from t21.core import clock
from t21.core.uow import session_scope
from t21.posts.models import PostTarget
from tests.core.test_http import assert_problem
from tests.posts.conftest import jpeg
from tests.publishing.conftest import (  # noqa: F401  (fixtures)
    Engine,
    engine,
    public_engine,
)
from tests.social.conftest import sandbox  # noqa: F401  (fixture)


async def test_a_text_post_with_reply_control_goes_out_once(engine: Engine) -> None:  # noqa: F811
    account = await engine.account("threads")
    created = await engine.create(
        content="Hello Threads",
        targets=[{"social_account_id": account, "options": {"reply_control": "mentioned_only"}}],
    )
    post_id = created.json()["id"]
    queued = await engine.api.post(f"/api/v1/posts/{post_id}/publish", headers=engine.owner.headers)
    assert queued.status_code == 202, queued.text
    await engine.tick()
    [target] = (await engine.read(post_id))["targets"]
    assert target["status"] == "published", target
    assert target["external_id"]
    assert target["permalink"]
    [record] = engine.published_at_network("threads")
    assert (record["text"], record["reply_control"]) == ("Hello Threads", "mentioned_only")
    await engine.tick()
    assert engine.sends("threads", "Hello Threads") == ["accepted"]


async def test_an_image_post_goes_out_with_its_image(public_engine: Engine) -> None:  # noqa: F811
    photo = await public_engine.upload(jpeg(1080, 1350))
    post = await public_engine.publish_now("threads", content="A view", media_ids=[photo])
    await public_engine.tick()
    later = clock.now()
    for _ in range(5):  # a slow machine may time a download out: the retry publishes it
        if (await public_engine.read(post["id"]))["targets"][0]["status"] == "published":
            break
        later += timedelta(seconds=30)
        with clock.frozen(later):
            await public_engine.tick()
    [target] = (await public_engine.read(post["id"]))["targets"]
    assert target["status"] == "published", target
    [record] = public_engine.published_at_network("threads")
    assert record["media_type"] == "IMAGE"
    assert len(record["media"]) == 1


async def test_text_over_500_as_threads_counts_emoji_is_refused_at_the_desk(
    engine: Engine,  # noqa: F811
) -> None:
    account = await engine.account("threads")
    response = await engine.create(
        expect=None, content="a" * 490 + "🙂🙂🙂", targets=[{"social_account_id": account}]
    )
    body = assert_problem(response, 422, "validation_error")
    [problem] = body["errors"]
    assert problem["rule"] == "text_too_long"
    assert "UTF-8" in problem["msg"]
    assert engine.published_at_network("threads") == []


async def test_options_threads_does_not_know_are_refused(engine: Engine) -> None:  # noqa: F811
    account = await engine.account("threads")
    for options in ({"first_comment": "x"}, {"reply_control": "nobody"}):
        response = await engine.create(
            expect=None,
            content="Hi",
            targets=[{"social_account_id": account, "options": options}],
        )
        body = assert_problem(response, 422, "validation_error")
        [problem] = body["errors"]
        assert problem["rule"] == "invalid_options"
        assert problem["loc"] == ["body", "targets", 0, "options"]


def containers_created(desk: Engine) -> int:
    seen = desk.world.control("threads", "GET", "/requests")["requests"]
    return sum(1 for r in seen if r["method"] == "POST" and r["path"].endswith("/threads"))


async def target_row(desk: Engine, target_id: str) -> PostTarget:
    async with session_scope(desk.world.runtime) as session:
        target = await session.get(PostTarget, uuid.UUID(target_id))
        assert target is not None
        return target


async def test_media_still_processing_waits_in_the_database_with_its_container(
    public_engine: Engine,  # noqa: F811
) -> None:
    public_engine.world.control("threads", "POST", "/config", {"processing_polls": 2})
    photo = await public_engine.upload(jpeg(1080, 1080))
    post = await public_engine.publish_now("threads", content="Slow light", media_ids=[photo])

    await public_engine.tick()
    [target] = (await public_engine.read(post["id"]))["targets"]
    assert target["status"] == "retrying", target
    row = await target_row(public_engine, target["id"])
    assert row.lease_expires_at is None
    assert row.due_at is not None
    assert row.progress is not None
    container = row.progress["state"]["container"]
    assert container
    assert row.attempts == 0
    assert row.last_error_code == "in_progress"

    later = clock.now()
    for _ in range(10):
        later += timedelta(seconds=30)
        with clock.frozen(later):
            await public_engine.tick()
        if (await public_engine.read(post["id"]))["targets"][0]["status"] == "published":
            break
    [target] = (await public_engine.read(post["id"]))["targets"]
    assert target["status"] == "published", target
    [record] = public_engine.published_at_network("threads")
    assert record["container_id"] == container
    assert containers_created(public_engine) == 1
    done = await target_row(public_engine, target["id"])
    assert (done.progress, done.attempts, done.last_error_code) == (None, 1, None)


async def test_the_live_counter_and_validation_count_emoji_as_threads_does(
    engine: Engine,  # noqa: F811
) -> None:
    listed = await engine.api.get("/api/v1/platforms")
    assert listed.status_code == 200, listed.text
    [threads] = [item for item in listed.json()["items"] if item["name"] == "threads"]
    assert (threads["max_text"], threads["text_counting"]) == (500, "utf8_emoji")
    account = await engine.account("threads")
    fits = "a" * 492 + "👍🏽"  # 492 + 8 bytes = 500
    checked = await engine.api.post(
        "/api/v1/posts/validate",
        json={"brand_id": engine.brand_id, "content": fits,
              "targets": [{"social_account_id": account}]},
        headers={**engine.owner.headers, "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert checked.status_code == 200, checked.text
    assert checked.json()["targets"][0]["length"] == 500
    assert checked.json()["valid"], checked.text
    over = await engine.api.post(
        "/api/v1/posts/validate",
        json={"brand_id": engine.brand_id, "content": fits + "!",
              "targets": [{"social_account_id": account}]},
        headers={**engine.owner.headers, "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert over.status_code == 200, over.text
    assert not over.json()["valid"]
    assert [error["rule"] for error in over.json()["errors"]] == ["text_too_long"]
