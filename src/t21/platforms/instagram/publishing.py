"""Publishing to Instagram: media containers, their processing, then `media_publish`.

Every post is built as containers that Instagram downloads from public URLs: one image, one reel
(`media_type=REELS`, also a single feed video), one story (`STORIES`), or carousel items
(`is_carousel_item=true`) under a `CAROUSEL` container. Each container is polled until FINISHED,
then `POST /{ig_user}/media_publish?creation_id=` publishes: that request alone may be Ambiguous.
A container is invisible until published, so any failure before it leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from t21.core import clock
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, OutsideFailure, Permanent, Retryable
from t21.platforms.base import Credentials, MediaItem, MediaKind, Published, PublishRequest
from t21.platforms.http import PlatformHttp
from t21.platforms.instagram.errors import container_failure
from t21.platforms.instagram.graph import Graph, data_of, parse_time
from t21.platforms.instagram.rules import MAX_CAROUSEL_ITEMS, InstagramOptions

log = get_logger("t21.platforms.instagram")

QUOTA_WINDOW_S = 86_400
# When the oldest post of the window can't be read, try again in an hour.
QUOTA_FALLBACK_AFTER_S = 3600.0
QUOTA_MIN_AFTER_S = 60.0


@dataclass(frozen=True)
class Plan:
    """What to build: `surface` is image | reel | story | carousel."""

    surface: str
    media: list[MediaItem]


def plan(request: PublishRequest, options: InstagramOptions) -> Plan:
    """The containers a request needs, or Permanent when Instagram can't take it at all."""
    media = request.media
    if not media:
        raise Permanent("Instagram needs at least one image or video", code="media_required")
    if options.kind == "story":
        if len(media) != 1:
            raise Permanent("An Instagram story takes exactly one image or video")
        return Plan("story", media)
    if options.kind == "reel":
        if len(media) != 1 or media[0].kind is not MediaKind.VIDEO:
            raise Permanent("An Instagram reel takes exactly one video")
        return Plan("reel", media)
    if len(media) > MAX_CAROUSEL_ITEMS:
        raise Permanent(f"An Instagram carousel takes 2 to {MAX_CAROUSEL_ITEMS} images or videos")
    if len(media) > 1:
        return Plan("carousel", media)
    # Feed videos have been published as reels since 2023-11-09 (media_type=VIDEO is refused).
    return Plan("reel" if media[0].kind is MediaKind.VIDEO else "image", media)


