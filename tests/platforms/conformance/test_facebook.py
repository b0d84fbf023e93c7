"""Facebook's reference examples (Pages API, Facebook Login, Video Insights) replayed against
the adapter: what each example shows T21 sending — JSON bodies on publishing calls as the Pages
API examples write them, the documented query parameters elsewhere — and the answers read as
documented. One deliberate difference, checked as such: T21 sends the Page or user token as
`Authorization: Bearer` (which Graph takes as well as the `access_token` parameter the examples
show), so a token never sits in a URL."""

from __future__ import annotations

import pytest

from t21.core.outside import ReauthRequired
from t21.platforms.base import Credentials, MediaItem, MediaKind, PostMetrics, PublishRequest
from t21.platforms.facebook import FacebookProvider
from tests.platforms.conformance.harness import Exchange, Expect, OneOf, Reply, replay

POSTS_REF = "https://developers.facebook.com/docs/pages-api/posts"
LONG_LIVED_REF = (
    "https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived"
)
LOGIN_REF = "https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow"
PERMISSIONS_REF = "https://developers.facebook.com/docs/graph-api/reference/user/permissions/"
ERRORS_REF = "https://developers.facebook.com/docs/graph-api/guides/error-handling"
VIDEO_INSIGHTS_REF = "https://developers.facebook.com/docs/video-api/guides/insights"
VIDEO_REF = "https://developers.facebook.com/docs/graph-api/reference/video/"

PAGE_ID = "page_id"
PAGE_TOKEN = "page_access_token"
USER_TOKEN = "long_lived_user_token"
BEARER = {"Authorization": f"Bearer {PAGE_TOKEN}"}
TRUE, FALSE = OneOf(("true", True)), OneOf(("false", False))
# The feed POST also asks for the new post's permalink (`fields`, postiz facebook.provider.ts).
FEED_EXTRA = frozenset({"fields"})
REDIRECT = "https://t21.example/api/v1/social-accounts/callback/facebook"

