"""Networks that pull media from a URL (Instagram, Facebook, TikTok) get a time-limited link to
T21's copy, and the post goes out with it."""

from __future__ import annotations

import pytest

from tests.posts.conftest import jpeg
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


async def test_an_instagram_carousel_goes_out_as_one_post(public_engine: Engine) -> None:
    photos = [await public_engine.upload(jpeg(1080, 1350)) for _ in range(3)]
    post = await public_engine.publish_now("instagram", content="Three views", media_ids=photos)
    await public_engine.tick()
    done = await public_engine.read(post["id"])
    assert done["targets"][0]["status"] == "published", done["targets"][0]
    assert len(public_engine.published_at_network("instagram")) == 1
