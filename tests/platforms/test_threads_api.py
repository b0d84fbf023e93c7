"""Threads through T21's API and publishing engine against the Threads fake: an account
connects, a post is refused at the desk for what Threads would refuse (its own text count, its
options), and text and image posts go out once."""

from __future__ import annotations

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
