"""Networks that pull media from a URL (Instagram, Facebook, TikTok) get a time-limited link to
T21's copy, and the post goes out with it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from t21.core import clock
from t21.core.runtime import get_runtime
from t21.core.uow import session_scope
from t21.posts.models import PostTarget
from tests.posts.conftest import POSTS, jpeg
from tests.publishing.conftest import Engine


@pytest.mark.parametrize("network", ["instagram", "facebook", "tiktok"])
async def test_an_image_post_goes_out_on_networks_that_fetch_media(
    public_engine: Engine, network: str
) -> None:
    photo = await public_engine.upload(jpeg(1080, 1080))
    post = await public_engine.publish_now(
        network, content=f"Fresh on {network}", media_ids=[photo]
    )
    await public_engine.tick()
    done = await public_engine.read(post["id"])
    [target] = done["targets"]
    assert target["status"] == "published", target
    assert target["external_id"]
    published = public_engine.published_at_network(network)
    assert len(published) == 1


async def test_the_public_url_is_answered_by_the_app_under_test_with_no_second_runtime(
    public_engine: Engine,
) -> None:
    # A second app answering there would open a runtime of its own and install it over the
    # engine's: the process's jobs and loops reach theirs through `get_runtime()`.
    photo = await public_engine.upload(jpeg(1080, 1080))
    asset = await public_engine.api.get(
        f"/api/v1/media/{photo}", headers=public_engine.owner.headers
    )
    assert asset.status_code == 200, asset.text
    link = asset.json()["url"]
    assert link.startswith(public_engine.world.runtime.settings.resolved_public_url), link
    async with httpx.AsyncClient(timeout=10) as http:
        fetched = await http.get(link)
    assert fetched.status_code == 200, fetched.text
    assert fetched.headers["content-type"] == "image/jpeg"
    assert get_runtime() is public_engine.world.runtime, "a second runtime was installed"


async def test_an_instagram_carousel_goes_out_as_one_post(public_engine: Engine) -> None:
    photos = [await public_engine.upload(jpeg(1080, 1350)) for _ in range(3)]
    post = await public_engine.publish_now("instagram", content="Three views", media_ids=photos)
    await public_engine.tick()
    done = await public_engine.read(post["id"])
    assert done["targets"][0]["status"] == "published", done["targets"][0]
    assert len(public_engine.published_at_network("instagram")) == 1


def media_created(engine: Engine) -> int:
    """How many media containers Instagram was asked to build."""
    seen = engine.world.control("instagram", "GET", "/requests")["requests"]
    return sum(1 for r in seen if r["method"] == "POST" and r["path"].endswith("/media"))


async def target_row(engine: Engine, target_id: str) -> PostTarget:
    async with session_scope(engine.world.runtime) as session:
        target = await session.get(PostTarget, uuid.UUID(target_id))
        assert target is not None
        return target


async def test_instagram_media_still_processing_waits_in_the_database_not_in_a_worker(
    public_engine: Engine,
) -> None:
    public_engine.world.control("instagram", "POST", "/config", {"image_processing_s": 45})
    photo = await public_engine.upload(jpeg(1080, 1080))
    post = await public_engine.publish_now("instagram", content="Slow light", media_ids=[photo])

    await public_engine.tick()
    [target] = (await public_engine.read(post["id"]))["targets"]
    assert target["status"] == "retrying", target
    row = await target_row(public_engine, target["id"])
    # The attempt is over (no lease held); the container waits with the target for the next.
    assert row.lease_expires_at is None
    assert row.due_at is not None
    assert row.progress is not None
    assert row.progress["state"]["container"]
    assert row.attempts == 0
    assert row.last_error_code == "in_progress"
    await public_engine.tick()  # still processing: the container is read, never built again
    assert media_created(public_engine) == 1

    later = clock.now()
    for _ in range(20):
        later += timedelta(seconds=5)
        with clock.frozen(later):
            await public_engine.tick()
        if (await public_engine.read(post["id"]))["targets"][0]["status"] == "published":
            break
    [target] = (await public_engine.read(post["id"]))["targets"]
    assert target["status"] == "published", target
    assert later - row.created_at >= timedelta(seconds=45)
    [record] = public_engine.published_at_network("instagram")
    assert record["container_id"] == row.progress["state"]["container"]
    assert media_created(public_engine) == 1
    done = await target_row(public_engine, target["id"])
    assert (done.progress, done.attempts, done.last_error_code) == (None, 1, None)


async def test_an_instagram_post_edited_while_processing_is_built_again_with_its_new_text(
    public_engine: Engine,
) -> None:
    public_engine.world.control("instagram", "POST", "/config", {"image_processing_s": 30})
    photo = await public_engine.upload(jpeg(1080, 1080))
    post = await public_engine.publish_now("instagram", content="First words", media_ids=[photo])
    await public_engine.tick()
    assert (await public_engine.read(post["id"]))["targets"][0]["status"] == "retrying"

    edited = await public_engine.api.patch(
        f"{POSTS}/{post['id']}",
        json={"content": "Better words"},
        headers=public_engine.owner.headers,
    )
    assert edited.status_code == 200, edited.text
    republished = await public_engine.api.post(
        f"{POSTS}/{post['id']}/publish", headers=public_engine.owner.headers
    )
    assert republished.status_code == 202, republished.text
    later = clock.now()
    for _ in range(20):
        later += timedelta(seconds=10)
        with clock.frozen(later):
            await public_engine.tick()
        if (await public_engine.read(post["id"]))["targets"][0]["status"] == "published":
            break

    [record] = public_engine.published_at_network("instagram")
    assert record["caption"] == "Better words"
    assert media_created(public_engine) == 2
