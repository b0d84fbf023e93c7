"""Threads' reference examples (graph.threads.net) replayed against the adapter: it must send
what each example shows — parameters and `access_token` in the query, no JSON body, no
Authorization header — and read what each answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from t21.core.outside import ReauthRequired, Retryable
from t21.platforms.base import (
    Credentials,
    MediaItem,
    MediaKind,
    PostMetrics,
    Published,
    PublishRequest,
)
from t21.platforms.threads import ThreadsProvider
from tests.platforms.conformance.harness import ABSENT, ANY, Exchange, Expect, Reply, replay

POSTS_REF = "https://developers.facebook.com/docs/threads/posts"
TROUBLESHOOTING_REF = "https://developers.facebook.com/docs/threads/troubleshooting"
OVERVIEW_REF = "https://developers.facebook.com/docs/threads/overview"
TOKENS_REF = "https://developers.facebook.com/docs/threads/get-started/long-lived-tokens"
MEDIA_REF = "https://developers.facebook.com/docs/threads/reference/media-retrieval"
INSIGHTS_REF = "https://developers.facebook.com/docs/threads/insights"
ERRORS_REF = "https://developers.facebook.com/docs/graph-api/guides/error-handling"

USER = "1234567890"
CONTAINER = "17889615691921648"
MEDIA = "1234567"
IMAGE_URL = "https://www.example.com/images/bronz-fonz.jpg"
TOKEN = "THAA-long-lived"
NO_AUTH = {"Authorization": ABSENT}

PUBLISHING_LIMIT = Exchange(
    name="read the account's publishing quota",
    source=OVERVIEW_REF,
    expect=Expect(
        "GET",
        f"/v1.0/{USER}/threads_publishing_limit",
        headers=NO_AUTH,
        query={"fields": "quota_usage,config", "access_token": TOKEN},
    ),
    reply=Reply(
        body={"data": [{"quota_usage": 4, "config": {"quota_total": 250, "quota_duration": 86400}}]}
    ),
)
EXHAUSTED_LIMIT = Exchange(
    name="a quota used up",
    source=OVERVIEW_REF,
    expect=PUBLISHING_LIMIT.expect,
    reply=Reply(
        body={
            "data": [{"quota_usage": 250, "config": {"quota_total": 250, "quota_duration": 86400}}]
        }
    ),
)
OLDEST_IN_WINDOW = Exchange(
    name="the posts of the window, for when the oldest leaves it",
    source="https://developers.facebook.com/docs/threads/reference/user",
    expect=Expect(
        "GET",
        f"/v1.0/{USER}/threads",
        headers=NO_AUTH,
        query={"fields": "timestamp", "since": ANY, "limit": "100", "access_token": TOKEN},
    ),
    reply=Reply(body={"data": []}),
)
CREATE_IMAGE_CONTAINER = Exchange(
    name="create an image container",
    source=POSTS_REF,
    expect=Expect(
        "POST",
        f"/v1.0/{USER}/threads",
        headers=NO_AUTH,
        query={
            "media_type": "IMAGE",
            "image_url": IMAGE_URL,
            "text": "#BronzFonz",
            "access_token": TOKEN,
        },
    ),
    reply=Reply(body={"id": CONTAINER}),
)
CONTAINER_STATUS = Exchange(
    name="read the container's status",
    source=TROUBLESHOOTING_REF,
    expect=Expect(
        "GET",
        f"/v1.0/{CONTAINER}",
        headers=NO_AUTH,
        query={"fields": "status,error_message", "access_token": TOKEN},
    ),
    reply=Reply(body={"status": "FINISHED", "id": CONTAINER}),
)
THREADS_PUBLISH = Exchange(
    name="publish the container",
    source=POSTS_REF,
    expect=Expect(
        "POST",
        f"/v1.0/{USER}/threads_publish",
        headers=NO_AUTH,
        query={"creation_id": CONTAINER, "access_token": TOKEN},
    ),
    reply=Reply(body={"id": MEDIA}),
)
PERMALINK = Exchange(
    name="read the new post's permalink",
    source=MEDIA_REF,
    expect=Expect(
        "GET",
        f"/v1.0/{MEDIA}",
        headers=NO_AUTH,
        query={"fields": "permalink,timestamp", "access_token": TOKEN},
    ),
    reply=Reply(
        body={
            "permalink": "https://www.threads.net/@threadsapitestuser/post/C7vHx0ZJQf4",
            "timestamp": "2024-06-10T17:50:42+0000",
            "id": MEDIA,
        }
    ),
)
REFRESH = Exchange(
    name="refresh a long-lived token",
    source=TOKENS_REF,
    expect=Expect(
        "GET",
        "/refresh_access_token",
        headers=NO_AUTH,
        query={"grant_type": "th_refresh_token", "access_token": TOKEN},
    ),
    reply=Reply(
        body={"access_token": "THAA-refreshed", "token_type": "bearer", "expires_in": 5183944}
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


def _metric(name: str, value: int) -> dict[str, object]:
    return {
        "name": name,
        "period": "lifetime",
        "values": [{"value": value}],
        "title": name.capitalize(),
        "description": f"The number of {name} of your post.",
        "id": f"{MEDIA}/insights/{name}/lifetime",
    }


INSIGHTS = Exchange(
    name="read the post's insights",
    source=INSIGHTS_REF,
    expect=Expect(
        "GET",
        f"/v1.0/{MEDIA}/insights",
        headers=NO_AUTH,
        query={"metric": "views,likes,replies,reposts,quotes,shares", "access_token": TOKEN},
    ),
    reply=Reply(
        body={
            "data": [
                _metric("views", 4523),
                _metric("likes", 187),
                _metric("replies", 42),
                _metric("reposts", 23),
                _metric("quotes", 8),
                _metric("shares", 5),
            ]
        }
    ),
)
ALL = (
    PUBLISHING_LIMIT, EXHAUSTED_LIMIT, OLDEST_IN_WINDOW, CREATE_IMAGE_CONTAINER, CONTAINER_STATUS,
    THREADS_PUBLISH, PERMALINK, REFRESH, TOKEN_REFUSED, INSIGHTS,
)  # fmt: skip


def account() -> Credentials:
    return Credentials(access_token=TOKEN, external_id=USER, username="threadsapitestuser")


def image() -> MediaItem:
    async def read(offset: int, length: int) -> bytes:
        raise AssertionError("Threads pulls media from its URL")

    return MediaItem(MediaKind.IMAGE, "image/jpeg", 200_000, IMAGE_URL, read, 1080, 1080)


async def test_publishing_an_image_sends_what_the_reference_shows() -> None:
    with replay(
        PUBLISHING_LIMIT, CREATE_IMAGE_CONTAINER, CONTAINER_STATUS, THREADS_PUBLISH, PERMALINK
    ) as network:
        provider = ThreadsProvider(network.config("threads"))
        published = await provider.publish(account(), PublishRequest("#BronzFonz", [image()]))
    network.check()
    assert published == Published(
        external_id=MEDIA,
        permalink="https://www.threads.net/@threadsapitestuser/post/C7vHx0ZJQf4",
        published_at=datetime(2024, 6, 10, 17, 50, 42, tzinfo=UTC),
    )


async def test_a_used_up_quota_is_retried_and_builds_nothing() -> None:
    with replay(EXHAUSTED_LIMIT, OLDEST_IN_WINDOW) as network:
        provider = ThreadsProvider(network.config("threads"))
        with pytest.raises(Retryable) as limited:
            await provider.publish(account(), PublishRequest("#BronzFonz", [image()]))
    network.check()
    assert limited.value.code == "publishing_limit"
    assert limited.value.after == 3600.0  # no post seen in the window: ask again in an hour


async def test_refreshing_a_token_sends_what_the_reference_shows() -> None:
    with replay(REFRESH) as network:
        grant = await ThreadsProvider(network.config("threads")).refresh(account())
    network.check()
    assert grant is not None
    assert (grant.access_token, grant.expires_in) == ("THAA-refreshed", 5183944)


async def test_an_invalidated_session_in_the_reference_error_asks_for_reconnection() -> None:
    with replay(PUBLISHING_LIMIT, TOKEN_REFUSED) as network:
        provider = ThreadsProvider(network.config("threads"))
        with pytest.raises(ReauthRequired, match="A message"):
            await provider.publish(account(), PublishRequest("#BronzFonz", [image()]))
    network.check()


async def test_reading_insights_sends_what_the_reference_shows() -> None:
    with replay(INSIGHTS) as network:
        numbers = await ThreadsProvider(network.config("threads")).metrics(account(), [MEDIA])
    network.check()
    assert numbers == {
        MEDIA: PostMetrics(impressions=4523, likes=187, comments=42, shares=23 + 8 + 5)
    }


def test_every_exchange_names_the_reference_page_it_comes_from() -> None:
    assert all(e.source.startswith("https://developers.facebook.com/docs/") for e in ALL)
    assert all(e.expect.json is None and e.expect.form is None for e in ALL)
