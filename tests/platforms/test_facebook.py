"""The Facebook Pages adapter against the Graph API fake, over real HTTP: connecting one Page
per connection, every publishing flow, reading back, and each failure class from the fake's
own refusals or injected Graph error envelopes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from t21.core import clock
from t21.core.outside import Ambiguous, OutsideFailure, Permanent, ReauthRequired, Retryable
from t21.core.tls import tls_context
from t21.platforms.base import (
    Credentials,
    MediaKind,
    PostMetrics,
    PublishRequest,
    ReplyTo,
    TextCounting,
)
from t21.platforms.facebook import LIMITS, FacebookOptions, FacebookProvider
from t21.platforms.facebook.graph import DEFAULT_THROTTLE_S
from t21.sandbox.facebook import FacebookState, create_facebook_app
from tests.platforms.harness import (
    FakeNetwork,
    MediaServer,
    connect,
    credentials,
    serve,
)
from tests.support import loopback

SMALL_VIDEO = 64 * 1024


@pytest.fixture(scope="module")
def state() -> FacebookState:
    """The fake's world, read directly where `/_control` has no view of it."""
    return FacebookState()


@pytest.fixture(scope="module")
def fake(state: FacebookState) -> Iterator[FakeNetwork]:
    with serve(create_facebook_app(state)) as network:
        yield network


@pytest.fixture(autouse=True)
def _fresh_fake(fake: FakeNetwork) -> None:
    control(fake, "POST", "/reset")


@pytest.fixture
def provider(fake: FakeNetwork) -> FacebookProvider:
    return FacebookProvider(fake.config("facebook"))