class Publisher:
    """One publication: its HTTP client, the account, and one deadline for all processing."""

    def __init__(self, http: PlatformHttp, graph: Graph, credentials: Credentials) -> None:
        self.http = http
        self.graph = graph
        self.credentials = credentials
        self.user = credentials.external_id
        self.deadline = time.monotonic() + graph.config.poll_timeout_s

    async def publish(self, request: PublishRequest, options: InstagramOptions) -> Published:
        what = plan(request, options)
        creation_id = await self._build(what, request.text, options)
        media_id = await self._media_publish(creation_id)
        permalink, published_at = await self._permalink(media_id)
        if options.first_comment:
            await self._comment(media_id, options.first_comment)
        return Published(external_id=media_id, permalink=permalink, published_at=published_at)

    # --- containers ----------------------------------------------------------------------

    async def _build(self, what: Plan, caption: str, options: InstagramOptions) -> str:
        if what.surface == "carousel":
            children = [await self._create(_carousel_item(item)) for item in what.media]
            for child in children:
                await self._wait_until_finished(child)
            params: dict[str, Any] = {
                "media_type": "CAROUSEL",
                "children": ",".join(children),
                "caption": caption,
            }
            container = await self._create(_with_collaborators(params, options))
        else:
            container = await self._create(_single(what, caption, options))
        await self._wait_until_finished(container)
        return container

    async def _create(self, params: dict[str, Any]) -> str:
        body = await self.graph.call(
            self.http, "POST", f"{self.user}/media", self.credentials.access_token, json=params
        )
        container = body.get("id")
        if not isinstance(container, str | int):
            raise Retryable("Instagram did not return a media container id", code="bad_answer")
        return str(container)

    async def _wait_until_finished(self, container: str) -> None:
        interval = self.graph.config.poll_interval_s
        while True:
            body = await self.graph.call(
                self.http,
                "GET",
                container,
                self.credentials.access_token,
                params={"fields": "status_code,status"},
            )
            status_code = body.get("status_code")
            if status_code == "FINISHED":
                return
            if status_code == "ERROR":
                raise container_failure(body.get("status"))
            if status_code == "EXPIRED":
                raise Retryable(
                    "Instagram: the media container expired before it was published",
                    code="container_expired",
                )
            if status_code not in ("IN_PROGRESS", None):
                raise Permanent(f"Instagram: unexpected media status {status_code}")
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise Retryable("Instagram is still processing the media", code="processing")
            await asyncio.sleep(min(interval, remaining))

    # --- publishing ----------------------------------------------------------------------

    async def _media_publish(self, creation_id: str) -> str:
        try:
            body = await self.graph.call(
                self.http,
                "POST",
                f"{self.user}/media_publish",
                self.credentials.access_token,
                json={"creation_id": creation_id},
                publishing=True,
            )
        except Retryable as exc:
            if exc.code != "publishing_limit":
                raise
            after = await self._slot_frees_in()
            raise Retryable(exc.message, after=after, code=exc.code) from exc
        media_id = body.get("id")
        if not isinstance(media_id, str | int):
            raise Ambiguous("Instagram accepted the post without saying its id", code="bad_answer")
        return str(media_id)

    async def _slot_frees_in(self) -> float:
        """Seconds until the oldest post of the rolling 24 h window (error subcode
        2207042) leaves it. The window counts API posts only; reading every post of the
        day can only make this earlier, and an early retry just asks again."""
        now = clock.now()
        since = now - timedelta(seconds=QUOTA_WINDOW_S)
        try:
            body = await self.graph.call(
                self.http,
                "GET",
                f"{self.user}/media",
                self.credentials.access_token,
                params={"fields": "timestamp", "since": int(since.timestamp()), "limit": 100},
            )
        except OutsideFailure:
            return QUOTA_FALLBACK_AFTER_S
        times = [parse_time(entry.get("timestamp")) for entry in data_of(body)]
        in_window = [moment for moment in times if moment is not None and moment > since]
        if not in_window:
            return QUOTA_FALLBACK_AFTER_S
        frees_at = min(in_window) + timedelta(seconds=QUOTA_WINDOW_S)
        return max(QUOTA_MIN_AFTER_S, (frees_at - now).total_seconds())

    # --- after publishing: the post is live, so nothing here may fail it ------------------

    async def _permalink(self, media_id: str) -> tuple[str | None, datetime | None]:
        try:
            body = await self.graph.call(
                self.http,
                "GET",
                media_id,
                self.credentials.access_token,
                params={"fields": "permalink,timestamp"},
            )
        except OutsideFailure as exc:
            log.warning("instagram permalink unavailable", media_id=media_id, error=exc.message)
            return None, clock.now()
        permalink = body.get("permalink")
        published_at = parse_time(body.get("timestamp")) or clock.now()
        return (permalink if isinstance(permalink, str) else None), published_at

    async def _comment(self, media_id: str, message: str) -> None:
        try:
            await self.graph.call(
                self.http,
                "POST",
                f"{media_id}/comments",
                self.credentials.access_token,
                json={"message": message},
            )
        except OutsideFailure as exc:
            log.warning("instagram first comment failed", media_id=media_id, error=exc.message)


def _single(what: Plan, caption: str, options: InstagramOptions) -> dict[str, Any]:
    item = what.media[0]
    url_field = "video_url" if item.kind is MediaKind.VIDEO else "image_url"
    if what.surface == "story":
        return {"media_type": "STORIES", url_field: item.url}
    if what.surface == "image":
        params: dict[str, Any] = {"image_url": item.url, "caption": caption}
        alt_text = item.alt_text or options.alt_text
        if alt_text:
            params["alt_text"] = alt_text
        return _with_collaborators(params, options)
    params = {"media_type": "REELS", "video_url": item.url, "caption": caption}
    if options.share_to_feed is not None:
        params["share_to_feed"] = options.share_to_feed
    if options.cover_url:
        params["cover_url"] = options.cover_url
    if options.thumb_offset_ms is not None:
        params["thumb_offset"] = options.thumb_offset_ms
    return _with_collaborators(params, options)


def _carousel_item(item: MediaItem) -> dict[str, Any]:
    if item.kind is MediaKind.VIDEO:
        return {"media_type": "VIDEO", "video_url": item.url, "is_carousel_item": True}
    params: dict[str, Any] = {"image_url": item.url, "is_carousel_item": True}
    if item.alt_text:
        params["alt_text"] = item.alt_text
    return params


def _with_collaborators(params: dict[str, Any], options: InstagramOptions) -> dict[str, Any]:
    # Collaborators go on the published container, never on carousel items.
    if options.collaborators:
        params["collaborators"] = list(options.collaborators)
    return params
