"""The TikTok adapter against the TikTok fake over real HTTP: connecting, every publishing
flow, reads, and each failure class from the fake's own refusals or injected faults."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.routing import Mount

from t21.core import clock
from t21.core.outside import Ambiguous, Permanent, ReauthRequired, Retryable
from t21.core.tls import tls_context
from t21.platforms.base import (
    Credentials,
    MediaItem,
    MediaKind,
    PlatformConfig,
    Provider,
    PublishRequest,
    TextCounting,
)
from t21.platforms.tiktok import TikTokOptions, TikTokProvider
from t21.platforms.tiktok.wire import MIB, chunk_plan, chunk_ranges
from t21.sandbox.tiktok import create_tiktok_app
from t21.sandbox.tiktok.posting import chunk_problem
from tests.platforms.harness import (
    REDIRECT_URI,
    FakeNetwork,
    MediaServer,
    connect,
    credentials,
    serve,
)
from tests.support import loopback

CREATOR = "t21.sandbox"


@pytest.fixture(scope="module")
def served() -> Iterator[FakeNetwork]:
    with serve(create_tiktok_app()) as network:
        yield network


@pytest.fixture
def tiktok(fake: FakeNetwork) -> TikTokProvider:
    return TikTokProvider(fake.config("tiktok"))


@pytest.fixture
async def account(tiktok: TikTokProvider) -> Credentials:
    [connection] = await connect(tiktok)
    return credentials(connection)


def configure(fake: FakeNetwork, **settings: Any) -> None:
    fake.control("POST", "/settings", settings)


def set_metrics(fake: FakeNetwork, video_id: str, **counts: int) -> None:
    fake.control("POST", "/metrics", {"video_id": video_id, **counts})


def page_status(url: str) -> int:
    return loopback.get(url, timeout=5).status_code


def tiktok_error(code: str, message: str) -> dict[str, Any]:
    """A body in TikTok's envelope, for injected faults."""
    return {"data": {}, "error": {"code": code, "message": message, "log_id": "202601010000AB"}}


def photo(media: MediaServer, *, content_type: str = "image/jpeg") -> MediaItem:
    if content_type == "image/png":
        return media.image()
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return media.item(MediaKind.IMAGE, jpeg + bytes(2048) + b"\xff\xd9", "image/jpeg")


def with_config(provider: TikTokProvider, **changes: Any) -> TikTokProvider:
    return TikTokProvider(dataclasses.replace(provider.config, **changes))


def init_requests(fake: FakeNetwork) -> list[dict[str, Any]]:
    return [r for r in fake.requests() if r["path"].endswith("/init/")]


# --- rules ---------------------------------------------------------------------------------


def test_limits_follow_tiktok_caption_media_and_video_rules() -> None:
    limits = TikTokProvider.limits
    assert (limits.max_text, limits.text_counting) == (2200, TextCounting.CHARACTERS)
    assert limits.requires_media
    assert not limits.mixed_media
    assert (limits.max_images, limits.max_videos) == (35, 1)
    assert limits.image is not None
    assert limits.video is not None
    assert limits.image.content_types == {"image/jpeg", "image/webp"}  # no PNG
    assert limits.image.max_size_bytes == 20 * MIB
    assert limits.video.content_types == {"video/mp4", "video/quicktime", "video/webm"}
    assert limits.video.max_size_bytes == 4 * 1024 * MIB
    assert (limits.video.min_duration_s, limits.video.max_duration_s) == (3, 600)
    assert not TikTokProvider.uses_pkce
    assert {"video.publish", "video.list", "user.info.basic"} <= set(TikTokProvider.scopes)


