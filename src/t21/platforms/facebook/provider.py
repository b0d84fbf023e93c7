"""Facebook Pages through the Graph API: Facebook Login (no PKCE) gives one connection per Page
the person manages, each with that Page's own token, which doesn't expire and can't be refreshed.

Facts and numbers are from PLATFORMS.md §1 (Meta shared behaviour) and §3 (Facebook Pages).
Video views are `total_video_views` (https://developers.facebook.com/docs/video-api/guides/insights);
that metric is documented for videos only, and a reel is asked for its plays
(`blue_reels_play_count`, Reels metrics in the Video Insights API:
https://developers.facebook.com/blog/post/2022/12/15/introducing-reels-metrics-api/) when Graph
refuses it. A post whose metrics are refused answers None on its own, never failing the batch.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from t21.core import clock
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, Permanent, ReauthRequired
from t21.platforms.base import (
    Budget,
    Connection,
    Credentials,
    MediaItem,
    MediaKind,
    MediaRule,
    PlatformConfig,
    PlatformLimits,
    PostMetrics,
    Profile,
    Published,
    PublishRequest,
    RecentPost,
    ReplyTo,
    TextCounting,
    TokenGrant,
    Writing,
    parse_options,
)
from t21.platforms.facebook.graph import GRAPH_VERSION, Graph, text_field
from t21.platforms.facebook.publishing import PagePublisher
from t21.platforms.http import PlatformHttp
from t21.platforms.text import comparable

log = get_logger("t21.platforms.facebook")

SCOPES = (
    "pages_show_list",
    "pages_manage_posts",
    "pages_read_engagement",
    "pages_manage_engagement",  # the first comment, posted as the Page
    "read_insights",
    "publish_video",
    "business_management",
)
# Without it nothing can be published: the connection is refused at once rather than later.
PUBLISH_PERMISSION = "pages_manage_posts"
MAX_ACCOUNT_PAGES = 20  # pages of `/me/accounts` answers followed (100 Pages each)

IMAGE_RULE = MediaRule(
    content_types=frozenset({"image/jpeg", "image/png"}),
    # "smaller than 4 MB" (error 1366046, postiz); read as decimal megabytes, the stricter one.
    max_size_bytes=4_000_000 - 1,
)
VIDEO_RULE = MediaRule(
    content_types=frozenset({"video/mp4", "video/quicktime"}),
    # Not in PLATFORMS.md: Meta's video error table (subcode 1363023) gives 2 GB.
    max_size_bytes=2_000_000_000,
)
# Reels (options kind="reel"), Reels Publishing API: MP4, 9:16, at least 540×960, 3–90 s.
REEL_RULE = MediaRule(
    content_types=frozenset({"video/mp4", "video/quicktime"}),
    max_size_bytes=2_000_000_000,
    min_aspect=9 / 16,
    max_aspect=9 / 16,
    min_duration_s=3,
    max_duration_s=90,
    min_width=540,
)
LIMITS = PlatformLimits(
    max_text=63_206,
    text_counting=TextCounting.CHARACTERS,
    requires_media=False,
    # T21's choice: Facebook's own cap on photos in one post is not in PLATFORMS.md.
    max_images=10,
    max_videos=1,
    mixed_media=False,
    image=IMAGE_RULE,
    video=VIDEO_RULE,
    notes=(
        "Photos: JPEG or PNG smaller than 4 MB (postiz, error 1366046); Ayrshare says 10 MB.",
        "Up to 10 photos per post is T21's choice, not Facebook's documented limit.",
        "Reels (kind=reel): MP4 or MOV, 9:16, at least 540×960, 3–90 s; "
        "30 API-published reels per Page per rolling 24 h.",
    ),
)

REEL_LIMITS = replace(
    LIMITS, requires_media=True, max_images=0, max_videos=1, image=None, video=REEL_RULE
)


# The longest comment T21 sends (Facebook documents no comment limit; 8,000 is what its
# comment box takes, unconfirmed).
MAX_COMMENT = 8000


class FacebookOptions(BaseModel):
    """Per-post options. Posts are always published at once: scheduling is T21's job."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["post", "reel"] = "post"
    # A link shown as a preview card; only on a post without photos or video.
    link: str | None = Field(default=None, max_length=2048)
    # Posted as the Page under the new post; its failure never fails the publish. Facebook's
    # comment box takes 8,000 characters (not in PLATFORMS.md).
    first_comment: str | None = Field(default=None, min_length=1, max_length=MAX_COMMENT)

    @field_validator("link")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("link must be an http or https URL")
        return value


