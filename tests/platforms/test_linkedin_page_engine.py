"""LinkedIn Pages through T21 itself, against the whole sandbox over HTTP: connecting a page
with the API's connect flow, the publishing engine posting as the page (once, even when the
answer is lost), and the collection loop storing the page's share statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from t21.core import clock
from tests.analytics.conftest import Studio, studio, world  # noqa: F401  (fixtures)
from tests.publishing.conftest import Engine, engine  # noqa: F401  (fixture)
from tests.social.conftest import sandbox  # noqa: F401  (fixture)

PAGE = "urn:li:organization:2414183"
NETWORK = "linkedin_page"


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_connecting_gives_one_account_per_administered_page(engine: Engine) -> None:  # noqa: F811
    second = {"id": "5550001", "role": "ADMINISTRATOR", "name": "Second Page"}
    engine.world.control(NETWORK, "POST", "/organizations", second)
    ids = await engine.world.connected_ids(NETWORK)
    assert len(ids) == 2
    listed = await engine.api.get("/api/v1/social-accounts", headers=engine.owner.headers)
    accounts = {a["external_id"]: a for a in listed.json()["items"] if a["platform"] == NETWORK}
    assert set(accounts) == {PAGE, "urn:li:organization:5550001"}
    assert accounts[PAGE]["display_name"] == "Sandbox Company"


async def test_the_engine_posts_text_and_images_as_the_page_once(engine: Engine) -> None:  # noqa: F811
    photos = [await engine.upload() for _ in range(2)]
    post = await engine.publish_now(NETWORK, content="Our new office", media_ids=photos)
    await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["status"] == "published", target
    [published] = engine.published_at_network(NETWORK)
    assert (published["author"], published["kind"]) == (PAGE, "multi_image")
    assert target["external_id"] == published["id"]
    for _ in range(2):
        await engine.tick()
    assert engine.sends(NETWORK, "Our new office") == ["accepted"]


@pytest.mark.lost_answer
async def test_a_lost_answer_is_reconciled_from_the_pages_posts_without_a_second_post(
    engine: Engine,  # noqa: F811
) -> None:
    fault = {"status": 200, "path": "^/rest/posts$", "method": "POST", "lose_response": True}
    engine.world.control(NETWORK, "POST", "/faults", fault | {"delay_s": 3})
    post = await engine.publish_now(NETWORK, content="Did the page post it?")
    await engine.tick()
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "publishing"
    with clock.frozen(lambda: later(30)):
        await engine.tick()
    done = (await engine.read(post["id"]))["targets"][0]
    assert done["status"] == "published", done
    [published] = engine.published_at_network(NETWORK)
    assert done["external_id"] == published["id"]
    for _ in range(2):
        await engine.tick()
    assert engine.sends(NETWORK, "Did the page post it?") == ["fault-injected-after-effect"]


async def test_the_pages_share_statistics_are_collected_as_snapshots(studio: Studio) -> None:  # noqa: F811
    post = await studio.publish(NETWORK)
    numbers = {"IMPRESSION": 300, "MEMBERS_REACHED": 210, "REACTION": 12, "COMMENT": 3}
    studio.world.control(NETWORK, "POST", "/analytics", {"post": post.external_id, **numbers})
    assert await studio.collect() == 1
    [snapshot] = await studio.snapshots(post)
    assert snapshot["platform"] == NETWORK
    assert (snapshot["impressions"], snapshot["reach"]) == (300, 210)
    assert (snapshot["likes"], snapshot["comments"], snapshot["shares"]) == (12, 3, 0)
