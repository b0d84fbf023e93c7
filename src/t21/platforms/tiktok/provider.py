"""TikTok through Login Kit v2 and the Content Posting API (direct post), PLATFORMS.md §6.

OAuth without PKCE (a web app), 2 h access tokens and rotating 180-day refresh tokens; reads
of the profile, recent posts and their numbers. Publishing lives in `publishing`; the wire
format and how each failure is classified in `wire`.

Privacy levels: a direct post's `privacy_level` must be one of the creator's
`privacy_level_options` (creator_info), and until TikTok audits the app every post must be
`SELF_ONLY` (error `unaudited_client_can_only_post_to_private_accounts`). The levels are read
at connection and kept on the account (`Connection.capabilities`) so validation refuses a level
the account can't use; a post without one gets the most public level offered. Whether
creator_info lists only SELF_ONLY to an unaudited app is unconfirmed: if it lists more, the
init's refusal is classified Permanent with TikTok's own message.
Sources: https://developers.tiktok.com/doc/content-posting-api-reference-query-creator-info,
https://developers.tiktok.com/doc/content-posting-api-reference-direct-post,
https://developers.tiktok.com/doc/content-sharing-guidelines,
https://developers.tiktok.com/doc/oauth-user-access-token-management.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import BaseModel

from t21.core.outside import Retryable
from t21.platforms import oauth2
from t21.platforms.base import (
    Budget,
    Connection,
    Credentials,
    PlatformConfig,
    PlatformLimits,
    PostMetrics,
    Profile,
    Published,
    PublishRequest,
    RecentPost,
    TokenGrant,
    Writing,
    parse_options,
)
from t21.platforms.http import PlatformHttp, json_body
from t21.platforms.text import comparable
from t21.platforms.tiktok.publishing import CREATOR_INFO, Publisher, media_kind, permalink
from t21.platforms.tiktok.rules import (
    LIMITS,
    PRIVACY_OPTIONS,
    TikTokOptions,
    offered_levels,
    privacy_for,
)
from t21.platforms.tiktok.wire import (
    TikTokApi,
    api_error,
    as_datetime,
    as_dict,
    as_int,
    raise_for,
)

SCOPES = (
    "user.info.basic",
    "user.info.profile",
    "user.info.stats",
    "video.publish",
    "video.upload",
    "video.list",
)
# A connection missing these is refused at once: video.publish posts; video.list is what
# find_recent (reconciling an Ambiguous publish) and metrics read; user.info.basic the profile.
REQUIRED_SCOPES = frozenset({"user.info.basic", "video.publish", "video.list"})
PROFILE_FIELDS = "open_id,union_id,avatar_url,display_name,username"
LIST_FIELDS = "id,title,create_time,share_url"
METRIC_FIELDS = "id,like_count,comment_count,share_count,view_count"
MAX_IDS_PER_QUERY = 20
MAX_LIST_COUNT = 20


class TikTokProvider:
    name: ClassVar[str] = "tiktok"
    display_name: ClassVar[str] = "TikTok"
    # Web apps don't send PKCE to TikTok (code_verifier is for mobile and desktop apps).
    uses_pkce: ClassVar[bool] = False
    scopes: ClassVar[tuple[str, ...]] = SCOPES
    limits: ClassVar[PlatformLimits] = LIMITS
    # Typed as the protocol declares it (a protocol ClassVar is invariant).
    options: ClassVar[type[BaseModel]] = TikTokOptions
    # 6 publish inits per minute per token [docs content posting API].
    publish_budget: ClassVar[Budget | None] = Budget(6, timedelta(minutes=1))
    idempotency_window: ClassVar[timedelta | None] = None
    writing: ClassVar[Writing] = Writing(
        "TikTok caption: casual and energetic, short, speaking to the video and its viewers, "
        "with three to five hashtags.",
        300,
    )

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config

    # --- OAuth ---------------------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        query = urlencode(
            {
                "client_key": self.config.client_id,
                "scope": ",".join(self.scopes),
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{self.config.auth_base}/v2/auth/authorize/?{query}"

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        form = {
            "code": code,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri,
        }
        if code_verifier:
            form["code_verifier"] = code_verifier
        async with PlatformHttp(self.config) as http:
            grant = await self._token(http, form, what="the authorization code")
            # People may untick scopes on TikTok's consent screen.
            oauth2.require_scopes(grant, REQUIRED_SCOPES, self.display_name)
            profile = await self._profile(http, grant.access_token)
            capabilities = await self._capabilities(http, grant.access_token)
        return [Connection(profile=profile, grant=grant, capabilities=capabilities)]

    async def _capabilities(self, http: PlatformHttp, access_token: str) -> dict[str, Any]:
        """What the account may post with (creator_info's privacy_level_options: only
        SELF_ONLY while TikTok hasn't audited the app), kept on the account for validation."""
        api = TikTokApi(http, self.config, access_token)
        creator = await api.call("POST", CREATOR_INFO, what="the creator's info")
        levels = offered_levels(creator) or []
        return {PRIVACY_OPTIONS: [level.value for level in levels]}

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        """New tokens. TikTok rotates refresh tokens: the old one stops working, so the
        returned one must replace it."""
        form = oauth2.refresh_form(credentials, self.display_name)
        async with PlatformHttp(self.config) as http:
            return await self._token(http, form, what="the token refresh")

    async def revoke(self, credentials: Credentials) -> bool:
        form = {
            "client_key": self.config.client_id,
            "client_secret": self.config.client_secret,
            "token": credentials.access_token,
        }
        async with PlatformHttp(self.config) as http:
            response = await http.request(
                "POST", f"{self.config.api_base}/v2/oauth/revoke/", data=form
            )
        error = api_error(response)
        # A token TikTok no longer knows is as revoked as it gets.
        gone = error is not None and (
            error.code in ("invalid_grant", "access_token_invalid") or error.status == 401
        )
        if error is not None and not gone:
            raise_for(response, error, what="revoking the access")
        return True

    async def _token(self, http: PlatformHttp, form: dict[str, str], *, what: str) -> TokenGrant:
        credentials = {
            "client_key": self.config.client_id,
            "client_secret": self.config.client_secret,
        }
        response = await http.request(
            "POST", f"{self.config.api_base}/v2/oauth/token/", data=credentials | form
        )
        error = api_error(response)
        if error is not None:
            raise_for(response, error, what=what)
        return oauth2.grant_of(json_body(response), network=self.display_name, what=what)

    # --- reading -------------------------------------------------------------------------------

    async def profile(self, credentials: Credentials) -> Profile:
        async with PlatformHttp(self.config) as http:
            return await self._profile(http, credentials.access_token)

    async def _profile(self, http: PlatformHttp, access_token: str) -> Profile:
        api = TikTokApi(http, self.config, access_token)
        data = await api.call(
            "GET", "/v2/user/info/", params={"fields": PROFILE_FIELDS}, what="the profile"
        )
        user = as_dict(data.get("user"))
        open_id = user.get("open_id")
        if not open_id:
            raise Retryable("TikTok answered the profile without an open_id.", code="no_open_id")
        return Profile(
            external_id=str(open_id),
            username=user.get("username") or None,
            display_name=user.get("display_name") or None,
            avatar_url=user.get("avatar_url") or None,
        )

    def comparable_text(self, text: str) -> str:
        return comparable(text)

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        return None  # the scopes asked for at connection include reading its own posts

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        # create_time has whole seconds: a post made within `since`'s second still counts.
        since = since.replace(microsecond=0)
        found: list[RecentPost] = []
        cursor: Any = None
        async with PlatformHttp(self.config) as http:
            api = TikTokApi(http, self.config, credentials.access_token)
            while len(found) < limit:
                body: dict[str, Any] = {"max_count": min(MAX_LIST_COUNT, limit)}
                if cursor is not None:
                    body["cursor"] = cursor
                data = await api.call(
                    "POST",
                    "/v2/video/list/",
                    params={"fields": LIST_FIELDS},
                    json=body,
                    what="the account's recent posts",
                )
                videos = [v for v in data.get("videos") or [] if isinstance(v, dict)]
                # Newest first. Photo posts are assumed listed with the videos (unconfirmed).
                for video in videos:
                    created = as_datetime(video.get("create_time"))
                    if created is not None and created < since:
                        return found
                    found.append(self._recent(video, created, credentials.username))
                    if len(found) >= limit:
                        return found
                if not videos or not data.get("has_more"):
                    break
                cursor = data.get("cursor")
        return found

    def _recent(
        self, video: dict[str, Any], created: datetime | None, username: str | None
    ) -> RecentPost:
        post_id = str(video.get("id"))
        return RecentPost(
            external_id=post_id,
            text=video.get("title") or None,
            created_at=created,
            permalink=permalink(self.config, username, post_id) or video.get("share_url") or None,
        )

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        results: dict[str, PostMetrics | None] = dict.fromkeys(external_ids)
        # A post reported by its publish_id (moderation not over) has no video id to ask about.
        video_ids = [post_id for post_id in dict.fromkeys(external_ids) if post_id.isdigit()]
        async with PlatformHttp(self.config) as http:
            api = TikTokApi(http, self.config, credentials.access_token)
            for start in range(0, len(video_ids), MAX_IDS_PER_QUERY):
                batch = video_ids[start : start + MAX_IDS_PER_QUERY]
                data = await api.call(
                    "POST",
                    "/v2/video/query/",
                    params={"fields": METRIC_FIELDS},
                    json={"filters": {"video_ids": batch}},
                    what="post metrics",
                )
                for video in data.get("videos") or []:
                    if isinstance(video, dict) and str(video.get("id")) in results:
                        results[str(video["id"])] = _metrics(video)
        return results

    # --- publishing ----------------------------------------------------------------------------

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        return self.limits

    def check(self, request: PublishRequest) -> None:
        options = parse_options(TikTokOptions, request.options, "TikTok")
        media_kind(request.media)
        # Against the levels the account offered when last read; publishing reads them again.
        privacy_for(options, offered_levels(request.capabilities))

    async def publish(self, credentials: Credentials, request: PublishRequest) -> Published:
        self.check(request)
        async with PlatformHttp(self.config) as http:
            api = TikTokApi(http, self.config, credentials.access_token)
            return await Publisher(api, self.config).publish(request, credentials.username)


def _metrics(video: dict[str, Any]) -> PostMetrics:
    # view_count is the only reach-like number Login Kit apps get: it stands for impressions
    # as well. Reach, saves and clicks are not available (the Business API is separate).
    views = as_int(video.get("view_count"))
    return PostMetrics(
        impressions=views,
        video_views=views,
        likes=as_int(video.get("like_count")),
        comments=as_int(video.get("comment_count")),
        shares=as_int(video.get("share_count")),
    )
