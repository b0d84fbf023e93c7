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

The attempts that follow processing are `platforms.meta.containers`' (polls at most a minute
apart, containers built again on EXPIRED or ERROR downloading the media, for at most
`PROCESSING_WAIT_S`). Before building, the account's quota is read: an exhausted quota is a
`Retryable` until its oldest post leaves the window.
"""

from __future__ import annotations

from typing import Any, ClassVar

from t21.core.outside import OutsideFailure, Permanent, Retryable
from t21.platforms.base import (
    Continuing,
    Credentials,
    MediaItem,
    MediaKind,
    Published,
    PublishRequest,
)
from t21.platforms.http import PlatformHttp
from t21.platforms.meta.containers import Build, ContainerPublisher
from t21.platforms.meta.graph import Graph, data_of
from t21.platforms.threads.rules import (
    MAX_CAROUSEL_ITEMS,
    MAX_TEXT,
    MIN_CAROUSEL_ITEMS,
    ThreadsOptions,
    threads_length,
)

MAX_POLL_INTERVAL_S = 60.0
PROCESSING_WAIT_S = 300.0
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


class Publisher(ContainerPublisher):
    """One attempt of a Threads publication (`POST /{user}/threads`, `threads_publish`)."""

    create_edge: ClassVar[str] = "threads"
    publish_edge: ClassVar[str] = "threads_publish"
    status_fields: ClassVar[str] = "status,error_message"
    status_key: ClassVar[str] = "status"
    max_poll_interval_s: ClassVar[float] = MAX_POLL_INTERVAL_S
    processing_wait_s: ClassVar[float] = PROCESSING_WAIT_S

    def __init__(
        self,
        http: PlatformHttp,
        graph: Graph,
        credentials: Credentials,
        reply_to: str | None = None,
    ) -> None:
        super().__init__(http, graph, credentials)
        # The Threads media a thread's part answers (`reply_to_id` on its container).
        self.reply_to = reply_to

    async def publish(
        self, request: PublishRequest, options: ThreadsOptions
    ) -> Published | Continuing:
        text = request.text

        def parent(children: list[str]) -> dict[str, Any]:
            params = {"media_type": "CAROUSEL", "children": ",".join(children), "text": text}
            return self._answering(_with_options(params, options))

        if len(request.media) > 1:
            items = [_item(item) | {"is_carousel_item": True} for item in request.media]
            return await self.run(Build(None, items, parent), request.progress)
        if request.media:
            params = _item(request.media[0]) | {"text": text}
        else:
            params = {"media_type": "TEXT", "text": text}
        single = self._answering(_with_options(params, options))
        return await self.run(Build(single, [], parent), request.progress)

    def _answering(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.reply_to is not None:
            params["reply_to_id"] = self.reply_to
        return params

    def container_error(self, body: dict[str, Any]) -> OutsideFailure:
        reason = str(body.get("error_message") or "UNKNOWN")
        message = f"Threads could not process the media: {reason}"
        if reason in REBUILD_ERRORS:
            return Retryable(message, code="media_retry")
        return Permanent(message, code="media_refused")

    async def before_build(self) -> None:
        await self._check_quota()

    async def publish_refused(self, refusal: Retryable) -> None:
        if refusal.code == "throttled":
            # The quota is enforced here too: wait for its reset, not a throttling default.
            await self._check_quota()

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
                after=await self.slot_frees_in(window),
                code="publishing_limit",
            )


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
