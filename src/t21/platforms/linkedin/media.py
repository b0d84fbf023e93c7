"""Uploading a post's images and video through LinkedIn's Images and Videos APIs, and waiting
until LinkedIn has processed them (a post may only reference AVAILABLE media)."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

from t21.core.outside import Permanent, Retryable
from t21.platforms.base import MediaItem
from t21.platforms.http import json_body
from t21.platforms.linkedin.client import LinkedInClient
from t21.platforms.linkedin.wire import unexpected

PUBLISH_SCOPE = "w_member_social"
# When the member's token may not read image status (postiz saw 403 for w_member_social), the
# images are given this many poll intervals to settle instead of being polled.
IMAGE_SETTLE_POLLS = 5


async def upload_image(api: LinkedInClient, item: MediaItem, scope: str = PUBLISH_SCOPE) -> str:
    """The image's URN once its bytes are uploaded (processing may still be running), owned
    by the credentials' account (a member, or a page posting with `scope`
    w_organization_social)."""
    value = await api.value(
        "POST",
        "/rest/images?action=initializeUpload",
        scope=scope,
        json={"initializeUploadRequest": {"owner": api.credentials.external_id}},
    )
    upload_url, urn = value.get("uploadUrl"), value.get("image")
    if not isinstance(upload_url, str) or not isinstance(urn, str):
        raise unexpected("the image upload")
    data = await item.read(0, item.size)
    await api.send(
        "PUT",
        upload_url,
        scope=scope,
        versioned=False,
        content=data,
        headers={"Content-Type": item.content_type},
    )
    return urn


def _instructions(value: dict[str, Any]) -> list[tuple[str, int, int]]:
    parts = []
    for instruction in value.get("uploadInstructions") or []:
        try:
            url = instruction["uploadUrl"]
            first, last = int(instruction["firstByte"]), int(instruction["lastByte"])
        except (KeyError, TypeError, ValueError):
            raise unexpected("the video upload") from None
        if not isinstance(url, str) or last < first:
            raise unexpected("the video upload")
        parts.append((url, first, last))
    if not parts:
        raise unexpected("the video upload")
    return parts


async def upload_video(api: LinkedInClient, item: MediaItem, scope: str = PUBLISH_SCOPE) -> str:
    """The video's URN once every part is uploaded and the upload finalized."""
    value = await api.value(
        "POST",
        "/rest/videos?action=initializeUpload",
        scope=scope,
        json={
            "initializeUploadRequest": {
                "owner": api.credentials.external_id,
                "fileSizeBytes": item.size,
                "uploadCaptions": False,
                "uploadThumbnail": False,
            }
        },
    )
    urn = value.get("video")
    if not isinstance(urn, str):
        raise unexpected("the video upload")
    etags = []
    for url, first, last in _instructions(value):
        data = await item.read(first, last - first + 1)
        response = await api.send(
            "PUT",
            url,
            scope=scope,
            versioned=False,
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        etag = response.headers.get("etag")
        if not etag:
            raise unexpected("a video part upload")
        etags.append(etag)
    await api.send(
        "POST",
        "/rest/videos?action=finalizeUpload",
        scope=scope,
        json={
            "finalizeUploadRequest": {
                "video": urn,
                "uploadToken": value.get("uploadToken") or "",
                "uploadedPartIds": etags,
            }
        },
    )
    return urn


async def await_available(
    api: LinkedInClient, resource: str, urns: list[str], scope: str = PUBLISH_SCOPE
) -> None:
    """Poll `/rest/{resource}/{urn}` until every URN is AVAILABLE.

    PROCESSING_FAILED is Permanent (the file itself is refused); still processing after the
    configured timeout is Retryable (nothing was published). Image status that the token may not
    read (403) is waited out for a few poll intervals instead, as postiz does.
    """
    config = api.config
    noun = "video" if resource == "videos" else "image"
    deadline = time.monotonic() + config.poll_timeout_s
    pending = list(urns)
    while pending:
        waiting = []
        for urn in pending:
            response = await api.send(
                "GET",
                f"/rest/{resource}/{quote(urn, safe='')}",
                scope=scope,
                allow=(403,) if resource == "images" else (),
            )
            if response.status_code == 403:
                settle = min(config.poll_timeout_s, IMAGE_SETTLE_POLLS * config.poll_interval_s)
                await asyncio.sleep(settle)
                return
            body = json_body(response)
            status = body.get("status") if isinstance(body, dict) else None
            if status == "PROCESSING_FAILED":
                reason = body.get("processingFailureReason") or "no reason given"
                raise Permanent(
                    f"LinkedIn could not process the {noun}: {reason}", code="processing_failed"
                )
            if status != "AVAILABLE":
                waiting.append(urn)
        pending = waiting
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise Retryable(
                f"LinkedIn is still processing the {noun}",
                after=config.poll_timeout_s,
                code="processing",
            )
        await asyncio.sleep(config.poll_interval_s)