def test_options_default_to_upload_and_refuse_unknown_or_private_branded() -> None:
    options = TikTokOptions()
    # No privacy level: the most public one the account offers is used when posting.
    assert (options.privacy_level, options.source) == (None, "upload")
    assert not any((options.disable_comment, options.is_aigc, options.brand_content_toggle))
    with pytest.raises(ValidationError):
        TikTokOptions.model_validate({"reply_settings": "following"})
    with pytest.raises(ValidationError):
        TikTokOptions.model_validate({"privacy_level": "public"})
    with pytest.raises(ValidationError):
        TikTokOptions.model_validate({"brand_content_toggle": True, "privacy_level": "SELF_ONLY"})
    with pytest.raises(ValidationError):
        TikTokOptions.model_validate({"photo_title": "t" * 91})


@pytest.mark.parametrize(
    "size",
    [1, 5 * MIB - 1, 5 * MIB, 10 * MIB, 10 * MIB + 1, 20 * MIB - 1, 64 * MIB + 7, 4096 * MIB],
)
def test_chunk_plan_is_one_the_fake_accepts_and_covers_every_byte(size: int) -> None:
    chunk_size, count = chunk_plan(size)
    assert chunk_problem(size, chunk_size, count) is None
    ranges = chunk_ranges(size, chunk_size, count)
    assert (ranges[0][0], ranges[-1][1]) == (0, size - 1)
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(ranges))
    assert ranges[-1][1] - ranges[-1][0] + 1 <= 128 * MIB


def test_fake_refuses_chunk_plans_that_break_tiktok_rules() -> None:
    assert chunk_problem(3 * MIB, MIB, 3) is not None  # under 5 MB: one chunk
    assert chunk_problem(100 * MIB, 4 * MIB, 25) is not None  # chunks under 5 MB
    assert chunk_problem(200 * MIB, 70 * MIB, 2) is not None  # chunks over 64 MB
    assert chunk_problem(25 * MIB, 10 * MIB, 3) is not None  # count must be floor(size / chunk)


# --- connecting ------------------------------------------------------------------------------


def test_authorization_url_asks_every_scope_with_client_key_and_no_pkce(
    tiktok: TikTokProvider, fake: FakeNetwork
) -> None:
    url = tiktok.authorization_url(state="s1", redirect_uri=REDIRECT_URI, code_verifier=None)
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.url}/v2/auth/authorize/"
    assert query["client_key"] == "t21-sandbox"
    assert query["scope"].split(",") == list(TikTokProvider.scopes)
    assert (query["response_type"], query["state"]) == ("code", "s1")
    assert "code_challenge" not in query


async def test_connect_returns_open_id_profile_and_two_hour_rotating_grant(
    tiktok: TikTokProvider,
) -> None:
    provider: Provider = tiktok
    [connection] = await connect(provider)
    profile, grant = connection.profile, connection.grant
    assert profile.external_id == "-000t21SandboxCreatorOpenIdAbC"
    assert (profile.username, profile.display_name) == (CREATOR, "T21 Sandbox")
    assert profile.avatar_url
    assert page_status(profile.avatar_url) == 200
    assert grant.access_token.startswith("act.")
    assert grant.refresh_token
    assert (grant.expires_in, grant.refresh_expires_in) == (7200, 180 * 86400)
    assert grant.scopes == set(TikTokProvider.scopes)


async def test_connect_reports_day_long_tokens_when_tiktok_issues_them(
    tiktok: TikTokProvider, fake: FakeNetwork
) -> None:
    configure(fake, access_ttl_s=86400)
    [connection] = await connect(tiktok)
    assert connection.grant.expires_in == 86400


async def test_connect_refused_when_the_user_withholds_video_publish(
    tiktok: TikTokProvider, fake: FakeNetwork
) -> None:
    configure(fake, grant_scopes=["user.info.basic", "user.info.profile", "video.list"])
    with pytest.raises(ReauthRequired, match=r"video\.publish"):
        await connect(tiktok)


async def test_profile_reads_the_user_info(tiktok: TikTokProvider, account: Credentials) -> None:
    profile = await tiktok.profile(account)
    assert (profile.external_id, profile.username) == (account.external_id, CREATOR)


