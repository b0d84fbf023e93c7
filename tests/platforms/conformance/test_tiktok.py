"""TikTok's reference examples (Content Posting API, Login Kit, Display API) replayed against
the adapter: the request each example shows, with `Authorization: Bearer` and JSON bodies on the
API, a form on the token endpoint; and the answer read as TikTok documents it."""

from __future__ import annotations

import pytest

from t21.core.outside import ReauthRequired
from t21.platforms.base import Credentials, MediaItem, MediaKind, PostMetrics, PublishRequest
from t21.platforms.tiktok import TikTokProvider
from tests.platforms.conformance.harness import Exchange, Expect, Reply, replay

CREATOR_INFO_REF = (
    "https://developers.tiktok.com/doc/content-posting-api-reference-query-creator-info"
)
DIRECT_POST_REF = "https://developers.tiktok.com/doc/content-posting-api-reference-direct-post"
STATUS_REF = "https://developers.tiktok.com/doc/content-posting-api-reference-get-video-status"
TOKEN_REF = "https://developers.tiktok.com/doc/oauth-user-access-token-management"
ERRORS_REF = "https://developers.tiktok.com/doc/tiktok-api-v2-error-handling"
QUERY_REF = "https://developers.tiktok.com/doc/tiktok-api-v2-video-query"

TOKEN = "act.example12345Example12345Example"
BEARER = {"Authorization": f"Bearer {TOKEN}", "Content-Type": r"application/json; charset=UTF-8"}
LOG_ID = "202210112248442CB9319E1FB30C1073F3"
OK = {"code": "ok", "message": "", "log_id": LOG_ID}
PUBLISH_ID = "v_pub_url~v2.123456789"
VIDEO_URL = "https://example.verified.domain.com/example_video.mp4"
POST_ID = "7290123456789012345"

CREATOR_INFO = Exchange(
    name="query the creator's info",
    source=CREATOR_INFO_REF,
    expect=Expect("POST", "/v2/post/publish/creator_info/query/", headers=BEARER),
    reply=Reply(
        body={
            "data": {
                "creator_avatar_url": "https://lf16-tt4d.tiktokcdn.com/obj/tiktok-open-platform/8d5740ac3844be417beeacd0df75aef1",
                "creator_username": "tiktok",
                "creator_nickname": "TikTok Official",
                "privacy_level_options": [
                    "PUBLIC_TO_EVERYONE",
                    "MUTUAL_FOLLOW_FRIENDS",
                    "SELF_ONLY",
                ],
                "comment_disabled": False,
                "duet_disabled": False,
                "stitch_disabled": True,
                "max_video_post_duration_sec": 300,
            },
            "error": OK,
        }
    ),
)
VIDEO_INIT = Exchange(
    name="post a video pulled from a verified URL",
    source=DIRECT_POST_REF,
    expect=Expect(
        "POST",
        "/v2/post/publish/video/init/",
        headers=BEARER,
        json={
            "post_info": {
                "title": "this will be a funny #cat video on your @tiktok #fyp",
                "privacy_level": "MUTUAL_FOLLOW_FRIENDS",
                "disable_duet": False,
                "disable_comment": True,
                # The creator_info example has stitching off: what the creator turned off
                # stays off (content-sharing guidelines), so T21 sends true here.
                "disable_stitch": True,
                "video_cover_timestamp_ms": 1000,
            },
            "source_info": {"source": "PULL_FROM_URL", "video_url": VIDEO_URL},
        },
    ),
    reply=Reply(body={"data": {"publish_id": PUBLISH_ID}, "error": OK}),
)
STILL_DOWNLOADING = Exchange(
    name="the post's status while TikTok downloads the video",
    source=STATUS_REF,
    expect=Expect(
        "POST", "/v2/post/publish/status/fetch/", headers=BEARER, json={"publish_id": PUBLISH_ID}
    ),
    reply=Reply(
        body={"data": {"status": "PROCESSING_DOWNLOAD", "downloaded_bytes": 10000}, "error": OK}
    ),
)
COMPLETE = Exchange(
    name="the post's status once published",
    source=STATUS_REF,
    expect=STILL_DOWNLOADING.expect,
    reply=Reply(
        body={
            "data": {
                "status": "PUBLISH_COMPLETE",
                "publicaly_available_post_id": [int(POST_ID)],
                "downloaded_bytes": 3_000_000,
            },
            "error": OK,
        }
    ),
)
REFRESH = Exchange(
    name="refresh an access token",
    source=TOKEN_REF,
    expect=Expect(
        "POST",
        "/v2/oauth/token/",
        form={
            "client_key": "APP_ID",
            "client_secret": "APP_SECRET",
            "grant_type": "refresh_token",
            "refresh_token": "rft.example12345Example12345Example",
        },
    ),
    reply=Reply(
        body={
            "access_token": "act.example12345Example12345Example",
            "expires_in": 86400,
            "open_id": "afd97af1-b87b-48b9-ac98-410aghda5344",
            "refresh_expires_in": 31536000,
            "refresh_token": "rft.example12345Example12345Example",
            "scope": "user.info.basic,video.list",
            "token_type": "Bearer",
        }
    ),
)
INVALID_TOKEN = Exchange(
    name="an invalid access token",
    source=ERRORS_REF,
    expect=CREATOR_INFO.expect,
    reply=Reply(
        status=401,
        body={
            "error": {
                "code": "access_token_invalid",
                "message": "The access token is invalid or not found in the request.",
                "log_id": "20230309091745C5C8C64BBB82AF02A5E7",
            }
        },
    ),
)
VIDEO_QUERY = Exchange(
    name="query videos' counts",
    source=QUERY_REF,
    expect=Expect(
        "POST",
        "/v2/video/query/",
        query={"fields": "id,like_count,comment_count,share_count,view_count"},
        headers=BEARER,
        json={"filters": {"video_ids": [POST_ID]}},
    ),
    reply=Reply(
        body={
            "data": {
                "videos": [
                    {
                        "id": POST_ID,
                        "like_count": 12,
                        "comment_count": 3,
                        "share_count": 1,
                        "view_count": 250,
                    }
                ],
                "cursor": 0,
                "has_more": False,
            },
            "error": OK,
        }
    ),
)


