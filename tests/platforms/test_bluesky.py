"""The Bluesky adapter against the Bluesky fake over real HTTP: connecting with an app password,
publishing text with facets and images, reading back, sessions, and every failure class from
the PDS's own error answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from t21.core import clock
from t21.core.outside import Ambiguous, Permanent, ReauthRequired, Retryable
from t21.core.tls import tls_context
from t21.platforms.base import (
    Credentials,
    MediaKind,
    PostMetrics,
    PublishRequest,
    TextCounting,
)
from t21.platforms.bluesky import BlueskyProvider
from t21.platforms.bluesky.facets import detect
from t21.platforms.rules import violations
from t21.platforms.text import text_length
from t21.sandbox.bluesky import create_bluesky_app
from tests.platforms.harness import (
    FakeNetwork,
    MediaServer,
    bluesky_record,
    serve,
    sign_in,
)
from tests.platforms.test_rules import Facts

HANDLE = "alice.bsky.social"
APP_PASSWORD = "abcd-efgh-1234-wxyz"


@pytest.fixture(scope="module")
def served() -> Iterator[FakeNetwork]:
    with serve(create_bluesky_app()) as fake:
        yield fake


@pytest.fixture
async def account(bsky: BlueskyProvider) -> Credentials:
    return await sign_in(bsky, {"handle": HANDLE, "app_password": APP_PASSWORD})


# --- connecting ----------------------------------------------------------------------------------


async def test_an_app_password_connects_the_handles_account(
    bsky: BlueskyProvider, account: Credentials
) -> None:
    assert account.external_id.startswith("did:plc:")
    assert account.username == HANDLE
    assert account.refresh_token
    assert account.access_token
    assert account.expires_at is not None
    assert account.expires_at - clock.now() > timedelta(minutes=100)
    profile = await bsky.profile(account)
    assert profile.external_id == account.external_id


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ({"handle": HANDLE, "app_password": "my-main-password"}, "invalid_app_password"),
        ({"handle": "not a handle", "app_password": APP_PASSWORD}, "invalid_handle"),
        ({"handle": HANDLE}, "invalid_credentials"),
        ({"handle": HANDLE, "app_password": APP_PASSWORD, "extra": "x"}, "invalid_credentials"),
    ],
)
async def test_credentials_that_cannot_work_are_refused(
    bsky: BlueskyProvider, given: dict[str, str], code: str
) -> None:
    with pytest.raises(Permanent) as refused:
        await bsky.connect_with_credentials(given)
    assert refused.value.code == code


async def test_the_pds_refuses_a_wrong_password_as_the_reference_does(fake: FakeNetwork) -> None:
    async with httpx.AsyncClient(verify=tls_context(), base_url=f"{fake.url}/xrpc/") as http:
        await http.get("com.atproto.identity.resolveHandle", params={"handle": HANDLE})
        answer = await http.post(
            "com.atproto.server.createSession", json={"identifier": HANDLE, "password": "hunter2"}
        )
    assert answer.status_code == 401
    assert answer.json() == {
        "error": "AuthenticationRequired",
        "message": "Invalid identifier or password",
    }


async def test_refresh_rotates_the_session_and_the_old_refresh_token_dies(
    bsky: BlueskyProvider, account: Credentials
) -> None:
    grant = await bsky.refresh(account)
    assert grant is not None
    assert grant.refresh_token
    assert grant.refresh_token != account.refresh_token
    with pytest.raises(ReauthRequired):
        await bsky.refresh(account)
    renewed = replace(account, access_token=grant.access_token, refresh_token=grant.refresh_token)
    assert (await bsky.profile(renewed)).username == HANDLE


async def test_revoke_ends_the_session(bsky: BlueskyProvider, account: Credentials) -> None:
    assert await bsky.revoke(account) is True
    with pytest.raises(ReauthRequired):
        await bsky.publish(account, PublishRequest(text="after revoke"))


async def test_a_revoked_or_expired_token_asks_for_a_new_sign_in(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials
) -> None:
    fake.expire_tokens(account.access_token)
    with pytest.raises(ReauthRequired) as expired:
        await bsky.publish(account, PublishRequest(text="expired"))
    assert "ExpiredToken" in expired.value.message
    fake.revoke_tokens()
    with pytest.raises(ReauthRequired):
        await bsky.metrics(account, ["at://x/app.bsky.feed.post/1"])
    assert fake.published() == []


# --- publishing ----------------------------------------------------------------------------------


async def test_text_is_published_with_facets_at_utf8_byte_offsets(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials
) -> None:
    text = "Café ☕ with @bob.example.com: see https://t21.app/x. #launch"
    published = await bsky.publish(
        account, PublishRequest(text=text, options={"languages": ["en"]})
    )
    assert published.external_id.startswith(f"at://{account.external_id}/app.bsky.feed.post/")
    assert published.permalink
    assert published.permalink.startswith(f"https://bsky.app/profile/{HANDLE}/post/")
    [post] = fake.published()
    assert post["text"] == text
    recent = await bsky.find_recent(account, since=clock.now() - timedelta(minutes=5))
    assert [item.external_id for item in recent] == [published.external_id]
    stored = await bluesky_record(fake, account, published.external_id)
    assert stored["langs"] == ["en"]
    raw = text.encode("utf-8")
    spans = {
        feature["$type"].rsplit("#", 1)[1]: raw[
            facet["index"]["byteStart"] : facet["index"]["byteEnd"]
        ].decode()
        for facet in stored["facets"]
        for feature in facet["features"]
    }
    assert spans == {
        "mention": "@bob.example.com",
        "link": "https://t21.app/x",
        "tag": "#launch",
    }
    mention = next(f for f in stored["facets"] if "mention" in f["features"][0]["$type"])
    assert mention["features"][0]["did"].startswith("did:plc:")


def test_facets_find_what_the_reference_client_finds() -> None:
    found = detect("a #1 #tag! (https://example.com/a) email@x.com @me.test")
    assert [(item.kind, item.value) for item in found] == [
        ("tag", "tag"),
        ("link", "https://example.com/a"),
        ("mention", "me.test"),
    ]


async def test_images_are_uploaded_as_blobs_with_alt_text(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, media: MediaServer
) -> None:
    images = [replace(media.image(600, 400), alt_text="a chart"), media.image()]
    published = await bsky.publish(account, PublishRequest(text="two images", media=images))
    stored = await bluesky_record(fake, account, published.external_id)
    embedded = stored["embed"]["images"]
    assert stored["embed"]["$type"] == "app.bsky.embed.images"
    assert [image["alt"] for image in embedded] == ["a chart", ""]
    assert embedded[0]["image"]["mimeType"] == "image/png"
    assert embedded[0]["aspectRatio"] == {"width": 600, "height": 400}


async def test_the_fake_counts_graphemes_itself_and_refuses_past_300(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials
) -> None:
    family = "👨‍👩‍👧"  # one grapheme, five code points, 18 bytes
    fits = family * 150
    assert BlueskyProvider.limits.text_counting is TextCounting.GRAPHEMES
    assert text_length(fits, TextCounting.GRAPHEMES) == 150
    await bsky.publish(account, PublishRequest(text=fits))
    with pytest.raises(Permanent) as refused:
        await bsky.publish(account, PublishRequest(text="x" * 301))
    assert "300 graphemes" in refused.value.message
    assert len(fake.published()) == 1


async def test_a_blob_that_was_never_uploaded_is_refused(
    fake: FakeNetwork, account: Credentials
) -> None:
    async with httpx.AsyncClient(verify=tls_context()) as http:
        answer = await http.post(
            f"{fake.url}/xrpc/com.atproto.repo.createRecord",
            headers={"Authorization": f"Bearer {account.access_token}"},
            json={
                "repo": account.external_id,
                "collection": "app.bsky.feed.post",
                "record": {
                    "text": "",
                    "createdAt": "2026-12-06T06:00:00Z",
                    "embed": {
                        "$type": "app.bsky.embed.images",
                        "images": [{"alt": "", "image": {"ref": {"$link": "bafyreinope"}}}],
                    },
                },
            },
        )
    assert answer.status_code == 400
    assert answer.json()["error"] == "BlobNotFound"


def test_the_rules_take_one_short_mp4_and_four_images_but_no_more() -> None:
    limits = BlueskyProvider.limits
    video = Facts(MediaKind.VIDEO, "video/mp4", size=1000, width=720, height=1280, duration_s=5)
    assert violations(limits, "Bluesky", "Hi", [video]) == []
    rules = {
        "video_too_long": [replace(video, duration_s=181)],
        "too_many_videos": [video, video],
        "media_type": [replace(video, content_type="video/quicktime")],
    }
    for rule, media in rules.items():
        assert [v.rule for v in violations(limits, "Bluesky", "Hi", media)] == [rule]
    image = Facts(MediaKind.IMAGE, "image/png", size=1000, width=100, height=100)
    assert violations(limits, "Bluesky", "Hi", [image] * 4) == []
    too_many = [v.rule for v in violations(limits, "Bluesky", "Hi", [image] * 5)]
    assert too_many == ["too_many_images"]
    big = replace(image, size=2_000_001)
    assert [v.rule for v in violations(limits, "Bluesky", "Hi", [big])] == ["media_too_large"]


def test_check_refuses_unknown_options_and_too_many_bytes() -> None:
    bsky = BlueskyProvider(
        replace(FakeNetwork(url="http://127.0.0.1:9").config("bluesky"), api_base="")
    )
    with pytest.raises(Permanent) as unknown:
        bsky.check(PublishRequest(text="hi", options={"visibility": "public"}))
    assert unknown.value.code == "invalid_options"
    with pytest.raises(Permanent) as long:
        bsky.check(PublishRequest(text="é" * 1501))
    assert long.value.code == "text_bytes"


# --- failures and reading back -------------------------------------------------------------------


async def test_a_429_carries_the_ratelimit_reset(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials
) -> None:
    fake.control("POST", "/points", {"limit": 3})
    await bsky.publish(account, PublishRequest(text="first"))
    with pytest.raises(Retryable) as limited:
        await bsky.publish(account, PublishRequest(text="second"))
    assert limited.value.after is not None
    assert 3500 < limited.value.after <= 3600
    assert len(fake.published()) == 1


async def test_the_daily_budget_is_spent_too(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials
) -> None:
    fake.control("POST", "/points", {"daily_limit": 6})
    await bsky.publish(account, PublishRequest(text="one"))
    await bsky.publish(account, PublishRequest(text="two"))
    with pytest.raises(Retryable) as limited:
        await bsky.publish(account, PublishRequest(text="three"))
    assert limited.value.after is not None
    assert 86_000 < limited.value.after <= 86_400
    assert [post["text"] for post in fake.published()] == ["one", "two"]


async def test_an_injected_429_waits_for_its_reset(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials
) -> None:
    fake.inject(
        status=429,
        body={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        headers={"ratelimit-reset": str(int(time.time()) + 120)},
        path="createRecord",
    )
    with pytest.raises(Retryable) as limited:
        await bsky.publish(account, PublishRequest(text="limited"))
    assert limited.value.after is not None
    assert 100 < limited.value.after <= 120


async def test_a_lost_answer_is_doubtful_and_reconciles_without_a_second_post(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials
) -> None:
    # Impatient for the post whose answer is lost only: reading back waits as T21 does.
    impatient = BlueskyProvider(fake.config("bluesky", timeout_s=0.5))
    fake.inject(status=200, path="createRecord", lose_response=True, delay_s=1.5)
    with pytest.raises(Ambiguous):
        await impatient.publish(account, PublishRequest(text="did it go out?"))
    recent = await bsky.find_recent(account, since=clock.now() - timedelta(minutes=1))
    assert [post.text for post in recent] == ["did it go out?"]
    sends = fake.sends()
    assert len(sends) == 1
    assert sends[0]["outcome"] == "fault-injected-after-effect"


async def test_a_server_error_before_publishing_is_retryable_after_it_doubtful(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials
) -> None:
    fake.inject(status=502, path="createRecord")
    with pytest.raises(Ambiguous):
        await bsky.publish(account, PublishRequest(text="maybe"))
    fake.inject(status=503, path="listRecords")
    with pytest.raises(Retryable):
        await bsky.find_recent(account, since=clock.now() - timedelta(minutes=1))


async def test_find_recent_pages_newest_first_and_stops_at_since(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials
) -> None:
    for number in range(5):
        await bsky.publish(account, PublishRequest(text=f"post {number}"))
    recent = await bsky.find_recent(account, since=clock.now() - timedelta(minutes=1), limit=3)
    assert [post.text for post in recent] == ["post 4", "post 3", "post 2"]
    later = await bsky.find_recent(account, since=clock.now() + timedelta(minutes=1))
    assert later == []


async def test_metrics_are_likes_replies_and_reposts_plus_quotes(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials
) -> None:
    published = await bsky.publish(account, PublishRequest(text="count me"))
    uri = published.external_id
    fake.control(
        "POST",
        "/metrics",
        {"uri": uri, "likeCount": 7, "repostCount": 2, "replyCount": 3, "quoteCount": 1},
    )
    missing = f"at://{account.external_id}/app.bsky.feed.post/3zzzzzzzzzzzz"
    numbers = await bsky.metrics(account, [uri, missing])
    assert numbers == {uri: PostMetrics(likes=7, comments=3, shares=3), missing: None}
