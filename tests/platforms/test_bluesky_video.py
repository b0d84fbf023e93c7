"""Bluesky video against the fake over real HTTP: the upload limits asked first, the video
streamed to the video service with a service token, its processing job followed, and the post
embedding the processed blob; refusals as Bluesky's video service gives them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from t21.core.outside import Permanent
from t21.core.tls import tls_context
from t21.platforms.base import Credentials, PublishRequest
from t21.platforms.bluesky import BlueskyProvider
from t21.sandbox.bluesky import create_bluesky_app
from tests.platforms.harness import (
    FakeNetwork,
    MediaServer,
    bluesky_create,
    bluesky_record,
    bluesky_upload,
    mp4_bytes,
    serve,
    sign_in,
)

HANDLE = "alice.bsky.social"
APP_PASSWORD = "abcd-efgh-1234-wxyz"


@pytest.fixture(scope="module")
def served() -> Iterator[FakeNetwork]:
    with serve(create_bluesky_app()) as fake:
        yield fake


@pytest.fixture
async def account(bsky: BlueskyProvider) -> Credentials:
    return await sign_in(bsky, {"handle": HANDLE, "app_password": APP_PASSWORD})


async def test_a_video_is_processed_first_then_embedded_with_its_aspect_ratio(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, media: MediaServer
) -> None:
    fake.control("POST", "/video", {"polls": 3})
    clip = replace(media.video(size=3 * 1024 * 1024 + 17), alt_text="a demo")
    published = await bsky.publish(account, PublishRequest(text="Watch this", media=[clip]))
    stored = await bluesky_record(fake, account, published.external_id)
    embed = stored["embed"]
    assert isinstance(embed, dict)
    assert embed["$type"] == "app.bsky.embed.video"
    assert embed["video"]["mimeType"] == "video/mp4"
    assert embed["video"]["size"] == clip.size
    assert embed["aspectRatio"] == {"width": 1080, "height": 1920}
    assert embed["alt"] == "a demo"


async def test_an_account_that_cannot_upload_video_is_refused_before_sending_it(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, media: MediaServer
) -> None:
    fake.control("POST", "/video", {"can_upload": False})
    with pytest.raises(Permanent) as refused:
        await bsky.publish(account, PublishRequest(text="no", media=[media.video()]))
    assert refused.value.code == "video_limit"
    assert "verified email" in refused.value.message
    assert fake.published() == []


async def test_a_failed_processing_job_publishes_nothing(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, media: MediaServer
) -> None:
    fake.control("POST", "/video", {"fail": True})
    with pytest.raises(Permanent) as refused:
        await bsky.publish(account, PublishRequest(text="broken", media=[media.video()]))
    assert refused.value.code == "video_refused"
    assert fake.published() == []


async def test_the_video_service_wants_a_token_for_itself_and_an_mp4(
    fake: FakeNetwork, account: Credentials
) -> None:
    async with httpx.AsyncClient(verify=tls_context(), base_url=f"{fake.url}/xrpc/") as http:
        auth = {"Authorization": f"Bearer {account.access_token}"}
        wrong_aud = await http.get(
            "com.atproto.server.getServiceAuth",
            params={"aud": "did:web:elsewhere.example", "lxm": "com.atproto.repo.uploadBlob"},
            headers=auth,
        )
        token = wrong_aud.json()["token"]
        upload = await http.post(
            "app.bsky.video.uploadVideo",
            params={"did": account.external_id, "name": "a.mp4"},
            headers={"Authorization": f"Bearer {token}", "Content-Type": "video/mp4"},
            content=b"\x00\x00\x00\x18ftypisom",
        )
        assert upload.status_code == 401
        host = fake.url.removeprefix("http://").replace(":", "%3A")
        right = await http.get(
            "com.atproto.server.getServiceAuth",
            params={"aud": f"did:web:{host}", "lxm": "com.atproto.repo.uploadBlob"},
            headers=auth,
        )
        not_mp4 = await http.post(
            "app.bsky.video.uploadVideo",
            params={"did": account.external_id, "name": "a.mp4"},
            headers={
                "Authorization": f"Bearer {right.json()['token']}",
                "Content-Type": "video/mp4",
            },
            content=b"GIF89a-not-a-video",
        )
        assert (not_mp4.status_code, not_mp4.json()["message"]) == (400, "Not an mp4 file")


def test_platforms_list_one_mp4_of_three_minutes() -> None:
    rule = BlueskyProvider.limits.video
    assert rule is not None
    assert BlueskyProvider.limits.max_videos == 1
    assert rule.content_types == frozenset({"video/mp4"})
    assert rule.max_duration_s == 180
    assert rule.max_size_bytes == 300_000_000


async def test_the_fake_takes_captions_and_alt_only_as_the_lexicon_says(
    fake: FakeNetwork, account: Credentials
) -> None:
    video = await bluesky_upload(fake, account, mp4_bytes(4096), "video/mp4")
    cues = b"WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n"
    vtt = await bluesky_upload(fake, account, cues, "text/vtt")
    embed = {"$type": "app.bsky.embed.video", "video": video}
    captions = [{"lang": "en", "file": vtt}, {"lang": "pt-BR", "file": vtt}]
    good = await bluesky_create(fake, account, embed | {"alt": "é" * 1000, "captions": captions})
    assert good.status_code == 200, good.text
    too_large = await bluesky_upload(fake, account, b"WEBVTT\n\n" + b"x" * 20_000, "text/vtt")
    plain = await bluesky_upload(fake, account, b"hello", "text/plain")
    unknown = {**vtt, "ref": {"$link": "bafynope"}}
    for wrong, where in (
        ({"alt": "a" * 1001}, "alt"),
        ({"alt": "👨‍👩‍👧‍👦" * 500}, "alt"),  # 500 graphemes, but 12,500 bytes
        ({"captions": [{"lang": "en", "file": vtt}] * 21}, "captions"),
        ({"captions": [{"lang": "english!", "file": vtt}]}, "lang"),
        ({"captions": [{"file": vtt}]}, "lang"),
        ({"captions": [{"lang": "en", "file": too_large}]}, "file"),
        ({"captions": [{"lang": "en", "file": plain}]}, "file"),
        ({"captions": [{"lang": "en", "file": unknown}]}, "file"),
        ({"captions": {"lang": "en", "file": vtt}}, "captions"),
    ):
        refused = await bluesky_create(fake, account, embed | wrong)
        assert refused.status_code == 400, wrong
        assert where in refused.json()["message"], (wrong, refused.text)
    assert len(fake.published()) == 1
