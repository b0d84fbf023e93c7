"""The Google Business Profile adapter replayed against Google's reference examples: the code
exchange, the accounts and their locations, the guide's event post, the post listing that
settles a doubt, and a quota refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from t21.core.outside import Retryable
from t21.platforms.base import Credentials, MediaItem, MediaKind, PublishRequest
from t21.platforms.google_business import GoogleBusinessProvider
from tests.platforms.conformance import google_business as reference
from tests.platforms.conformance.harness import Replay, replay
from tests.platforms.harness import REDIRECT_URI, FakeNetwork

LOCATION = Credentials(access_token=reference.ACCESS_TOKEN, external_id=reference.PARENT)


def _provider(served: Replay) -> GoogleBusinessProvider:
    return GoogleBusinessProvider(FakeNetwork(served.url).config("google_business"))


async def _nothing(offset: int, length: int) -> bytes:
    return b""


def test_every_exchange_names_the_reference_page_it_comes_from() -> None:
    exchanges = [
        reference.TOKEN,
        reference.ACCOUNTS,
        reference.LOCATIONS,
        reference.EVENT_POST,
        reference.LIST_POSTS,
        reference.QUOTA,
    ]
    assert all(e.source.startswith(("https://developers.google.com/",
                                     "https://cloud.google.com/")) for e in exchanges)  # fmt: skip


async def test_connecting_exchanges_the_code_then_lists_accounts_and_their_locations() -> None:
    with replay(reference.TOKEN, reference.ACCOUNTS, reference.LOCATIONS) as served:
        [connection] = await _provider(served).exchange_code(
            code="4/P7q7W91a-oMsCeLvIaQm6bTrgtp7", redirect_uri=REDIRECT_URI, code_verifier="v" * 50
        )
    served.check()
    assert connection.profile.external_id == reference.PARENT
    assert connection.profile.display_name == "Acme Bakery High Street"
    assert connection.grant.refresh_token is not None
    assert connection.grant.scopes == {reference.SCOPE}


async def test_the_guides_event_post_is_sent_as_the_guide_shows_it() -> None:
    photo = MediaItem(
        kind=MediaKind.IMAGE,
        content_type="image/jpeg",
        size=200_000,
        url="https://www.google.com/real-image.jpg",
        read=_nothing,
    )
    options = {
        "post_type": "event",
        "event": {"title": "Halloween Spook-tacular!", "start": "2017-10-31T09:00:00",
                  "end": "2017-10-31T17:00:00"},
    }  # fmt: skip
    request = PublishRequest(
        text="Come in for our spooky Halloween event!", media=[photo], options=options
    )
    with replay(reference.EVENT_POST) as served:
        published = await _provider(served).publish(LOCATION, request)
    served.check()
    assert published.external_id == f"{reference.PARENT}/localPosts/987654321"
    assert published.permalink is not None
    assert published.published_at == datetime(2017, 10, 1, 12, tzinfo=UTC)


async def test_reading_back_lists_the_locations_posts() -> None:
    with replay(reference.LIST_POSTS) as served:
        found = await _provider(served).find_recent(
            LOCATION, since=datetime(2026, 12, 6, 8, tzinfo=UTC)
        )
    served.check()
    assert [(post.external_id, post.text) for post in found] == [
        (f"{reference.PARENT}/localPosts/987654321", "Fresh bread daily")
    ]


async def test_a_quota_refusal_waits_for_the_next_minute() -> None:
    with replay(reference.QUOTA) as served, pytest.raises(Retryable) as caught:
        await _provider(served).publish(LOCATION, PublishRequest(text="Fresh bread daily"))
    served.check()
    assert (caught.value.code, caught.value.after) == ("rate_limited", 60)
