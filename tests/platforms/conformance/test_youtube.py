"""The YouTube adapter replayed against Google's OAuth and the Data API reference: it must send
each documented request as the pages show it and read the documented answers."""

from __future__ import annotations

from datetime import UTC, datetime

from t21.platforms.base import (
    Continuing,
    Credentials,
    MediaItem,
    MediaKind,
    Published,
    PublishRequest,
)
from t21.platforms.youtube import YouTubeProvider
from tests.platforms.conformance import youtube as reference
from tests.platforms.conformance.harness import Replay, replay
from tests.platforms.harness import FakeNetwork

CHANNEL = Credentials(
    access_token=reference.ACCESS,
    external_id=reference.CHANNEL_ID,
    refresh_token=reference.REFRESH,
)
DATA = bytes(range(256)) * (reference.SIZE // 256) + b"\x00" * (reference.SIZE % 256)
OPTIONS = {
    "title": "My video title",
    "privacy": "public",
    "tags": ["cool", "video", "more keywords"],
    "category_id": "22",
}


def _provider(served: Replay) -> YouTubeProvider:
    return YouTubeProvider(FakeNetwork(served.url).config("youtube"))


async def _read(offset: int, length: int) -> bytes:
    return DATA[offset : offset + length]


VIDEO = MediaItem(MediaKind.VIDEO, "video/mp4", reference.SIZE, "https://media/v.mp4", _read)
REQUEST = PublishRequest(text="This is a description of my video", media=[VIDEO], options=OPTIONS)


async def test_connecting_exchanges_the_code_and_reads_the_channel() -> None:
    with replay(reference.TOKEN, reference.CHANNELS_MINE) as served:
        [connection] = await _provider(served).exchange_code(
            code="4/P7q7W91a-oMsCeLvIaQm6bTrgtp7",
            redirect_uri="https://t21.example/api/v1/social-accounts/callback/youtube",
            code_verifier=None,
        )
    served.check()
    assert connection.grant.refresh_token == reference.REFRESH
    assert connection.grant.expires_in == 3920
    assert (connection.profile.external_id, connection.profile.username) == (
        reference.CHANNEL_ID,
        "acmevideos",
    )
    assert connection.capabilities == {"analytics": False, "comments": False}


async def test_a_refresh_keeps_the_refresh_token() -> None:
    with replay(reference.REFRESH_TOKEN) as served:
        grant = await _provider(served).refresh(CHANNEL)
    served.check()
    assert grant is not None
    assert (grant.access_token, grant.refresh_token) == (reference.ACCESS, None)


async def test_an_upload_opens_a_session_then_sends_chunks_where_the_session_stands() -> None:
    with replay(
        reference.OPEN_SESSION,
        reference.STATUS_NOTHING_YET,
        reference.FIRST_CHUNK,
        reference.LAST_CHUNK,
    ) as served:
        provider = _provider(served)
        opened = await provider.publish(CHANNEL, REQUEST)
        assert isinstance(opened, Continuing)
        assert opened.progress["offset"] == 0
        done = await provider.publish(
            CHANNEL, PublishRequest(REQUEST.text, REQUEST.media, OPTIONS, opened.progress)
        )
    served.check()
    assert isinstance(done, Published)
    assert done.external_id == reference.VIDEO_ID
    assert done.permalink == f"https://www.youtube.com/watch?v={reference.VIDEO_ID}"
    assert done.published_at == datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    sent = b"".join(seen.body for seen in served.seen if seen.body and seen.method == "PUT")
    assert sent == DATA


async def test_a_resumed_upload_sends_only_what_the_session_lacks() -> None:
    with replay(reference.STATUS_HALF, reference.LAST_CHUNK) as served:
        session = f"{served.url}/upload/youtube/v3/videos?uploadType=resumable" + (
            "&upload_id=xa298sd_f&part=snippet,status"
        )
        progress = {"session": session, "offset": 0, "size": reference.SIZE}
        done = await _provider(served).publish(
            CHANNEL, PublishRequest(REQUEST.text, REQUEST.media, OPTIONS, progress)
        )
    served.check()
    assert isinstance(done, Published)
    assert served.seen[-1].body == DATA[262144:]


async def test_reconciling_reads_the_uploads_playlist_and_metrics_the_statistics() -> None:
    with replay(reference.CHANNEL_UPLOADS, reference.PLAYLIST_ITEMS) as served:
        [recent] = await _provider(served).find_recent(
            CHANNEL, since=datetime(2026, 12, 6, tzinfo=UTC)
        )
    served.check()
    assert (recent.external_id, recent.text) == (
        reference.VIDEO_ID,
        "This is a description of my video",
    )
    with replay(reference.STATISTICS) as served:
        numbers = await _provider(served).metrics(CHANNEL, [reference.VIDEO_ID])
    served.check()
    metrics = numbers[reference.VIDEO_ID]
    assert metrics is not None
    assert (metrics.video_views, metrics.likes, metrics.comments) == (1534, 87, 12)
