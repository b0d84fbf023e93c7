"""The publishing flows of a Facebook Page: text or link, one photo, several photos, a video and
a reel. Exactly one request of each flow publishes (`publishing=True`): the feed POST, the
published photo POST, the videos POST and the reels `finish` call. Everything before it only
uploads (unpublished photos, the reel's bytes) and is safe to repeat.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from t21.core.outside import Ambiguous, OutsideFailure, Permanent, Retryable
from t21.platforms.base import MediaItem, PlatformConfig, Published
from t21.platforms.facebook.graph import Graph, text_field

VIDEO_FIELDS = "status,permalink_url"


class PagePublisher:
    """Publishes one post on one Page with that Page's token."""

    def __init__(self, graph: Graph, config: PlatformConfig, page_id: str) -> None:
        self.graph = graph
        self.config = config
        self.page_id = page_id
        # Permalinks point at the website, which is where Facebook Login lives (auth_base).
        self.web = config.auth_base

    def _permalink(self, value: Any, fallback: str) -> str:
        """`permalink_url` as given (absolute for posts, site-relative for videos)."""
        if isinstance(value, str) and value.startswith("/"):
            return self.web + value
        if isinstance(value, str) and value:
            return value
        return fallback

    async def text(self, message: str, link: str | None) -> Published:
        body: dict[str, Any] = {"published": True}
        if message:
            body["message"] = message
        if link:
            body["link"] = link
        return await self._feed(body)

    async def photo(self, image: MediaItem, caption: str) -> Published:
        body: dict[str, Any] = {"url": image.url, "published": True}
        if caption:
            body["caption"] = caption
        if image.alt_text:
            body["alt_text_custom"] = image.alt_text
        answer = await self.graph.post(f"{self.page_id}/photos", body, publishing=True)
        post_id = text_field(answer, "post_id", publishing=True)
        return Published(external_id=post_id, permalink=f"{self.web}/{post_id}")

    async def album(self, images: list[MediaItem], message: str) -> Published:
        """Uploads each photo unpublished, then publishes one feed post attaching them all.
        Photos left unpublished by a failure later on are invisible and harmless."""
        attached = []
        for image in images:
            body: dict[str, Any] = {"url": image.url, "published": False}
            if image.alt_text:
                body["alt_text_custom"] = image.alt_text
            answer = await self.graph.post(f"{self.page_id}/photos", body)
            attached.append({"media_fbid": text_field(answer, "id")})
        feed: dict[str, Any] = {"attached_media": attached, "published": True}
        if message:
            feed["message"] = message
        return await self._feed(feed)

    async def _feed(self, body: dict[str, Any]) -> Published:
        answer = await self.graph.post(
            f"{self.page_id}/feed", body, fields="id,permalink_url", publishing=True
        )
        post_id = text_field(answer, "id", publishing=True)
        permalink = self._permalink(answer.get("permalink_url"), f"{self.web}/{post_id}")
        return Published(external_id=post_id, permalink=permalink)

    async def video(self, video: MediaItem, description: str) -> Published:
        """Facebook pulls the file from its URL and publishes it once processed."""
        body: dict[str, Any] = {"file_url": video.url, "published": True}
        if description:
            body["description"] = description
        answer = await self.graph.post(
            f"{self.page_id}/videos", body, publishing=True, video_host=True
        )
        video_id = text_field(answer, "id", publishing=True)
        settled = await self._settle(video_id)
        permalink = (settled or {}).get("permalink_url")
        return Published(
            external_id=video_id, permalink=self._permalink(permalink, f"{self.web}/{video_id}")
        )

    async def reel(self, video: MediaItem, description: str) -> Published:
        """Start an upload session, have Facebook pull the file, then publish (`finish`)."""
        started = await self.graph.post(f"{self.page_id}/video_reels", {"upload_phase": "start"})
        video_id = text_field(started, "video_id")
        upload_url = text_field(started, "upload_url")
        await self.graph.upload(upload_url, {"file_url": video.url})
        await self._received(video_id)
        finish: dict[str, Any] = {
            "upload_phase": "finish",
            "video_id": video_id,
            "video_state": "PUBLISHED",
        }
        if description:
            finish["description"] = description
        answer = await self.graph.post(f"{self.page_id}/video_reels", finish, publishing=True)
        if answer.get("success") is not True:
            raise Ambiguous("Facebook did not confirm the reel was published", code="unconfirmed")
        await self._settle(video_id)
        return Published(external_id=video_id, permalink=f"{self.web}/reel/{video_id}")

    async def _received(self, video_id: str) -> None:
        """Wait until Facebook has the reel's bytes. Nothing is published yet: a failure here
        is whatever it is, and still receiving at the deadline is Retryable."""
        deadline = time.monotonic() + self.config.poll_timeout_s
        while True:
            answer = await self.graph.get(video_id, fields="status")
            status = _status(answer)
            _raise_if_failed(status)
            uploading = status.get("uploading_phase")
            if status.get("video_status") in ("upload_complete", "ready") or (
                isinstance(uploading, dict) and uploading.get("status") == "complete"
            ):
                return
            if time.monotonic() >= deadline:
                raise Retryable("Facebook is still receiving the video", code="processing")
            await asyncio.sleep(self.config.poll_interval_s)

    async def _settle(self, video_id: str) -> dict[str, Any] | None:
        """Wait for a published video to be processed. It exists already, so only a processing
        error fails the publish (the video never shows); a status Facebook can't give now, or
        still processing at the deadline, ends the wait with what is known rather than
        inviting a second copy."""
        deadline = time.monotonic() + self.config.poll_timeout_s
        while True:
            try:
                answer: dict[str, Any] | None = await self.graph.get(video_id, fields=VIDEO_FIELDS)
            except Retryable:
                answer = None
            except OutsideFailure:
                return None
            if answer is not None:
                status = _status(answer)
                _raise_if_failed(status)
                if status.get("video_status") == "ready":
                    return answer
            if time.monotonic() >= deadline:
                return answer
            await asyncio.sleep(self.config.poll_interval_s)

    async def comment(self, object_id: str, message: str) -> None:
        await self.graph.post(f"{object_id}/comments", {"message": message})


def _status(answer: dict[str, Any]) -> dict[str, Any]:
    status = answer.get("status")
    return status if isinstance(status, dict) else {}


def _raise_if_failed(status: dict[str, Any]) -> None:
    """`video_status: error`, or any phase in error, with Facebook's reason where it gives one."""
    phases = [status.get(name) for name in ("uploading_phase", "processing_phase")]
    failed = [
        phase for phase in phases if isinstance(phase, dict) and phase.get("status") == "error"
    ]
    if status.get("video_status") != "error" and not failed:
        return
    reasons = [
        str(error.get("message"))
        for phase in failed
        for error in phase.get("errors") or []
        if isinstance(error, dict) and error.get("message")
    ]
    detail = "; ".join(reasons) or "the video could not be processed"
    raise Permanent(f"Facebook: {detail}", code="video_error")
