"""The X adapter against the X fake over real HTTP: connecting, every publishing flow, reading
back, tokens, and every failure class from X's own error answers."""

from __future__ import annotations

import hashlib
import string
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from t21.core.outside import Ambiguous, Permanent, ReauthRequired, Retryable
from t21.core.tls import tls_context
from t21.platforms.base import (
    Credentials,
    MediaItem,
    MediaKind,
    PostMetrics,
    Provider,
    PublishRequest,
    TextCounting,
)
from t21.platforms.text import text_length, x_weighted_length
from t21.platforms.twitter import TwitterOptions, TwitterProvider
from t21.sandbox.twitter import create_twitter_app
from t21.sandbox.twitter.counting import weighted_length
from tests.platforms.harness import (
    REDIRECT_URI,
    FakeNetwork,
    MediaServer,
    authorize,
    connect,
    credentials,
    serve,
)

MB = 1024 * 1024
USER_ID = "1588913423452921857"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[FakeNetwork]:
    with serve(create_twitter_app()) as fake:
        yield fake


@pytest.fixture
def x(fake: FakeNetwork) -> TwitterProvider:
    return TwitterProvider(fake.config("twitter"))


@pytest.fixture
async def account(x: TwitterProvider) -> Credentials:
    [connection] = await connect(x)
    return credentials(connection)


def settings(fake: FakeNetwork, **values: Any) -> None:
    fake.control("POST", "/settings", values)


def sha256_of(item: MediaItem, server: MediaServer) -> str:
    name = item.url.rsplit("/", 1)[-1]
    return hashlib.sha256(server.files[name][0]).hexdigest()


def paths(fake: FakeNetwork, method: str, prefix: str) -> list[str]:
    seen = fake.requests()
    return [r["path"] for r in seen if r["method"] == method and r["path"].startswith(prefix)]


async def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request straight to the fake, as a browser or X's other clients would send it."""
    async with httpx.AsyncClient(verify=tls_context()) as http:
        return await http.request(method, url, **kwargs)


def gif(server: MediaServer, size: int = 4096) -> MediaItem:
    data = b"GIF89a" + b"\x00" * (size - 6)
    return server.item(MediaKind.IMAGE, data, "image/gif", width=64, height=64)


# --- the declared surface ----------------------------------------------------------------------


def test_provider_satisfies_the_protocol_with_x_limits_from_platforms_md() -> None:
    provider: Provider = TwitterProvider(FakeNetwork("http://127.0.0.1:9").config("twitter"))
    limits = provider.limits
    assert (provider.name, provider.uses_pkce) == ("twitter", True)
    assert set(provider.scopes) == {
        "tweet.read", "tweet.write", "users.read", "offline.access", "media.write",
    }  # fmt: skip
    assert (limits.max_text, limits.text_counting) == (280, TextCounting.X_WEIGHTED)
    assert (limits.max_images, limits.max_videos, limits.min_multi_images) == (4, 1, 1)
    assert not limits.requires_media
    assert not limits.mixed_media
    assert limits.image is not None
    assert limits.video is not None
    assert limits.image.content_types == {"image/jpeg", "image/png", "image/gif", "image/webp"}
    assert limits.image.max_size_bytes == 5 * MB
    assert limits.video.content_types == {"video/mp4", "video/quicktime"}
    assert limits.video.max_size_bytes == 512 * MB
    assert (limits.video.min_duration_s, limits.video.max_duration_s) == (0.5, 140)
    assert limits.video.min_aspect == pytest.approx(1 / 3)
    assert limits.video.max_aspect == pytest.approx(3.0)


def test_options_take_reply_settings_a_reply_target_and_a_quote_and_refuse_anything_else() -> None:
    assert TwitterOptions().model_dump() == {
        "reply_settings": None, "reply_to_post_id": None, "quote_post_id": None,
    }  # fmt: skip
    chosen = TwitterOptions(
        reply_settings="mentionedUsers", reply_to_post_id="1", quote_post_id="2"
    )
    assert chosen.reply_settings == "mentionedUsers"
    for bad in (
        {"reply_settings": "everyone"},
        {"reply_to_post_id": "not-an-id"},
        {"quote_post_id": "12345678901234567890"},  # 20 digits
        {"visibility": "PUBLIC"},
    ):
        with pytest.raises(ValidationError):
            TwitterOptions.model_validate(bad)