async def test_refresh_rotates_so_the_old_refresh_token_is_refused(
    tiktok: TikTokProvider, account: Credentials
) -> None:
    old_refresh_token = account.refresh_token
    assert old_refresh_token
    grant = await tiktok.refresh(account)
    assert grant is not None
    assert grant.expires_in == 7200
    assert grant.refresh_token not in (old_refresh_token, None)
    with pytest.raises(ReauthRequired) as refused:
        await tiktok.refresh(account)
    assert old_refresh_token not in str(refused.value)
    renewed = dataclasses.replace(
        account, access_token=grant.access_token, refresh_token=grant.refresh_token
    )
    assert (await tiktok.profile(renewed)).username == CREATOR
    again = await tiktok.refresh(renewed)
    assert again is not None
    assert again.refresh_token not in (grant.refresh_token, None)


async def test_revoke_ends_every_token_of_the_account_and_is_idempotent(
    tiktok: TikTokProvider, account: Credentials
) -> None:
    assert await tiktok.revoke(account) is True
    with pytest.raises(ReauthRequired):
        await tiktok.profile(account)
    with pytest.raises(ReauthRequired):
        await tiktok.refresh(account)
    assert await tiktok.revoke(account) is True


# --- publishing ------------------------------------------------------------------------------


async def test_text_only_post_is_refused_without_asking_tiktok(
    tiktok: TikTokProvider, fake: FakeNetwork, account: Credentials
) -> None:
    asked = len(fake.requests())
    with pytest.raises(Permanent, match="video or photos"):
        await tiktok.publish(account, PublishRequest(text="just words"))
    assert len(fake.requests()) == asked


