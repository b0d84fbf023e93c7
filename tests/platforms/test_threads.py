"""The Threads adapter against the Threads fake over real HTTP: connecting and token care, every
publishing flow (text, image, video, carousel), containers that continue later, the quota, reading
back, metrics, and every failure class from the network's own answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from t21.core import clock
from t21.core.outside import Ambiguous, NotPermitted, Permanent, ReauthRequired, Retryable
from t21.core.tls import tls_context
from t21.platforms import registry
from t21.platforms.base import (
    Continuing,
    Credentials,
    MediaItem,
    PostMetrics,
    Published,
    PublishRequest,
    TextCounting,
)
from t21.platforms.rules import violations
from t21.platforms.threads import ThreadsProvider
from t21.platforms.threads.rules import threads_length
from t21.sandbox.platform import text_digest
from t21.sandbox.threads import create_threads_app
from t21.sandbox.threads.graph import text_length as fake_length
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

USER_ID = "25000000000000001"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeNetwork]:
    with serve(create_threads_app()) as network:
        yield network


@pytest.fixture(autouse=True)
def _fresh_network(fake: FakeNetwork) -> None:
    control(fake, "/reset")


def control(fake: FakeNetwork, path: str, body: dict[str, Any] | None = None) -> Any:
    response = loopback.post(f"{fake.url}/_control{path}", json=body or {}, timeout=10)
    assert response.status_code < 300, response.text
    return response.json()


def graph_error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "OAuthException", "code": code}}


async def connected(fake: FakeNetwork, **config: Any) -> tuple[ThreadsProvider, Credentials]:
    threads = ThreadsProvider(replace(fake.config("threads"), **config))
    [connection] = await connect(threads)
    return threads, credentials(connection)


def post(text: str, *items: MediaItem, **options: Any) -> PublishRequest:
    return PublishRequest(text=text, media=list(items), options=options)


async def publish(
    threads: ThreadsProvider, account: Credentials, request: PublishRequest
) -> Published:
    done = await threads.publish(account, request)
    assert isinstance(done, Published), done
    return done


# --- what Threads accepts ---------------------------------------------------------------------


def test_limits_and_properties_are_threads() -> None:
    limits = ThreadsProvider.limits
    assert (limits.max_text, limits.text_counting) == (500, TextCounting.UTF8_EMOJI)
    assert not limits.requires_media
    assert (limits.max_images, limits.max_videos, limits.min_multi_images) == (20, 20, 2)
    assert limits.image is not None
    assert limits.video is not None
    assert limits.image.max_size_bytes == 8 * 1024 * 1024
    assert limits.video.max_duration_s == 300.0
    assert ThreadsProvider.supports_reply_chains
    assert ThreadsProvider.publish_budget is not None
    assert ThreadsProvider.publish_budget.posts == 250
    assert registry.provider_class("threads") is ThreadsProvider


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("hello", 5),
        ("é" * 10, 10),
        ("🙂", 4),
        ("ok 👍🏽", 11),
        ("❤️", 6),
        ("1️⃣", 7),  # a keycap is one emoji: 1 + U+FE0F + U+20E3
        ("🇫🇷", 8),
        ("👨\u200d👩\u200d👧", 18),  # a family: three pictographs and two joiners
        ("a → b", 5),  # an arrow that isn't an emoji counts one
        ("日本", 2),
    ],
)
def test_threads_counts_emoji_as_their_utf8_bytes_in_the_adapter_and_the_fake(
    text: str, length: int
) -> None:
    assert threads_length(text) == length
    assert fake_length(text) == length


def test_text_over_500_as_threads_counts_it_is_refused_before_any_call() -> None:
    threads = ThreadsProvider(FakeNetwork("http://127.0.0.1:9").config("threads"))
    threads.check(post("a" * 500))
    with pytest.raises(Permanent) as refused:
        threads.check(post("a" * 497 + "🙂"))  # 497 + 4 bytes
    assert refused.value.code == "text_too_long"
    # The shared rules (`GET /platforms`, `POST /posts/validate`) count as Threads does too.
    [refusal] = violations(ThreadsProvider.limits, "Threads", "a" * 497 + "🙂", [])
    assert refusal.rule == "text_too_long"
    assert "501 characters" in refusal.message
    assert violations(ThreadsProvider.limits, "Threads", "a" * 496 + "🙂", []) == []


@pytest.mark.parametrize(
    "options", [{"reply_control": "nobody"}, {"first_comment": "x"}, {"reply_control": 3}]
)
def test_unknown_or_bad_options_are_refused_as_invalid_options(options: dict[str, Any]) -> None:
    threads = ThreadsProvider(FakeNetwork("http://127.0.0.1:9").config("threads"))
    with pytest.raises(Permanent) as refused:
        threads.check(post("Hi", **options))
    assert refused.value.code == "invalid_options"


# --- connecting ---------------------------------------------------------------------------------


async def test_connect_exchanges_the_code_for_a_60_day_token_and_the_profile(
    fake: FakeNetwork,
) -> None:
    threads = ThreadsProvider(fake.config("threads"))
    [connection] = await connect(threads)
    assert connection.profile.external_id == USER_ID
    assert connection.profile.username == "t21.sandbox"
    assert connection.grant.expires_in == 60 * 86_400
    assert connection.grant.refresh_token is None
    assert "threads_content_publish" in connection.grant.scopes
    seen = [(r["method"], r["path"]) for r in fake.requests()]
    assert ("POST", "/oauth/access_token") in seen
    assert ("GET", "/access_token") in seen
    long_lived = [r for r in fake.requests() if r["path"] == "/access_token"]
    assert "th_exchange_token" in long_lived[0]["query"]
    assert connection.grant.access_token not in str(fake.requests())


async def test_a_code_used_twice_is_refused_and_asks_to_connect_again(fake: FakeNetwork) -> None:
    threads = ThreadsProvider(fake.config("threads"))
    code, _ = await authorize(threads)
    await threads.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=None)
    with pytest.raises(ReauthRequired, match="code was not found"):
        await threads.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=None)


async def test_refresh_waits_until_the_token_is_a_day_old_then_gives_a_new_one(
    fake: FakeNetwork,
) -> None:
    threads, account = await connected(fake)
    with pytest.raises(Retryable) as early:
        await threads.refresh(account)
    assert early.value.code == "token_too_new"
    assert 60 <= (early.value.after or 0) <= 86_400

    control(fake, "/config", {"refresh_min_age_s": 0})
    grant = await threads.refresh(account)
    assert grant is not None
    assert grant.access_token != account.access_token
    assert grant.expires_in == 60 * 86_400
    refreshed = replace(account, access_token=grant.access_token)
    assert (await threads.profile(refreshed)).external_id == USER_ID
    assert await threads.revoke(account) is False


# --- publishing --------------------------------------------------------------------------------


async def test_publish_text_with_reply_control(fake: FakeNetwork) -> None:
    threads, account = await connected(fake)
    done = await publish(
        threads, account, post("Hello Threads 👋", reply_control="accounts_you_follow")
    )
    [record] = fake.published()
    assert record["id"] == done.external_id
    assert (record["media_type"], record["text"]) == ("TEXT_POST", "Hello Threads 👋")
    assert record["reply_control"] == "accounts_you_follow"
    assert done.permalink is not None
    assert done.permalink.startswith(fake.url + "/@t21.sandbox/")
    assert done.published_at is not None
    [send] = fake.sends()
    assert send["text_sha256"] == text_digest("Hello Threads 👋")
    assert send["outcome"] == "accepted"


async def test_publish_one_image(fake: FakeNetwork, media: MediaServer) -> None:
    threads, account = await connected(fake)
    image = media.image()
    done = await publish(threads, account, post("A picture", image))
    [record] = fake.published()
    assert (record["id"], record["media_type"]) == (done.external_id, "IMAGE")
    assert record["media"] == [image.url]


async def test_publish_a_carousel_of_images_and_a_video_is_one_post(
    fake: FakeNetwork, media: MediaServer
) -> None:
    threads, account = await connected(fake)
    items = [media.image(), media.video(), media.image()]
    await publish(threads, account, post("Three in one", *items))
    [record] = fake.published()
    assert record["media_type"] == "CAROUSEL_ALBUM"
    assert record["media"] == [item.url for item in items]
    created = [
        r for r in fake.requests() if r["method"] == "POST" and r["path"].endswith("/threads")
    ]
    assert len(created) == 4  # three items, then the carousel


async def test_a_video_processing_continues_later_from_the_same_container(
    fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "/config", {"processing_polls": 3})
    threads, account = await connected(fake, poll_interval_s=2.0)
    request = post("Long cut", media.video())
    first = await threads.publish(account, request)
    assert isinstance(first, Continuing)
    assert first.after_s == 2.0
    container = first.progress["container"]
    outcome: Published | Continuing = first
    delays = []
    while isinstance(outcome, Continuing):
        assert outcome.progress["container"] == container
        delays.append(outcome.after_s)
        outcome = await threads.publish(account, replace(request, progress=outcome.progress))
    assert delays == sorted(delays)
    assert len(delays) == 3
    assert [r["id"] for r in fake.published()] == [outcome.external_id]
    created = [
        r for r in fake.requests() if r["method"] == "POST" and r["path"].endswith("/threads")
    ]
    assert len(created) == 1


async def test_a_carousel_waits_for_its_items_then_builds_its_container_once(
    fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "/config", {"processing_polls": 1})
    threads, account = await connected(fake)
    request = post("Pair", media.image(), media.image())
    first = await threads.publish(account, request)
    assert isinstance(first, Continuing)
    assert len(first.progress["children"]) == 2
    assert first.progress["container"] is None
    outcome = await threads.publish(account, replace(request, progress=first.progress))
    while isinstance(outcome, Continuing):
        outcome = await threads.publish(account, replace(request, progress=outcome.progress))
    assert len(fake.published()) == 1


async def test_an_expired_container_is_built_again(fake: FakeNetwork, media: MediaServer) -> None:
    control(fake, "/containers/outcome", {"status": "EXPIRED"})
    threads, account = await connected(fake)
    request = post("Again", media.image())
    first = await threads.publish(account, request)
    assert isinstance(first, Continuing)
    assert first.progress["container"] is None
    assert first.progress["builds"] == 1
    done = await threads.publish(account, replace(request, progress=first.progress))
    assert isinstance(done, Published)
    assert len(fake.published()) == 1


async def test_a_video_threads_cannot_process_is_refused_with_its_status(
    fake: FakeNetwork, media: MediaServer
) -> None:
    control(fake, "/containers/outcome", {"status": "ERROR", "error_message": "INVALID_DURATION"})
    threads, account = await connected(fake)
    with pytest.raises(Permanent, match="INVALID_DURATION"):
        await threads.publish(account, post("Bad", media.video()))
    assert fake.published() == []


async def test_the_fake_refuses_what_threads_refuses(fake: FakeNetwork, media: MediaServer) -> None:
    _threads, account = await connected(fake)
    base = f"{fake.url}/v1.0/{USER_ID}/threads"
    cases = [
        {"media_type": "TEXT", "text": "a" * 498 + "🙂"},
        {"media_type": "TEXT", "text": "Hi", "reply_control": "nobody"},
        {"media_type": "IMAGE", "image_url": media.video().url},
        {"media_type": "CAROUSEL", "children": "1,2"},
    ]
    async with httpx.AsyncClient(verify=tls_context()) as http:
        for params in cases:
            answer = await http.post(base, params={**params, "access_token": account.access_token})
            assert answer.status_code == 400, params
            assert answer.json()["error"]["code"] == 100
        as_json = await http.post(
            base,
            json={"media_type": "TEXT", "text": "Hi"},
            params={"access_token": account.access_token},
        )
    assert as_json.status_code == 400
    assert fake.published() == []


# --- reading back -------------------------------------------------------------------------------


async def test_find_recent_and_metrics_read_the_users_threads(fake: FakeNetwork) -> None:
    threads, account = await connected(fake)
    since = clock.now() - timedelta(minutes=1)
    first = await publish(threads, account, post("First"))
    second = await publish(threads, account, post("Second"))
    recent = await threads.find_recent(account, since=since)
    assert [(p.external_id, p.text) for p in recent] == [
        (second.external_id, "Second"),
        (first.external_id, "First"),
    ]
    control(
        fake,
        "/insights",
        {
            "media_id": first.external_id,
            "values": {"views": 900, "likes": 40, "replies": 6, "reposts": 3, "quotes": 2,
                       "shares": 1},
        },
    )  # fmt: skip
    numbers = await threads.metrics(account, [first.external_id, "1792999"])
    assert numbers[first.external_id] == PostMetrics(
        impressions=900, likes=40, comments=6, shares=6
    )
    assert numbers["1792999"] is None


async def test_metrics_without_the_insights_permission_are_not_permitted_posting_still_works(
    fake: FakeNetwork,
) -> None:
    control(fake, "/config", {"withheld_scopes": ["threads_manage_insights"]})
    threads, account = await connected(fake)
    done = await publish(threads, account, post("No numbers"))
    with pytest.raises(NotPermitted, match="threads_manage_insights") as refused:
        await threads.metrics(account, [done.external_id])
    assert refused.value.code == "permission_missing"


# --- failures -----------------------------------------------------------------------------------


async def test_the_daily_quota_is_read_and_retried_when_the_oldest_post_leaves_the_window(
    fake: FakeNetwork,
) -> None:
    control(fake, "/config", {"quota_total": 1})
    threads, account = await connected(fake)
    await publish(threads, account, post("Today's one"))
    with pytest.raises(Retryable) as limited:
        await publish(threads, account, post("One too many"))
    assert limited.value.code == "publishing_limit"
    assert 86_000 < (limited.value.after or 0) <= 86_400
    assert len(fake.published()) == 1
    # Refused before building: no container was made for the second post.
    created = [
        r for r in fake.requests() if r["method"] == "POST" and r["path"].endswith("/threads")
    ]
    assert len(created) == 1


async def test_a_429_is_retryable_after_metas_estimate(fake: FakeNetwork) -> None:
    threads, account = await connected(fake)
    usage = {USER_ID: [{"type": "threads", "estimated_time_to_regain_access": 7}]}
    fake.inject(
        status=429,
        body=graph_error(4, "Application request limit reached"),
        headers={"x-business-use-case-usage": json.dumps(usage)},
        path="/threads$",
        method="POST",
    )
    with pytest.raises(Retryable) as throttled:
        await publish(threads, account, post("Later"))
    assert throttled.value.after == 420
    assert fake.published() == []


async def test_a_server_error_before_publishing_is_retryable_and_publishes_nothing(
    fake: FakeNetwork,
) -> None:
    threads, account = await connected(fake)
    fake.inject(
        status=500, body=graph_error(2, "Service temporarily unavailable"), path="/threads$"
    )
    with pytest.raises(Retryable):
        await publish(threads, account, post("Not yet"))
    assert fake.published() == []


@pytest.mark.parametrize("how", ["expire", "revoke"])
async def test_an_expired_or_revoked_token_requires_reauth_without_showing_it(
    fake: FakeNetwork, how: str
) -> None:
    threads, account = await connected(fake)
    control(fake, f"/tokens/{how}", {"token": account.access_token})
    with pytest.raises(ReauthRequired, match="Error validating access token") as refused:
        await publish(threads, account, post("Nope"))
    assert account.access_token not in refused.value.message
    assert fake.published() == []


async def test_a_server_error_on_threads_publish_is_ambiguous(fake: FakeNetwork) -> None:
    threads, account = await connected(fake)
    fake.inject(status=503, body="upstream unavailable", path="threads_publish$")
    with pytest.raises(Ambiguous) as doubt:
        await publish(threads, account, post("Maybe"))
    assert doubt.value.reference is not None


async def test_a_lost_publish_answer_is_found_by_find_recent_without_a_second_post(
    fake: FakeNetwork,
) -> None:
    threads, account = await connected(fake)
    since = clock.now() - timedelta(minutes=1)
    fake.inject(status=200, path="threads_publish$", lose_response=True, delay_s=1.0)
    request = post("Did it post?")
    # Impatient for the post whose answer is lost only: reading back waits as T21 does.
    impatient = ThreadsProvider(replace(fake.config("threads"), timeout_s=0.5))
    with pytest.raises(Ambiguous) as doubt:
        await publish(impatient, account, request)

    [record] = fake.published()
    recent = await threads.find_recent(account, since=since)
    assert [(p.external_id, p.text) for p in recent] == [(record["id"], "Did it post?")]
    # Resuming the kept container can't publish it twice: Threads says it is published.
    with pytest.raises(Ambiguous) as again:
        await threads.publish(
            account, replace(request, progress={"container": doubt.value.reference, "builds": 1})
        )
    assert again.value.code == "already_published"
    assert len(fake.published()) == 1
    assert [s["outcome"] for s in fake.sends()] == ["fault-injected-after-effect"]
