"""Instagram through the Instagram API with Instagram Login (Business Login for Instagram).

Connecting: the authorize window at `{auth_base}/oauth/authorize` (comma-separated scopes, no
PKCE), the code for a 1 h token at `{auth_base}/oauth/access_token`, that one for a 60-day token
at `{api_base}/access_token` (`ig_exchange_token`). The long-lived token is refreshed with
itself (`ig_refresh_token`, once it is 24 h old); there is no refresh token and no revocation.
Every Graph call carries its parameters and `access_token` in the query (`platforms.meta.graph`,
as Instagram's reference shows for container creation, `media_publish`, the container's
`?fields=status_code` and `insights?metric=…`, and as postiz's
`instagram.standalone.provider.ts` sends them); media processing that takes minutes continues
in a later attempt (see `publishing`).
Sources: https://developers.facebook.com/docs/instagram-platform/reference/refresh_access_token,
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media,
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media_publish,
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container,
https://developers.facebook.com/docs/instagram-platform/reference/access_token,
https://developers.facebook.com/docs/instagram-platform/reference/instagram-media/insights
(views replaces impressions/plays; code 10 "Not enough viewers" means no data yet).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel

from t21.core import clock
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, Permanent, ReauthRequired, Retryable
from t21.platforms.base import (
    Budget,
    Continuing,
    Credentials,
    PlatformLimits,
    PostMetrics,
    Profile,
    Published,
    PublishRequest,
    RecentPost,
    ReplyTo,
    Writing,
    parse_options,
)
from t21.platforms.http import PlatformHttp
from t21.platforms.instagram.errors import ERRORS
from t21.platforms.instagram.publishing import Publisher, plan
from t21.platforms.instagram.rules import LIMITS, MAX_CAPTION, SURFACE_LIMITS, InstagramOptions
from t21.platforms.meta.graph import (
    data_of,
    metric_values,
    newest,
    parse_time,
    recent_post,
)
from t21.platforms.meta.provider import GraphProvider

log = get_logger("t21.platforms.instagram")

SCOPES = (
    "instagram_business_basic",
    "instagram_business_content_publish",
    "instagram_business_manage_insights",
    "instagram_business_manage_comments",
)
# Without these the account can't be published to; insights and comments degrade quietly.
REQUIRED_SCOPES = frozenset(SCOPES[:2])
PROFILE_FIELDS = "user_id,username,name,profile_picture_url"
# The latest Graph version named in Meta's docs (PLATFORMS.md §1).
GRAPH_VERSION = "v25.0"
FEED_METRICS = "views,reach,saved,likes,comments,shares,total_interactions"
# Stories have no likes, comments or saves.
STORY_METRICS = "views,reach,shares,total_interactions"


class InstagramProvider(GraphProvider):
    name: ClassVar[str] = "instagram"
    display_name: ClassVar[str] = "Instagram"
    uses_pkce: ClassVar[bool] = False
    # `options.first_comment`, posted by T21 as a step of its own after the post.
    supports_first_comment: ClassVar[bool] = True
    max_comment: ClassVar[int] = MAX_CAPTION
    scopes: ClassVar[tuple[str, ...]] = SCOPES
    limits: ClassVar[PlatformLimits] = LIMITS
    options: ClassVar[type[BaseModel]] = InstagramOptions
    # 50 published posts per rolling 24 h per account [docs content_publishing_limit].
    publish_budget: ClassVar[Budget | None] = Budget(50, timedelta(hours=24))
    idempotency_window: ClassVar[timedelta | None] = None
    writing: ClassVar[Writing] = Writing(
        "Instagram caption: vivid and personal. The first line hooks before the 'more' cut, "
        "emoji where they fit, a call to action, and relevant hashtags (five to fifteen).",
        1000,
    )

    graph_version: ClassVar[str] = GRAPH_VERSION
    graph_errors = ERRORS
    exchange_grant: ClassVar[str] = "ig_exchange_token"
    refresh_grant: ClassVar[str] = "ig_refresh_token"

    # --- connecting ----------------------------------------------------------------------

    def requested_scopes(self) -> tuple[str, ...]:
        return self.scopes

    def short_token_url(self) -> str:
        return f"{self.config.auth_base.rstrip('/')}/oauth/access_token"

    def granted_scopes(self, short: dict[str, Any]) -> frozenset[str]:
        granted = _permissions(short.get("permissions"))
        missing = REQUIRED_SCOPES - granted if granted else frozenset()
        if missing:
            raise ReauthRequired(
                "Instagram: T21 needs the permissions "
                f"{', '.join(sorted(missing))}; connect again and allow them",
                code="permission_missing",
            )
        return granted or frozenset(self.scopes)

    async def _profile(self, http: PlatformHttp, token: str) -> Profile:
        body = await self.graph.call(http, "GET", "me", token, params={"fields": PROFILE_FIELDS})
        user_id = body.get("user_id") or body.get("id")
        if user_id is None:
            raise Retryable("Instagram did not say which account this is", code="bad_answer")
        return Profile(
            external_id=str(user_id),
            username=body.get("username"),
            display_name=body.get("name") or body.get("username"),
            avatar_url=body.get("profile_picture_url") or None,
        )

    # --- publishing and reading back -----------------------------------------------------

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        return SURFACE_LIMITS.get(str(options.get("kind", "feed")), self.limits)

    def check(self, request: PublishRequest) -> None:
        plan(request, parse_options(InstagramOptions, request.options, "Instagram"))

    async def publish(
        self, credentials: Credentials, request: PublishRequest
    ) -> Published | Continuing:
        self.check(request)
        options = InstagramOptions.model_validate(request.options)
        async with PlatformHttp(self.config) as http:
            return await Publisher(http, self.graph, credentials).publish(request, options)

    async def publish_comment(self, credentials: Credentials, on: ReplyTo, text: str) -> Published:
        """`options.first_comment`: `POST /{ig-media-id}/comments?message=` with
        instagram_business_manage_comments
        (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media/comments),
        after the post; T21 records it as a step of its own, so it goes out once."""
        async with PlatformHttp(self.config) as http:
            created = await self.graph.call(
                http,
                "POST",
                f"{on.parent_id}/comments",
                credentials.access_token,
                params={"message": text},
                publishing=True,
            )
        comment_id = created.get("id")
        if not isinstance(comment_id, str | int) or not str(comment_id):
            raise Ambiguous("Instagram accepted the comment without naming it.", code="no_id")
        return Published(external_id=str(comment_id), permalink=None, published_at=clock.now())

    async def find_comments(
        self, credentials: Credentials, on: ReplyTo, *, since: datetime
    ) -> list[RecentPost]:
        """The account's own comments on the post (`GET /{ig-media-id}/comments`)."""
        async with PlatformHttp(self.config) as http:
            body = await self.graph.call(
                http,
                "GET",
                f"{on.parent_id}/comments",
                credentials.access_token,
                params={"fields": "id,text,timestamp,username"},
            )
        found = []
        for entry in data_of(body):
            if credentials.username and entry.get("username") not in (None, credentials.username):
                continue
            created = parse_time(entry.get("timestamp"))
            if created is not None and created < since:
                continue
            text = entry.get("text")
            found.append(
                RecentPost(
                    external_id=str(entry.get("id")),
                    text=text if isinstance(text, str) else None,
                    created_at=created,
                    reply_to=on.parent_id,
                )
            )
        return found

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        return None  # the scopes asked for at connection include reading its own posts

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        """Feed posts and reels since `since`, and live stories (which `/media` leaves out)."""
        token, user = credentials.access_token, credentials.external_id
        async with PlatformHttp(self.config) as http:
            feed = await self.graph.call(
                http,
                "GET",
                f"{user}/media",
                token,
                params={
                    "fields": "id,caption,timestamp,permalink",
                    "since": int(since.timestamp()),
                    "limit": limit,
                },
            )
            stories = await self.graph.call(
                http, "GET", f"{user}/stories", token, params={"fields": "id,timestamp,permalink"}
            )
        entries = [*data_of(feed), *data_of(stories)]
        posts = [recent_post(entry, text_field="caption") for entry in entries]
        return newest(posts, since=since, limit=limit)

    async def _media_metrics(
        self, http: PlatformHttp, token: str, media_id: str
    ) -> PostMetrics | None:
        """One post's numbers; None when Instagram has none yet (empty data, "Not enough
        viewers") or none at all (a deleted post, a kind without insights)."""
        try:
            media = await self._quiet_call(
                http, token, media_id, {"fields": "media_type,media_product_type"}
            )
            if media is None:
                return None
            story = media.get("media_product_type") == "STORY"
            insights = await self._quiet_call(
                http,
                token,
                f"{media_id}/insights",
                {"metric": STORY_METRICS if story else FEED_METRICS},
            )
        except Permanent as exc:
            log.info("instagram post has no insights", media_id=media_id, error=exc.message)
            return None
        values = metric_values(insights or {})
        if not values:
            return None
        views = values.get("views")
        return PostMetrics(
            impressions=views,
            reach=values.get("reach"),
            likes=values.get("likes"),
            comments=values.get("comments"),
            shares=values.get("shares"),
            saves=values.get("saved"),
            clicks=None,
            video_views=views if media.get("media_type") == "VIDEO" else None,
        )

    async def _quiet_call(
        self, http: PlatformHttp, token: str, path: str, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A read where "no data" answers are None: code 10 ("Not enough viewers for the
        media to show insights") and code 100/33 (no such media, e.g. deleted)."""
        response = await self.graph.send(http, "GET", path, token, params)
        if response.is_success:
            return self.graph.answer_object(response)
        error = self.graph.errors.parse(response)
        no_data = error is not None and (
            error.code == 10 or (error.code == 100 and error.subcode == 33)
        )
        if no_data and response.status_code < 500:
            return None
        raise self.graph.errors.classify(response, redact=(token, self.config.client_secret))


def _permissions(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(name.strip() for name in value.split(",") if name.strip())
    if isinstance(value, list):
        return frozenset(str(name) for name in value)
    return frozenset()
