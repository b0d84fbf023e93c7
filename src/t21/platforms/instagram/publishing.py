"""Publishing to Instagram: media containers, their processing, then `media_publish`.

Every post is built as containers that Instagram downloads from public URLs: one image, one reel
(`media_type=REELS`, also a single feed video), one story (`STORIES`), or carousel items
(`is_carousel_item=true`) under a `CAROUSEL` container. Each container is processed by Instagram
(`GET /{container}?fields=status_code,status`: IN_PROGRESS, FINISHED, ERROR, EXPIRED,
PUBLISHED), then `POST /{ig_user}/media_publish?creation_id=` publishes: that request alone may be
Ambiguous. A container is invisible until published, so any failure before it leaves nothing
behind.

Processing takes seconds for images and often minutes for reels (postiz polls every 30 s for up
to ~8 min), so no worker waits for it: an attempt creates the containers, reads their status
once, and when they aren't ready answers `Continuing` with the container ids as its progress
and a growing delay (a few seconds up to 30 s). The next attempt resumes from those ids — it
never builds new containers while the first can still finish, since an account may create only
400 in 24 h and each lives 24 h. Containers are built again only when they can't finish (ERROR
with a transient subcode, EXPIRED), at most `MAX_BUILDS` times. After `PROCESSING_WAIT_S` of
processing the attempt gives up for now (`Retryable`, ids kept), so the retry limit bounds it.
Sources: https://developers.facebook.com/docs/instagram-platform/content-publishing (container
limit 400/24 h, status codes); …/instagram-graph-api/reference/ig-container (status_code,
24 h expiry); postiz `instagram.provider.ts` (30 s polling).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from t21.core import clock
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, OutsideFailure, Permanent, Retryable
from t21.platforms.base import (
    Continuing,
    Credentials,
    MediaItem,
    MediaKind,
    Published,
    PublishRequest,
)
from t21.platforms.http import PlatformHttp
from t21.platforms.instagram.errors import container_failure
from t21.platforms.instagram.graph import Graph, data_of, parse_time
from t21.platforms.instagram.rules import MAX_CAROUSEL_ITEMS, InstagramOptions

log = get_logger("t21.platforms.instagram")

QUOTA_WINDOW_S = 86_400
# When the oldest post of the window can't be read, try again in an hour.
QUOTA_FALLBACK_AFTER_S = 3600.0
QUOTA_MIN_AFTER_S = 60.0
# Polling containers between attempts: the first wait is the configured poll interval, each
# next one 1.5 times longer, never more than postiz's 30 s; processing longer than ten minutes
# makes the attempt a retry (the containers are kept).
POLL_GROWTH = 1.5
MAX_POLL_INTERVAL_S = 30.0
PROCESSING_WAIT_S = 600.0
# How many times a post's containers may be built when Instagram couldn't process them.
MAX_BUILDS = 3


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


@dataclass
class Progress:
    """What a publication has at Instagram between attempts (kept as `Continuing.progress`):
    carousel item containers, the container to publish, since when they process, how often
    they were read and how many times they were built."""

    children: list[str] = field(default_factory=list)
    container: str | None = None
    started_at: float | None = None
    polls: int = 0
    builds: int = 0

    @classmethod
    def load(cls, saved: dict[str, Any]) -> Progress:
        def ids(value: Any) -> list[str]:
            return [str(v) for v in value] if isinstance(value, list) else []

        container = saved.get("container")
        started = saved.get("started_at")
        return cls(
            children=ids(saved.get("children")),
            container=str(container) if isinstance(container, str | int) else None,
            started_at=float(started) if isinstance(started, int | float) else None,
            polls=int(saved.get("polls") or 0),
            builds=int(saved.get("builds") or 0),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "children": self.children,
            "container": self.container,
            "started_at": self.started_at,
            "polls": self.polls,
            "builds": self.builds,
        }

    @property
    def built(self) -> bool:
        return bool(self.children or self.container)


class _Rebuild(Exception):
    """The containers can't finish any more (ERROR with a transient subcode, EXPIRED)."""

    def __init__(self, failure: OutsideFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class Publisher:
    """One attempt of a publication: its HTTP client, the account, and where it stands."""

    def __init__(self, http: PlatformHttp, graph: Graph, credentials: Credentials) -> None:
        self.http = http
        self.graph = graph
        self.credentials = credentials
        self.user = credentials.external_id

    async def publish(
        self, request: PublishRequest, options: InstagramOptions
    ) -> Published | Continuing:
        what = plan(request, options)
        progress = Progress.load(request.progress)
        try:
            if not progress.built:
                await self._build(what, request.text, options, progress)
            try:
                ready = await self._advance(what, request.text, options, progress)
            except Retryable as failure:
                # The containers are there and may still finish: keep them and read again
                # later rather than lose them with the attempt.
                return self._later(progress, at_least=failure.after, reason=failure.message)
        except _Rebuild as rebuild:
            if progress.builds >= MAX_BUILDS:
                raise rebuild.failure from None
            log.info("instagram containers can't finish; building again", reason=rebuild.args)
            fresh = Progress(builds=progress.builds)
            return Continuing(
                after_s=self._interval(0), progress=fresh.dump(), reason=rebuild.failure.message
            )
        if not ready:
            return self._later(progress)
        assert progress.container is not None
        media_id = await self._media_publish(progress.container)
        permalink, published_at = await self._permalink(media_id)
        return Published(external_id=media_id, permalink=permalink, published_at=published_at)

    # --- containers ----------------------------------------------------------------------

    async def _build(
        self, what: Plan, caption: str, options: InstagramOptions, progress: Progress
    ) -> None:
        progress.builds += 1
        progress.polls = 0
        progress.started_at = clock.now().timestamp()
        if what.surface == "carousel":
            progress.children = [await self._create(_carousel_item(item)) for item in what.media]
        else:
            progress.container = await self._create(_single(what, caption, options))

    async def _advance(
        self, what: Plan, caption: str, options: InstagramOptions, progress: Progress
    ) -> bool:
        """Read the containers once; whether the one to publish is FINISHED. A carousel's
        parent is created once all its items are."""
        if progress.container is None:
            states = [await self._status(child) for child in progress.children]
            if not all(states):
                return False
            params: dict[str, Any] = {
                "media_type": "CAROUSEL",
                "children": ",".join(progress.children),
                "caption": caption,
            }
            progress.container = await self._create(_with_collaborators(params, options))
        return await self._status(progress.container)

    def _later(
        self, progress: Progress, *, at_least: float | None = None, reason: str | None = None
    ) -> Continuing:
        started = progress.started_at or clock.now().timestamp()
        waited = clock.now().timestamp() - started
        if waited >= PROCESSING_WAIT_S:
            raise Retryable(
                f"Instagram is still processing the media after {int(waited // 60)} minutes",
                after=MAX_POLL_INTERVAL_S,
                code="processing",
            )
        after = max(self._interval(progress.polls), at_least or 0.0)
        progress.polls += 1
        return Continuing(
            after_s=after,
            progress=progress.dump(),
            reason=reason
            or "Instagram is processing the media; T21 publishes it once it is ready.",
        )

    def _interval(self, polls: int) -> float:
        first = self.graph.config.poll_interval_s
        return float(min(MAX_POLL_INTERVAL_S, first * POLL_GROWTH**polls))

    async def _create(self, params: dict[str, Any]) -> str:
        body = await self.graph.call(
            self.http, "POST", f"{self.user}/media", self.credentials.access_token, params=params
        )
        container = body.get("id")
        if not isinstance(container, str | int):
            raise Retryable("Instagram did not return a media container id", code="bad_answer")
        return str(container)

    async def _status(self, container: str) -> bool:
        """Whether `container` is FINISHED (False while IN_PROGRESS); its end otherwise."""
        body = await self.graph.call(
            self.http,
            "GET",
            container,
            self.credentials.access_token,
            params={"fields": "status_code,status"},
        )
        status_code = body.get("status_code")
        if status_code == "FINISHED":
            return True
        if status_code in ("IN_PROGRESS", None):
            return False
        if status_code == "ERROR":
            failure = container_failure(body.get("status"))
            if isinstance(failure, Retryable):
                raise _Rebuild(failure)
            raise failure
        if status_code == "EXPIRED":
            raise _Rebuild(
                Retryable(
                    "Instagram: the media container expired before it was published",
                    code="container_expired",
                )
            )
        if status_code == "PUBLISHED":
            # An earlier attempt's media_publish went through after all: find it, never
            # publish again.
            raise Ambiguous(
                "Instagram says this post's media is already published; T21 is finding it.",
                code="already_published",
                reference=container,
            )
        raise Permanent(f"Instagram: unexpected media status {status_code}")

    # --- publishing ----------------------------------------------------------------------

    async def _media_publish(self, creation_id: str) -> str:
        try:
            body = await self.graph.call(
                self.http,
                "POST",
                f"{self.user}/media_publish",
                self.credentials.access_token,
                params={"creation_id": creation_id},
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