class FacebookProvider:
    name: ClassVar[str] = "facebook"
    display_name: ClassVar[str] = "Facebook Pages"
    uses_pkce: ClassVar[bool] = False
    # `options.first_comment`, posted by T21 as a step of its own after the post.
    supports_first_comment: ClassVar[bool] = True
    max_comment: ClassVar[int] = MAX_COMMENT
    scopes: ClassVar[tuple[str, ...]] = SCOPES
    limits: ClassVar[PlatformLimits] = LIMITS
    options: ClassVar[type[BaseModel]] = FacebookOptions
    # Pages publish without a documented post quota; reels are 30 per 24 h [docs reels].
    publish_budget: ClassVar[Budget | None] = Budget(200, timedelta(hours=24))
    idempotency_window: ClassVar[timedelta | None] = None
    writing: ClassVar[Writing] = Writing(
        "Facebook: conversational and friendly, inviting comments and shares; hashtags "
        "sparingly (up to three).",
        500,
    )

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config

    def _graph(self, http: PlatformHttp, token: str | None) -> Graph:
        return Graph(http, self.config, token)

    # --- connecting ------------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        query = urlencode(
            {
                "client_id": self.config.client_id,
                "redirect_uri": redirect_uri,
                "state": state,
                "response_type": "code",
                "scope": ",".join(SCOPES),
            }
        )
        return f"{self.config.auth_base}/{GRAPH_VERSION}/dialog/oauth?{query}"

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        """Code → short-lived user token → long-lived user token → the Pages it manages, each
        with a Page token that doesn't expire (one read with a long-lived user token)."""
        app = {"client_id": self.config.client_id, "client_secret": self.config.client_secret}
        async with PlatformHttp(self.config) as http:
            graph = self._graph(http, None)
            short = await graph.get(
                "oauth/access_token", **app, redirect_uri=redirect_uri, code=code
            )
            long = await graph.get(
                "oauth/access_token",
                **app,
                grant_type="fb_exchange_token",
                fb_exchange_token=text_field(short, "access_token"),
            )
            user = self._graph(http, text_field(long, "access_token"))
            granted = await self._granted(user)
            if PUBLISH_PERMISSION not in granted:
                raise ReauthRequired(
                    "Facebook: T21 was not allowed to publish on your Pages. Connect again and "
                    "keep the permission to create and manage content.",
                    code="permission_declined",
                )
            pages = await self._pages(user)
        scopes = frozenset(granted)
        return [
            Connection(
                profile=_profile(page),
                grant=TokenGrant(access_token=text_field(page, "access_token"), scopes=scopes),
            )
            for page in pages
        ]

    async def _granted(self, user: Graph) -> set[str]:
        answer = await user.get("me/permissions")
        return {
            str(entry.get("permission"))
            for entry in _data(answer)
            if entry.get("status") == "granted"
        }

    async def _pages(self, user: Graph) -> list[dict[str, Any]]:
        answer = await user.get("me/accounts", fields="id,name,access_token,picture", limit="100")
        pages = _data(answer)
        for _ in range(MAX_ACCOUNT_PAGES):
            following = (answer.get("paging") or {}).get("next")
            if not isinstance(following, str) or not following:
                break
            answer = await user.send("GET", following)
            pages.extend(_data(answer))
        return [page for page in pages if page.get("access_token")]

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        """Page tokens read with a long-lived user token don't expire; one that stops working
        (password changed, role removed, app removed) needs a new Facebook Login."""
        return None

    async def revoke(self, credentials: Credentials) -> bool:
        """Facebook revokes an app's permissions with `DELETE /me/permissions` and a *user*
        token. T21 keeps only Page tokens (with one, `/me` is the Page), so it can't revoke
        here; the person removes T21 under Facebook's Business Integrations settings."""
        return False

    async def profile(self, credentials: Credentials) -> Profile:
        async with PlatformHttp(self.config) as http:
            page = await self._graph(http, credentials.access_token).get(
                credentials.external_id, fields="id,name,picture"
            )
        return _profile(page)

    # --- publishing ----------------------------------------------------------------------

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        if options.get("kind") == "reel":
            return REEL_LIMITS
        return self.limits

    def check(self, request: PublishRequest) -> None:
        options = parse_options(FacebookOptions, request.options, "Facebook")
        images = [item for item in request.media if item.kind is MediaKind.IMAGE]
        videos = [item for item in request.media if item.kind is MediaKind.VIDEO]
        _check_shape(options, images, videos)

    async def publish(self, credentials: Credentials, request: PublishRequest) -> Published:
        self.check(request)
        options = FacebookOptions.model_validate(request.options)
        images = [item for item in request.media if item.kind is MediaKind.IMAGE]
        videos = [item for item in request.media if item.kind is MediaKind.VIDEO]
        async with PlatformHttp(self.config) as http:
            graph = self._graph(http, credentials.access_token)
            page = PagePublisher(graph, self.config, credentials.external_id)
            if options.kind == "reel":
                published = await page.reel(videos[0], request.text)
            elif videos:
                published = await page.video(videos[0], request.text)
            elif len(images) == 1:
                published = await page.photo(images[0], request.text)
            elif images:
                published = await page.album(images, request.text)
            else:
                published = await page.text(request.text, options.link)
        return published

    # --- first comment ---------------------------------------------------------------------

    async def publish_comment(self, credentials: Credentials, on: ReplyTo, text: str) -> Published:
        """`options.first_comment`: `POST /{post-id}/comments` `{message}` as the Page
        (https://developers.facebook.com/docs/graph-api/reference/object/comments/#publish),
        after the post; T21 records it as a step of its own, so it goes out once."""
        async with PlatformHttp(self.config) as http:
            created = await self._graph(http, credentials.access_token).post(
                f"{on.parent_id}/comments", {"message": text}, publishing=True
            )
        comment_id = created.get("id")
        if not isinstance(comment_id, str) or not comment_id:
            raise Ambiguous("Facebook accepted the comment without naming it.", code="no_id")
        return Published(external_id=comment_id, permalink=None, published_at=clock.now())

    async def find_comments(
        self, credentials: Credentials, on: ReplyTo, *, since: datetime
    ) -> list[RecentPost]:
        """The Page's own comments on the post (`GET /{post-id}/comments`, newest first)."""
        async with PlatformHttp(self.config) as http:
            answer = await self._graph(http, credentials.access_token).get(
                f"{on.parent_id}/comments",
                fields="id,message,created_time,from",
                order="reverse_chronological",
            )
        found = []
        for comment in _data(answer):
            author = comment.get("from")
            if isinstance(author, dict) and author.get("id") != credentials.external_id:
                continue
            created = _graph_time(comment.get("created_time"))
            if created is not None and created < since:
                continue
            found.append(
                RecentPost(
                    external_id=str(comment.get("id")),
                    text=comment.get("message"),
                    created_at=created,
                    reply_to=on.parent_id,
                )
            )
        return found

    # --- reading back ----------------------------------------------------------------------

    def comparable_text(self, text: str) -> str:
        return comparable(text)

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        return None  # the scopes asked for at connection include reading its own posts

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        async with PlatformHttp(self.config) as http:
            answer = await self._graph(http, credentials.access_token).get(
                f"{credentials.external_id}/posts",
                fields="id,message,created_time,permalink_url",
                since=str(int(since.timestamp())),
                limit=str(limit),
            )
        posts = [
            RecentPost(
                external_id=str(post["id"]),
                text=post.get("message"),
                created_at=_graph_time(post.get("created_time")),
                permalink=post.get("permalink_url"),
            )
            for post in _data(answer)
            if post.get("id")
        ]
        epoch = datetime.min.replace(tzinfo=since.tzinfo)
        posts.sort(key=lambda post: post.created_at or epoch, reverse=True)
        return posts[:limit]

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        """Posts (`{page}_{post}` ids) from the post insights and counters; videos and reels
        (bare ids) from the video's views, reactions and comments. No data yet: None."""
        results: dict[str, PostMetrics | None] = {}
        async with PlatformHttp(self.config) as http:
            graph = self._graph(http, credentials.access_token)
            for external_id in external_ids:
                try:
                    if "_" in external_id:
                        results[external_id] = await _post_metrics(graph, external_id)
                    else:
                        results[external_id] = await _video_metrics(graph, external_id)
                except Permanent as exc:
                    # One post's refusal (deleted, or a metric Facebook won't give for it) is
                    # that post's alone: the others of the batch still get their numbers.
                    results[external_id] = None
                    if not _missing_object(exc):
                        log.warning(
                            "facebook metrics refused for one post",
                            external_id=external_id,
                            reason=exc.message,
                            code=exc.code,
                        )
        return results


