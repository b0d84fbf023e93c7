"""Publishing to Threads: media containers, their processing, the quota, then `threads_publish`.

A post is built as containers (`POST /{user}/threads`): one TEXT, IMAGE or VIDEO container, or
carousel items (`is_carousel_item=true`, 2–20) under a CAROUSEL container that carries the text.
Threads downloads media from public URLs and processes them; `GET /{container}?fields=status,
error_message` reads IN_PROGRESS, FINISHED, ERROR, EXPIRED (24 h unpublished) or PUBLISHED. Then
`POST /{user}/threads_publish?creation_id=` publishes: that request alone may be Ambiguous.
Meta recommends waiting about 30 s before publishing and polling a container once a minute for
no more than 5 minutes. Sources:
https://developers.facebook.com/documentation/threads/posts,
https://developers.facebook.com/documentation/threads/troubleshooting.md (statuses, error
messages, polling advice), https://developers.facebook.com/docs/threads/reply-management
(`reply_control`), https://developers.facebook.com/docs/threads/overview/ (250 posts per moving
24 h, `GET /{user}/threads_publishing_limit?fields=quota_usage,config` with `quota_total` and
`quota_duration`).

No worker waits for processing: an attempt builds the containers, reads them once and, when they
aren't ready, answers `Continuing` with the container ids as its progress and a growing delay
(the configured poll interval, ×1.5 each time, at most a minute). The next attempt resumes from
those ids and never builds new containers while they can still finish; they are built again
only when they can't (EXPIRED, or ERROR downloading the media), at most `MAX_BUILDS` times.
After `PROCESSING_WAIT_S` the attempt becomes a retry (ids kept). Before building, the account's
quota is read: an exhausted quota is a `Retryable` until its oldest post leaves the window.
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
from t21.platforms.threads.graph import Graph, data_of, parse_time
from t21.platforms.threads.rules import (
    MAX_CAROUSEL_ITEMS,
    MAX_TEXT,
    MIN_CAROUSEL_ITEMS,
    ThreadsOptions,
    threads_length,
)

log = get_logger("t21.platforms.threads")

POLL_GROWTH = 1.5
MAX_POLL_INTERVAL_S = 60.0
PROCESSING_WAIT_S = 300.0
MAX_BUILDS = 3
QUOTA_FALLBACK_AFTER_S = 3600.0
QUOTA_MIN_AFTER_S = 60.0
# Container errors that a new container may not have (the download, not the media, failed).
REBUILD_ERRORS = frozenset({"FAILED_DOWNLOADING_VIDEO", "UNKNOWN"})


def check_request(request: PublishRequest) -> None:
    """What Threads can't take at all, whatever the account: text over 500 as Threads counts
    it, a carousel of the wrong size, an empty post."""
    length = threads_length(request.text)
    if length > MAX_TEXT:
        raise Permanent(
            f"The text is {length} characters as Threads counts them (each emoji as its "
            f"UTF-8 bytes); Threads takes at most {MAX_TEXT}.",
            code="text_too_long",
        )
    if not request.media and not request.text.strip():
        raise Permanent("A Threads post needs text, an image or a video", code="empty_post")
    if len(request.media) > MAX_CAROUSEL_ITEMS:
        raise Permanent(
            f"A Threads carousel takes {MIN_CAROUSEL_ITEMS} to {MAX_CAROUSEL_ITEMS} items",
            code="too_many_media",
        )


@dataclass
class Progress:
    """What a publication has at Threads between attempts (`Continuing.progress`)."""

    children: list[str] = field(default_factory=list)
    container: str | None = None
    started_at: float | None = None
    polls: int = 0
    builds: int = 0

    @classmethod
    def load(cls, saved: dict[str, Any]) -> Progress:
        children = saved.get("children")
        container = saved.get("container")
        started = saved.get("started_at")
        return cls(
            children=[str(c) for c in children] if isinstance(children, list) else [],
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
    def __init__(self, failure: OutsideFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class Publisher:
    """One attempt of a publication."""

    def __init__(
        self,
        http: PlatformHttp,
        graph: Graph,
        credentials: Credentials,
        reply_to: str | None = None,
    ) -> None:
        self.http = http
        self.graph = graph
        self.credentials = credentials
        self.user = credentials.external_id
        # The Threads media a thread's part answers (`reply_to_id` on its container).
        self.reply_to = reply_to

    async def publish(
        self, request: PublishRequest, options: ThreadsOptions
    ) -> Published | Continuing:
        progress = Progress.load(request.progress)
        try:
            if not progress.built:
                await self._check_quota()
                await self._build(request, options, progress)
            try:
                ready = await self._advance(request, options, progress)
            except Retryable as failure:
                return self._later(progress, at_least=failure.after, reason=failure.message)
        except _Rebuild as rebuild:
            if progress.builds >= MAX_BUILDS:
                raise rebuild.failure from None
            log.info("threads containers can't finish; building again", reason=rebuild.args)
            fresh = Progress(builds=progress.builds)
            return Continuing(
                after_s=self._interval(0), progress=fresh.dump(), reason=rebuild.failure.message
            )
        if not ready:
            return self._later(progress)
        assert progress.container is not None
        media_id = await self._threads_publish(progress.container)
        permalink, published_at = await self._permalink(media_id)
        return Published(external_id=media_id, permalink=permalink, published_at=published_at)

    # --- quota ---------------------------------------------------------------------------

    async def _check_quota(self) -> None:
        body = await self.graph.call(
            self.http,
            "GET",
            f"{self.user}/threads_publishing_limit",
            self.credentials.access_token,
            params={"fields": "quota_usage,config"},
        )
        [limit, *_] = data_of(body) or [{}]
        usage, config = limit.get("quota_usage"), limit.get("config")
        if not isinstance(usage, int) or not isinstance(config, dict):
            return  # unreadable: let threads_publish enforce it
        total, duration = config.get("quota_total"), config.get("quota_duration")
        if isinstance(total, int) and usage >= total:
            window = float(duration) if isinstance(duration, int | float) else 86_400.0
            raise Retryable(
                f"Threads: this account has published its {total} posts of the last "
                f"{int(window // 3600)} hours; T21 publishes once one leaves that window.",
                after=await self._slot_frees_in(window),
                code="publishing_limit",
            )

    async def _slot_frees_in(self, window: float) -> float:
        """Seconds until the oldest post of the moving window leaves it."""
        now = clock.now()
        since = now - timedelta(seconds=window)
        try:
            body = await self.graph.call(
                self.http,
                "GET",
                f"{self.user}/threads",
                self.credentials.access_token,
                params={"fields": "timestamp", "since": int(since.timestamp()), "limit": 100},
            )
        except OutsideFailure:
            return QUOTA_FALLBACK_AFTER_S
        times = [parse_time(entry.get("timestamp")) for entry in data_of(body)]
        in_window = [moment for moment in times if moment is not None and moment > since]
        if not in_window:
            return QUOTA_FALLBACK_AFTER_S
        frees_at = min(in_window) + timedelta(seconds=window)
        return max(QUOTA_MIN_AFTER_S, (frees_at - now).total_seconds())

    # --- containers ----------------------------------------------------------------------

    async def _build(
        self, request: PublishRequest, options: ThreadsOptions, progress: Progress
    ) -> None:
        progress.builds += 1
        progress.polls = 0
        progress.started_at = clock.now().timestamp()
        if len(request.media) > 1:
            progress.children = [
                await self._create(_item(item) | {"is_carousel_item": True})
                for item in request.media
            ]
            return
        if request.media:
            params = _item(request.media[0]) | {"text": request.text}
        else:
            params = {"media_type": "TEXT", "text": request.text}
        progress.container = await self._create(self._answering(_with_options(params, options)))

    def _answering(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.reply_to is not None:
            params["reply_to_id"] = self.reply_to
        return params

    async def _advance(
        self, request: PublishRequest, options: ThreadsOptions, progress: Progress
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
                "text": request.text,
            }
            progress.container = await self._create(self._answering(_with_options(params, options)))
        return await self._status(progress.container)

    def _later(
        self, progress: Progress, *, at_least: float | None = None, reason: str | None = None
    ) -> Continuing:
        started = progress.started_at or clock.now().timestamp()
        waited = clock.now().timestamp() - started
        if waited >= PROCESSING_WAIT_S:
            raise Retryable(
                f"Threads is still processing the media after {int(waited // 60)} minutes",
                after=MAX_POLL_INTERVAL_S,
                code="processing",
            )
        after = max(self._interval(progress.polls), at_least or 0.0)
        progress.polls += 1
        return Continuing(
            after_s=after,
            progress=progress.dump(),
            reason=reason or "Threads is processing the media; T21 publishes it once it is ready.",
        )

    def _interval(self, polls: int) -> float:
        first = self.graph.config.poll_interval_s
        return float(min(MAX_POLL_INTERVAL_S, first * POLL_GROWTH**polls))

    async def _create(self, params: dict[str, Any]) -> str:
        body = await self.graph.call(
            self.http, "POST", f"{self.user}/threads", self.credentials.access_token, params=params
        )
        container = body.get("id")
        if not isinstance(container, str | int):
            raise Retryable("Threads did not return a media container id", code="bad_answer")
        return str(container)

    async def _status(self, container: str) -> bool:
        body = await self.graph.call(
            self.http,
            "GET",
            container,
            self.credentials.access_token,
            params={"fields": "status,error_message"},
        )
        status = body.get("status")
        if status == "FINISHED":
            return True
        if status in ("IN_PROGRESS", None):
            return False
        if status == "ERROR":
            reason = str(body.get("error_message") or "UNKNOWN")
            message = f"Threads could not process the media: {reason}"
            if reason in REBUILD_ERRORS:
                raise _Rebuild(Retryable(message, code="media_retry"))
            raise Permanent(message, code="media_refused")
        if status == "EXPIRED":
            raise _Rebuild(
                Retryable(
                    "Threads: the media container expired before it was published",
                    code="container_expired",
                )
            )
        if status == "PUBLISHED":
            raise Ambiguous(
                "Threads says this post is already published; T21 is finding it.",
                code="already_published",
                reference=container,
            )
        raise Permanent(f"Threads: unexpected container status {status}")

    # --- publishing ----------------------------------------------------------------------

    async def _threads_publish(self, creation_id: str) -> str:
        try:
            body = await self.graph.call(
                self.http,
                "POST",
                f"{self.user}/threads_publish",
                self.credentials.access_token,
                params={"creation_id": creation_id},
                publishing=True,
            )
        except Ambiguous as doubt:
            raise Ambiguous(doubt.message, code=doubt.code, reference=creation_id) from doubt
        except Retryable as exc:
            if exc.code != "throttled":
                raise
            # The quota is enforced here too: wait for its reset, not a throttling default.
            await self._check_quota()
            raise
        media_id = body.get("id")
        if not isinstance(media_id, str | int):
            raise Ambiguous(
                "Threads accepted the post without saying its id",
                code="bad_answer",
                reference=creation_id,
            )
        return str(media_id)

    async def _permalink(self, media_id: str) -> tuple[str | None, datetime | None]:
        """The live post's link and time; the post exists, so nothing here may fail it."""
        try:
            body = await self.graph.call(
                self.http,
                "GET",
                media_id,
                self.credentials.access_token,
                params={"fields": "permalink,timestamp"},
            )
        except OutsideFailure as exc:
            log.warning("threads permalink unavailable", media_id=media_id, error=exc.message)
            return None, clock.now()
        permalink = body.get("permalink")
        published_at = parse_time(body.get("timestamp")) or clock.now()
        return (permalink if isinstance(permalink, str) else None), published_at


def _item(item: MediaItem) -> dict[str, Any]:
    if item.kind is MediaKind.VIDEO:
        params: dict[str, Any] = {"media_type": "VIDEO", "video_url": item.url}
    else:
        params = {"media_type": "IMAGE", "image_url": item.url}
    if item.alt_text:
        params["alt_text"] = item.alt_text
    return params


def _with_options(params: dict[str, Any], options: ThreadsOptions) -> dict[str, Any]:
    if options.reply_control is not None:
        params["reply_control"] = options.reply_control
    return params
