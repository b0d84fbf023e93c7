"""Publishing to Instagram: media containers, their processing, then `media_publish`.

Every post is built as containers that Instagram downloads from public URLs: one image, one reel
(`media_type=REELS`, also a single feed video), one story (`STORIES`), or carousel items
(`is_carousel_item=true`) under a `CAROUSEL` container. Each container is processed by Instagram
(`GET /{container}?fields=status_code,status`: IN_PROGRESS, FINISHED, ERROR, EXPIRED,
PUBLISHED), then `POST /{ig_user}/media_publish?creation_id=` publishes: that request alone may be
Ambiguous. A container is invisible until published, so any failure before it leaves nothing
behind.

Processing takes seconds for images and often minutes for reels (postiz polls every 30 s for up
to ~8 min); the attempts that follow it are `platforms.meta.containers`' (polls up to 30 s
apart, containers built again on ERROR with a transient subcode or EXPIRED, since an account
may create only 400 in 24 h, for at most `PROCESSING_WAIT_S`).
Sources: https://developers.facebook.com/docs/instagram-platform/content-publishing (container
limit 400/24 h, status codes); …/instagram-graph-api/reference/ig-container (status_code,
24 h expiry); postiz `instagram.provider.ts` (30 s polling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from t21.core.outside import OutsideFailure, Permanent, Retryable
from t21.platforms.base import Continuing, MediaItem, MediaKind, Published, PublishRequest
from t21.platforms.instagram.errors import container_failure
from t21.platforms.instagram.rules import MAX_CAROUSEL_ITEMS, InstagramOptions
from t21.platforms.meta.containers import Build, ContainerPublisher

QUOTA_WINDOW_S = 86_400
# Polls at most 30 s apart (postiz's interval); processing longer than ten minutes makes the
# attempt a retry (the containers are kept).
MAX_POLL_INTERVAL_S = 30.0
PROCESSING_WAIT_S = 600.0


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


class Publisher(ContainerPublisher):
    """One attempt of an Instagram publication (`POST /{ig_user}/media`, `media_publish`)."""

    create_edge: ClassVar[str] = "media"
    publish_edge: ClassVar[str] = "media_publish"
    status_fields: ClassVar[str] = "status_code,status"
    status_key: ClassVar[str] = "status_code"
    max_poll_interval_s: ClassVar[float] = MAX_POLL_INTERVAL_S
    processing_wait_s: ClassVar[float] = PROCESSING_WAIT_S

    async def publish(
        self, request: PublishRequest, options: InstagramOptions
    ) -> Published | Continuing:
        what = plan(request, options)
        caption = request.text

        def parent(children: list[str]) -> dict[str, Any]:
            params = {"media_type": "CAROUSEL", "children": ",".join(children), "caption": caption}
            return _with_collaborators(params, options)

        if what.surface == "carousel":
            build = Build(None, [_carousel_item(item) for item in what.media], parent)
        else:
            build = Build(_single(what, caption, options), [], parent)
        return await self.run(build, request.progress)

    def container_error(self, body: dict[str, Any]) -> OutsideFailure:
        # The container's `status` text carries the subcode.
        return container_failure(body.get("status"))

    async def before_build(self) -> None:
        """Nothing: Instagram's quota is enforced at `media_publish` (subcode 2207042), and
        a container left unpublished costs nothing but one of the 400 a day."""

    async def publish_refused(self, refusal: Retryable) -> None:
        if refusal.code == "publishing_limit":
            # Subcode 2207042: a slot frees when the oldest post of the rolling 24 h leaves.
            after = await self.slot_frees_in(QUOTA_WINDOW_S)
            raise Retryable(refusal.message, after=after, code=refusal.code) from refusal


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
