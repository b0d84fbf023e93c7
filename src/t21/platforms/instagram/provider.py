"""Instagram through the Instagram API with Instagram Login (Business Login for Instagram).

Connecting: the authorize window at `{auth_base}/oauth/authorize` (comma-separated scopes, no
PKCE), the code for a 1 h token at `{auth_base}/oauth/access_token`, that one for a 60-day token
at `{api_base}/access_token` (`ig_exchange_token`). The long-lived token is refreshed with
itself (`ig_refresh_token`, once it is 24 h old); there is no refresh token and no revocation.
Every Graph call carries its parameters and `access_token` in the query (see `graph`); media
processing that takes minutes continues in a later attempt (see `publishing`).
Sources: https://developers.facebook.com/docs/instagram-platform/reference/refresh_access_token,
https://developers.facebook.com/docs/instagram-platform/reference/access_token,
https://developers.facebook.com/docs/instagram-platform/reference/instagram-media/insights
(views replaces impressions/plays; code 10 "Not enough viewers" means no data yet).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel

from t21.core import clock
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, Permanent, ReauthRequired, Retryable
from t21.platforms.base import (
    Budget,
    Connection,
    Continuing,
    Credentials,
    PlatformConfig,
    PlatformLimits,
    PostMetrics,
    Profile,
    Published,
    PublishRequest,
    RecentPost,
    ReplyTo,
    TokenGrant,
    Writing,
    parse_options,
)
from t21.platforms.http import PlatformHttp, json_body
from t21.platforms.instagram.errors import classify, parse
from t21.platforms.instagram.graph import Graph, answer_object, data_of, parse_time
from t21.platforms.instagram.publishing import Publisher, plan
from t21.platforms.instagram.rules import LIMITS, MAX_CAPTION, SURFACE_LIMITS, InstagramOptions
from t21.platforms.text import comparable

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
LONG_LIVED_S = 60 * 86_400
REFRESH_MIN_AGE_S = 86_400
FEED_METRICS = "views,reach,saved,likes,comments,shares,total_interactions"
# Stories have no likes, comments or saves.
STORY_METRICS = "views,reach,shares,total_interactions"


class InstagramProvider:
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

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.graph = Graph(config)

    # --- connecting ----------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        query = urlencode(
            {
                "client_id": self.config.client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": ",".join(self.scopes),
                "state": state,
            }
        )
        return f"{self.config.auth_base.rstrip('/')}/oauth/authorize?{query}"

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        secret = self.config.client_secret
        async with PlatformHttp(self.config) as http:
            response = await http.request(
                "POST",
                f"{self.config.auth_base.rstrip('/')}/oauth/access_token",
                data={
                    "client_id": self.config.client_id,
                    "client_secret": secret,
                    "grant_type": "authorization_code",
                    "redirect_uri": redirect_uri,
                    "code": code,
                },
            )
            short = _token_answer(response, redact=(code, secret))
            granted = _permissions(short.get("permissions"))
            missing = REQUIRED_SCOPES - granted if granted else frozenset()
            if missing:
                raise ReauthRequired(
                    "Instagram: T21 needs the permissions "
                    f"{', '.join(sorted(missing))}; connect again and allow them",
                    code="permission_missing",
                )
            response = await http.request(
                "GET",
                self.graph.url("access_token", versioned=False),
                params={
                    "grant_type": "ig_exchange_token",
                    "client_secret": secret,
                    "access_token": short["access_token"],
                },
            )
            long_lived = _token_answer(response, redact=(short["access_token"], secret))
            token = long_lived["access_token"]
            profile = await self._profile(http, token)
        grant = TokenGrant(
            access_token=token,
            expires_in=_int(long_lived.get("expires_in")) or LONG_LIVED_S,
            scopes=granted or frozenset(self.scopes),
        )
        return [Connection(profile=profile, grant=grant)]

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        """A new 60-day token for the long-lived one (which must be 24 h old, not expired)."""
        token = credentials.access_token
        async with PlatformHttp(self.config) as http:
            response = await http.request(
                "GET",
                self.graph.url("refresh_access_token", versioned=False),
                params={"grant_type": "ig_refresh_token", "access_token": token},
            )
        error = parse(response) if not response.is_success else None
        if error is not None and error.code == 100 and response.status_code < 500:
            # A token younger than 24 h is refused (the exact error is unconfirmed; the fake
            # answers code 100): it is fresh anyway, so ask again once it is old enough.
            raise Retryable(
                error.shown((token, self.config.client_secret)),
                after=_until_refreshable(credentials.expires_at),
                code="token_too_new",
            )
        body = _token_answer(response, redact=(token, self.config.client_secret))
        return TokenGrant(
            access_token=body["access_token"],
            expires_in=_int(body.get("expires_in")) or LONG_LIVED_S,
            scopes=credentials.scopes,
        )

    async def revoke(self, credentials: Credentials) -> bool:
        # Instagram Login has no revocation endpoint: the person removes the app in Instagram.
        return False

    async def profile(self, credentials: Credentials) -> Profile:
        async with PlatformHttp(self.config) as http:
            return await self._profile(http, credentials.access_token)

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

    def comparable_text(self, text: str) -> str:
        return comparable(text)

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
        posts = [_recent(entry) for entry in [*data_of(feed), *data_of(stories)]]
        recent = [post for post in posts if post.created_at is None or post.created_at >= since]
        recent.sort(key=lambda post: post.created_at or since, reverse=True)
        return recent[:limit]

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        async with PlatformHttp(self.config) as http:
            return {
                media_id: await self._media_metrics(http, credentials.access_token, media_id)
                for media_id in external_ids
            }

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
        values = _metric_values(insights or {})
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
            return answer_object(response.status_code, json_body(response))
        error = parse(response)
        no_data = error is not None and (
            error.code == 10 or (error.code == 100 and error.subcode == 33)
        )
        if no_data and response.status_code < 500:
            return None
        raise classify(response, redact=(token, self.config.client_secret))


def _token_answer(response: httpx.Response, *, redact: Iterable[str]) -> dict[str, Any]:
    """A token endpoint's answer (some docs wrap it in `data[]`), or its failure."""
    if not response.is_success:
        raise classify(response, redact=redact)
    body = answer_object(response.status_code, json_body(response))
    if isinstance(body.get("data"), list) and body["data"] and "access_token" not in body:
        body = body["data"][0] if isinstance(body["data"][0], dict) else {}
    if not isinstance(body.get("access_token"), str):
        raise Retryable("Instagram answered without an access token", code="bad_answer")
    return body