async def test_single_photo_post_is_pulled_and_published_once(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    configure(fake, audited=True)
    image = photo(media)
    published = await tiktok.publish(account, PublishRequest(text="One photo", media=[image]))
    [post] = fake.published()
    assert published.external_id == post["post_id"]
    assert published.permalink == f"{fake.url}/@{CREATOR}/video/{post['post_id']}"
    assert page_status(published.permalink) == 200
    assert (post["kind"], post["description"], post["media"]) == ("photo", "One photo", [image.url])
    assert post["privacy_level"] == "PUBLIC_TO_EVERYONE"


async def test_photo_carousel_of_three_keeps_order_title_and_music(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    images = [photo(media) for _ in range(3)]
    options = {"photo_title": "Three", "auto_add_music": True, "privacy_level": "SELF_ONLY"}
    request = PublishRequest(text="A carousel", media=images, options=options)
    published = await tiktok.publish(account, request)
    [post] = fake.published()
    assert post["media"] == [image.url for image in images]
    assert (post["title"], post["description"], post["auto_add_music"]) == (
        "Three",
        "A carousel",
        True,
    )
    assert (published.external_id, post["privacy_level"]) == (post["post_id"], "SELF_ONLY")


async def test_video_file_upload_sends_two_ordered_chunks_and_publishes_once(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    video = media.video(size=20 * MIB + 123)
    options = {"disable_duet": True, "is_aigc": True, "video_cover_timestamp_ms": 1500}
    request = PublishRequest(text="A #video", media=[video], options=options)
    published = await tiktok.publish(account, request)
    [post] = fake.published()
    assert published.external_id == post["post_id"]
    assert (post["kind"], post["source"], post["chunks"]) == ("video", "FILE_UPLOAD", 2)
    assert (post["title"], post["disable_duet"], post["is_aigc"]) == ("A #video", True, True)
    assert post["video_cover_timestamp_ms"] == 1500
    assert [r["method"] for r in fake.requests() if r["path"] == "/video/"] == ["PUT", "PUT"]
    statuses = [r for r in fake.requests() if r["path"].endswith("/status/fetch/")]
    assert len(statuses) >= 3  # processing, processing, complete (+ moderation)


async def test_video_pulled_from_url_is_published_once(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    video = media.video()
    request = PublishRequest(text="Pulled", media=[video], options={"source": "url"})
    published = await tiktok.publish(account, request)
    [post] = fake.published()
    assert (post["source"], post["media"], post["title"]) == (
        "PULL_FROM_URL",
        [video.url],
        "Pulled",
    )
    assert published.permalink == f"{fake.url}/@{CREATOR}/video/{post['post_id']}"


async def test_creator_turned_off_comments_stay_off(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    configure(fake, comment_disabled=True)
    await tiktok.publish(account, PublishRequest(text="x", media=[photo(media)]))
    [post] = fake.published()
    assert post["disable_comment"] is True


async def test_post_still_in_moderation_is_reported_by_publish_id_without_permalink(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    configure(fake, moderation_polls=1000)
    published = await tiktok.publish(account, PublishRequest(text="x", media=[photo(media)]))
    [post] = fake.published()
    assert (published.external_id, published.permalink) == (post["publish_id"], None)
    assert await tiktok.metrics(account, [published.external_id]) == {published.external_id: None}


async def test_privacy_level_the_creator_lacks_is_refused_before_init(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    configure(fake, audited=True, privacy_level_options=["FOLLOWER_OF_CREATOR", "SELF_ONLY"])
    request = PublishRequest(
        text="x", media=[media.video()], options={"privacy_level": "PUBLIC_TO_EVERYONE"}
    )
    with pytest.raises(Permanent, match="FOLLOWER_OF_CREATOR, SELF_ONLY") as refused:
        await tiktok.publish(account, request)
    assert refused.value.code == "privacy_level_not_allowed"
    assert not init_requests(fake)
    assert not fake.published()


async def test_video_longer_than_the_creator_may_post_is_refused_before_init(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    configure(fake, max_video_post_duration_sec=60)
    request = PublishRequest(text="x", media=[media.video(seconds=61)])
    with pytest.raises(Permanent, match="60 s"):
        await tiktok.publish(account, request)
    assert not init_requests(fake)


async def test_png_photo_fails_tiktok_format_check_as_permanent(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    request = PublishRequest(text="x", media=[photo(media, content_type="image/png")])
    with pytest.raises(Permanent, match="file_format_check_failed"):
        await tiktok.publish(account, request)
    assert not fake.published()


async def test_video_url_tiktok_cannot_download_fails_as_permanent(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    video = dataclasses.replace(media.video(), url=f"{media.url}/media/missing.mp4")
    request = PublishRequest(text="x", media=[video], options={"source": "url"})
    with pytest.raises(Permanent, match="video_pull_failed"):
        await tiktok.publish(account, request)
    assert not fake.published()


async def test_invalid_options_are_permanent_before_any_request(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    request = PublishRequest(text="x", media=[photo(media)], options={"privacy": "SELF_ONLY"})
    asked = len(fake.requests())
    with pytest.raises(Permanent, match="Invalid TikTok options"):
        await tiktok.publish(account, request)
    assert len(fake.requests()) == asked


async def test_fake_mounted_under_a_prefix_serves_upload_urls_and_permalinks_there(
    media: MediaServer,
) -> None:
    sandbox = Starlette(routes=[Mount("/tiktok", app=create_tiktok_app())])
    with serve(sandbox) as root:
        base = f"{root.url}/tiktok"
        config = dataclasses.replace(
            root.config("tiktok"), auth_base=base, api_base=base, upload_base=base
        )
        provider = TikTokProvider(config)
        [connection] = await connect(provider)
        request = PublishRequest(text="Mounted", media=[media.video()])
        published = await provider.publish(credentials(connection), request)
        assert published.permalink == f"{base}/@{CREATOR}/video/{published.external_id}"
        assert page_status(published.permalink) == 200


# --- reading ---------------------------------------------------------------------------------


async def test_metrics_map_views_likes_comments_and_shares(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    published = await tiktok.publish(account, PublishRequest(text="x", media=[photo(media)]))
    counts = {"view_count": 120, "like_count": 9, "comment_count": 3, "share_count": 2}
    set_metrics(fake, published.external_id, **counts)
    metrics = (await tiktok.metrics(account, [published.external_id]))[published.external_id]
    assert metrics is not None
    assert (metrics.impressions, metrics.video_views) == (120, 120)
    assert (metrics.likes, metrics.comments, metrics.shares) == (9, 3, 2)
    assert (metrics.reach, metrics.saves, metrics.clicks) == (None, None, None)


async def test_metrics_are_none_for_posts_tiktok_has_no_data_for(
    tiktok: TikTokProvider, account: Credentials
) -> None:
    ids = ["7400000000000099999", "v_pub_url~v2-1.123"]
    assert await tiktok.metrics(account, ids) == dict.fromkeys(ids)


async def test_find_recent_lists_published_posts_newest_first_since_a_time(
    tiktok: TikTokProvider, media: MediaServer, account: Credentials
) -> None:
    since = clock.now()
    first = await tiktok.publish(account, PublishRequest(text="first", media=[photo(media)]))
    second = await tiktok.publish(account, PublishRequest(text="second", media=[photo(media)]))
    recent = await tiktok.find_recent(account, since=since)
    assert [post.external_id for post in recent] == [second.external_id, first.external_id]
    assert (recent[0].text, recent[0].permalink) == ("second", second.permalink)
    assert recent[0].created_at is not None
    assert await tiktok.find_recent(account, since=clock.now() + timedelta(minutes=1)) == []
    assert len(await tiktok.find_recent(account, since=since, limit=1)) == 1


# --- failures --------------------------------------------------------------------------------


async def test_init_rate_limit_is_retryable_after_the_minute_window(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    configure(fake, rate_limits={"init": 1})
    await tiktok.publish(account, PublishRequest(text="one", media=[photo(media)]))
    with pytest.raises(Retryable) as limited:
        await tiktok.publish(account, PublishRequest(text="two", media=[photo(media)]))
    assert (limited.value.code, limited.value.after) == ("rate_limit_exceeded", 60.0)
    assert len(fake.published()) == 1


async def test_retry_after_header_sets_after_when_tiktok_sends_one(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    body = tiktok_error("rate_limit_exceeded", "The API rate limit was exceeded.")
    fake.inject(status=429, body=body, headers={"retry-after": "7"}, path="/creator_info/")
    with pytest.raises(Retryable) as limited:
        await tiktok.publish(account, PublishRequest(text="x", media=[photo(media)]))
    assert limited.value.after == pytest.approx(7, abs=1)


async def test_throttled_status_polls_are_waited_out_until_the_post_completes(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    fake.inject(
        status=429,
        body=tiktok_error("rate_limit_exceeded", "Too many requests."),
        headers={"retry-after": "0"},
        path="/status/fetch/",
        count=2,
    )
    fake.inject(status=500, body=tiktok_error("internal_error", "Busy."), path="/status/fetch/")
    published = await tiktok.publish(account, PublishRequest(text="x", media=[photo(media)]))
    assert published.external_id == fake.published()[0]["post_id"]


async def test_server_error_on_a_chunk_upload_is_retryable_and_publishes_nothing(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    fake.inject(status=503, body="upstream unavailable", path="^/video/$", method="PUT")
    request = PublishRequest(text="x", media=[media.video(size=20 * MIB + 1)])
    with pytest.raises(Retryable):
        await tiktok.publish(account, request)
    assert not fake.published()


async def test_server_error_on_file_upload_init_is_retryable_as_nothing_can_post_yet(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    fake.inject(status=500, body=tiktok_error("internal_error", "Oops."), path="/video/init/")
    with pytest.raises(Retryable, match="internal_error"):
        await tiktok.publish(account, PublishRequest(text="x", media=[media.video()]))


async def test_server_error_on_a_pulled_video_init_is_ambiguous(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    fake.inject(status=500, body=tiktok_error("internal_error", "Oops."), path="/video/init/")
    request = PublishRequest(text="x", media=[media.video()], options={"source": "url"})
    with pytest.raises(Ambiguous, match="internal_error"):
        await tiktok.publish(account, request)


async def test_lost_answer_to_a_photo_init_is_ambiguous_and_find_recent_shows_the_post(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    since = clock.now()
    fake.inject(status=200, path="/content/init/", lose_response=True, delay_s=1.0)
    hasty = with_config(tiktok, timeout_s=0.4)
    with pytest.raises(Ambiguous):
        await hasty.publish(account, PublishRequest(text="lost", media=[photo(media)]))
    [post] = fake.published()
    [found] = await tiktok.find_recent(account, since=since)
    assert (found.external_id, found.text) == (post["post_id"], "lost")


async def test_lost_answer_to_the_last_chunk_is_ambiguous_and_find_recent_shows_the_post(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    since = clock.now()
    fake.inject(status=201, path="^/video/$", lose_response=True, delay_s=1.0)
    hasty = with_config(tiktok, timeout_s=0.4)
    with pytest.raises(Ambiguous):
        await hasty.publish(account, PublishRequest(text="sent", media=[media.video()]))
    [found] = await tiktok.find_recent(account, since=since)
    assert found.external_id == fake.published()[0]["post_id"]


async def test_processing_past_the_poll_timeout_is_ambiguous_not_retryable(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    configure(fake, processing_polls=10**6)
    impatient = with_config(tiktok, poll_timeout_s=0.1)
    with pytest.raises(Ambiguous, match="PROCESSING_DOWNLOAD"):
        await impatient.publish(account, PublishRequest(text="x", media=[photo(media)]))


async def test_expired_token_requires_reauth_without_leaking_it(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    fake.expire_tokens(account.access_token)
    with pytest.raises(ReauthRequired) as refused:
        await tiktok.publish(account, PublishRequest(text="x", media=[photo(media)]))
    assert refused.value.code == "access_token_invalid"
    assert account.access_token not in str(refused.value)


async def test_revoked_token_requires_reauth(
    tiktok: TikTokProvider, fake: FakeNetwork, account: Credentials
) -> None:
    fake.revoke_tokens()
    with pytest.raises(ReauthRequired):
        await tiktok.metrics(account, ["7400000000000000001"])
    with pytest.raises(ReauthRequired):
        await tiktok.find_recent(account, since=clock.now())


async def test_missing_scope_on_a_call_requires_reauth(
    tiktok: TikTokProvider, fake: FakeNetwork, account: Credentials
) -> None:
    fake.inject(
        status=401,
        body=tiktok_error("scope_not_authorized", "The user did not authorize video.list."),
        path="/video/query/",
    )
    with pytest.raises(ReauthRequired, match="scope_not_authorized"):
        await tiktok.metrics(account, ["7400000000000000001"])


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        ({"daily_post_cap": 0}, "spam_risk_too_many_posts"),
        # Should TikTok list every level to an unaudited app, its init refuses instead.
        (
            {"audited": False, "unaudited_lists_self_only": False},
            "unaudited_client_can_only_post_to_private_accounts",
        ),
        ({"verified_url_prefixes": ["https://cdn.example.com/"]}, "url_ownership_unverified"),
    ],
)
async def test_policy_refusals_are_permanent_with_tiktok_message(
    tiktok: TikTokProvider,
    fake: FakeNetwork,
    media: MediaServer,
    account: Credentials,
    settings: dict[str, Any],
    code: str,
) -> None:
    configure(fake, **settings)
    with pytest.raises(Permanent) as refused:
        await tiktok.publish(account, PublishRequest(text="x", media=[photo(media)]))
    assert refused.value.code == code
    assert "TikTok refused the photo post" in refused.value.message
    assert not fake.published()


async def test_app_wide_active_user_cap_is_permanent_not_a_reconnect(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    message = "The daily quota for active publishing users from your client is reached."
    body = tiktok_error("reached_active_user_cap", message)
    fake.inject(status=403, body=body, path="/content/init/")
    with pytest.raises(Permanent, match="daily quota"):
        await tiktok.publish(account, PublishRequest(text="x", media=[photo(media)]))


async def test_caption_over_2200_characters_is_refused_by_tiktok_as_permanent(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    request = PublishRequest(text="é" * 2201, media=[media.video()])
    with pytest.raises(Permanent, match="invalid_params") as refused:
        await tiktok.publish(account, request)
    assert "2200" in refused.value.message
    assert not fake.published()


async def test_more_than_35_photos_are_refused_by_tiktok_as_permanent(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    image = photo(media)
    request = PublishRequest(text="x", media=[image] * 36)
    with pytest.raises(Permanent, match="35"):
        await tiktok.publish(account, request)
    assert not fake.published()


# --- apps TikTok hasn't audited --------------------------------------------------------------


async def test_connecting_keeps_the_privacy_levels_the_account_may_use(
    tiktok: TikTokProvider, fake: FakeNetwork
) -> None:
    [unaudited] = await connect(tiktok)
    assert unaudited.capabilities == {"privacy_level_options": ["SELF_ONLY"]}
    configure(fake, audited=True)
    [audited] = await connect(tiktok)
    assert audited.capabilities == {
        "privacy_level_options": [
            "PUBLIC_TO_EVERYONE",
            "FOLLOWER_OF_CREATOR",
            "MUTUAL_FOLLOW_FRIENDS",
            "SELF_ONLY",
        ]
    }


async def test_an_unaudited_app_posts_privately_when_no_level_is_asked_for(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    published = await tiktok.publish(account, PublishRequest(text="Mine", media=[media.video()]))
    [post] = fake.published()
    assert post["post_id"] == published.external_id
    assert post["privacy_level"] == "SELF_ONLY"


async def test_an_unaudited_app_asking_for_a_public_post_is_refused_before_init(
    tiktok: TikTokProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    request = PublishRequest(
        text="x", media=[media.video()], options={"privacy_level": "PUBLIC_TO_EVERYONE"}
    )
    with pytest.raises(Permanent, match="hasn't audited") as refused:
        await tiktok.publish(account, request)
    assert refused.value.code == "privacy_level_not_allowed"
    assert not init_requests(fake)


def test_the_rule_refuses_a_level_the_account_was_not_offered_without_asking_tiktok() -> None:
    rules = TikTokProvider(replace_config())
    only_private = {"privacy_level_options": ["SELF_ONLY"]}
    video = MediaItem(MediaKind.VIDEO, "video/mp4", 1000, "https://cdn.example/v.mp4", _no_read)
    public = {"privacy_level": "PUBLIC_TO_EVERYONE"}
    with pytest.raises(Permanent, match="SELF_ONLY") as refused:
        rules.check(PublishRequest("x", [video], public, capabilities=only_private))
    assert refused.value.code == "privacy_level_not_allowed"
    branded = {"brand_content_toggle": True}
    with pytest.raises(Permanent, match="Branded content"):
        rules.check(PublishRequest("x", [video], branded, capabilities=only_private))
    # Unknown capabilities (an account connected before T21 read them) are not a refusal.
    rules.check(PublishRequest("x", [video], public))
    rules.check(PublishRequest("x", [video], {}, capabilities=only_private))


async def _no_read(offset: int, length: int) -> bytes:
    return b""


def replace_config() -> PlatformConfig:
    return PlatformConfig(name="tiktok", client_id="", client_secret="", auth_base="", api_base="")


async def test_the_fake_refuses_a_body_that_is_not_json_as_tiktok_requires_json(
    fake: FakeNetwork, account: Credentials
) -> None:
    async with httpx.AsyncClient(verify=tls_context()) as http:
        answer = await http.post(
            f"{fake.url}/v2/post/publish/status/fetch/",
            data={"publish_id": "v_pub_url~v2.1"},
            headers={"Authorization": f"Bearer {account.access_token}"},
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_params"
    assert "application/json" in answer.json()["error"]["message"]