# --- connecting --------------------------------------------------------------------------------


def test_authorization_url_asks_for_every_scope_with_an_s256_pkce_challenge(
    x: TwitterProvider, fake: FakeNetwork
) -> None:
    url = x.authorization_url(state="s1", redirect_uri=REDIRECT_URI, code_verifier="v" * 43)
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.url}/i/oauth2/authorize"
    assert query["scope"].split() == list(TwitterProvider.scopes)
    assert (query["response_type"], query["state"]) == ("code", "s1")
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == "7w_YNF9DSfIdPf_pRjSq646_kPr-2-o9NAl16JGghdM"
    with pytest.raises(ValueError, match="PKCE"):
        x.authorization_url(state="s1", redirect_uri=REDIRECT_URI, code_verifier=None)


async def test_connect_gives_the_profile_and_a_two_hour_token_with_a_refresh_token(
    x: TwitterProvider,
) -> None:
    [connection] = await connect(x)
    profile, grant = connection.profile, connection.grant
    assert (profile.external_id, profile.username) == (USER_ID, "t21sandbox")
    assert profile.display_name == "T21 Sandbox"
    assert profile.avatar_url
    assert profile.avatar_url.startswith("https://pbs.twimg.com/")
    assert grant.expires_in == 7200
    assert grant.refresh_token
    assert grant.scopes == set(TwitterProvider.scopes)


async def test_x_refuses_authorization_without_pkce_and_a_code_redeemed_twice(
    x: TwitterProvider, fake: FakeNetwork
) -> None:
    no_pkce = await call(
        "GET",
        f"{fake.url}/i/oauth2/authorize",
        params={"response_type": "code", "client_id": "t21-sandbox", "state": "s",
                "redirect_uri": REDIRECT_URI, "scope": "tweet.read"},
    )  # fmt: skip
    location = parse_qs(urlsplit(no_pkce.headers["location"]).query)
    assert no_pkce.status_code == 302
    assert location["error"] == ["invalid_request"]
    code, verifier = await authorize(x)
    await x.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier)
    with pytest.raises(Permanent) as caught:
        await x.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier)
    assert caught.value.message == "X: Value passed for the authorization code was invalid."


async def test_refresh_rotates_the_refresh_token_and_the_old_one_is_refused_afterwards(
    x: TwitterProvider, account: Credentials
) -> None:
    grant = await x.refresh(account)
    assert grant is not None
    assert grant.expires_in == 7200
    assert grant.refresh_token
    assert grant.refresh_token != account.refresh_token
    assert grant.access_token != account.access_token
    with pytest.raises(ReauthRequired) as caught:
        await x.refresh(account)  # the old refresh token was single use
    assert caught.value.code == "refresh_refused"
    assert account.refresh_token is not None
    assert account.refresh_token not in caught.value.message
    renewed = replace(account, access_token=grant.access_token, refresh_token=grant.refresh_token)
    assert (await x.profile(renewed)).external_id == USER_ID
    assert await x.refresh(renewed) is not None
    assert await x.refresh(replace(account, refresh_token=None)) is None


