"""A Bluesky post's video: sent to the video service for processing before the post, streamed
from storage, then embedded as `app.bsky.embed.video` with its aspect ratio and alt text.

The flow (docs.bsky.app/docs/tutorials/video, lexicons/app/bsky/video):
- `app.bsky.video.getUploadLimits` at the video service, with a service token from the PDS
  (`com.atproto.server.getServiceAuth`, `aud` the video service's did:web, `lxm` that method):
  `canUpload` false (an unverified email, the daily 25 videos or 10 GB spent) refuses at once.
- `app.bsky.video.uploadVideo?did=&name=` at the video service, the mp4 as the body, with a
  service token whose `aud` is the PDS's did:web, `lxm` `com.atproto.repo.uploadBlob` and an
  expiry of 30 minutes (the service stores the processed video on the PDS with it). The answer
  is a job status (`{jobStatus}` per the lexicon; the service has answered the bare object).
- `app.bsky.video.getJobStatus?jobId=` until `state` is JOB_STATE_COMPLETED with its `blob`, or
  JOB_STATE_FAILED with `error`/`message`; a video processed before answers with its blob.
- `app.bsky.embed.video`: `video` a blob of video/mp4 of at most 300,000,000 bytes (formerly
  100 MB), `alt`, `aspectRatio` {width, height}; one video per post, no images beside it.
- Not sent: `captions` (up to 20 `{lang, file}`, each file a `text/vtt` blob of at most 20,000
  bytes). T21's media is one file per upload, with no captions file or language beside it
  (`media.models.MediaAsset`, `platforms.base.MediaItem`); sending them needs both to carry a
  captions file per language first. `alt` goes with the video whenever the item has alt text.
- Length: up to 3 minutes since March 2025 (announced by Bluesky and reported widely; no
  lexicon states it, so the fake's limit is the same number, unconfirmed at the source).

Source: https://docs.bsky.app/docs/tutorials/video
Source: https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/embed/video.json
Source: https://github.com/bluesky-social/atproto/tree/main/lexicons/app/bsky/video
Source: https://github.com/bluesky-social/atproto/blob/main/lexicons/com/atproto/server/getServiceAuth.json
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from t21.core.outside import Permanent, Retryable
from t21.platforms.base import MediaItem
from t21.platforms.http import PlatformHttp, json_body

if TYPE_CHECKING:
    from t21.platforms.bluesky.xrpc import Xrpc

VIDEO_SERVICE = "https://video.bsky.app"
VIDEO_MAX_BYTES = 300_000_000  # app.bsky.embed.video video maxSize
VIDEO_MAX_S = 180.0
CHUNK = 1024 * 1024
UPLOAD_TOKEN_TTL_S = 30 * 60


def did_web(base: str) -> str:
    """The did:web naming the host of `base` (a port percent-encoded, as did:web wants)."""
    return "did:web:" + urlsplit(base).netloc.replace(":", "%3A")


async def _service_token(api: Xrpc, *, aud: str, lxm: str, exp: int | None = None) -> str:
    params: dict[str, str] = {"aud": aud, "lxm": lxm}
    if exp is not None:
        params["exp"] = str(exp)
    body = await api.call("GET", "com.atproto.server.getServiceAuth", params=params)
    token = body.get("token")
    if not isinstance(token, str):
        raise Retryable("Bluesky gave no service token.", code="bad_answer")
    return token


async def _chunks(item: MediaItem) -> AsyncIterator[bytes]:
    for offset in range(0, item.size, CHUNK):
        yield await item.read(offset, min(CHUNK, item.size - offset))


def _job(body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("jobStatus"), dict):
        job: dict[str, Any] = body["jobStatus"]
        return job
    return body if isinstance(body, dict) else {}


def _refused(job: dict[str, Any], status: int) -> Permanent | Retryable:
    described = job.get("message") or job.get("error") or f"HTTP {status}"
    if status == 429 or status >= 500:
        return Retryable(f"Bluesky's video service: {described}", code="video_unavailable")
    return Permanent(f"Bluesky refused the video: {described}", code="video_refused")


async def upload(
    http: PlatformHttp,
    api: Xrpc,
    *,
    service: str,
    pds: str,
    did: str,
    item: MediaItem,
    poll_interval_s: float,
    poll_timeout_s: float,
) -> dict[str, Any]:
    """The video processed by the video service and stored on the PDS; its embed."""
    if item.size > VIDEO_MAX_BYTES:
        raise Permanent("A Bluesky video is at most 300,000,000 bytes.", code="video_size")
    limits_token = await _service_token(
        api, aud=did_web(service), lxm="app.bsky.video.getUploadLimits"
    )
    answer = await http.request(
        "GET",
        f"{service}/xrpc/app.bsky.video.getUploadLimits",
        headers={"Authorization": f"Bearer {limits_token}"},
    )
    limits = json_body(answer)
    if answer.status_code != 200 or not isinstance(limits, dict):
        raise _refused(limits if isinstance(limits, dict) else {}, answer.status_code)
    if limits.get("canUpload") is not True:
        reason = limits.get("message") or limits.get("error") or "no uploads allowed now"
        raise Permanent(f"This account can't upload video now: {reason}", code="video_limit")
    token = await _service_token(
        api,
        aud=did_web(pds),
        lxm="com.atproto.repo.uploadBlob",
        exp=int(time.time()) + UPLOAD_TOKEN_TTL_S,
    )
    answer = await http.request(
        "POST",
        f"{service}/xrpc/app.bsky.video.uploadVideo",
        params={"did": did, "name": f"{secrets.token_hex(8)}.mp4"},
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": item.content_type,
            "Content-Length": str(item.size),
        },
        content=_chunks(item),
    )
    job = _job(json_body(answer))
    # 409 already_exists still carries the earlier job's blob.
    if answer.status_code not in (200, 409) or not job:
        raise _refused(job, answer.status_code)
    deadline = time.monotonic() + poll_timeout_s
    while not isinstance(job.get("blob"), dict):
        if job.get("state") == "JOB_STATE_FAILED":
            raise _refused(job, 400)
        if time.monotonic() > deadline:
            raise Retryable("Bluesky is still processing the video.", code="video_processing")
        await asyncio.sleep(poll_interval_s)
        polled = await http.request(
            "GET",
            f"{service}/xrpc/app.bsky.video.getJobStatus",
            params={"jobId": str(job.get("jobId", ""))},
        )
        job = _job(json_body(polled))
        if polled.status_code != 200 and not isinstance(job.get("blob"), dict):
            raise _refused(job, polled.status_code)
    embed: dict[str, Any] = {"$type": "app.bsky.embed.video", "video": job["blob"]}
    if item.alt_text:
        embed["alt"] = item.alt_text
    if item.width and item.height:
        embed["aspectRatio"] = {"width": item.width, "height": item.height}
    return embed
