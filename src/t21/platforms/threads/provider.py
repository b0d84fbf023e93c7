"""Threads through Meta's Threads API (graph.threads.net).

Connecting: the authorization window at `{auth_base}/oauth/authorize` (threads.net;
comma-separated scopes, `response_type=code`, no PKCE), the code for a 1 h token at
`POST {api_base}/oauth/access_token` (answers `{access_token, user_id}`), that one for a 60-day
token at `GET {api_base}/access_token?grant_type=th_exchange_token&client_secret=…`. The
long-lived token is refreshed with itself (`GET {api_base}/refresh_access_token?grant_type=
th_refresh_token`) once it is 24 h old and before it expires; there is no refresh token and no
revocation endpoint (the person removes the app in Threads' settings). Reading: `/me` (`id`,
`username`, `name`, `threads_profile_picture_url`), `/me/threads` (the user's own posts, with
`since`), `/{media}/insights?metric=views,likes,replies,reposts,quotes,shares`. Publishing by
containers: see `publishing`.
Sources: https://developers.facebook.com/docs/threads/get-started/get-access-tokens-and-permissions,
https://developers.facebook.com/docs/threads/get-started/long-lived-tokens/,
https://developers.facebook.com/documentation/threads/get-started (permissions),
https://developers.facebook.com/documentation/threads/insights.md (media metrics),
https://developers.facebook.com/documentation/threads/reference/user (`/{user}/threads`: fields,
`since`, `limit`),
https://developers.facebook.com/docs/threads/overview/ (graph.threads.net, quotas),
https://developers.facebook.com/docs/graph-api/guides/error-handling (Graph's error envelope and
common codes: Threads adds none of its own, see `platforms.meta.errors`).
Every Graph call carries its parameters and `access_token` in the query string, for GET as for
POST, as every example of the reference shows (`platforms.meta.graph`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel

from t21.core.logging import get_logger
from t21.core.outside import NotPermitted, OutsideFailure, Permanent, ReauthRequired, Retryable
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
from t21.platforms.meta.errors import GraphErrors
from t21.platforms.meta.graph import (
    data_of,
    metric_values,
    newest,
    recent_post,
)
from t21.platforms.meta.provider import GraphProvider
from t21.platforms.threads.publishing import Publisher, check_request
from t21.platforms.threads.rules import LIMITS, ThreadsOptions

log = get_logger("t21.platforms.threads")

SCOPES = (
    "threads_basic",
    "threads_content_publish",
    "threads_manage_insights",
)
PROFILE_FIELDS = "id,username,name,threads_profile_picture_url"
METRICS = "views,likes,replies,reposts,quotes,shares"
GRAPH_VERSION = "v1.0"


class ThreadsErrors(GraphErrors):
    network: ClassVar[str] = "Threads"


class ThreadsProvider(GraphProvider):
    name: ClassVar[str] = "threads"
    display_name: ClassVar[str] = "Threads"
    # Reply chains: each later part a reply (`reply_to_id`) to the part before it.
    supports_threads: ClassVar[bool] = True
    uses_pkce: ClassVar[bool] = False
    scopes: ClassVar[tuple[str, ...]] = SCOPES
    limits: ClassVar[PlatformLimits] = LIMITS
    options: ClassVar[type[BaseModel]] = ThreadsOptions
    # 250 API-published posts per moving 24 h per profile [docs overview]; the account's own
    # figure is read from threads_publishing_limit before each post.
    publish_budget: ClassVar[Budget | None] = Budget(250, timedelta(hours=24))
    idempotency_window: ClassVar[timedelta | None] = None
    # Threads has reply chains (`reply_to_id`): a post can be a thread. T21 doesn't publish
    # them yet.
    supports_reply_chains: ClassVar[bool] = True
    writing: ClassVar[Writing] = Writing(
        "Threads post: conversational and direct, like talking to followers; one idea, a "
        "question that invites replies, at most one topic tag, few emoji.",
        280,
    )

    graph_version: ClassVar[str] = GRAPH_VERSION
    graph_errors: ClassVar[GraphErrors] = ThreadsErrors()
    exchange_grant: ClassVar[str] = "th_exchange_token"
    refresh_grant: ClassVar[str] = "th_refresh_token"

    # --- connecting ----------------------------------------------------------------------

    def requested_scopes(self) -> tuple[str, ...]:
        return self.config.requested_scopes(self.scopes)

    def short_token_url(self) -> str:
        return self.graph.url("oauth/access_token", versioned=False)

    def granted_scopes(self, short: dict[str, Any]) -> frozenset[str]:
        # Threads' token answers don't list the granted permissions: the ones asked for; a
        # refused one shows as code 10 (ReauthRequired) on first use.
        return frozenset(self.requested_scopes())

    def _token_refused(self, failure: OutsideFailure) -> OutsideFailure:
        if isinstance(failure, Permanent):
            # A refused code or token exchange: the person must authorize again.
            return ReauthRequired(failure.message, code="authorization_refused")
        return failure

    async def _profile(self, http: PlatformHttp, token: str) -> Profile:
        body = await self.graph.call(http, "GET", "me", token, params={"fields": PROFILE_FIELDS})
        user_id = body.get("id")
        if not isinstance(user_id, str | int):
            raise Retryable("Threads did not say which account this is", code="bad_answer")
        picture = body.get("threads_profile_picture_url")
        return Profile(
            external_id=str(user_id),
            username=body.get("username"),
            display_name=body.get("name") or body.get("username"),
            avatar_url=picture if isinstance(picture, str) and picture else None,
        )

    # --- publishing and reading back -----------------------------------------------------

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        return self.limits

    def check(self, request: PublishRequest) -> None:
        parse_options(ThreadsOptions, request.options, "Threads")
        check_request(request)

    async def publish(
        self, credentials: Credentials, request: PublishRequest
    ) -> Published | Continuing:
        self.check(request)
        options = ThreadsOptions.model_validate(request.options)
        async with PlatformHttp(self.config) as http:
            return await Publisher(http, self.graph, credentials).publish(request, options)

    async def publish_reply(
        self, credentials: Credentials, request: PublishRequest, reply_to: ReplyTo
    ) -> Published | Continuing:
        """A thread's part: its container carries `reply_to_id`, the part before it, then is
        published like any post
        (https://developers.facebook.com/documentation/threads/retrieve-and-manage-replies/create-replies)."""
        self.check(request)
        options = ThreadsOptions.model_validate(request.options)
        async with PlatformHttp(self.config) as http:
            publisher = Publisher(http, self.graph, credentials, reply_to=reply_to.parent_id)
            return await publisher.publish(request, options)

    async def find_replies(
        self, credentials: Credentials, reply_to: ReplyTo, *, since: datetime
    ) -> list[RecentPost]:
        """The account's own replies under the part before (`GET {media-id}/replies`, top-level
        replies; `/me/threads` doesn't list replies): where a cut-off part would be."""
        async with PlatformHttp(self.config) as http:
            body = await self.graph.call(
                http,
                "GET",
                f"{reply_to.parent_id}/replies",
                credentials.access_token,
                params={"fields": "id,text,timestamp,permalink,username", "reverse": "true"},
            )
        own = credentials.username
        found = [
            replace(recent_post(entry, text_field="text"), reply_to=reply_to.parent_id)
            for entry in data_of(body)
            if own is None or entry.get("username") in (None, own)
        ]
        return [post for post in found if post.created_at is None or post.created_at >= since]

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        return None  # threads_basic, always granted, reads the account's own posts

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        async with PlatformHttp(self.config) as http:
            body = await self.graph.call(
                http,
                "GET",
                "me/threads",
                credentials.access_token,
                params={
                    "fields": "id,text,timestamp,permalink",
                    "since": int(since.timestamp()),
                    "limit": limit,
                },
            )
        posts = [recent_post(entry, text_field="text") for entry in data_of(body)]
        return newest(posts, since=since, limit=limit)

    async def _media_metrics(
        self, http: PlatformHttp, token: str, media_id: str
    ) -> PostMetrics | None:
        """One post's numbers; None when Threads has none (empty data, a deleted post)."""
        response = await self.graph.send(
            http, "GET", f"{media_id}/insights", token, {"metric": METRICS}
        )
        if not response.is_success:
            error = self.graph.errors.parse(response)
            if error is not None and error.code == 100 and response.status_code < 500:
                log.info("threads post has no insights", media_id=media_id)
                return None
            failure = self.graph.errors.classify(
                response, redact=(token, self.config.client_secret)
            )
            if isinstance(failure, ReauthRequired) and failure.code == "permission_missing":
                # Insights alone are refused (threads_manage_insights not granted): posting
                # still works, so the account keeps working and says why it has no numbers.
                raise NotPermitted(
                    "Threads: T21 may not read this account's insights; reconnect it and allow "
                    "threads_manage_insights",
                    code="permission_missing",
                )
            raise failure
        values = metric_values(self.graph.answer_object(response))
        if not values:
            return None
        passed_on = [values.get(name) for name in ("reposts", "quotes", "shares")]
        known = [value for value in passed_on if value is not None]
        return PostMetrics(
            impressions=values.get("views"),
            likes=values.get("likes"),
            comments=values.get("replies"),
            # Reposts, quotes and shares all pass the post on.
            shares=sum(known) if known else None,
        )