async def test_revoke_revokes_both_tokens_at_x(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    assert await x.revoke(account) is True
    assert [token["usable"] for token in fake.tokens()] == [False, False]
    with pytest.raises(ReauthRequired):
        await x.profile(account)
    with pytest.raises(ReauthRequired):
        await x.refresh(account)


async def test_profile_reads_the_account_from_users_me(
    x: TwitterProvider, account: Credentials
) -> None:
    profile = await x.profile(account)
    assert (profile.external_id, profile.username, profile.display_name) == (
        USER_ID, "t21sandbox", "T21 Sandbox",
    )  # fmt: skip


# --- publishing --------------------------------------------------------------------------------


async def test_publish_text_with_reply_settings_posts_once_with_its_permalink(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    text = "Launch day 🚀 details at https://example.com/launch"
    request = PublishRequest(text=text, options={"reply_settings": "following"})
    published = await x.publish(account, request)
    [post] = fake.published()
    assert (post["id"], post["text"], post["media"]) == (published.external_id, text, [])
    assert post["reply_settings"] == "following"
    assert len(published.external_id) == 19
    assert published.permalink == f"{fake.url}/t21sandbox/status/{published.external_id}"
    page = await call("GET", published.permalink)
    assert page.status_code == 200
    assert "Launch day" in page.text


async def test_publish_a_thread_reply_and_a_quote_of_earlier_posts(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    first = await x.publish(account, PublishRequest(text="1/ A thread"))
    second = await x.publish(
        account,
        PublishRequest(text="2/ continued", options={"reply_to_post_id": first.external_id}),
    )
    await x.publish(
        account, PublishRequest(text="Worth a read", options={"quote_post_id": second.external_id})
    )
    posts = fake.published()
    assert [(p["reply_to"], p["quote_of"]) for p in posts] == [
        (None, None), (first.external_id, None), (None, second.external_id),
    ]  # fmt: skip


async def test_replying_to_a_post_that_does_not_exist_is_permanent_in_xs_words(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    with pytest.raises(Permanent) as caught:
        await x.publish(account, PublishRequest(text="Hello?", options={"reply_to_post_id": "42"}))
    assert "deleted or not visible to you" in caught.value.message
    assert fake.published() == []


async def test_publish_single_image_uploads_finalizes_and_sets_alt_text(
    x: TwitterProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    image = replace(media.image(40, 30), alt_text="A grey square")
    await x.publish(account, PublishRequest(text="One view", media=[image]))
    [post] = fake.published()
    [uploaded] = post["media"]
    assert (uploaded["type"], uploaded["media_type"]) == ("photo", "image/png")
    assert uploaded["sha256"] == sha256_of(image, media)
    assert uploaded["alt_text"] == "A grey square"
    assert uploaded["media_key"].startswith("3_")
    assert paths(fake, "GET", "/2/media/upload") == []  # images need no processing


async def test_alt_text_of_a_video_is_left_out_and_the_video_is_posted(
    x: TwitterProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    video = replace(media.video(4096), alt_text="A cat jumps")
    published = await x.publish(account, PublishRequest(text="Jump", media=[video]))
    [post] = fake.published()
    assert post["id"] == published.external_id
    assert post["media"][0]["alt_text"] is None
    assert paths(fake, "POST", "/2/media/metadata") == []


async def test_x_refuses_alt_text_on_a_video_but_takes_it_on_a_gif(
    x: TwitterProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    animated = replace(gif(media), alt_text="A loop")
    await x.publish(account, PublishRequest(text="Loop", media=[animated]))
    [post] = fake.published()
    assert post["media"][0]["alt_text"] == "A loop"
    headers = {"Authorization": f"Bearer {account.access_token}"}
    started = await call(
        "POST",
        f"{fake.url}/2/media/upload/initialize",
        json={"media_type": "video/mp4", "total_bytes": 4096, "media_category": "tweet_video"},
        headers=headers,
    )
    media_id = started.json()["data"]["id"]
    refused = await call(
        "POST",
        f"{fake.url}/2/media/metadata",
        json={"id": media_id, "metadata": {"alt_text": {"text": "A cat jumps"}}},
        headers=headers,
    )
    assert refused.status_code == 400
    assert "only for images and GIFs" in refused.json()["errors"][0]["message"]


async def test_publish_four_images_keeps_their_order(
    x: TwitterProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    images = [media.image(10 + n, 10) for n in range(4)]
    await x.publish(account, PublishRequest(text="Album", media=images))
    [post] = fake.published()
    assert [m["sha256"] for m in post["media"]] == [sha256_of(i, media) for i in images]


async def test_five_images_are_refused_by_x_as_permanent(
    x: TwitterProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    with pytest.raises(Permanent) as caught:
        await x.publish(account, PublishRequest(text="Too many", media=[media.image(8, 8)] * 5))
    assert "size must be between 1 and 4" in caught.value.message
    assert fake.published() == []


async def test_publish_video_appends_every_chunk_then_polls_status_until_succeeded(
    x: TwitterProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    video = media.video(size=8 * MB + 123)
    published = await x.publish(account, PublishRequest(text="Watch", media=[video]))
    [post] = fake.published()
    [uploaded] = post["media"]
    assert post["id"] == published.external_id
    assert (uploaded["type"], uploaded["size"], uploaded["segments"]) == ("video", video.size, 3)
    assert uploaded["sha256"] == sha256_of(video, media)
    assert len(paths(fake, "POST", "/2/media/upload/")) == 5  # initialize, 3 appends, finalize
    assert len(paths(fake, "GET", "/2/media/upload")) == 3  # in_progress twice, then succeeded


async def test_publish_an_animated_gif_alone_is_processed_like_a_video(
    x: TwitterProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    await x.publish(account, PublishRequest(text="Loop", media=[gif(media)]))
    [post] = fake.published()
    assert [m["type"] for m in post["media"]] == ["animated_gif"]
    assert len(paths(fake, "GET", "/2/media/upload")) == 3


async def test_images_with_a_video_or_gif_are_refused_before_anything_is_sent(
    x: TwitterProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    before = len(fake.requests())
    for mixed in ([media.image(10, 10), media.video(4096)], [media.image(9, 9), gif(media)]):
        with pytest.raises(Permanent) as caught:
            await x.publish(account, PublishRequest(text="Mixed", media=mixed))
        assert caught.value.code == "media_mix"
    assert len(fake.requests()) == before


async def test_a_video_x_cannot_process_is_permanent_with_its_reason(
    x: TwitterProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    not_mp4 = media.item(MediaKind.VIDEO, b"\x00" * 4096, "video/mp4")
    with pytest.raises(Permanent) as caught:
        await x.publish(account, PublishRequest(text="Broken", media=[not_mp4]))
    assert caught.value.code == "media_failed"
    assert "Invalid or Unsupported media" in caught.value.message
    assert fake.published() == []


async def test_a_video_still_processing_at_the_poll_timeout_is_retryable(
    fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    settings(fake, processing_polls=10_000)
    impatient = TwitterProvider(replace(fake.config("twitter"), poll_timeout_s=0.05))
    with pytest.raises(Retryable) as caught:
        await impatient.publish(account, PublishRequest(text="Slow", media=[media.video(4096)]))
    assert caught.value.code == "processing"
    assert fake.published() == []


async def test_text_over_280_weighted_characters_is_refused_by_x_and_280_is_accepted(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    too_long = "界" * 141  # CJK weighs 2: 282
    assert len(too_long) < 280 < x_weighted_length(too_long)
    with pytest.raises(Permanent) as caught:
        await x.publish(account, PublishRequest(text=too_long))
    assert caught.value.code == "invalid_request"
    assert "Your Tweet text is too long" in caught.value.message
    assert fake.published() == []
    at_limit = "👍" * 139 + "ok"  # emoji weigh 2: 280
    assert x_weighted_length(at_limit) == 280
    await x.publish(account, PublishRequest(text=at_limit))
    assert [p["text"] for p in fake.published()] == [at_limit]


@pytest.mark.parametrize(
    ("text", "weighted"),
    [
        ("https://example.com/" + "a" * 300, 23),
        ("http://a.co", 23),
        ("see example.com.", 4 + 23 + 1),
        ("(https://t21.app/p?x=1), ok", 1 + 23 + 5),
        ("two: https://a.io https://b.io", 5 + 23 + 1 + 23),
        ("file.txt v1.2.3 a@b.c", 21),
    ],
)
def test_every_url_counts_23_whatever_its_length(text: str, weighted: int) -> None:
    assert x_weighted_length(text) == weighted


@given(path=st.text(alphabet=string.ascii_letters + string.digits + "-_/=%&", max_size=400))
def test_a_url_with_any_path_counts_23(path: str) -> None:
    # X ends a path on a letter, digit or one of =_#/+-: a trailing % or & is the sentence's.
    text = f"read https://example.com/{path} now"
    tail = len(path) - len(path.rstrip("%&"))
    assert x_weighted_length(text) == 5 + 23 + tail + 4 == weighted_length(text)


async def test_a_long_link_counts_23_so_x_accepts_text_longer_than_280_characters(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    link = "https://example.com/articles/" + "a" * 200
    fits = "b" * 256 + " " + link  # 256 + 1 + 23 = 280
    assert len(fits) > 280
    assert x_weighted_length(fits) == 280
    assert text_length(fits, x.limits.text_counting) == 280 == x.limits.max_text
    await x.publish(account, PublishRequest(text=fits))
    assert [p["text"] for p in fake.published()] == [fits]
    with pytest.raises(Permanent):
        await x.publish(account, PublishRequest(text="c" + fits))
    assert len(fake.published()) == 1


async def test_the_same_text_twice_is_a_permanent_duplicate(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    await x.publish(account, PublishRequest(text="Only once"))
    with pytest.raises(Permanent) as caught:
        await x.publish(account, PublishRequest(text="Only once"))
    assert caught.value.code == "duplicate"
    assert caught.value.message == (
        "X: You are not allowed to create a Tweet with duplicate content."
    )
    assert len(fake.published()) == 1


async def test_invalid_options_are_permanent_before_anything_is_sent(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    before = len(fake.requests())
    with pytest.raises(Permanent) as caught:
        await x.publish(account, PublishRequest(text="Hi", options={"reply_settings": "all"}))
    assert caught.value.code == "invalid_options"
    assert len(fake.requests()) == before


# --- reading back ------------------------------------------------------------------------------


async def test_find_recent_lists_the_accounts_posts_since_newest_first(
    x: TwitterProvider, account: Credentials
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    older = await x.publish(account, PublishRequest(text="First"))
    newer = await x.publish(account, PublishRequest(text="Second"))
    recent = await x.find_recent(account, since=since)
    assert [(p.external_id, p.text) for p in recent] == [
        (newer.external_id, "Second"), (older.external_id, "First"),
    ]  # fmt: skip
    assert recent[0].permalink == newer.permalink
    assert recent[0].created_at is not None
    assert [p.external_id for p in await x.find_recent(account, since=since, limit=1)] == [
        newer.external_id
    ]
    assert await x.find_recent(account, since=datetime.now(UTC) + timedelta(hours=1)) == []


async def test_metrics_map_public_and_non_public_numbers_and_video_views_to_t21_names(
    x: TwitterProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    post = await x.publish(account, PublishRequest(text="Counted https://example.com"))
    video = await x.publish(account, PublishRequest(text="Clip", media=[media.video(4096)]))
    numbers = {"impression_count": 1200, "like_count": 40, "reply_count": 5, "retweet_count": 7,
               "quote_count": 2, "bookmark_count": 9, "url_link_clicks": 31}  # fmt: skip
    fake.control("POST", "/metrics", {"id": post.external_id, **numbers})
    fake.control("POST", "/metrics", {"id": video.external_id, "view_count": 345})
    metrics = await x.metrics(account, [post.external_id, video.external_id])
    assert metrics[post.external_id] == PostMetrics(
        impressions=1200, likes=40, comments=5, shares=9, saves=9, clicks=31
    )
    assert metrics[video.external_id] == PostMetrics(
        impressions=0, likes=0, comments=0, shares=0, saves=0, clicks=0, video_views=345
    )
    public, private = [
        parse_qs(r["query"])
        for r in fake.requests()
        if (r["method"], r["path"]) == ("GET", "/2/tweets")
    ]
    assert "non_public_metrics" not in public["tweet.fields"][0]
    assert public["expansions"] == ["attachments.media_keys"]
    assert private["tweet.fields"] == ["non_public_metrics"]
    assert set(private["ids"][0].split(",")) == {post.external_id, video.external_id}


async def test_metrics_are_none_for_a_post_x_has_no_data_for_and_clicks_none_after_30_days(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    old = await x.publish(account, PublishRequest(text="Last month"))
    counts = {"like_count": 3, "impression_count": 50, "url_link_clicks": 4}
    fake.control("POST", "/metrics", {"id": old.external_id, **counts})
    fake.control("POST", "/age", {"id": old.external_id, "days": 31})
    gone = await x.publish(account, PublishRequest(text="Deleted soon"))
    deleted = await call(
        "DELETE",
        f"{fake.url}/2/tweets/{gone.external_id}",
        headers={"Authorization": f"Bearer {account.access_token}"},
    )
    assert deleted.json() == {"data": {"deleted": True}}
    unknown = "1999999999999999999"
    metrics = await x.metrics(account, [old.external_id, gone.external_id, unknown])
    assert metrics[old.external_id] == PostMetrics(
        impressions=50, likes=3, comments=0, shares=0, saves=0, clicks=None
    )
    assert metrics[gone.external_id] is None
    assert metrics[unknown] is None
    lookups = [r for r in fake.requests() if (r["method"], r["path"]) == ("GET", "/2/tweets")]
    assert len(lookups) == 1  # no post young enough to ask X for its non-public numbers


async def test_x_leaves_out_a_post_whose_non_public_metrics_it_refuses(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    old = await x.publish(account, PublishRequest(text="Two months ago"))
    young = await x.publish(account, PublishRequest(text="Yesterday"))
    fake.control("POST", "/age", {"id": old.external_id, "days": 60})
    answer = await call(
        "GET",
        f"{fake.url}/2/tweets",
        params={
            "ids": f"{old.external_id},{young.external_id}",
            "tweet.fields": "public_metrics,non_public_metrics",
        },
        headers={"Authorization": f"Bearer {account.access_token}"},
    )
    body = answer.json()
    assert answer.status_code == 200
    assert [item["id"] for item in body["data"]] == [young.external_id]
    [refused] = body["errors"]
    assert (refused["resource_id"], refused["field"]) == (old.external_id, "non_public_metrics")
    assert refused["title"] == "Field Authorization Error"


async def test_metrics_of_a_mix_of_old_and_young_posts_give_every_post_its_public_numbers(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    old = await x.publish(account, PublishRequest(text="Old news"))
    young = await x.publish(account, PublishRequest(text="Fresh news"))
    for post, likes in ((old, 7), (young, 2)):
        numbers = {"id": post.external_id, "like_count": likes, "url_link_clicks": likes * 10}
        fake.control("POST", "/metrics", numbers)
    fake.control("POST", "/age", {"id": old.external_id, "days": 45})
    metrics = await x.metrics(account, [old.external_id, young.external_id])
    old_numbers, young_numbers = metrics[old.external_id], metrics[young.external_id]
    assert old_numbers is not None
    assert young_numbers is not None
    assert (old_numbers.likes, old_numbers.clicks) == (7, None)
    assert (young_numbers.likes, young_numbers.clicks) == (2, 20)
    private = [
        parse_qs(r["query"])
        for r in fake.requests()
        if (r["method"], r["path"]) == ("GET", "/2/tweets") and "non_public_metrics" in r["query"]
    ]
    assert [query["ids"] for query in private] == [[young.external_id]]


# --- failures ----------------------------------------------------------------------------------


async def test_a_spent_15_minute_window_is_retryable_until_its_reset(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    settings(fake, limits={"tweets:create": 1})
    await x.publish(account, PublishRequest(text="The window's only post"))
    with pytest.raises(Retryable) as caught:
        await x.publish(account, PublishRequest(text="One too many"))
    assert caught.value.after == pytest.approx(15 * 60, abs=5)
    assert caught.value.message == "X: Rate limit exceeded"
    assert len(fake.published()) == 1


async def test_a_spent_app_24_hour_post_limit_is_retryable_until_the_apps_reset(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    settings(fake, limits={"app:tweets": 1})
    await x.publish(account, PublishRequest(text="The app's only post today"))
    with pytest.raises(Retryable) as caught:
        await x.publish(account, PublishRequest(text="One too many today"))
    assert caught.value.after == pytest.approx(24 * 3600, abs=5)
    assert len(fake.published()) == 1


async def test_an_injected_429_is_retryable_after_the_x_rate_limit_reset_header(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    reset = int(time.time()) + 42
    fake.inject(
        status=429,
        body={"errors": [{"code": 88, "message": "Rate limit exceeded"}]},
        headers={"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0",
                 "x-rate-limit-reset": str(reset)},
        method="POST", path="^/2/tweets$",
    )  # fmt: skip
    with pytest.raises(Retryable) as caught:
        await x.publish(account, PublishRequest(text="Throttled"))
    assert caught.value.after == pytest.approx(42, abs=2)
    assert fake.published() == []


async def test_a_usage_capped_app_is_permanent_not_a_window(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    settings(fake, usage_capped=True)
    with pytest.raises(Permanent) as caught:
        await x.publish(account, PublishRequest(text="Over the cap"))
    assert caught.value.code == "usage_capped"
    assert "Usage cap exceeded" in caught.value.message
    assert fake.published() == []


async def test_a_server_error_on_a_media_append_is_retryable_and_nothing_is_published(
    x: TwitterProvider, fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    fake.inject(status=503, body={"title": "Service Unavailable", "type": "about:blank",
                                  "status": 503, "detail": "Service Unavailable"},
                method="POST", path="/append$")  # fmt: skip
    with pytest.raises(Retryable) as caught:
        await x.publish(account, PublishRequest(text="Pic", media=[media.image(9, 9)]))
    assert caught.value.code == "server_error"
    assert paths(fake, "POST", "/2/tweets") == []
    assert fake.published() == []


async def test_a_server_error_on_the_post_request_is_ambiguous(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    fake.inject(status=500, body={"title": "Internal Server Error", "type": "about:blank",
                                  "status": 500, "detail": "Internal Server Error"},
                method="POST", path="^/2/tweets$")  # fmt: skip
    with pytest.raises(Ambiguous) as caught:
        await x.publish(account, PublishRequest(text="Did it?"))
    assert caught.value.message == "X: Internal Server Error"


async def test_a_lost_answer_to_the_post_is_ambiguous_and_find_recent_finds_the_post(
    fake: FakeNetwork, x: TwitterProvider, account: Credentials
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    hasty = TwitterProvider(fake.config("twitter", timeout_s=0.3))
    fake.inject(status=201, method="POST", path="^/2/tweets$", lose_response=True, delay_s=1.0)
    with pytest.raises(Ambiguous):
        await hasty.publish(account, PublishRequest(text="Lost in transit"))
    [post] = fake.published()
    recent = await x.find_recent(account, since=since)
    assert [(p.external_id, p.text) for p in recent] == [(post["id"], "Lost in transit")]


@pytest.mark.parametrize("act", ["expire", "revoke"])
async def test_an_expired_or_revoked_token_requires_reauth(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials, act: str
) -> None:
    (fake.expire_tokens if act == "expire" else fake.revoke_tokens)(account.access_token)
    with pytest.raises(ReauthRequired) as caught:
        await x.publish(account, PublishRequest(text="Locked out"))
    assert (caught.value.code, caught.value.message) == ("unauthorized", "X: Unauthorized")
    assert fake.published() == []


async def test_a_token_without_the_media_scope_requires_reauth(
    fake: FakeNetwork, media: MediaServer
) -> None:
    class TextOnly(TwitterProvider):
        scopes: ClassVar[tuple[str, ...]] = ("tweet.read", "tweet.write", "users.read")

    narrow = TextOnly(fake.config("twitter"))
    [connection] = await connect(narrow)
    assert connection.grant.refresh_token is None  # no offline.access
    with pytest.raises(ReauthRequired) as caught:
        await narrow.publish(
            credentials(connection), PublishRequest(text="Pic", media=[media.image(9, 9)])
        )
    assert caught.value.code == "missing_scope"
    assert "media.write" in caught.value.message


async def test_every_api_answer_carries_xs_rate_limit_headers(
    fake: FakeNetwork, account: Credentials
) -> None:
    auth = {"Authorization": f"Bearer {account.access_token}"}
    me = await call("GET", f"{fake.url}/2/users/me", headers=auth)
    bad = await call("POST", f"{fake.url}/2/tweets", headers=auth, json={"text": ""})
    assert (me.status_code, bad.status_code) == (200, 400)
    # Connecting read /2/users/me once already: 75 per 15 minutes, 2 spent.
    assert (me.headers["x-rate-limit-limit"], me.headers["x-rate-limit-remaining"]) == ("75", "73")
    assert bad.headers["x-rate-limit-limit"] == "100"
    assert "x-app-limit-24hour-remaining" in bad.headers
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["type"] == "https://api.x.com/2/problems/invalid-request"
    assert int(me.headers["x-rate-limit-reset"]) == pytest.approx(time.time() + 900, abs=5)


async def test_the_fake_answers_the_analytics_endpoint_for_the_accounts_posts(
    x: TwitterProvider, fake: FakeNetwork, account: Credentials
) -> None:
    post = await x.publish(account, PublishRequest(text="Analysed"))
    numbers = {"id": post.external_id, "like_count": 4, "url_link_clicks": 2}
    fake.control("POST", "/metrics", numbers)
    window = {"start_time": "2026-01-01T00:00:00Z", "end_time": "2027-01-01T00:00:00Z"}
    answer = await call(
        "GET",
        f"{fake.url}/2/tweets/analytics",
        headers={"Authorization": f"Bearer {account.access_token}"},
        params={"ids": post.external_id, "granularity": "total",
                "analytics.fields": "likes,url_clicks", **window},
    )  # fmt: skip
    bucket = {"timestamp": "2026-01-01T00:00:00Z", "metrics": {"likes": 4, "url_clicks": 2}}
    assert answer.json() == {"data": [{"id": post.external_id, "timestamped_metrics": [bucket]}]}