# --- helpers -------------------------------------------------------------------------------

POST_METRICS = "post_total_media_view_unique,post_reactions_by_type_total,post_clicks"


async def _post_metrics(graph: Graph, post_id: str) -> PostMetrics | None:
    insights = _insight_values(await graph.get(f"{post_id}/insights", metric=POST_METRICS))
    if not insights:
        return None  # too new, or a Page under 100 likes: Facebook has no numbers
    counters = await graph.get(post_id, fields="comments.summary(true).limit(0),shares")
    reactions = insights.get("post_reactions_by_type_total")
    return PostMetrics(
        reach=_count(insights.get("post_total_media_view_unique")),
        likes=_total(reactions),
        clicks=_count(insights.get("post_clicks")),
        comments=_summary_count(counters.get("comments")),
        # Facebook leaves `shares` out of a post nobody has shared.
        shares=_count((counters.get("shares") or {}).get("count")) or 0,
    )


VIDEO_METRIC = "total_video_views"
# Reels have their own plays metric (Reels metrics in the Video Insights API, 2022-12-15:
# https://developers.facebook.com/blog/post/2022/12/15/introducing-reels-metrics-api/);
# total_video_views is documented for videos only and may be refused for a reel as an invalid
# metric (https://developers.facebook.com/docs/video-api/guides/insights).
REEL_METRIC = "blue_reels_play_count"


