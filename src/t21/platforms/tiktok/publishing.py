"""Publishing one TikTok direct post: creator_info, init, upload or pull, then status polls.

Which request publishes: a pulled video (PULL_FROM_URL) and photos are posted by TikTok on its
own once their init succeeds, so that init is THE request (`Ambiguous` on a timeout or 5xx).
A file upload is posted once its *last chunk* arrives (there is no separate finalize), so the
last PUT is THE request; its init and earlier chunks are `Retryable` (an init whose answer is
lost leaves only an upload slot that expires). After THE request the outcome is polled:
`FAILED` is `Permanent`; not learning the outcome (errors outlasting the poll budget, a token
revoked meanwhile, still processing at the deadline) is `Ambiguous`, never `Retryable`: the
post is on its way and re-sending it would post it twice.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import ValidationError

from t21.core import clock
from t21.core.outside import Ambiguous, OutsideFailure, Permanent, Retryable
from t21.platforms.base import MediaItem, MediaKind, PlatformConfig, Published, PublishRequest
from t21.platforms.tiktok.rules import TikTokOptions, offered_levels, privacy_for
from t21.platforms.tiktok.wire import (
    TikTokApi,
    api_error,
    as_int,
    chunk_plan,
    chunk_ranges,
    raise_for,
)

CREATOR_INFO = "/v2/post/publish/creator_info/query/"
VIDEO_INIT = "/v2/post/publish/video/init/"
PHOTO_INIT = "/v2/post/publish/content/init/"
STATUS = "/v2/post/publish/status/fetch/"
# Polls after PUBLISH_COMPLETE waiting for the public post id, which TikTok gives only after
# moderation (usually within a minute, sometimes hours). Past them the post is reported by
# its publish_id without a permalink rather than holding the publish job for hours.
MODERATION_POLLS = 5
FAIL_REASONS = {
    "file_format_check_failed": "the file format is not supported",
    "duration_check_failed": "the video is too short or too long",
    "frame_rate_check_failed": "the video's frame rate is not supported",
    "picture_size_check_failed": "the picture or video size is not supported",
    "video_pull_failed": "TikTok could not download the video",
    "photo_pull_failed": "TikTok could not download a photo",
}


class Publisher:
    """One post's way onto TikTok, over one operation's API client."""

    def __init__(self, api: TikTokApi, config: PlatformConfig) -> None:
        self.api = api
        self.config = config

    async def publish(self, request: PublishRequest, fallback_username: str | None) -> Published:
        try:
            options = TikTokOptions.model_validate(request.options)
        except ValidationError as exc:
            problems = "; ".join(error["msg"] for error in exc.errors())
            raise Permanent(f"Invalid TikTok options: {problems}", code="invalid_options") from exc
        kind = media_kind(request.media)
        creator = await self.api.call("POST", CREATOR_INFO, what="the creator's info")
        # Before any upload: the level asked for must be offered, or the most public offered.
        privacy = privacy_for(options, offered_levels(creator) or [])
        options = options.model_copy(update={"privacy_level": privacy})
        if kind is MediaKind.VIDEO:
            publish_id = await self._post_video(request, options, creator)
        else:
            publish_id = await self._post_photos(request, options, creator)
        username = str(creator.get("creator_username") or "") or fallback_username
        return await self._outcome(publish_id, username)

    async def _post_video(
        self, request: PublishRequest, options: TikTokOptions, creator: dict[str, Any]
    ) -> str:
        video = request.media[0]
        longest = as_int(creator.get("max_video_post_duration_sec"))
        if longest and video.duration_s is not None and video.duration_s > longest:
            raise Permanent(
                f"This TikTok account can post videos of up to {longest} s; "
                f"this one lasts {video.duration_s:g} s.",
                code="duration_over_creator_max",
            )
        post_info: dict[str, Any] = {
            "privacy_level": privacy_value(options),
            # Where the creator turned an interaction off in the app, it stays off.
            "disable_comment": options.disable_comment or bool(creator.get("comment_disabled")),
            "disable_duet": options.disable_duet or bool(creator.get("duet_disabled")),
            "disable_stitch": options.disable_stitch or bool(creator.get("stitch_disabled")),
            "brand_content_toggle": options.brand_content_toggle,
            "brand_organic_toggle": options.brand_organic_toggle,
            "is_aigc": options.is_aigc,
        }
        if request.text:
            post_info["title"] = request.text
        if options.video_cover_timestamp_ms is not None:
            post_info["video_cover_timestamp_ms"] = options.video_cover_timestamp_ms
        if options.source == "url":
            source: dict[str, Any] = {"source": "PULL_FROM_URL", "video_url": video.url}
            body = {"post_info": post_info, "source_info": source}
            data = await self.api.call(
                "POST", VIDEO_INIT, json=body, what="the video post", publishing=True
            )
            return publish_id_of(data, publishing=True)
        chunk_size, count = chunk_plan(video.size)
        source = {
            "source": "FILE_UPLOAD",
            "video_size": video.size,
            "chunk_size": chunk_size,
            "total_chunk_count": count,
        }
        body = {"post_info": post_info, "source_info": source}
        data = await self.api.call("POST", VIDEO_INIT, json=body, what="the video post")
        publish_id = publish_id_of(data, publishing=False)
        upload_url = data.get("upload_url")
        if not isinstance(upload_url, str) or not upload_url:
            raise Retryable("TikTok gave no upload URL for the video.", code="no_upload_url")
        await self._upload(upload_url, video, chunk_size, count)
        return publish_id

    async def _upload(self, upload_url: str, video: MediaItem, chunk_size: int, count: int) -> None:
        """PUT the chunks in order; the last one completes the post (`publishing`). The
        upload URL comes from init, signed by TikTok: no Authorization header."""
        ranges = chunk_ranges(video.size, chunk_size, count)
        for index, (first, last) in enumerate(ranges):
            final = index == len(ranges) - 1
            response = await self.api.http.request(
                "PUT",
                upload_url,
                content=await video.read(first, last - first + 1),
                headers={
                    "Content-Type": video.content_type,
                    "Content-Range": f"bytes {first}-{last}/{video.size}",
                },
                publishing=final,
            )
            error = api_error(response)
            if error is not None:
                raise_for(response, error, what="the video upload", publishing=final)

    async def _post_photos(
        self, request: PublishRequest, options: TikTokOptions, creator: dict[str, Any]
    ) -> str:
        post_info: dict[str, Any] = {
            "privacy_level": privacy_value(options),
            "disable_comment": options.disable_comment or bool(creator.get("comment_disabled")),
            "auto_add_music": options.auto_add_music,
            "brand_content_toggle": options.brand_content_toggle,
            "brand_organic_toggle": options.brand_organic_toggle,
        }
        if options.photo_title:
            post_info["title"] = options.photo_title
        if request.text:
            post_info["description"] = request.text
        body = {
            "media_type": "PHOTO",
            "post_mode": "DIRECT_POST",
            "post_info": post_info,
            "source_info": {
                "source": "PULL_FROM_URL",  # photos can only be pulled
                "photo_cover_index": 0,
                "photo_images": [photo.url for photo in request.media],
            },
        }
        data = await self.api.call(
            "POST", PHOTO_INIT, json=body, what="the photo post", publishing=True
        )
        return publish_id_of(data, publishing=True)

    async def _outcome(self, publish_id: str, username: str | None) -> Published:
        """Poll status/fetch (30/min per token) until the post is complete or failed."""
        deadline = time.monotonic() + self.config.poll_timeout_s
        waiting_for_id = 0
        while True:
            wait = self.config.poll_interval_s
            try:
                data = await self.api.call(
                    "POST", STATUS, json={"publish_id": publish_id}, what="the post's status"
                )
            except Retryable as exc:  # a throttled or failing poll: keep trying while we may
                data, wait = {}, max(wait, exc.after or 0)
                if time.monotonic() + wait > deadline:
                    raise unknown_outcome(publish_id, exc.message) from exc
            except OutsideFailure as exc:
                raise unknown_outcome(publish_id, exc.message) from exc
            status = data.get("status")
            if status == "FAILED":
                reason = str(data.get("fail_reason") or "unknown")
                why = FAIL_REASONS.get(reason, reason)
                raise Permanent(
                    f"TikTok could not publish the post: {why} ({reason}).", code=reason
                )
            if status in ("PUBLISH_COMPLETE", "SEND_TO_USER_INBOX"):
                post_ids = data.get("publicaly_available_post_id") or []  # sic
                if isinstance(post_ids, list) and post_ids:
                    post_id = str(post_ids[0])
                    return Published(
                        post_id, permalink(self.config, username, post_id), clock.now()
                    )
                waiting_for_id += 1
                if waiting_for_id > MODERATION_POLLS or time.monotonic() + wait > deadline:
                    # Published but still in moderation: TikTok tells the public id only later.
                    # The publish_id stands in for it; metrics answer None for it meanwhile.
                    return Published(publish_id, None, clock.now())
            elif time.monotonic() + wait > deadline:
                still = f"TikTok was still processing it ({status or 'no status yet'})"
                raise unknown_outcome(publish_id, still)
            await asyncio.sleep(wait)


def permalink(config: PlatformConfig, username: str | None, post_id: str) -> str | None:
    if not username or not post_id.isdigit():
        return None
    # auth_base is TikTok's website (www.tiktok.com), or the fake's in the sandbox.
    return f"{config.auth_base}/@{username}/video/{post_id}"


def media_kind(media: list[MediaItem]) -> MediaKind:
    if not media:
        raise Permanent("A TikTok post needs a video or photos.", code="media_required")
    kinds = {item.kind for item in media}
    if len(kinds) > 1:
        raise Permanent("A TikTok post is one video or photos, not both.", code="mixed_media")
    if MediaKind.VIDEO in kinds and len(media) > 1:
        raise Permanent("A TikTok post has one video.", code="too_many_videos")
    return media[0].kind


def privacy_value(options: TikTokOptions) -> str:
    assert options.privacy_level is not None  # resolved from creator_info before posting
    return options.privacy_level.value


def publish_id_of(data: dict[str, Any], *, publishing: bool) -> str:
    publish_id = data.get("publish_id")
    if isinstance(publish_id, str) and publish_id:
        return publish_id
    message = "TikTok accepted the post without a publish_id."
    if publishing:
        raise Ambiguous(message, code="no_publish_id")
    raise Retryable(message, code="no_publish_id")


def unknown_outcome(publish_id: str, why: str) -> Ambiguous:
    return Ambiguous(
        f"TikTok accepted the post (publish_id {publish_id}) but its outcome is unknown: {why}",
        code="outcome_unknown",
    )
