"""A post's life reaches a webhook endpoint: the events its changes write are delivered signed,
with the post as the API shows it."""

from __future__ import annotations

from tests.publishing.conftest import Engine, engine  # noqa: F401  (fixture)
from tests.social.conftest import sandbox  # noqa: F401  (fixture)
from tests.webhooks.conftest import WEBHOOKS, Receiver


async def test_a_published_post_is_delivered_event_by_event_and_verifies(
    engine: Engine,  # noqa: F811
    receiver: Receiver,
) -> None:
    created = await engine.api.post(
        WEBHOOKS,
        json={"url": receiver.url(), "events": ["post.created", "post.published"]},
        headers=engine.owner.headers,
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]

    post = await engine.publish_now("twitter", content="Out it goes")
    await engine.tick()
    await engine.world.drain()
    done = await engine.read(post["id"])

    payloads = {r.webhook_id: r.verified(secret) for r in receiver.at("/hook")}
    by_type = {payload["type"]: payload for payload in payloads.values()}
    assert sorted(by_type) == ["post.created", "post.published"]  # subscribed types only
    assert len(payloads) == 2
    assert by_type["post.created"]["data"]["id"] == post["id"]
    published = by_type["post.published"]["data"]
    assert published["id"] == post["id"]
    assert published["status"] == "published"
    assert published["targets"][0]["external_id"] == done["targets"][0]["external_id"]