async def _video_metrics(graph: Graph, video_id: str) -> PostMetrics | None:
    """A video's or a reel's numbers: video views, or a reel's plays when Facebook refuses
    the video metric for it."""
    name = VIDEO_METRIC
    try:
        answer = await graph.get(f"{video_id}/video_insights", metric=VIDEO_METRIC)
    except Permanent as exc:
        if not _invalid_metric(exc):
            raise
        name = REEL_METRIC
        answer = await graph.get(f"{video_id}/video_insights", metric=REEL_METRIC)
    views = _insight_values(answer)
    if not views:
        return None
    counters = await graph.get(
        video_id, fields="likes.summary(true).limit(0),comments.summary(true).limit(0)"
    )
    return PostMetrics(
        video_views=_count(views.get(name)),
        likes=_summary_count(counters.get("likes")),
        comments=_summary_count(counters.get("comments")),
    )


def _insight_values(answer: dict[str, Any]) -> dict[str, Any]:
    """`{name: value}` of an insights answer (`data[].values[0].value`); empty when none."""
    values: dict[str, Any] = {}
    for metric in _data(answer):
        points = metric.get("values")
        if isinstance(points, list) and points and isinstance(points[0], dict):
            values[str(metric.get("name"))] = points[-1].get("value")
    return values


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _total(value: Any) -> int | None:
    """The sum of a `_by_type` metric (`{"like": 3, "love": 1}`)."""
    if isinstance(value, dict):
        return sum(count for count in map(_count, value.values()) if count is not None)
    return _count(value)


def _summary_count(edge: Any) -> int | None:
    if isinstance(edge, dict) and isinstance(edge.get("summary"), dict):
        return _count(edge["summary"].get("total_count"))
    return None


def _invalid_metric(failure: Permanent) -> bool:
    """Graph's "(#100) The value must be a valid insights metric" (code 100, no subcode)."""
    return failure.code == "graph_100"


def _missing_object(failure: Permanent) -> bool:
    """Graph's "Object with ID ... does not exist" (code 100, subcode 33)."""
    return failure.code == "graph_100.33"


def _data(answer: dict[str, Any]) -> list[dict[str, Any]]:
    data = answer.get("data")
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []


def _profile(page: dict[str, Any]) -> Profile:
    page_id = text_field(page, "id")
    name = page.get("name") if isinstance(page.get("name"), str) else None
    picture = (page.get("picture") or {}).get("data") or {}
    avatar = picture.get("url") if isinstance(picture, dict) else None
    return Profile(
        external_id=page_id,
        username=name or page_id,
        display_name=name,
        avatar_url=avatar if isinstance(avatar, str) else None,
    )


def _graph_time(value: Any) -> datetime | None:
    """Graph times look like `2026-11-24T17:55:00+0000`."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def _check_shape(
    options: FacebookOptions, images: list[MediaItem], videos: list[MediaItem]
) -> None:
    """Refuse, before any request, what no Facebook flow can publish."""
    if images and videos:
        raise Permanent("Facebook can't mix photos and a video in one post", code="media_mix")
    if len(videos) > LIMITS.max_videos:
        raise Permanent("Facebook takes one video per post", code="media_count")
    if len(images) > LIMITS.max_images:
        raise Permanent(
            f"T21 publishes at most {LIMITS.max_images} photos per Facebook post",
            code="media_count",
        )
    if options.kind == "reel" and len(videos) != 1:
        raise Permanent("A Facebook reel needs exactly one video", code="media_count")
    if options.kind == "reel":
        _check_reel(videos[0])
    if options.link and (images or videos):
        raise Permanent(
            "Facebook shows a link preview only on a post without photos or video; "
            "put the link in the text instead",
            code="link_with_media",
        )


def _check_reel(video: MediaItem) -> None:
    """The reel spec, which `LIMITS` (one video rule per network) can't carry: checked here on
    what the caller knows of the file."""
    rule = REEL_RULE
    duration, width, height = video.duration_s, video.width, video.height
    if duration is not None and not (rule.min_duration_s or 0) <= duration <= (
        rule.max_duration_s or duration
    ):
        raise Permanent("A Facebook reel lasts 3 to 90 seconds", code="reel_duration")
    if width and height and (abs(width / height - 9 / 16) > 0.01 or width < (rule.min_width or 0)):
        raise Permanent(
            "A Facebook reel is vertical 9:16, at least 540×960 pixels", code="reel_format"
        )
