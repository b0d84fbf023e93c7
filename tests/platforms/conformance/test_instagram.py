"""Instagram's reference examples (Instagram API with Instagram Login, graph.instagram.com)
replayed against the adapter: it must send what each example shows — parameters and the
`access_token` in the query, no JSON body, no Authorization header — and read what it answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from t21.core.outside import ReauthRequired
from t21.platforms.base import (
    Credentials,
    MediaItem,
    MediaKind,
    PostMetrics,
    Published,
    PublishRequest,
)
from t21.platforms.instagram import InstagramProvider
from tests.platforms.conformance.harness import ABSENT, Exchange, Expect, Reply, replay

MEDIA_REF = "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media"
PUBLISH_REF = "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media_publish"
CONTAINER_REF = "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container"
MEDIA_NODE_REF = "https://developers.facebook.com/docs/instagram-platform/reference/instagram-media"
INSIGHTS_REF = (
    "https://developers.facebook.com/docs/instagram-platform/reference/instagram-media/insights"
)
REFRESH_REF = (
    "https://developers.facebook.com/docs/instagram-platform/reference/refresh_access_token"
)
ERRORS_REF = "https://developers.facebook.com/docs/graph-api/guides/error-handling"

IG_USER = "17841405822304914"
CONTAINER = "17889455560051444"
MEDIA = "17920238422030506"
IMAGE_URL = "https://www.example.com/images/bronz-fonz.jpg"
TOKEN = "IGQVJ-long-lived"
# The token travels as `access_token` in the query, as every example shows, never as a header.
NO_AUTH = {"Authorization": ABSENT}

CREATE_IMAGE_CONTAINER = Exchange(
    name="create an image container",
    source=MEDIA_REF,
    expect=Expect(
        "POST",
        f"/v25.0/{IG_USER}/media",
        headers=NO_AUTH,
        query={"image_url": IMAGE_URL, "caption": "#BronzFonz", "access_token": TOKEN},
    ),
    reply=Reply(body={"id": CONTAINER}),
)
CONTAINER_STATUS = Exchange(
    name="read the container's status",
    source=CONTAINER_REF,
    # `status` (the error subcode when ERROR) is in the same reference's fields table.
    expect=Expect(
        "GET",
        f"/v25.0/{CONTAINER}",
        headers=NO_AUTH,
        query={"fields": "status_code,status", "access_token": TOKEN},
    ),
    reply=Reply(body={"status_code": "FINISHED", "id": CONTAINER}),
)
MEDIA_PUBLISH = Exchange(
    name="publish the container",
    source=PUBLISH_REF,
    expect=Expect(
        "POST",
        f"/v25.0/{IG_USER}/media_publish",
        headers=NO_AUTH,
        query={"creation_id": CONTAINER, "access_token": TOKEN},
    ),
    reply=Reply(body={"id": MEDIA}),
)
PERMALINK = Exchange(
    name="read the new media's permalink",
    source=MEDIA_NODE_REF,
    expect=Expect(
        "GET",
        f"/v25.0/{MEDIA}",
        headers=NO_AUTH,
        query={"fields": "permalink,timestamp", "access_token": TOKEN},
    ),
    reply=Reply(
        body={
            "permalink": "https://www.instagram.com/p/BZtT0YBnX9a/",
            "timestamp": "2017-10-10T21:17:28+0000",
            "id": MEDIA,
        }
    ),
)
REFRESH = Exchange(
    name="refresh a long-lived token",
    source=REFRESH_REF,
    expect=Expect(
        "GET",
        "/refresh_access_token",
        headers=NO_AUTH,
        query={"grant_type": "ig_refresh_token", "access_token": TOKEN},
    ),
    reply=Reply(
        body={"access_token": "IGQVJ-refreshed", "token_type": "bearer", "expires_in": 5183944}
    ),
)
TOKEN_REFUSED = Exchange(
    name="a container refused for an invalidated session",
    source=ERRORS_REF,
    expect=CREATE_IMAGE_CONTAINER.expect,
    reply=Reply(
        status=400,
        body={
            "error": {
                "message": "Message describing the error",
                "type": "OAuthException",
                "code": 190,
                "error_subcode": 460,
                "error_user_title": "A title",
                "error_user_msg": "A message",
                "fbtrace_id": "EJplcsCHuLu",
            }
        },
    ),
)
MEDIA_KIND = Exchange(
    name="read the media's type (stories take other metrics)",
    source=MEDIA_NODE_REF,
    expect=Expect(
        "GET",
        f"/v25.0/{MEDIA}",
        headers=NO_AUTH,
        query={"fields": "media_type,media_product_type", "access_token": TOKEN},
    ),
    reply=Reply(body={"media_type": "IMAGE", "media_product_type": "FEED", "id": MEDIA}),
)


def _metric(name: str, value: int) -> dict[str, object]:
    return {
        "name": name,
        "period": "lifetime",
        "values": [{"value": value}],
        "title": name.capitalize(),
        "description": f"The {name} of the media.",
        "id": f"{MEDIA}/insights/{name}/lifetime",
    }


INSIGHTS = Exchange(
    name="read the media's insights",
    source=INSIGHTS_REF,
    expect=Expect(
        "GET",
        f"/v25.0/{MEDIA}/insights",
        headers=NO_AUTH,
        query={
            "metric": "views,reach,saved,likes,comments,shares,total_interactions",
            "access_token": TOKEN,
        },
    ),
    reply=Reply(
        body={
            "data": [
                _metric("views", 1250),
                _metric("reach", 980),
                _metric("saved", 12),
                _metric("likes", 87),
                _metric("comments", 9),
                _metric("shares", 4),
                _metric("total_interactions", 112),
            ]
        }
    ),
)


def account() -> Credentials:
    return Credentials(access_token=TOKEN, external_id=IG_USER, username="bronzfonz")


def image() -> MediaItem:
    async def read(offset: int, length: int) -> bytes:
        raise AssertionError("Instagram pulls media from its URL")

    return MediaItem(MediaKind.IMAGE, "image/jpeg", 200_000, IMAGE_URL, read, 1080, 1080)


async def test_publishing_an_image_sends_what_the_reference_shows() -> None:
    with replay(CREATE_IMAGE_CONTAINER, CONTAINER_STATUS, MEDIA_PUBLISH, PERMALINK) as network:
        provider = InstagramProvider(network.config("instagram"))
        published = await provider.publish(account(), PublishRequest("#BronzFonz", [image()]))
    network.check()
    assert published == Published(
        external_id=MEDIA,
        permalink="https://www.instagram.com/p/BZtT0YBnX9a/",
        published_at=datetime(2017, 10, 10, 21, 17, 28, tzinfo=UTC),
    )


async def test_refreshing_a_token_sends_what_the_reference_shows() -> None:
    with replay(REFRESH) as network:
        grant = await InstagramProvider(network.config("instagram")).refresh(account())
    network.check()
    assert grant is not None
    assert (grant.access_token, grant.expires_in) == ("IGQVJ-refreshed", 5183944)


async def test_an_invalidated_session_in_the_reference_error_asks_for_reconnection() -> None:
    with replay(TOKEN_REFUSED) as network:
        provider = InstagramProvider(network.config("instagram"))
        with pytest.raises(ReauthRequired, match="A title: A message"):
            await provider.publish(account(), PublishRequest("#BronzFonz", [image()]))
    network.check()


async def test_reading_insights_sends_what_the_reference_shows() -> None:
    with replay(MEDIA_KIND, INSIGHTS) as network:
        numbers = await InstagramProvider(network.config("instagram")).metrics(account(), [MEDIA])
    network.check()
    assert numbers == {
        MEDIA: PostMetrics(
            impressions=1250, reach=980, likes=87, comments=9, shares=4, saves=12, video_views=None
        )
    }


def test_every_exchange_names_the_reference_page_it_comes_from() -> None:
    exchanges = [
        CREATE_IMAGE_CONTAINER, CONTAINER_STATUS, MEDIA_PUBLISH, PERMALINK, REFRESH,
        TOKEN_REFUSED, MEDIA_KIND, INSIGHTS,
    ]  # fmt: skip
    assert all(e.source.startswith("https://developers.facebook.com/docs/") for e in exchanges)
    assert all(e.expect.json is None and e.expect.form is None for e in exchanges)
