"""The Instagram adapter against the Instagram fake over real HTTP: connecting, every publishing
flow (image, carousel, reel, story), reading back, and every failure class from the network's
own error answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from t21.core import clock
from t21.core.outside import Ambiguous, OutsideFailure, Permanent, ReauthRequired, Retryable
from t21.core.tls import tls_context
from t21.platforms.base import (
    Continuing,
    Credentials,
    MediaItem,
    Published,
    PublishRequest,
    ReplyTo,
    TextCounting,
)
from t21.platforms.instagram import InstagramOptions, InstagramProvider
from t21.platforms.instagram.provider import SCOPES
from t21.sandbox.instagram import create_instagram_app
from tests.platforms.harness import (
    REDIRECT_URI,
    FakeNetwork,
    MediaServer,
    authorize,
    connect,
    credentials,
    serve,
)
from tests.support import loopback

USER_ID = "17841400000000001"
IMAGE_INSIGHTS = {"views": 500, "reach": 400, "likes": 30, "comments": 4, "saved": 7, "shares": 2}
# Throttled for 7 more minutes, as Meta's business-use-case header says it.
BUSINESS_USAGE = {
    USER_ID: [
        {
            "type": "instagram",
            "call_count": 100,
            "total_cputime": 20,
            "total_time": 30,
            "estimated_time_to_regain_access": 7,
        }
    ]
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeNetwork]:
    with serve(create_instagram_app()) as network:
        yield network


@pytest.fixture(autouse=True)
def _fresh_network(fake: FakeNetwork) -> None:
    control(fake, "/reset")
    # Instagram takes seconds to minutes; here containers finish at once unless a test says.
    control(fake, "/config", {"image_processing_s": 0, "video_processing_s": 0})


def control(fake: FakeNetwork, path: str, body: dict[str, Any] | None = None) -> Any:
    response = loopback.post(f"{fake.url}/_control{path}", json=body or {}, timeout=10)
    assert response.status_code < 300, response.text
    return response.json()


def graph_error(code: int, message: str, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error | {"fbtrace_id": "AbC123"}}


async def connected(fake: FakeNetwork, **config: Any) -> tuple[InstagramProvider, Credentials]:
    instagram = InstagramProvider(replace(fake.config("instagram"), **config))
    [connection] = await connect(instagram)
    return instagram, credentials(connection)


def post(text: str, *items: MediaItem, **options: Any) -> PublishRequest:
    return PublishRequest(text=text, media=list(items), options=options)


async def graph_get(fake: FakeNetwork, token: str, path: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(verify=tls_context()) as http:
        return await http.get(f"{fake.url}/v25.0/{path}", params={**params, "access_token": token})


async def publish(
    instagram: InstagramProvider, account: Credentials, request: PublishRequest
) -> Published:
    """Publish in one attempt: containers here finish at once, so nothing continues later."""
    done = await instagram.publish(account, request)
    assert isinstance(done, Published), done
    return done


# --- what Instagram accepts ----------------------------------------------------------------------


def test_limits_are_instagrams_from_platforms_md() -> None:
    limits = InstagramProvider.limits
    assert (limits.max_text, limits.text_counting) == (2200, TextCounting.CHARACTERS)
    assert limits.requires_media
    assert limits.mixed_media
    assert (limits.max_images, limits.max_videos, limits.min_multi_images) == (10, 10, 2)
    assert limits.image is not None
    assert limits.video is not None
    assert limits.image.content_types == {"image/jpeg", "image/png"}
    assert limits.image.max_size_bytes == 8 * 1024 * 1024
    assert (limits.image.min_aspect, limits.image.max_aspect) == (0.8, 1.91)
    # Wider images are scaled down by Instagram, so only the minimum is a rule.
    assert (limits.image.min_width, limits.image.max_width) == (320, None)
    assert limits.video.content_types == {"video/mp4", "video/quicktime"}
    assert limits.video.max_size_bytes == 300 * 1024 * 1024
    assert (limits.video.min_duration_s, limits.video.max_duration_s) == (3.0, 900.0)
    assert InstagramProvider.scopes == SCOPES
    assert not InstagramProvider.uses_pkce


def test_options_take_reel_settings_and_strip_the_at_of_collaborators() -> None:
    options = InstagramOptions.model_validate(
        {
            "kind": "reel",
            "share_to_feed": False,
            "cover_url": "https://cdn.example.com/cover.jpg",
            "thumb_offset_ms": 1500,
            "first_comment": "#t21",
            "collaborators": ["@friend.one", "friend_two"],
        }
    )
    assert options.collaborators == ["friend.one", "friend_two"]
    assert InstagramOptions().kind == "feed"


@pytest.mark.parametrize(
    "options",
    [
        {"visibility": "public"},
        {"kind": "carousel"},
        {"kind": "story", "collaborators": ["friend"]},
        {"kind": "story", "first_comment": "hi"},
        {"collaborators": ["a", "b", "c", "d"]},
        {"collaborators": ["not a username"]},
        {"thumb_offset_ms": -1},
    ],
)
def test_options_refuse_what_instagram_cannot_take(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        InstagramOptions.model_validate(options)


# --- connecting ----------------------------------------------------------------------------------


async def test_connect_exchanges_the_code_for_a_60_day_token_and_the_profile(
    fake: FakeNetwork,
) -> None:
    instagram = InstagramProvider(fake.config("instagram"))
    url = instagram.authorization_url(
        state="s", redirect_uri="https://t21.test/cb", code_verifier=None
    )
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == [",".join(SCOPES)]
    assert query["response_type"] == ["code"]
    assert "code_challenge" not in query

    [connection] = await connect(instagram)

    assert connection.profile.external_id == USER_ID
    assert connection.profile.username == "t21.sandbox"
    assert connection.profile.display_name == "T21 Sandbox"
    assert connection.grant.expires_in == 5_184_000
    assert connection.grant.refresh_token is None
    assert connection.grant.scopes == set(SCOPES)
    # The code bought a 1 h token, exchanged at once for the 60-day one.
    paths = [r["path"] for r in fake.requests()]
    assert paths[:2] == ["/oauth/authorize", "/oauth/access_token"]
    assert "/access_token" in paths


async def test_connect_without_the_publishing_permission_asks_to_connect_again(
    fake: FakeNetwork,
) -> None:
    control(fake, "/config", {"withheld_scopes": ["instagram_business_content_publish"]})
    with pytest.raises(ReauthRequired, match="instagram_business_content_publish"):
        await connect(InstagramProvider(fake.config("instagram")))


async def test_authorization_code_used_twice_is_refused_with_instagrams_message(
    fake: FakeNetwork,
) -> None:
    instagram = InstagramProvider(fake.config("instagram"))
    code, _ = await authorize(instagram)
    await instagram.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=None)
    with pytest.raises(Permanent, match="Matching code was not found or was already used"):
        await instagram.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=None)


async def test_profile_is_the_instagram_professional_account(fake: FakeNetwork) -> None:
    instagram, account = await connected(fake)
    profile = await instagram.profile(account)
    assert (profile.external_id, profile.username) == (USER_ID, "t21.sandbox")
    assert (profile.avatar_url or "").startswith(fake.url)


async def test_refresh_waits_until_the_token_is_a_day_old_then_gives_a_new_one(
    fake: FakeNetwork,
) -> None:
    instagram, account = await connected(fake)
    with pytest.raises(Retryable) as young:
        await instagram.refresh(account)
    assert young.value.code == "token_too_new"
    assert 82_000 < (young.value.after or 0) <= 86_400

    control(fake, "/config", {"refresh_min_age_s": 0})
    grant = await instagram.refresh(account)

    assert grant is not None
    assert grant.access_token != account.access_token
    assert (grant.expires_in, grant.refresh_token) == (5_184_000, None)
    refreshed = replace(account, access_token=grant.access_token)
    assert (await instagram.profile(refreshed)).external_id == USER_ID


async def test_revoke_is_not_offered_by_instagram_login(fake: FakeNetwork) -> None:
    instagram, account = await connected(fake)
    assert await instagram.revoke(account) is False
    assert (await instagram.profile(account)).external_id == USER_ID


# --- publishing ----------------------------------------------------------------------------------


async def test_publish_one_image_with_alt_text_then_its_first_comment_as_a_step_apart(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    image = media.image(1080, 1350)

    published = await publish(
        instagram,
        account,
        post("Hello #t21", image, alt_text="A grey square"),
    )

    [record] = fake.published()
    assert record["id"] == published.external_id
    assert (record["caption"], record["media_type"]) == ("Hello #t21", "IMAGE")
    assert record["media"] == [{"kind": "image", "url": image.url}]
    assert record["alt_text"] == "A grey square"
    assert (published.permalink or "").startswith(f"{fake.url}/p/")
    async with httpx.AsyncClient(verify=tls_context()) as http:
        assert (await http.get(published.permalink or "")).status_code == 200
    assert published.published_at is not None
    on = ReplyTo(parent_id=published.external_id, root_id=published.external_id)
    since = clock.now() - timedelta(minutes=1)
    comment = await instagram.publish_comment(account, on, "First!")
    comments = await graph_get(fake, account.access_token, f"{published.external_id}/comments")
    assert [c["text"] for c in comments.json()["data"]] == ["First!"]
    [found] = await instagram.find_comments(account, on, since=since)
    assert (found.external_id, found.text) == (comment.external_id, "First!")


async def test_publish_carousel_of_images_and_a_video_is_one_post(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    items = [media.image(), media.image(1080, 566), media.video()]

    published = await publish(
        instagram, account, post("Three in one", *items, collaborators=["@friend.one"])
    )

    [record] = fake.published()
    assert record["id"] == published.external_id
    assert (record["media_type"], record["caption"]) == ("CAROUSEL_ALBUM", "Three in one")
    assert [part["url"] for part in record["media"]] == [item.url for item in items]
    assert [part["kind"] for part in record["media"]] == ["image", "image", "video"]
    assert record["collaborators"] == ["friend.one"]


async def test_publish_feed_video_as_a_reel_after_processing(
    fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "/config", {"processing_polls": 3})
    instagram, account = await connected(fake)
    video = media.video()
    request = post("Watch", video, share_to_feed=True, thumb_offset_ms=1000)

    outcome = await instagram.publish(account, request)
    while isinstance(outcome, Continuing):
        outcome = await instagram.publish(account, replace(request, progress=outcome.progress))

    [record] = fake.published()
    assert record["id"] == outcome.external_id
    assert (record["media_type"], record["media_product_type"]) == ("VIDEO", "REELS")
    assert record["media"] == [{"kind": "video", "url": video.url}]
    assert (record["share_to_feed"], record["thumb_offset"]) == (True, 1000)
    assert "/reel/" in (outcome.permalink or "")
    polls = [r for r in fake.requests() if "fields=status_code" in r["query"]]
    assert len(polls) == 4  # IN_PROGRESS three times, then FINISHED
    created = [r for r in fake.requests() if r["method"] == "POST" and r["path"].endswith("/media")]
    assert len(created) == 1


async def test_a_reel_processing_for_minutes_continues_later_from_the_same_container(
    fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "/config", {"video_processing_s": 120})
    instagram, account = await connected(fake, poll_interval_s=3.0)
    request = post("Long cut", media.video())
    start = clock.now()

    first = await instagram.publish(account, request)
    assert isinstance(first, Continuing)
    assert first.after_s == 3.0
    container = first.progress["container"]
    delays = [first.after_s]
    outcome: Published | Continuing = first
    elapsed = 0.0
    while isinstance(outcome, Continuing):
        elapsed += outcome.after_s
        with clock.frozen(start + timedelta(seconds=elapsed)):
            outcome = await instagram.publish(account, replace(request, progress=outcome.progress))
        if isinstance(outcome, Continuing):
            assert outcome.progress["container"] == container
            delays.append(outcome.after_s)

    # Waits grow from a few seconds to 30 s; the container built first is the one published.
    assert delays == sorted(delays)
    assert max(delays) == 30.0
    assert 120 <= elapsed < 160
    [record] = fake.published()
    assert (record["id"], record["container_id"]) == (outcome.external_id, container)
    created = [r for r in fake.requests() if r["method"] == "POST" and r["path"].endswith("/media")]
    assert len(created) == 1


async def test_a_carousel_waits_for_its_items_then_builds_its_container_once(
    fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "/config", {"image_processing_s": 10})
    instagram, account = await connected(fake)
    request = post("Two", media.image(), media.image())
    start = clock.now()

    first = await instagram.publish(account, request)
    assert isinstance(first, Continuing)
    assert len(first.progress["children"]) == 2
    assert first.progress["container"] is None
    with clock.frozen(start + timedelta(seconds=11)):
        # The parent is built now; it processes too, so this attempt continues later again.
        second = await instagram.publish(account, replace(request, progress=first.progress))
        assert isinstance(second, Continuing)
        assert second.progress["children"] == first.progress["children"]
    with clock.frozen(start + timedelta(seconds=22)):
        done = await instagram.publish(account, replace(request, progress=second.progress))
    assert isinstance(done, Published)
    [record] = fake.published()
    assert record["container_id"] == second.progress["container"]


async def test_a_retry_after_a_failed_status_read_resumes_the_containers(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    fake.inject(
        status=500, body=graph_error(2, "Service temporarily unavailable"), query="status_code"
    )
    request = post("Steady", media.video())

    first = await instagram.publish(account, request)
    assert isinstance(first, Continuing)
    assert "temporarily unavailable" in first.reason
    done = await publish(instagram, account, replace(request, progress=first.progress))

    assert fake.published()[0]["container_id"] == first.progress["container"]
    created = [r for r in fake.requests() if r["method"] == "POST" and r["path"].endswith("/media")]
    assert len(created) == 1
    assert done.external_id == fake.published()[0]["id"]


async def test_graph_calls_carry_their_parameters_and_token_in_the_query(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    published = await publish(instagram, account, post("Query only", media.image()))
    await instagram.metrics(account, [published.external_id])

    graph = [r for r in fake.requests() if r["path"].startswith("/v25.0/")]
    assert {r["path"].rsplit("/", 1)[-1] for r in graph} >= {"media", "media_publish", "insights"}
    assert all("access_token=" in r["query"] for r in graph)


async def test_the_fake_refuses_a_json_body_and_a_bearer_token_as_instagram_documents_neither(
    fake: FakeNetwork,
) -> None:
    _instagram, account = await connected(fake)
    async with httpx.AsyncClient(verify=tls_context()) as http:
        as_json = await http.post(
            f"{fake.url}/v25.0/{USER_ID}/media",
            json={"image_url": "https://example.com/a.jpg"},
            params={"access_token": account.access_token},
        )
        as_bearer = await http.get(
            f"{fake.url}/v25.0/me",
            headers={"Authorization": f"Bearer {account.access_token}"},
        )
    assert as_json.status_code == 400
    assert as_json.json()["error"]["code"] == 100
    assert "not as a JSON body" in as_json.json()["error"]["message"]
    assert as_bearer.status_code == 400
    assert as_bearer.json()["error"]["code"] == 2500


async def test_publish_a_story(fake: FakeNetwork, media: MediaServer) -> None:
    instagram, account = await connected(fake)

    published = await publish(instagram, account, post("", media.video(seconds=10), kind="story"))

    [record] = fake.published()
    assert record["id"] == published.external_id
    assert (record["media_type"], record["media_product_type"]) == ("VIDEO", "STORY")


async def test_publish_without_media_is_refused_before_calling_instagram(
    fake: FakeNetwork,
) -> None:
    instagram, account = await connected(fake)
    before = len(fake.requests())
    with pytest.raises(Permanent, match="at least one image or video"):
        await publish(instagram, account, post("Just words"))
    assert len(fake.requests()) == before


async def test_reading_back_a_publication_finds_it_with_its_metrics(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    since = clock.now() - timedelta(minutes=1)
    image = await publish(instagram, account, post("An image", media.image()))
    reel = await publish(instagram, account, post("A reel", media.video(), kind="reel"))
    story = await publish(instagram, account, post("", media.image(1080, 1920), kind="story"))
    control(fake, "/insights", {"media_id": image.external_id, "values": IMAGE_INSIGHTS})
    control(fake, "/insights", {"media_id": reel.external_id, "values": {"views": 900}})

    recent = await instagram.find_recent(account, since=since)
    numbers = await instagram.metrics(account, [image.external_id, reel.external_id])

    assert {p.external_id for p in recent} == {
        image.external_id,
        reel.external_id,
        story.external_id,
    }
    assert next(p for p in recent if p.external_id == image.external_id).text == "An image"
    image_numbers, reel_numbers = numbers[image.external_id], numbers[reel.external_id]
    assert image_numbers is not None
    assert reel_numbers is not None
    assert (image_numbers.impressions, image_numbers.reach, image_numbers.likes) == (500, 400, 30)
    assert (image_numbers.comments, image_numbers.saves, image_numbers.shares) == (4, 7, 2)
    assert (image_numbers.video_views, image_numbers.clicks) == (None, None)
    assert (reel_numbers.impressions, reel_numbers.video_views) == (900, 900)


async def test_metrics_are_none_while_instagram_has_no_data(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    fresh = await publish(instagram, account, post("Fresh", media.image()))
    quiet = await publish(instagram, account, post("Quiet", media.image()))
    control(fake, "/insights", {"media_id": fresh.external_id, "state": "empty"})
    control(fake, "/insights", {"media_id": quiet.external_id, "state": "not_enough_viewers"})

    numbers = await instagram.metrics(account, [fresh.external_id, quiet.external_id])

    assert numbers == {fresh.external_id: None, quiet.external_id: None}


async def test_fake_refuses_deprecated_metric_names_and_reports_app_usage(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    published = await publish(instagram, account, post("Old metrics", media.image()))

    answer = await graph_get(
        fake, account.access_token, f"{published.external_id}/insights", metric="impressions"
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 100
    assert "metric[0] must be one of" in answer.json()["error"]["message"]
    assert "call_count" in answer.headers["x-app-usage"]


# --- refusals: Permanent -------------------------------------------------------------------------


async def test_caption_over_2200_characters_is_refused_by_instagram(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    with pytest.raises(Permanent, match="caption is too long"):
        await publish(instagram, account, post("x" * 2201, media.image()))
    assert fake.published() == []


async def test_image_outside_instagrams_aspect_ratios_is_refused(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    with pytest.raises(Permanent, match="aspect ratio"):
        await publish(instagram, account, post("Too tall", media.image(1080, 2000)))
    assert fake.published() == []


async def test_video_that_fails_processing_is_refused_with_instagrams_status(
    fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "/containers/outcome", {"status_code": "ERROR", "error_subcode": 2207026})
    instagram, account = await connected(fake)
    with pytest.raises(Permanent, match="2207026"):
        await publish(instagram, account, post("Broken", media.video()))
    assert fake.published() == []


async def test_spam_refusal_is_permanent_even_with_a_throttling_code(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    body = graph_error(4, "Spam", 2207051)
    body["error"]["error_user_msg"] = "We restrict certain activity to protect our community."
    fake.inject(status=400, body=body, path="media_publish$")
    with pytest.raises(Permanent, match="We restrict certain activity"):
        await publish(instagram, account, post("Buy now", media.image()))
    assert fake.published() == []


# --- refusals: Retryable -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected_after"),
    [
        (400, {"x-business-use-case-usage": json.dumps(BUSINESS_USAGE)}, 7 * 60.0),
        (429, {"retry-after": "30"}, 30.0),
    ],
)
async def test_throttling_is_retryable_after_instagrams_estimate(
    fake: FakeNetwork,
    media: MediaServer,
    status: int,
    headers: dict[str, str],
    expected_after: float,
) -> None:
    instagram, account = await connected(fake)
    fake.inject(
        status=status,
        body=graph_error(4, "(#4) Application request limit reached"),
        headers=headers,
        path="/media$",
        method="POST",
    )
    with pytest.raises(Retryable) as throttled:
        await publish(instagram, account, post("Later", media.image()))
    assert throttled.value.after == pytest.approx(expected_after, abs=1)
    assert fake.published() == []


async def test_server_error_before_publishing_is_retryable_and_publishes_nothing(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    fake.inject(
        status=500, body=graph_error(1, "An unknown error occurred"), path="/media$", method="POST"
    )
    with pytest.raises(Retryable, match="unknown error"):
        await publish(instagram, account, post("Again", media.image()))
    assert fake.published() == []


async def test_an_expired_container_is_built_again_a_few_times_then_retried(
    fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "/containers/outcome", {"status_code": "EXPIRED", "count": 3})
    instagram, account = await connected(fake)
    request = post("Late", media.image())

    first = await instagram.publish(account, request)
    # The container can't finish any more: the next attempt builds a new one.
    assert isinstance(first, Continuing)
    assert (first.progress["container"], first.progress["builds"]) == (None, 1)
    second = await instagram.publish(account, replace(request, progress=first.progress))
    assert isinstance(second, Continuing)
    with pytest.raises(Retryable, match="expired"):
        await instagram.publish(account, replace(request, progress=second.progress))
    assert fake.published() == []
    created = [r for r in fake.requests() if r["method"] == "POST" and r["path"].endswith("/media")]
    assert len(created) == 3


async def test_media_still_processing_after_ten_minutes_is_retryable_and_keeps_its_container(
    fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "/containers/outcome", {"status_code": "IN_PROGRESS"})
    instagram, account = await connected(fake)
    request = post("Slow", media.video())
    first = await instagram.publish(account, request)
    assert isinstance(first, Continuing)

    later = clock.now() + timedelta(minutes=10, seconds=1)
    with clock.frozen(later), pytest.raises(Retryable, match="still processing") as slow:
        await instagram.publish(account, replace(request, progress=first.progress))
    assert slow.value.after == 30.0
    assert fake.published() == []
    created = [r for r in fake.requests() if r["method"] == "POST" and r["path"].endswith("/media")]
    assert len(created) == 1


async def test_media_instagram_cannot_download_is_retryable(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    missing = replace(media.image(), url=f"{media.url}/media/gone.png")
    with pytest.raises(Retryable, match="could not be fetched"):
        await publish(instagram, account, post("Gone", missing))


async def test_daily_publishing_limit_is_retryable_until_the_oldest_post_leaves_the_window(
    fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "/config", {"quota_total": 1})
    instagram, account = await connected(fake)
    await publish(instagram, account, post("Today's one", media.image()))

    with pytest.raises(Retryable) as limited:
        await publish(instagram, account, post("One too many", media.image()))

    assert limited.value.code == "publishing_limit"
    assert 86_000 < (limited.value.after or 0) <= 86_400
    assert len(fake.published()) == 1


async def test_a_failed_first_comment_is_classified_and_leaves_the_post_alone(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    published = await publish(instagram, account, post("Still out", media.image()))
    fake.inject(
        status=500, body=graph_error(2, "Service temporarily unavailable"), path="comments$"
    )
    on = ReplyTo(parent_id=published.external_id, root_id=published.external_id)
    with pytest.raises(OutsideFailure):
        await instagram.publish_comment(account, on, "x")
    assert [record["id"] for record in fake.published()] == [published.external_id]


# --- ReauthRequired and Ambiguous ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["expire", "revoke"])
async def test_expired_or_revoked_token_requires_reauth_without_showing_it(
    fake: FakeNetwork, media: MediaServer, how: str
) -> None:
    instagram, account = await connected(fake)
    control(fake, f"/tokens/{how}", {"token": account.access_token})
    with pytest.raises(ReauthRequired, match="Error validating access token") as refused:
        await publish(instagram, account, post("Nope", media.image()))
    assert account.access_token not in refused.value.message
    assert fake.published() == []


async def test_server_error_on_media_publish_is_ambiguous(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    fake.inject(status=503, body="upstream unavailable", path="media_publish$")
    with pytest.raises(Ambiguous):
        await publish(instagram, account, post("Maybe", media.image()))


async def test_lost_media_publish_answer_is_ambiguous_and_find_recent_shows_the_post(
    fake: FakeNetwork, media: MediaServer
) -> None:
    instagram, account = await connected(fake)
    since = clock.now() - timedelta(minutes=1)
    fake.inject(status=200, path="media_publish$", lose_response=True, delay_s=1.0)

    # Impatient for the post whose answer is lost only: reading back waits as T21 does.
    impatient = InstagramProvider(replace(fake.config("instagram"), timeout_s=0.5))
    with pytest.raises(Ambiguous):
        await publish(impatient, account, post("Did it post?", media.image()))

    [record] = fake.published()
    recent = await instagram.find_recent(account, since=since)
    assert [(p.external_id, p.text) for p in recent] == [(record["id"], "Did it post?")]
