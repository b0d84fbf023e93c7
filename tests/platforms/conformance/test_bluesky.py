"""The Bluesky adapter replayed against Bluesky's own reference examples: it must send each
documented request as the page shows it and read the documented answer."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from t21.core.outside import Permanent, Retryable
from t21.platforms.base import Credentials, PostMetrics, PublishRequest
from t21.platforms.bluesky import BlueskyProvider
from tests.platforms.conformance import bluesky as reference
from tests.platforms.conformance.harness import Replay, Reply, replay
from tests.platforms.harness import media_server


def _provider(served: Replay) -> BlueskyProvider:
    return BlueskyProvider(served.config("bluesky"))


def _account() -> Credentials:
    return Credentials(
        access_token=reference.ACCESS_JWT,
        external_id=reference.DID,
        username=reference.HANDLE,
        refresh_token=reference.REFRESH_JWT,
    )


def test_every_exchange_names_the_reference_page_it_comes_from() -> None:
    exchanges = [
        reference.RESOLVE,
        reference.DID_DOCUMENT,
        reference.CREATE_SESSION,
        reference.PROFILE,
        reference.CREATE_POST,
        reference.UPLOAD_BLOB,
        reference.IMAGE_POST,
        reference.rate_limited(0),
        reference.GET_POSTS_EXCHANGE,
    ]
    assert len(exchanges) >= 5
    assert all(
        e.source.startswith(("https://docs.bsky.app/", "https://atproto.com/")) for e in exchanges
    )


async def test_connecting_resolves_the_handle_finds_the_pds_and_starts_a_session() -> None:
    exchanges = (
        reference.RESOLVE,
        reference.DID_DOCUMENT,
        reference.CREATE_SESSION,
        reference.PROFILE,
    )
    with replay(*exchanges) as served:
        [connection] = await _provider(served).connect_with_credentials(
            {"handle": reference.HANDLE, "app_password": reference.APP_PASSWORD}
        )
    served.check()
    assert connection.profile.external_id == reference.DID
    assert connection.profile.username == reference.HANDLE
    assert connection.grant.access_token == reference.ACCESS_JWT
    assert connection.grant.refresh_token == reference.REFRESH_JWT


async def test_a_deactivated_account_is_not_connected() -> None:
    session = reference.CREATE_SESSION.reply.body | {"active": False, "status": "deactivated"}
    inactive = replace(reference.CREATE_SESSION, reply=Reply(body=session))
    exchanges = (reference.RESOLVE, reference.DID_DOCUMENT, inactive)
    given = {"handle": reference.HANDLE, "app_password": reference.APP_PASSWORD}
    with replay(*exchanges) as served, pytest.raises(Permanent) as refused:
        await _provider(served).connect_with_credentials(given)
    served.check()
    assert refused.value.code == "account_inactive"
    assert "deactivated" in refused.value.message


async def test_a_text_post_is_the_documented_record() -> None:
    with replay(reference.DID_DOCUMENT, reference.CREATE_POST) as served:
        published = await _provider(served).publish(_account(), PublishRequest(text="Hello World!"))
    served.check()
    assert published.external_id == reference.POST_URI
    assert published.permalink == (
        f"https://bsky.app/profile/{reference.HANDLE}/post/3k4duaz5vfs2b"
    )


async def test_an_image_is_uploaded_as_a_blob_and_embedded_with_its_alt_text() -> None:
    exchanges = (reference.DID_DOCUMENT, reference.UPLOAD_BLOB, reference.IMAGE_POST)
    with media_server() as media, replay(*exchanges) as served:
        image = media.image(40, 30)
        image = replace(image, alt_text="brief alt text description of the first image", width=None)
        published = await _provider(served).publish(
            _account(), PublishRequest(text="example post with image attached", media=[image])
        )
    served.check()
    assert published.external_id == reference.POST_URI
    assert served.seen[1].body.startswith(b"\x89PNG")


async def test_a_spent_budget_waits_for_its_ratelimit_reset() -> None:
    reset = int(time.time()) + 600
    exchanges = (reference.DID_DOCUMENT, reference.rate_limited(reset))
    with replay(*exchanges) as served, pytest.raises(Retryable) as limited:
        await _provider(served).publish(_account(), PublishRequest(text="over budget"))
    served.check()
    assert limited.value.after is not None
    assert 590 < limited.value.after <= 600


async def test_counts_come_from_get_posts() -> None:
    with replay(reference.DID_DOCUMENT, reference.GET_POSTS_EXCHANGE) as served:
        numbers = await _provider(served).metrics(_account(), [reference.POST_URI])
    served.check()
    assert numbers == {reference.POST_URI: PostMetrics(likes=12, comments=2, shares=6)}