def account() -> Credentials:
    return Credentials(
        access_token=TOKEN,
        external_id="afd97af1-b87b-48b9-ac98-410aghda5344",
        username="tiktok",
        refresh_token="rft.example12345Example12345Example",
    )


def video() -> MediaItem:
    async def read(offset: int, length: int) -> bytes:
        raise AssertionError("a pulled video is never uploaded")

    return MediaItem(MediaKind.VIDEO, "video/mp4", 3_000_000, VIDEO_URL, read, 1080, 1920, 30.0)


async def test_a_direct_post_pulled_from_a_url_sends_what_the_reference_shows() -> None:
    options = {
        "privacy_level": "MUTUAL_FOLLOW_FRIENDS",
        "disable_comment": True,
        "video_cover_timestamp_ms": 1000,
        "source": "url",
    }
    request = PublishRequest(
        "this will be a funny #cat video on your @tiktok #fyp", [video()], options
    )
    with replay(CREATOR_INFO, VIDEO_INIT, STILL_DOWNLOADING, COMPLETE) as network:
        published = await TikTokProvider(network.config("tiktok")).publish(account(), request)
    network.check()
    assert published.external_id == POST_ID
    assert published.permalink == f"{network.url}/@tiktok/video/{POST_ID}"


async def test_refreshing_a_token_sends_what_the_reference_shows() -> None:
    with replay(REFRESH) as network:
        grant = await TikTokProvider(network.config("tiktok")).refresh(account())
    network.check()
    assert grant is not None
    assert (grant.access_token, grant.refresh_token) == (
        TOKEN,
        "rft.example12345Example12345Example",
    )
    assert (grant.expires_in, grant.refresh_expires_in) == (86400, 31536000)
    assert grant.scopes == {"user.info.basic", "video.list"}


async def test_the_reference_invalid_token_error_asks_for_reconnection() -> None:
    with replay(INVALID_TOKEN) as network:
        provider = TikTokProvider(network.config("tiktok"))
        with pytest.raises(ReauthRequired, match="access_token_invalid"):
            await provider.publish(account(), PublishRequest("x", [video()], {"source": "url"}))
    network.check()


async def test_querying_counts_sends_what_the_reference_shows() -> None:
    with replay(VIDEO_QUERY) as network:
        numbers = await TikTokProvider(network.config("tiktok")).metrics(account(), [POST_ID])
    network.check()
    assert numbers == {
        POST_ID: PostMetrics(impressions=250, video_views=250, likes=12, comments=3, shares=1)
    }


def test_every_exchange_names_the_reference_page_it_comes_from() -> None:
    exchanges = [CREATOR_INFO, VIDEO_INIT, STILL_DOWNLOADING, COMPLETE, REFRESH, INVALID_TOKEN,
                 VIDEO_QUERY]  # fmt: skip
    assert all(e.source.startswith("https://developers.tiktok.com/doc/") for e in exchanges)
