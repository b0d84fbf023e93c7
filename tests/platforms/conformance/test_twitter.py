"""The X adapter replayed against X's own reference examples: it must send each documented
request as the page shows it and read the documented answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from t21.core import clock
from t21.core.outside import Permanent, Retryable
from t21.platforms.base import Credentials, MediaKind, PostMetrics, PublishRequest
from t21.platforms.twitter import TwitterProvider
from tests.platforms.conformance import twitter as reference
from tests.platforms.conformance.harness import Replay, replay
from tests.platforms.harness import FakeNetwork, media_server, mp4_bytes


def _provider(served: Replay) -> TwitterProvider:
    return TwitterProvider(FakeNetwork(served.url).config("twitter"))


def _account(refresh_token: str | None = None) -> Credentials:
    return Credentials(
        access_token=reference.ACCESS_TOKEN,
        external_id=reference.OWNER_ID,
        username="XDevelopers",
        refresh_token=refresh_token,
    )


def test_every_exchange_names_the_reference_page_it_comes_from() -> None:
    exchanges = [
        reference.TEXT_POST,
        *reference.VIDEO_POST,
        *reference.IMAGE_POST,
        reference.TOKEN_REFRESH,
        reference.RATE_LIMITED,
        reference.DUPLICATE,
        reference.public_lookup("2026-12-01T10:00:00.000Z"),
        reference.NON_PUBLIC_LOOKUP,
    ]
    assert len(exchanges) >= 5
    assert all(e.source.startswith("https://docs.x.com/") for e in exchanges)


async def test_publish_sends_the_documented_post_and_reads_its_id() -> None:
    with replay(reference.TEXT_POST) as served:
        published = await _provider(served).publish(_account(), PublishRequest(text="Hello world!"))
    served.check()
    assert published.external_id == "1445880548472328192"
    assert published.permalink is not None
    assert published.permalink.endswith("/XDevelopers/status/1445880548472328192")


async def test_a_video_is_initialized_appended_finalized_polled_then_posted_without_alt_text(
) -> None:  # fmt: skip
    with media_server() as media, replay(*reference.VIDEO_POST) as served:
        video = media.item(
            MediaKind.VIDEO, mp4_bytes(reference.VIDEO_BYTES), "video/mp4",
            width=1280, height=720, duration_s=10,
        )  # fmt: skip
        # Alt text on a video is left out (X takes it for images and GIFs), not a failure.
        video = replace(video, alt_text="A cat jumps")
        published = await _provider(served).publish(
            _account(), PublishRequest(text="Check out this video!", media=[video])
        )
    served.check()
    assert published.external_id == "1445880548472328193"
    append = served.seen[1]
    assert append.headers["content-type"].startswith("multipart/form-data")
    assert b'name="segment_index"' in append.body
    assert mp4_bytes(0)[:8] in append.body


async def test_an_image_is_uploaded_given_its_alt_text_and_posted() -> None:
    with media_server() as media, replay(*reference.IMAGE_POST) as served:
        image = replace(media.image(40, 30), alt_text="A grey square")
        published = await _provider(served).publish(
            _account(), PublishRequest(text="One view", media=[image])
        )
    served.check()
    assert published.external_id == "1445880548472328194"


async def test_refresh_sends_the_confidential_client_form_and_stores_the_rotated_token() -> None:
    with replay(reference.TOKEN_REFRESH) as served:
        grant = await _provider(served).refresh(_account(reference.REFRESH_TOKEN))
    served.check()
    assert grant is not None
    assert (grant.access_token, grant.expires_in) == (reference.ACCESS_TOKEN, 7200)
    assert grant.refresh_token == reference.NEW_REFRESH_TOKEN
    assert "offline.access" in grant.scopes


async def test_a_429_waits_for_the_reset_and_a_duplicate_is_permanent() -> None:
    with replay(reference.RATE_LIMITED, reference.DUPLICATE) as served:
        provider = _provider(served)
        with pytest.raises(Retryable) as limited:
            await provider.publish(_account(), PublishRequest(text="Hello world!"))
        with pytest.raises(Permanent) as duplicate:
            await provider.publish(_account(), PublishRequest(text="Hello world!"))
    served.check()
    assert limited.value.after is not None
    assert limited.value.after > 0
    assert "duplicate content" in duplicate.value.message


async def test_metrics_ask_public_numbers_then_non_public_ones_for_a_young_own_post() -> None:
    created = (clock.now() - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with replay(reference.public_lookup(created), reference.NON_PUBLIC_LOOKUP) as served:
        numbers = await _provider(served).metrics(_account(), [reference.POST_ID])
    served.check()
    public = dict(served.seen[0].query)["tweet.fields"].split(",")
    assert "public_metrics" in public
    assert "non_public_metrics" not in public
    assert numbers[reference.POST_ID] == PostMetrics(
        impressions=5432, likes=234, comments=12, shares=55, saves=8, clicks=89
    )


async def test_metrics_of_an_old_post_never_ask_for_non_public_numbers() -> None:
    created = (clock.now() - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with replay(reference.public_lookup(created)) as served:
        numbers = await _provider(served).metrics(_account(), [reference.POST_ID])
    served.check()  # one request: the old post's non-public numbers would drop it from the answer
    assert numbers[reference.POST_ID] == PostMetrics(
        impressions=5432, likes=234, comments=12, shares=55, saves=8, clicks=None
    )