FEED_POST = Exchange(
    name="publish a Page post",
    source=POSTS_REF,
    expect=Expect(
        "POST",
        f"/v25.0/{PAGE_ID}/feed",
        json={"message": "your_message_text", "published": TRUE},
        headers=BEARER,
        extra=FEED_EXTRA,
    ),
    reply=Reply(body={"id": "page_post_id"}),
)
UNPUBLISHED_PHOTO = [
    Exchange(
        name=f"upload photo {n} unpublished",
        source=POSTS_REF,
        expect=Expect(
            "POST",
            f"/v25.0/{PAGE_ID}/photos",
            json={"url": f"https://www.example.com/photo{n}.jpg", "published": FALSE},
            headers=BEARER,
        ),
        reply=Reply(body={"id": photo_id}),
    )
    for n, photo_id in ((1, "1002088839996"), (2, "1002088840149"))
]
MULTI_PHOTO_POST = Exchange(
    name="publish the photos as one post",
    source=POSTS_REF,
    expect=Expect(
        "POST",
        f"/v25.0/{PAGE_ID}/feed",
        json={
            "message": "Testing multi-photo post!",
            "attached_media": [{"media_fbid": "1002088839996"}, {"media_fbid": "1002088840149"}],
            "published": TRUE,
        },
        headers=BEARER,
        extra=FEED_EXTRA,
    ),
    reply=Reply(body={"id": "page_post_id"}),
)
CODE_FOR_TOKEN = Exchange(
    name="exchange the login code for a user token",
    source=LOGIN_REF,
    expect=Expect(
        "GET",
        "/v25.0/oauth/access_token",
        query={
            "client_id": "APP_ID",
            "redirect_uri": REDIRECT,
            "client_secret": "APP_SECRET",
            "code": "code-parameter",
        },
    ),
    reply=Reply(
        body={"access_token": "short_user_token", "token_type": "bearer", "expires_in": 5183944}
    ),
)
LONG_LIVED = Exchange(
    name="exchange it for a long-lived user token",
    source=LONG_LIVED_REF,
    expect=Expect(
        "GET",
        "/v25.0/oauth/access_token",
        query={
            "grant_type": "fb_exchange_token",
            "client_id": "APP_ID",
            "client_secret": "APP_SECRET",
            "fb_exchange_token": "short_user_token",
        },
    ),
    reply=Reply(body={"access_token": USER_TOKEN, "token_type": "bearer", "expires_in": 5183944}),
)
PERMISSIONS = Exchange(
    name="read the permissions the person granted",
    source=PERMISSIONS_REF,
    expect=Expect(
        "GET", "/v25.0/me/permissions", headers={"Authorization": f"Bearer {USER_TOKEN}"}
    ),
    reply=Reply(
        body={
            "data": [
                {"permission": "pages_show_list", "status": "granted"},
                {"permission": "pages_manage_posts", "status": "granted"},
                {"permission": "pages_read_engagement", "status": "granted"},
                {"permission": "read_insights", "status": "declined"},
            ]
        }
    ),
)
PAGE_TOKENS = Exchange(
    name="read the Pages and their Page tokens",
    source=LONG_LIVED_REF,
    expect=Expect(
        "GET",
        "/v25.0/me/accounts",
        query={"fields": "id,name,access_token,picture", "limit": "100"},
        headers={"Authorization": f"Bearer {USER_TOKEN}"},
    ),
    reply=Reply(
        body={
            "data": [
                {
                    "access_token": PAGE_TOKEN,
                    "name": "Cute Kitten Page",
                    "id": PAGE_ID,
                    "picture": {"data": {"url": "https://www.example.com/kitten.png"}},
                }
            ]
        }
    ),
)
TOKEN_REFUSED = Exchange(
    name="a post refused for an invalidated session",
    source=ERRORS_REF,
    expect=FEED_POST.expect,
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
VIDEO_INSIGHTS = Exchange(
    name="read a video's views",
    source=VIDEO_INSIGHTS_REF,
    expect=Expect(
        "GET",
        "/v25.0/323790578640877/video_insights",
        query={"metric": "total_video_views"},
        headers=BEARER,
    ),
    reply=Reply(
        body={
            "data": [
                {
                    "name": "total_video_views",
                    "period": "lifetime",
                    "values": [{"value": 89}],
                    "title": "Lifetime Total Video Views",
                    "description": "Lifetime: Total number of times your video was viewed for "
                    "3 seconds or viewed to the end, whichever came first. (Total Count)",
                    "id": "323790578640877/video_insights/total_video_views/lifetime",
                }
            ]
        }
    ),
)
VIDEO_COUNTERS = Exchange(
    name="read a video's likes and comments",
    source=VIDEO_REF,
    expect=Expect(
        "GET",
        "/v25.0/323790578640877",
        query={"fields": "likes.summary(true).limit(0),comments.summary(true).limit(0)"},
        headers=BEARER,
    ),
    reply=Reply(
        body={
            "likes": {
                "data": [],
                "summary": {"total_count": 5, "can_like": True, "has_liked": False},
            },
            "comments": {
                "data": [],
                "summary": {"order": "ranked", "total_count": 2, "can_comment": True},
            },
            "id": "323790578640877",
        }
    ),
)


def page() -> Credentials:
    return Credentials(access_token=PAGE_TOKEN, external_id=PAGE_ID, username="Cute Kitten Page")


def photo(n: int) -> MediaItem:
    async def read(offset: int, length: int) -> bytes:
        raise AssertionError("Facebook pulls photos from their URL")

    url = f"https://www.example.com/photo{n}.jpg"
    return MediaItem(MediaKind.IMAGE, "image/jpeg", 100_000, url, read, 1080, 1080)


async def test_a_page_post_sends_what_the_reference_shows() -> None:
    with replay(FEED_POST) as network:
        provider = FacebookProvider(network.config("facebook"))
        published = await provider.publish(page(), PublishRequest("your_message_text"))
    network.check()
    assert published.external_id == "page_post_id"
    assert published.permalink == f"{network.url}/page_post_id"


async def test_a_multi_photo_post_sends_what_the_reference_shows() -> None:
    with replay(*UNPUBLISHED_PHOTO, MULTI_PHOTO_POST) as network:
        provider = FacebookProvider(network.config("facebook"))
        request = PublishRequest("Testing multi-photo post!", [photo(1), photo(2)])
        published = await provider.publish(page(), request)
    network.check()
    assert published.external_id == "page_post_id"


async def test_connecting_exchanges_tokens_as_the_reference_shows() -> None:
    with replay(CODE_FOR_TOKEN, LONG_LIVED, PERMISSIONS, PAGE_TOKENS) as network:
        provider = FacebookProvider(network.config("facebook"))
        [connection] = await provider.exchange_code(
            code="code-parameter", redirect_uri=REDIRECT, code_verifier=None
        )
    network.check()
    assert connection.profile.external_id == PAGE_ID
    assert connection.profile.display_name == "Cute Kitten Page"
    assert connection.grant.access_token == PAGE_TOKEN
    assert "read_insights" not in connection.grant.scopes


async def test_an_invalidated_session_in_the_reference_error_asks_for_reconnection() -> None:
    with replay(TOKEN_REFUSED) as network:
        provider = FacebookProvider(network.config("facebook"))
        with pytest.raises(ReauthRequired):
            await provider.publish(page(), PublishRequest("your_message_text"))
    network.check()


async def test_reading_a_videos_numbers_sends_what_the_reference_shows() -> None:
    with replay(VIDEO_INSIGHTS, VIDEO_COUNTERS) as network:
        numbers = await FacebookProvider(network.config("facebook")).metrics(
            page(), ["323790578640877"]
        )
    network.check()
    assert numbers == {"323790578640877": PostMetrics(video_views=89, likes=5, comments=2)}
