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
https://developers.facebook.com/docs/threads/overview/ (graph.threads.net, quotas).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel

from t21.core import clock
from t21.core.logging import get_logger
from t21.core.outside import NotPermitted, Permanent, ReauthRequired, Retryable
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
from t21.platforms.text import comparable
from t21.platforms.threads.graph import (
    Graph,
    answer_object,
    classify,
    data_of,
    parse,
    parse_time,
)
from t21.platforms.threads.publishing import Publisher, check_request
from t21.platforms.threads.rules import LIMITS, ThreadsOptions

log = get_logger("t21.platforms.threads")

SCOPES = (
    "threads_basic",
    "threads_content_publish",
    "threads_manage_insights",
)
PROFILE_FIELDS = "id,username,name,threads_profile_picture_url"
LONG_LIVED_S = 60 * 86_400
REFRESH_MIN_AGE_S = 86_400
METRICS = "views,likes,replies,reposts,quotes,shares"


class ThreadsProvider:
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

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.graph = Graph(config)

    # --- connecting ----------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        query = urlencode(
            {
                "client_id": self.config.client_id,
                "redirect_uri": redirect_uri,
                "scope": ",".join(self.config.requested_scopes(self.scopes)),
                "response_type": "code",
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
                self.graph.url("oauth/access_token", versioned=False),
                data={
                    "client_id": self.config.client_id,
                    "client_secret": secret,
                    "grant_type": "authorization_code",
                    "redirect_uri": redirect_uri,
                    "code": code,
                },
            )
            short = _token_answer(response, redact=(code, secret))
            response = await http.request(
                "GET",
                self.graph.url("access_token", versioned=False),
                params={
                    "grant_type": "th_exchange_token",
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
            # Threads' token answers don't list the granted permissions: the ones asked
            # for; a refused one shows as code 10 (ReauthRequired) on first use.
            scopes=frozenset(self.config.requested_scopes(self.scopes)),
        )
        return [Connection(profile=profile, grant=grant)]

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        """A new 60-day token for the long-lived one (at least 24 h old, not expired)."""
        token = credentials.access_token
        async with PlatformHttp(self.config) as http:
            response = await http.request(
                "GET",
                self.graph.url("refresh_access_token", versioned=False),
                params={"grant_type": "th_refresh_token", "access_token": token},
            )
        error = parse(response) if not response.is_success else None
        if error is not None and error.code == 100 and response.status_code < 500:
            # Too young to refresh: it is fresh anyway, so ask again once it is 24 h old.
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
        # The Threads API has no revocation endpoint: the person removes the app in Threads.
        return False

    async def profile(self, credentials: Credentials) -> Profile:
        async with PlatformHttp(self.config) as http:
            return await self._profile(http, credentials.access_token)

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

    def comparable_text(self, text: str) -> str:
        return comparable(text)

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
            replace(_recent(entry), reply_to=reply_to.parent_id)
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
        posts = [_recent(entry) for entry in data_of(body)]
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
        """One post's numbers; None when Threads has none (empty data, a deleted post)."""
        response = await self.graph.send(
            http, "GET", f"{media_id}/insights", token, {"metric": METRICS}
        )
        if not response.is_success:
            error = parse(response)
            if error is not None and error.code == 100 and response.status_code < 500:
                log.info("threads post has no insights", media_id=media_id)
                return None
            failure = classify(response, redact=(token, self.config.client_secret))
            if isinstance(failure, ReauthRequired) and failure.code == "permission_missing":
                # Insights alone are refused (threads_manage_insights not granted): posting
                # still works, so the account keeps working and says why it has no numbers.
                raise NotPermitted(
                    "Threads: T21 may not read this account's insights; reconnect it and allow "
                    "threads_manage_insights",
                    code="permission_missing",
                )
            raise failure
        values = _metric_values(answer_object(response.status_code, json_body(response)))
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


def _token_answer(response: httpx.Response, *, redact: Iterable[str]) -> dict[str, Any]:
    if not response.is_success:
        failure = classify(response, redact=redact)
        if isinstance(failure, Permanent):
            # A refused code or token exchange: the person must authorize again.
            raise ReauthRequired(failure.message, code="authorization_refused")
        raise failure
    body = answer_object(response.status_code, json_body(response))
    if not isinstance(body.get("access_token"), str):
        raise Retryable("Threads answered without an access token", code="bad_answer")
    return body


def _until_refreshable(expires_at: datetime | None) -> float:
    if expires_at is None:
        return float(REFRESH_MIN_AGE_S)
    issued = expires_at - timedelta(seconds=LONG_LIVED_S)
    after = (issued + timedelta(seconds=REFRESH_MIN_AGE_S) - clock.now()).total_seconds()
    return min(float(REFRESH_MIN_AGE_S), max(60.0, after))


def _recent(entry: dict[str, Any]) -> RecentPost:
    permalink, text = entry.get("permalink"), entry.get("text")
    return RecentPost(
        external_id=str(entry.get("id")),
        text=text if isinstance(text, str) else None,
        created_at=parse_time(entry.get("timestamp")),
        permalink=permalink if isinstance(permalink, str) else None,
    )


def _metric_values(body: dict[str, Any]) -> dict[str, int]:
    values: dict[str, int] = {}
    for entry in data_of(body):
        name, series = entry.get("name"), entry.get("values")
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
