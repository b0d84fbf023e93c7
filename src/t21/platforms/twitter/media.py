"""Uploading a post's media through X's dedicated endpoints: initialize, append the bytes in
chunks, finalize, then poll `STATUS` while videos and GIFs are processed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from t21.core.outside import Permanent, Retryable
from t21.platforms.base import MediaItem, MediaKind
from t21.platforms.twitter.wire import XApi, data_of, unexpected

MB = 1024 * 1024
# Under the 5 MB a chunk may be; 512 MB of video stays within the 1,000 segments allowed.
CHUNK_BYTES = 4 * MB
UPLOAD = "/2/media/upload"


def media_category(item: MediaItem) -> str:
    """X's category for a post's media: GIFs are animated GIFs (processed like videos)."""
    if item.kind is MediaKind.VIDEO:
        return "tweet_video"
    return "tweet_gif" if item.content_type == "image/gif" else "tweet_image"


def processed_alone(item: MediaItem) -> bool:
    """Whether X takes this item only on its own (one video or animated GIF per post)."""
    return media_category(item) != "tweet_image"


def takes_alt_text(item: MediaItem) -> bool:
    """X takes alt text for images and GIFs only (docs.x.com …/create-media-metadata); a
    video's is left out rather than failing the post."""
    return media_category(item) != "tweet_video"


async def upload(api: XApi, item: MediaItem) -> tuple[str, dict[str, Any] | None]:
    """Send `item` to X; its media id, and the processing still to wait for (if any)."""
    started = await api.json(
        "POST",
        f"{UPLOAD}/initialize",
        upload=True,
        json={
            "media_type": item.content_type,
            "total_bytes": item.size,
            "media_category": media_category(item),
        },
    )
    media_id = data_of(started).get("id")
    if not isinstance(media_id, str) or not media_id:
        raise unexpected("the media upload")
    for index, offset in enumerate(range(0, item.size, CHUNK_BYTES)):
        chunk = await item.read(offset, min(CHUNK_BYTES, item.size - offset))
        await api.send(
            "POST",
            f"{UPLOAD}/{media_id}/append",
            upload=True,
            data={"segment_index": str(index)},
            files={"media": ("blob", chunk, "application/octet-stream")},
        )
    finished = await api.json("POST", f"{UPLOAD}/{media_id}/finalize", upload=True)
    info = data_of(finished).get("processing_info")
    if item.alt_text and takes_alt_text(item):
        await api.send(
            "POST",
            "/2/media/metadata",
            upload=True,
            json={"id": media_id, "metadata": {"alt_text": {"text": item.alt_text}}},
        )
    return media_id, info if isinstance(info, dict) else None


async def await_processed(api: XApi, processing: dict[str, dict[str, Any]]) -> None:
    """Poll `STATUS` for each media id until it succeeds; Permanent when X can't process it,
    Retryable when it is still processing at `poll_timeout_s`.

    X asks clients to wait `check_after_secs` between polls; the sandbox fakes process at once,
    so against them only `poll_interval_s` is waited."""
    config = api.config
    deadline = time.monotonic() + config.poll_timeout_s
    for media_id, info in processing.items():
        while True:
            state = info.get("state")
            if state in (None, "succeeded"):
                break
            if state == "failed":
                error = info.get("error") or {}
                reason = error.get("message") if isinstance(error, dict) else None
                raise Permanent(
                    f"X could not process the media: {reason or 'processing failed'}",
                    code="media_failed",
                )
            hint = info.get("check_after_secs")
            wait = config.poll_interval_s
            if not config.sandbox and isinstance(hint, int | float):
                wait = max(wait, float(hint))
            if time.monotonic() + wait > deadline:
                raise Retryable(
                    "X is still processing the media.", after=max(wait, 1.0), code="processing"
                )
            await asyncio.sleep(wait)
            body = await api.json(
                "GET", UPLOAD, upload=True, params={"command": "STATUS", "media_id": media_id}
            )
            found = data_of(body).get("processing_info")
            info = found if isinstance(found, dict) else {}