def control(fake: FakeNetwork, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = loopback.request(method, f"{fake.url}/_control{path}", json=body, timeout=10)
    assert response.status_code < 300, response.text
    return response.json()


async def page(provider: FacebookProvider, index: int = 0) -> Credentials:
    """The credentials of one of the sandbox user's Pages (0: 1,200 fans, 1: 40 fans)."""
    return credentials((await connect(provider))[index])


def graph_error(code: int, message: str, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error | {"fbtrace_id": "AbCdEf123"}}


def requested(fake: FakeNetwork, method: str, suffix: str) -> list[dict[str, Any]]:
    return [r for r in fake.requests() if r["method"] == method and r["path"].endswith(suffix)]


# --- limits and options --------------------------------------------------------------------


def test_limits_are_platforms_md_values_and_t21s_photo_cap() -> None:
    assert LIMITS.max_text == 63_206
    assert LIMITS.text_counting is TextCounting.CHARACTERS
    assert not LIMITS.requires_media
    assert (LIMITS.max_images, LIMITS.max_videos, LIMITS.mixed_media) == (10, 1, False)
    assert LIMITS.image is not None
    assert LIMITS.video is not None
    assert LIMITS.image.content_types == {"image/jpeg", "image/png"}
    assert LIMITS.image.max_size_bytes < 4_000_000
    assert LIMITS.video.content_types == {"video/mp4", "video/quicktime"}


def test_options_default_to_a_post_and_refuse_unknown_fields_and_bad_links() -> None:
    assert FacebookOptions().model_dump() == {"kind": "post", "link": None, "first_comment": None}
    chosen = FacebookOptions(kind="reel", first_comment="First!")
    assert (chosen.kind, chosen.first_comment) == ("reel", "First!")
    for bad in (
        {"published": False},  # always published now: scheduling is T21's
        {"kind": "story"},
        {"link": "ftp://example.com/file"},
        {"link": "not a url"},
        {"first_comment": ""},
    ):
        with pytest.raises(ValidationError):
            FacebookOptions.model_validate(bad)


# --- connecting ----------------------------------------------------------------------------


async def test_authorization_url_asks_facebook_login_for_page_scopes_without_pkce(
    provider: FacebookProvider, fake: FakeNetwork
) -> None:
    url = httpx.URL(
        provider.authorization_url(state="s", redirect_uri="https://t21/cb", code_verifier=None)
    )
    assert url.path == "/v25.0/dialog/oauth"
    assert url.params["scope"].split(",") == list(FacebookProvider.scopes)
    assert "code_challenge" not in url.params
    assert not FacebookProvider.uses_pkce


async def test_connect_gives_one_connection_per_page_with_a_page_token_that_never_expires(
    provider: FacebookProvider, fake: FakeNetwork, state: FacebookState
) -> None:
    connections = await connect(provider)

    assert [c.profile.display_name for c in connections] == ["Sandbox Bakery", "Sandbox Studio"]
    bakery = connections[0]
    assert bakery.profile.external_id == "101950000000001"
    assert bakery.profile.username == "Sandbox Bakery"
    assert (bakery.profile.avatar_url or "").endswith(".png")
    assert (bakery.grant.expires_in, bakery.grant.refresh_token) == (None, None)
    assert {"pages_manage_posts", "read_insights"} <= bakery.grant.scopes
    # (`fake.tokens()` would do, but the shared `/_control/tokens` can't serialise scopes.)
    page_tokens = [t for t in state.tokens.values() if t.kind == "page"]
    assert [t.expires_at for t in page_tokens] == [None, None]
    exchanges = requested(fake, "GET", "/oauth/access_token")
    assert len(exchanges) == 2
    assert "fb_exchange_token=[redacted]" in exchanges[1]["query"]


async def test_connect_when_publishing_was_declined_is_reauth_required(
    provider: FacebookProvider, fake: FakeNetwork
) -> None:
    control(fake, "POST", "/permissions", {"declined": ["pages_manage_posts"]})
    with pytest.raises(ReauthRequired, match="not allowed to publish"):
        await connect(provider)


async def test_connect_follows_the_paging_of_a_user_with_many_pages(
    provider: FacebookProvider, fake: FakeNetwork
) -> None:
    pages = [{"name": f"Page {n}"} for n in range(101)]
    control(fake, "POST", "/pages", {"pages": pages})
    connections = await connect(provider)
    assert len(connections) == 101
    assert len({c.grant.access_token for c in connections}) == 101


async def test_profile_reads_the_page_while_refresh_is_none_and_revoke_unsupported(
    provider: FacebookProvider,
) -> None:
    bakery = await page(provider)
    profile = await provider.profile(bakery)
    assert (profile.external_id, profile.display_name) == ("101950000000001", "Sandbox Bakery")
    assert await provider.refresh(bakery) is None
    assert await provider.revoke(bakery) is False


# --- publishing ----------------------------------------------------------------------------


async def test_publish_text_with_link_makes_one_feed_post_and_the_comment_is_a_step_apart(
    provider: FacebookProvider, fake: FakeNetwork
) -> None:
    bakery = await page(provider)
    options = {"link": "https://example.com/bread", "first_comment": "Fresh today"}
    published = await provider.publish(bakery, PublishRequest("New loaf!", options=options))

    assert published.external_id.startswith("101950000000001_")
    assert (
        published.permalink
        == f"{fake.url}/101950000000001/posts/" + (published.external_id.partition("_")[2])
    )
    [post] = fake.published()
    assert (post["id"], post["kind"], post["message"]) == (
        published.external_id,
        "link",
        "New loaf!",
    )
    assert post["link"] == "https://example.com/bread"
    # The first comment is T21's own step after the post, not part of publishing it.
    assert requested(fake, "POST", f"/{published.external_id}/comments") == []
    on = ReplyTo(parent_id=published.external_id, root_id=published.external_id)
    since = clock.now() - timedelta(minutes=1)
    comment = await provider.publish_comment(bakery, on, "Fresh today")
    assert len(requested(fake, "POST", f"/{published.external_id}/comments")) == 1
    [found] = await provider.find_comments(bakery, on, since=since)
    assert (found.external_id, found.text) == (comment.external_id, "Fresh today")


async def test_a_comment_refused_for_now_is_retryable_and_leaves_the_post_alone(
    provider: FacebookProvider, fake: FakeNetwork
) -> None:
    bakery = await page(provider)
    published = await provider.publish(bakery, PublishRequest("Hello"))
    fake.inject(
        status=500, body=graph_error(2, "Service temporarily unavailable"), path="/comments$"
    )
    on = ReplyTo(parent_id=published.external_id, root_id=published.external_id)
    with pytest.raises(OutsideFailure):
        await provider.publish_comment(bakery, on, "First")
    assert [p["id"] for p in fake.published()] == [published.external_id]


async def test_publish_one_photo_is_a_published_photo_post(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    bakery = await page(provider)
    image = media.image()
    published = await provider.publish(bakery, PublishRequest("Croissants", [image]))

    [post] = fake.published()
    assert (post["id"], post["kind"], post["media"]) == (
        published.external_id,
        "photo",
        [image.url],
    )
    assert post["message"] == "Croissants"
    assert published.permalink == f"{fake.url}/{published.external_id}"


async def test_publish_several_photos_uploads_them_unpublished_then_makes_one_feed_post(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    bakery = await page(provider)
    images = [media.image(), media.image(800, 600), media.image()]
    published = await provider.publish(bakery, PublishRequest("Our week", images))

    [post] = fake.published()
    assert (post["id"], post["kind"]) == (published.external_id, "album")
    assert post["media"] == [image.url for image in images]
    assert len(requested(fake, "POST", "/photos")) == 3
    assert len(requested(fake, "POST", "/feed")) == 1


async def test_publish_video_pulls_the_file_and_polls_until_processed(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "POST", "/config", {"processing_polls": 2})
    bakery = await page(provider)
    video = media.video(size=SMALL_VIDEO, width=1920, height=1080)
    published = await provider.publish(bakery, PublishRequest("Behind the oven", [video]))

    [post] = fake.published()
    assert (post["video_id"], post["kind"], post["status"]) == (
        published.external_id,
        "video",
        "ready",
    )
    assert post["media"] == [video.url]
    assert len(requested(fake, "GET", f"/{published.external_id}")) == 3
    assert published.permalink == f"{fake.url}/101950000000001/videos/{published.external_id}/"


async def test_a_video_still_processing_at_the_deadline_is_published_not_retried(
    fake: FakeNetwork, media: MediaServer
) -> None:
    # The videos POST already published it: raising Retryable would invite a second copy.
    control(fake, "POST", "/config", {"processing_polls": 1000})
    provider = FacebookProvider(replace(fake.config("facebook"), poll_timeout_s=0.05))
    bakery = await page(provider)
    published = await provider.publish(
        bakery, PublishRequest("Slow", [media.video(size=SMALL_VIDEO)])
    )
    [post] = fake.published()
    assert (post["video_id"], post["status"]) == (published.external_id, "processing")


async def test_a_video_facebook_fails_to_process_is_permanent(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "POST", "/config", {"video_outcome": "error"})
    bakery = await page(provider)
    with pytest.raises(Permanent, match="could not be processed"):
        await provider.publish(bakery, PublishRequest("Oops", [media.video(size=SMALL_VIDEO)]))


async def test_publish_reel_starts_a_session_has_the_file_pulled_then_finishes(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    bakery = await page(provider)
    video = media.video(size=SMALL_VIDEO)
    published = await provider.publish(
        bakery, PublishRequest("Reel time", [video], options={"kind": "reel"})
    )

    [post] = fake.published()
    assert (post["video_id"], post["kind"], post["message"]) == (
        published.external_id,
        "reel",
        "Reel time",
    )
    assert published.permalink == f"{fake.url}/reel/{published.external_id}"
    assert len(requested(fake, "POST", "/video_reels")) == 2
    assert len(requested(fake, "POST", f"/video-upload/v25.0/{published.external_id}")) == 1


async def test_a_reel_off_the_reel_spec_is_refused_before_any_request(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    bakery = await page(provider)
    before = len(fake.requests())
    landscape = media.video(size=SMALL_VIDEO, width=1920, height=1080)
    with pytest.raises(Permanent, match="9:16"):
        await provider.publish(bakery, PublishRequest("", [landscape], options={"kind": "reel"}))
    too_long = media.video(size=SMALL_VIDEO, seconds=120)
    with pytest.raises(Permanent, match="3 to 90 seconds"):
        await provider.publish(bakery, PublishRequest("", [too_long], options={"kind": "reel"}))
    with pytest.raises(Permanent, match="mix"):
        await provider.publish(
            bakery, PublishRequest("", [media.image(), media.video(size=SMALL_VIDEO)])
        )
    assert len(fake.requests()) == before


async def test_reels_past_thirty_a_day_are_retryable_when_the_window_frees_up(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "POST", "/config", {"reels_per_day": 1})
    bakery = await page(provider)
    reel = PublishRequest("One", [media.video(size=SMALL_VIDEO)], options={"kind": "reel"})
    await provider.publish(bakery, reel)
    with pytest.raises(Retryable) as refused:
        await provider.publish(bakery, reel)
    assert refused.value.after == pytest.approx(24 * 3600, abs=120)
    assert len(fake.published()) == 1


# --- reading back --------------------------------------------------------------------------


async def test_find_recent_lists_the_pages_posts_since_a_time(
    provider: FacebookProvider,
) -> None:
    bakery = await page(provider)
    since = clock.now() - timedelta(minutes=1)
    first = await provider.publish(bakery, PublishRequest("First"))
    second = await provider.publish(bakery, PublishRequest("Second"))

    recent = await provider.find_recent(bakery, since=since)
    assert [post.external_id for post in recent] == [second.external_id, first.external_id]
    assert (recent[0].text, recent[0].permalink) == ("Second", second.permalink)
    assert recent[0].created_at is not None
    assert recent[0].created_at >= since.replace(microsecond=0)
    assert await provider.find_recent(bakery, since=clock.now() + timedelta(minutes=1)) == []


async def test_metrics_map_post_insights_and_counters_to_t21_names(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    bakery = await page(provider)
    post = await provider.publish(bakery, PublishRequest("Counted"))
    await provider.publish_comment(
        bakery, ReplyTo(parent_id=post.external_id, root_id=post.external_id), "Hi"
    )
    video = await provider.publish(
        bakery, PublishRequest("Watched", [media.video(size=SMALL_VIDEO)])
    )
    insights = {"reach": 120, "reactions": {"like": 3, "love": 2}, "clicks": 7, "shares": 4}
    control(fake, "POST", "/insights", {"id": post.external_id, **insights})
    control(fake, "POST", "/insights", {"id": video.external_id, "video_views": 42, "likes": 6})

    numbers = await provider.metrics(bakery, [post.external_id, video.external_id])
    assert numbers[post.external_id] == PostMetrics(
        reach=120, likes=5, clicks=7, comments=1, shares=4
    )
    assert numbers[video.external_id] == PostMetrics(video_views=42, likes=6, comments=0)


async def test_a_reel_is_counted_by_its_plays_and_one_refused_post_does_not_fail_the_batch(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    bakery = await page(provider)
    post = await provider.publish(bakery, PublishRequest("Counted"))
    video = await provider.publish(
        bakery, PublishRequest("Watched", [media.video(size=SMALL_VIDEO)])
    )
    reel = await provider.publish(
        bakery, PublishRequest("Spun", [media.video(size=SMALL_VIDEO)], options={"kind": "reel"})
    )
    control(fake, "POST", "/insights", {"id": post.external_id, "reach": 10})
    control(fake, "POST", "/insights", {"id": video.external_id, "video_views": 42})
    control(fake, "POST", "/insights", {"id": reel.external_id, "video_views": 77, "likes": 3})

    # Reels refuse the video metric as invalid: their plays are asked for instead.
    numbers = await provider.metrics(
        bakery, [post.external_id, reel.external_id, video.external_id]
    )
    assert numbers[reel.external_id] == PostMetrics(video_views=77, likes=3, comments=0)
    assert numbers[video.external_id] == PostMetrics(video_views=42, likes=0, comments=0)

    # A metric Facebook refuses for one post leaves that post without numbers, not the batch.
    invalid = graph_error(100, "(#100) The value must be a valid insights metric")
    fake.inject(status=400, body=invalid, path=f"{reel.external_id}/video_insights", count=2)
    numbers = await provider.metrics(
        bakery, [post.external_id, reel.external_id, video.external_id]
    )
    assert numbers[reel.external_id] is None
    counted = numbers[post.external_id]
    assert counted is not None
    assert counted.reach == 10
    assert numbers[video.external_id] == PostMetrics(video_views=42, likes=0, comments=0)


async def test_metrics_without_data_yet_small_pages_or_deleted_posts_are_none(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    bakery, studio = await page(provider, 0), await page(provider, 1)
    fresh = await provider.publish(bakery, PublishRequest("Too new"))
    small = await provider.publish(studio, PublishRequest("Only 40 fans"))
    control(fake, "POST", "/insights", {"id": small.external_id, "reach": 5})
    video = await provider.publish(bakery, PublishRequest("", [media.video(size=SMALL_VIDEO)]))

    assert await provider.metrics(
        bakery, [fresh.external_id, "101950000000001_9", video.external_id]
    ) == {
        fresh.external_id: None,
        "101950000000001_9": None,
        video.external_id: None,
    }
    assert await provider.metrics(studio, [small.external_id]) == {small.external_id: None}


async def test_the_fake_answers_deprecated_metric_names_with_the_invalid_metric_error(
    provider: FacebookProvider, fake: FakeNetwork
) -> None:
    bakery = await page(provider)
    post = await provider.publish(bakery, PublishRequest("Old metrics"))
    headers = {"Authorization": f"Bearer {bakery.access_token}"}
    for metric in ("post_impressions_unique", "post_impressions"):
        async with httpx.AsyncClient(verify=tls_context(), headers=headers) as http:
            answer = await http.get(
                f"{fake.url}/v25.0/{post.external_id}/insights", params={"metric": metric}
            )
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == 100
        assert "valid insights metric" in answer.json()["error"]["message"]


async def test_the_fake_keeps_scheduled_posts_off_the_page_and_out_of_the_published_list(
    provider: FacebookProvider, fake: FakeNetwork
) -> None:
    bakery = await page(provider)
    later = int(clock.now().timestamp()) + 3600
    body = {"message": "Later", "published": False, "scheduled_publish_time": later}
    async with httpx.AsyncClient(verify=tls_context()) as http:
        answer = await http.post(
            f"{fake.url}/v25.0/{bakery.external_id}/feed",
            json=body,
            headers={"Authorization": f"Bearer {bakery.access_token}"},
        )
    assert answer.status_code == 200, answer.text
    assert fake.published() == []
    assert await provider.find_recent(bakery, since=clock.now() - timedelta(minutes=1)) == []


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "after"),
    [
        ({"x-business-use-case-usage": json.dumps({"101950000000001": [
            {"type": "pages", "call_count": 100, "total_cputime": 4, "total_time": 9,
             "estimated_time_to_regain_access": 7}]})}, 7 * 60),
        ({"x-app-usage": json.dumps({"call_count": 100, "total_cputime": 5, "total_time": 8})},
         DEFAULT_THROTTLE_S),
        ({"retry-after": "30"}, 30),
    ],
)  # fmt: skip
async def test_throttling_is_retryable_after_the_networks_estimate(
    provider: FacebookProvider, fake: FakeNetwork, headers: dict[str, str], after: float
) -> None:
    bakery = await page(provider)
    body = graph_error(32, "(#32) Page request limit reached")
    fake.inject(status=400, body=body, headers=headers, path="/feed$")
    with pytest.raises(Retryable) as throttled:
        await provider.publish(bakery, PublishRequest("Busy"))
    assert throttled.value.after == pytest.approx(after, abs=2)
    assert fake.published() == []


@pytest.mark.parametrize(
    ("status", "body", "failure", "shown"),
    [
        (400, graph_error(368, "Temporarily blocked", 1390008), Retryable, "blocked"),
        (400, graph_error(17, "(#17) User request limit reached"), Retryable, "limit"),
        (400, graph_error(368, "You were misusing this feature"), Permanent, "misusing"),
        (400, graph_error(100, "Content flagged as abusive", 1346003), Permanent, "abusive"),
        (400, graph_error(100, "Violates Community Standards", 1404102), Permanent, "Community"),
        (400, graph_error(100, "Facebook links not allowed", 1609008), Permanent, "links"),
        (400, graph_error(190, "Error validating access token: expired", 463), ReauthRequired,
         "expired"),
        (400, graph_error(190, "Invalidated: REVOKED_ACCESS_TOKEN"), ReauthRequired, "REVOKED"),
        (400, graph_error(200, "Page Publishing Authorization required", 1404078), ReauthRequired,
         "Authorization"),
        (400, graph_error(490, "User must be confirmed"), ReauthRequired, "confirmed"),
        (500, graph_error(2, "Service temporarily unavailable"), Ambiguous, "unavailable"),
        (500, graph_error(1, "An unknown error occurred"), Ambiguous, "unknown"),
        (400, graph_error(100, "Service unavailable", 1363047), Ambiguous, "unavailable"),
        (502, "<html>Bad Gateway</html>", Ambiguous, "HTTP 502"),
    ],
)  # fmt: skip
async def test_graph_errors_on_the_feed_post_are_classified_once(
    provider: FacebookProvider,
    fake: FakeNetwork,
    status: int,
    body: Any,
    failure: type[Exception],
    shown: str,
) -> None:
    bakery = await page(provider)
    fake.inject(status=status, body=body, path="/feed$")
    with pytest.raises(failure, match=shown) as caught:
        await provider.publish(bakery, PublishRequest("Classify me"))
    assert bakery.access_token not in str(caught.value)


@pytest.mark.parametrize("flow", ["photo", "video"])
async def test_a_5xx_on_the_publishing_photo_or_video_request_is_ambiguous(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer, flow: str
) -> None:
    bakery = await page(provider)
    item = media.image() if flow == "photo" else media.video(size=SMALL_VIDEO)
    fake.inject(
        status=500, body=graph_error(2, "Service temporarily unavailable"), path=f"/{flow}s$"
    )
    with pytest.raises(Ambiguous):
        await provider.publish(bakery, PublishRequest("Maybe", [item]))


async def test_a_5xx_on_an_unpublished_photo_upload_is_retryable_and_publishes_nothing(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    bakery = await page(provider)
    fake.inject(status=500, body=graph_error(1, "An unknown error occurred"), path="/photos$")
    with pytest.raises(Retryable):
        await provider.publish(bakery, PublishRequest("Album", [media.image(), media.image()]))
    assert fake.published() == []
    assert requested(fake, "POST", "/feed") == []


async def test_a_5xx_on_the_reel_upload_is_retryable_and_publishes_nothing(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    bakery = await page(provider)
    fake.inject(status=503, body="upstream down", path="^/video-upload/")
    with pytest.raises(Retryable):
        await provider.publish(
            bakery,
            PublishRequest("Reel", [media.video(size=SMALL_VIDEO)], options={"kind": "reel"}),
        )
    assert fake.published() == []


async def test_a_lost_answer_to_the_feed_post_is_ambiguous_and_find_recent_shows_the_post(
    fake: FakeNetwork, provider: FacebookProvider
) -> None:
    bakery = await page(provider)
    since = clock.now() - timedelta(minutes=1)
    fake.inject(status=200, path="/feed$", lose_response=True, delay_s=1.5)
    # Impatient for the post whose answer is lost only: reading back waits as T21 does.
    impatient = FacebookProvider(fake.config("facebook", timeout_s=0.5))
    with pytest.raises(Ambiguous):
        await impatient.publish(bakery, PublishRequest("Did it go out?"))

    [post] = fake.published()
    recent = await provider.find_recent(bakery, since=since)
    assert [(p.external_id, p.text) for p in recent] == [(post["id"], "Did it go out?")]


@pytest.mark.parametrize("change", ["expire", "revoke"])
async def test_an_expired_or_revoked_page_token_is_reauth_required(
    provider: FacebookProvider, fake: FakeNetwork, change: str
) -> None:
    bakery = await page(provider)
    if change == "expire":
        fake.expire_tokens(bakery.access_token)
    else:
        fake.revoke_tokens(bakery.access_token)
    with pytest.raises(ReauthRequired, match="Error validating access token") as caught:
        await provider.publish(bakery, PublishRequest("Anyone there?"))
    assert bakery.access_token not in str(caught.value)
    with pytest.raises(ReauthRequired):
        await provider.find_recent(bakery, since=clock.now())
    assert fake.published() == []


async def test_an_identical_status_update_is_refused_as_a_duplicate(
    provider: FacebookProvider, fake: FakeNetwork
) -> None:
    bakery = await page(provider)
    await provider.publish(bakery, PublishRequest("Same words"))
    with pytest.raises(Permanent, match="identical to the last one") as refused:
        await provider.publish(bakery, PublishRequest("Same words"))
    assert refused.value.code == "graph_506"
    assert len(fake.published()) == 1


async def test_text_over_63206_characters_is_refused_by_facebook_as_permanent(
    provider: FacebookProvider, fake: FakeNetwork
) -> None:
    bakery = await page(provider)
    with pytest.raises(Permanent, match="at most 63206 characters"):
        await provider.publish(bakery, PublishRequest("x" * 63_207))
    await provider.publish(bakery, PublishRequest("x" * 63_206))
    assert len(fake.published()) == 1


async def test_a_photo_of_4_mb_or_a_non_image_is_refused_as_permanent(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    bakery = await page(provider)
    heavy = media.item(MediaKind.IMAGE, b"\x89PNG\r\n\x1a\n" + bytes(4_000_000), "image/png")
    with pytest.raises(Permanent, match="smaller than 4 MB"):
        await provider.publish(bakery, PublishRequest("Big", [heavy]))
    text = media.item(MediaKind.IMAGE, b"GIF89a not really", "image/gif")
    with pytest.raises(Permanent, match="JPG or PNG"):
        await provider.publish(bakery, PublishRequest("Gif", [text]))
    assert fake.published() == []


async def test_a_video_url_facebook_cannot_fetch_is_permanent(
    provider: FacebookProvider, fake: FakeNetwork, media: MediaServer
) -> None:
    bakery = await page(provider)
    video = media.video(size=SMALL_VIDEO)
    media.files.clear()  # the signed URL has expired
    with pytest.raises(Permanent, match="Unable to fetch video file"):
        await provider.publish(bakery, PublishRequest("Gone", [video]))