def _permissions(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(name.strip() for name in value.split(",") if name.strip())
    if isinstance(value, list):
        return frozenset(str(name) for name in value)
    return frozenset()


def _until_refreshable(expires_at: datetime | None) -> float:
    """Seconds until a 60-day token is 24 h old, guessed from its expiry."""
    if expires_at is None:
        return float(REFRESH_MIN_AGE_S)
    issued = expires_at - timedelta(seconds=LONG_LIVED_S)
    after = (issued + timedelta(seconds=REFRESH_MIN_AGE_S) - clock.now()).total_seconds()
    return min(float(REFRESH_MIN_AGE_S), max(60.0, after))


def _recent(entry: dict[str, Any]) -> RecentPost:
    permalink = entry.get("permalink")
    caption = entry.get("caption")
    return RecentPost(
        external_id=str(entry.get("id")),
        text=caption if isinstance(caption, str) else None,
        created_at=parse_time(entry.get("timestamp")),
        permalink=permalink if isinstance(permalink, str) else None,
    )


def _metric_values(body: dict[str, Any]) -> dict[str, int]:
    values: dict[str, int] = {}
    for entry in data_of(body):
        name = entry.get("name")
        series = entry.get("values")
        if isinstance(series, list) and series and isinstance(series[0], dict):
            value = series[0].get("value")
        elif isinstance(entry.get("total_value"), dict):
            value = entry["total_value"].get("value")
        else:
            value = None
        number = _int(value)
        if isinstance(name, str) and number is not None:
            values[name] = number
    return values


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return None
