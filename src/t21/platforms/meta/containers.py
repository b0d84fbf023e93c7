"""Publishing through Meta's media containers, as Instagram and Threads both do.

A post is built as containers the network downloads from public URLs: one container, or
carousel items under a parent container created once they are all FINISHED. Each container is
processed (`GET /{container}?fields=…`: IN_PROGRESS, FINISHED, ERROR, EXPIRED, PUBLISHED), then
`POST /{user}/{publish_edge}?creation_id=` publishes: that request alone may be Ambiguous. A
container is invisible until published, so any failure before it leaves nothing behind.

No worker waits for processing: an attempt creates the containers, reads their status once,
and when they aren't ready answers `Continuing` with the container ids as its progress and a
growing delay (the configured poll interval, ×1.5 each time, up to the network's maximum). The
next attempt resumes from those ids and never builds new containers while they can still
finish (each lives 24 h, and an account may create only so many); they are built again only
when they can't (EXPIRED, or an ERROR the network calls transient), at most `MAX_BUILDS` times.
After the network's processing wait the attempt gives up for now (`Retryable`, ids kept), so the
retry limit bounds it.
Source: https://developers.facebook.com/docs/instagram-platform/content-publishing
Source: https://developers.facebook.com/documentation/threads/posts
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from t21.core import clock
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, OutsideFailure, Permanent, Retryable
from t21.platforms.base import Continuing, Credentials, Published
from t21.platforms.http import PlatformHttp
from t21.platforms.meta.graph import Graph, data_of, parse_time

POLL_GROWTH = 1.5
# How many times a post's containers may be built when the network couldn't process them.
MAX_BUILDS = 3
# When the oldest post of the quota's window can't be read, try again in an hour.
QUOTA_FALLBACK_AFTER_S = 3600.0
QUOTA_MIN_AFTER_S = 60.0


@dataclass(frozen=True)
class Build:
    """The containers a post is made of: one `single`, or carousel `items` under the parent
    that `parent(children ids)` describes."""

    single: dict[str, Any] | None
    items: list[dict[str, Any]]
    parent: Callable[[list[str]], dict[str, Any]]


@dataclass
class Progress:
    """What a publication has at the network between attempts (kept as `Continuing.progress`):
    carousel item containers, the container to publish, since when they process, how often
    they were read and how many times they were built."""

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


class Rebuild(Exception):
    """The containers can't finish any more (EXPIRED, or an ERROR worth building again)."""

    def __init__(self, failure: OutsideFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class ContainerPublisher(ABC):
    """One attempt of a publication: its HTTP client, the account, and where it stands.
    A network names its edges and status fields and reads its own container errors."""

    # `POST /{user}/{create_edge}` creates containers, `GET` on it lists the user's posts.
    create_edge: ClassVar[str]
    publish_edge: ClassVar[str]
    status_fields: ClassVar[str]
    status_key: ClassVar[str]
    max_poll_interval_s: ClassVar[float]
    processing_wait_s: ClassVar[float]

    def __init__(self, http: PlatformHttp, graph: Graph, credentials: Credentials) -> None:
        self.http = http
        self.graph = graph
        self.credentials = credentials
        self.user = credentials.external_id
        self.network = graph.network
        self.log = get_logger(f"t21.platforms.{self.network.lower()}")

    @abstractmethod
    def container_error(self, body: dict[str, Any]) -> OutsideFailure:
        """Why a container ended in ERROR: `Retryable` when new containers may succeed."""

    @abstractmethod
    async def before_build(self) -> None:
        """What to check before containers are built (the account's quota, if readable)."""

    @abstractmethod
    async def publish_refused(self, refusal: Retryable) -> None:
        """A retryable refusal of the publish request; raise a better-timed one if known."""

    async def run(self, build: Build, saved: dict[str, Any]) -> Published | Continuing:
        progress = Progress.load(saved)
        try:
            if not progress.built:
                await self.before_build()
                await self._build(build, progress)
            try:
                ready = await self._advance(build, progress)
            except Retryable as failure:
                # The containers are there and may still finish: keep them and read again
                # later rather than lose them with the attempt.
                return self._later(progress, at_least=failure.after, reason=failure.message)
        except Rebuild as rebuild:
            if progress.builds >= MAX_BUILDS:
                raise rebuild.failure from None
            self.log.info("containers can't finish; building again", reason=rebuild.args)
            fresh = Progress(builds=progress.builds)
            return Continuing(
                after_s=self._interval(0), progress=fresh.dump(), reason=rebuild.failure.message
            )
        if not ready:
            return self._later(progress)
        assert progress.container is not None
        media_id = await self._publish(progress.container)
        permalink, published_at = await self._permalink(media_id)
        return Published(external_id=media_id, permalink=permalink, published_at=published_at)

    # --- containers ----------------------------------------------------------------------

    async def _build(self, build: Build, progress: Progress) -> None:
        progress.builds += 1
        progress.polls = 0
        progress.started_at = clock.now().timestamp()
        if build.items:
            progress.children = [await self._create(item) for item in build.items]
        else:
            assert build.single is not None
            progress.container = await self._create(build.single)

    async def _advance(self, build: Build, progress: Progress) -> bool:
        """Read the containers once; whether the one to publish is FINISHED. A carousel's
        parent is created once all its items are."""
        if progress.container is None:
            states = [await self._status(child) for child in progress.children]
            if not all(states):
                return False
            progress.container = await self._create(build.parent(progress.children))
        return await self._status(progress.container)

    def _later(
        self, progress: Progress, *, at_least: float | None = None, reason: str | None = None
    ) -> Continuing:
        started = progress.started_at or clock.now().timestamp()
        waited = clock.now().timestamp() - started
        if waited >= self.processing_wait_s:
            raise Retryable(
                f"{self.network} is still processing the media after {int(waited // 60)} minutes",
                after=self.max_poll_interval_s,
                code="processing",
            )
        after = max(self._interval(progress.polls), at_least or 0.0)
        progress.polls += 1
        return Continuing(
            after_s=after,
            progress=progress.dump(),
            reason=reason
            or f"{self.network} is processing the media; T21 publishes it once it is ready.",
        )

    def _interval(self, polls: int) -> float:
        first = self.graph.config.poll_interval_s
        return float(min(self.max_poll_interval_s, first * POLL_GROWTH**polls))

    async def _create(self, params: dict[str, Any]) -> str:
        body = await self.graph.call(
            self.http,
            "POST",
            f"{self.user}/{self.create_edge}",
            self.credentials.access_token,
            params=params,
        )
        container = body.get("id")
        if not isinstance(container, str | int):
            raise Retryable(
                f"{self.network} did not return a media container id", code="bad_answer"
            )
        return str(container)

    async def _status(self, container: str) -> bool:
        """Whether `container` is FINISHED (False while IN_PROGRESS); its end otherwise."""
        body = await self.graph.call(
            self.http,
            "GET",
            container,
            self.credentials.access_token,
            params={"fields": self.status_fields},
        )
        status = body.get(self.status_key)
        if status == "FINISHED":
            return True
        if status in ("IN_PROGRESS", None):
            return False
        if status == "ERROR":
            failure = self.container_error(body)
            if isinstance(failure, Retryable):
                raise Rebuild(failure)
            raise failure
        if status == "EXPIRED":
            raise Rebuild(
                Retryable(
                    f"{self.network}: the media container expired before it was published",
                    code="container_expired",
                )
            )
        if status == "PUBLISHED":
            # An earlier attempt's publish request went through after all: find it, never
            # publish again.
            raise Ambiguous(
                f"{self.network} says this post is already published; T21 is finding it.",
                code="already_published",
                reference=container,
            )
        raise Permanent(f"{self.network}: unexpected container status {status}")

    # --- publishing ----------------------------------------------------------------------

    async def _publish(self, creation_id: str) -> str:
        try:
            body = await self.graph.call(
                self.http,
                "POST",
                f"{self.user}/{self.publish_edge}",
                self.credentials.access_token,
                params={"creation_id": creation_id},
                publishing=True,
            )
        except Ambiguous as doubt:
            raise Ambiguous(doubt.message, code=doubt.code, reference=creation_id) from doubt
        except Retryable as refusal:
            await self.publish_refused(refusal)
            raise
        media_id = body.get("id")
        if not isinstance(media_id, str | int):
            raise Ambiguous(
                f"{self.network} accepted the post without saying its id",
                code="bad_answer",
                reference=creation_id,
            )
        return str(media_id)

    async def slot_frees_in(self, window: float) -> float:
        """Seconds until the oldest post of the quota's moving window leaves it. The window
        counts API posts only; reading every post can only make this earlier, and an early
        retry just asks again."""
        now = clock.now()
        since = now - timedelta(seconds=window)
        try:
            body = await self.graph.call(
                self.http,
                "GET",
                f"{self.user}/{self.create_edge}",
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
            self.log.warning("permalink unavailable", media_id=media_id, error=exc.message)
            return None, clock.now()
        permalink = body.get("permalink")
        published_at = parse_time(body.get("timestamp")) or clock.now()
        return (permalink if isinstance(permalink, str) else None), published_at
