"""Resumable uploads (`videos.insert` with `uploadType=resumable`): a session is opened with
the video's metadata, then the file goes in chunks (`PUT` with `Content-Range: bytes a-b/N`,
each a multiple of 256 KiB but the last), each answered 308 Resume Incomplete with `Range:
bytes=0-<last byte kept>` until the last, answered 200/201 with the video. `PUT` with
`Content-Range: bytes */N` and no body asks where an upload stands.

T21 opens the session in one publishing attempt and sends the file over the next ones, a slice
per attempt, so the session's URI and the offset YouTube confirmed are kept in the database
(`Continuing.progress`) before a byte of the video leaves. A worker that dies mid-slice leaves
at most that slice unconfirmed: the next attempt asks the session where it stands and sends
from there, never from 0; a session that already holds the whole file answers with its video,
so a lost final answer never makes a second video. Chunks are read from storage one at a time.

Source: https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from t21.core.outside import Retryable
from t21.platforms.base import MediaItem
from t21.platforms.http import PlatformHttp, json_body
from t21.platforms.youtube.wire import failure

CHUNK_UNIT = 256 * 1024  # chunks are multiples of 256 KiB, the last excepted
RANGE = re.compile(r"^bytes=0-(\d+)$")


@dataclass(frozen=True)
class Pace:
    """How much of a file one attempt sends: `chunk` bytes a request, until `slice_bytes` or
    `slice_s` seconds are spent (the attempt then hands over, its offset kept)."""

    chunk: int
    slice_bytes: int
    slice_s: float


# YouTube: 8 MiB chunks, up to 256 MiB or a minute an attempt. The sandbox: the smallest chunk
# and two of them an attempt, so its tests go through several attempts.
REAL_PACE = Pace(chunk=32 * CHUNK_UNIT, slice_bytes=1024 * CHUNK_UNIT, slice_s=60.0)
SANDBOX_PACE = Pace(chunk=CHUNK_UNIT, slice_bytes=2 * CHUNK_UNIT, slice_s=60.0)


class SessionGone(Exception):
    """The upload session expired or was cancelled: the upload starts over."""


async def open_session(
    http: PlatformHttp,
    base: str,
    token: str,
    video: MediaItem,
    resource: dict[str, Any],
    *,
    notify_subscribers: bool | None,
) -> str:
    """The URI of a new upload session for `video` with `resource`'s metadata."""
    params = {"uploadType": "resumable", "part": ",".join(sorted(resource))}
    if notify_subscribers is not None:
        params["notifySubscribers"] = "true" if notify_subscribers else "false"
    response = await http.request(
        "POST",
        f"{base}/upload/youtube/v3/videos",
        params=params,
        json=resource,
        headers={
            "Authorization": f"Bearer {token}",
            "X-Upload-Content-Length": str(video.size),
            "X-Upload-Content-Type": video.content_type,
        },
    )
    if response.status_code != 200:
        raise failure(response, what="opening the video's upload")
    location = str(response.headers.get("location") or "")
    if not location:
        raise Retryable("YouTube opened no upload session.", code="no_session")
    return location


async def where(http: PlatformHttp, session: str, token: str, size: int) -> int | dict[str, Any]:
    """How many bytes the session holds, or the video once it holds them all."""
    response = await http.request(
        "PUT",
        session,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Range": f"bytes */{size}",
            "Content-Length": "0",
        },
    )
    return _answer(response)


async def send_slice(
    http: PlatformHttp, session: str, token: str, video: MediaItem, offset: int, pace: Pace
) -> int | dict[str, Any]:
    """Send the file from `offset`, a chunk at a time, for one slice; the new offset, or the
    video when the last chunk was taken."""
    started, sent = time.monotonic(), 0
    while True:
        length = min(pace.chunk, video.size - offset)
        chunk = await video.read(offset, length)
        if len(chunk) != length:
            raise Retryable("The video ended early in storage.", code="media_short")
        response = await http.request(
            "PUT",
            session,
            content=chunk,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Range": f"bytes {offset}-{offset + length - 1}/{video.size}",
                "Content-Length": str(length),
            },
        )
        answer = _answer(response)
        if isinstance(answer, dict):
            return answer
        if answer <= offset:
            raise Retryable("YouTube kept none of the last chunk.", code="chunk_lost")
        sent += answer - offset
        offset = answer
        if sent >= pace.slice_bytes or time.monotonic() - started >= pace.slice_s:
            return offset


def _answer(response: httpx.Response) -> int | dict[str, Any]:
    status = response.status_code
    if status in (200, 201):
        body = json_body(response)
        if not isinstance(body, dict) or not body.get("id"):
            raise Retryable("YouTube finished the upload without the video.", code="bad_answer")
        return body
    if status == 308:
        match = RANGE.match(response.headers.get("range", ""))
        return int(match.group(1)) + 1 if match else 0
    if status in (404, 410):
        raise SessionGone
    raise failure(response, what="uploading the video")
