"""X (API v2) through OAuth 2.0 user context: posts with up to 4 images or one video or GIF,
replies (threads) and quotes, the account's timeline, and per-post metrics."""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict, StringConstraints

from t21.core import clock
from t21.core.outside import Ambiguous, Permanent
from t21.platforms.base import (
    Budget,
    Connection,
    Credentials,
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
    replies_among_recent,
)
from t21.platforms.http import PlatformHttp, json_body
from t21.platforms.text import comparable
from t21.platforms.twitter.media import await_processed, processed_alone, upload
from t21.platforms.twitter.wire import XApi, data_of, token_failure, unexpected

MB = 1024 * 1024
LOOKUP_MAX_IDS = 100
TIMELINE_MAX = 100
TIMELINE_MIN = 5
# Non-public metrics exist only for posts created in the last 30 days [xdocs metrics].
NON_PUBLIC_FOR = timedelta(days=30)
PostId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,19}$")]


class TwitterOptions(BaseModel):
    """Per-post options of an X post."""

    model_config = ConfigDict(extra="forbid")

    # Who may reply; unset is everyone.
    reply_settings: Literal["following", "mentionedUsers", "subscribers", "verified"] | None = None
    # Post as a reply to this post (threads): `reply.in_reply_to_tweet_id`.
    reply_to_post_id: PostId | None = None
    # Quote this post: `quote_tweet_id`.
    quote_post_id: PostId | None = None


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _created_at(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _s256(verifier: str) -> str:
    """PKCE's S256 challenge of a code verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TwitterProvider:
    """X accounts: text, 1–4 images, or one video or animated GIF per post."""

    name: ClassVar[str] = "twitter"
    display_name: ClassVar[str] = "X"
    # Threads: each later part a reply (`reply.in_reply_to_tweet_id`) to the part before it.
    supports_threads: ClassVar[bool] = True
    uses_pkce: ClassVar[bool] = True
    # Posting needs tweet.write + tweet.read + users.read, media media.write, reading back
    # (timeline, metrics) tweet.read + users.read; offline.access brings a refresh token.
    scopes: ClassVar[tuple[str, ...]] = (
        "tweet.read",
        "tweet.write",
        "users.read",
        "offline.access",
        "media.write",
    )
    limits: ClassVar[PlatformLimits] = PlatformLimits(
        max_text=280,  # weighted: URLs 23, emoji and CJK 2 [xdocs counting-characters]
        text_counting=TextCounting.X_WEIGHTED,
        requires_media=False,
        max_images=4,  # up to 4 photos, or 1 animated GIF, or 1 video [xdocs]
        max_videos=1,
        mixed_media=False,
        image=MediaRule(
            content_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
            max_size_bytes=5 * MB,  # JPG/PNG/GIF/WEBP ≤ 5 MB [xdocs]
        ),
        video=MediaRule(
            content_types=frozenset({"video/mp4", "video/quicktime"}),
            max_size_bytes=512 * MB,  # ≤ 512 MB, 0.5–140 s, aspect 1:3–3:1 [xdocs]
            min_aspect=1 / 3,
            max_aspect=3.0,
            min_duration_s=0.5,
            max_duration_s=140,
        ),
        notes=(
            "An animated GIF counts like a video: one per post, on its own.",
            "Premium accounts may post longer text and videos; T21 keeps to the standard limits.",
            "Posts per user: 100 per 15 minutes; identical text is refused as a duplicate.",
        ),
    )
    options: ClassVar[type[BaseModel]] = TwitterOptions
    # 100 posts per 15 minutes per user [xdocs rate limits].
    publish_budget: ClassVar[Budget | None] = Budget(100, timedelta(minutes=15))
    idempotency_window: ClassVar[timedelta | None] = None
    writing: ClassVar[Writing] = Writing(
        "X (Twitter): short and punchy. One idea, a hook in the first words, plain words, at "
        "most two hashtags, no thread numbering.",
        260,
    )

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config

    def permalink(self, post_id: str, username: str | None) -> str:
        if username:
            return f"{self.config.auth_base}/{username}/status/{post_id}"
        return f"{self.config.auth_base}/i/web/status/{post_id}"

    # --- connecting ----------------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        if not code_verifier:
            raise ValueError("X requires PKCE: pass a code_verifier")
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self.config.requested_scopes(self.scopes)),
                "state": state,
                "code_challenge": _s256(code_verifier),
                "code_challenge_method": "S256",
            },
            quote_via=quote,
        )
        return f"{self.config.auth_base}/i/oauth2/authorize?{query}"

    async def _token(
        self, http: PlatformHttp, form: dict[str, str], *, refreshing: bool
    ) -> TokenGrant:
        response = await http.request(
            "POST",
            f"{self.config.api_base}/2/oauth2/token",
            data=form,
            auth=(self.config.client_id, self.config.client_secret),
        )
        if response.status_code != 200:
            raise token_failure(response, refreshing=refreshing)
        body = json_body(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(token, str) or not token:
            raise unexpected("the token request")
        refresh_token, scope = body.get("refresh_token"), body.get("scope")
        return TokenGrant(
            access_token=token,
            refresh_token=refresh_token if isinstance(refresh_token, str) else None,
            expires_in=_optional_int(body.get("expires_in")),
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
        )

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        if not code_verifier:
            raise Permanent("X requires PKCE: the code verifier is missing.", code="no_pkce")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        async with PlatformHttp(self.config) as http:
            grant = await self._token(http, form, refreshing=False)
            credentials = Credentials(access_token=grant.access_token, external_id="")
            profile = await self._profile(XApi(http, self.config, credentials))
        return [Connection(profile=profile, grant=grant)]

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        """A new access token and a new refresh token: X's refresh tokens are single use, so
        the one returned must replace the stored one."""
        if not credentials.refresh_token:
            return None
        form = {"grant_type": "refresh_token", "refresh_token": credentials.refresh_token}
        async with PlatformHttp(self.config) as http:
            return await self._token(http, form, refreshing=True)

    async def revoke(self, credentials: Credentials) -> bool:
        tokens = (
            ("refresh_token", credentials.refresh_token),
            ("access_token", credentials.access_token),
        )
        async with PlatformHttp(self.config) as http:
            for hint, token in tokens:
                if not token:
                    continue
                response = await http.request(
                    "POST",
                    f"{self.config.api_base}/2/oauth2/revoke",
                    data={"token": token, "token_type_hint": hint},
                    auth=(self.config.client_id, self.config.client_secret),
                )
                if response.status_code != 200:
                    raise token_failure(response, refreshing=False)
        return True

    async def _profile(self, api: XApi) -> Profile:
        body = await api.json("GET", "/2/users/me", params={"user.fields": "profile_image_url"})
        data = data_of(body)
        user_id = data.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise unexpected("the profile")
        username, name = data.get("username"), data.get("name")
        avatar = data.get("profile_image_url")
        return Profile(
            external_id=user_id,
            username=username if isinstance(username, str) else None,
            display_name=name if isinstance(name, str) else None,
            avatar_url=avatar if isinstance(avatar, str) and avatar else None,
        )

    async def profile(self, credentials: Credentials) -> Profile:
        async with PlatformHttp(self.config) as http:
            return await self._profile(XApi(http, self.config, credentials))

    # --- publishing ----------------------------------------------------------------------------

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        return self.limits

    def check(self, request: PublishRequest) -> None:
        parse_options(TwitterOptions, request.options, "X")
        media = request.media
        if len(media) > 1 and any(processed_alone(item) for item in media):
            raise Permanent(
                "An X post takes up to 4 images, or one video or animated GIF on its own.",
                code="media_mix",
            )

    async def publish_reply(
        self, credentials: Credentials, request: PublishRequest, reply_to: ReplyTo
    ) -> Published:
        """A thread's part: a post with `reply.in_reply_to_tweet_id` the part before it
        (https://docs.x.com/x-api/posts/create-post); no quote on a later part."""
        options = TwitterOptions.model_validate(request.options).model_copy(
            update={"reply_to_post_id": reply_to.parent_id, "quote_post_id": None}
        )
        answering = replace(request, options=options.model_dump(exclude_none=True))
        return await self.publish(credentials, answering)

    async def publish(self, credentials: Credentials, request: PublishRequest) -> Published:
        self.check(request)
        options = TwitterOptions.model_validate(request.options)
        media = request.media
        body: dict[str, Any] = {}
        if request.text:
            body["text"] = request.text
        if options.reply_settings:
            body["reply_settings"] = options.reply_settings
        if options.reply_to_post_id:
            body["reply"] = {"in_reply_to_tweet_id": options.reply_to_post_id}
        if options.quote_post_id:
            body["quote_tweet_id"] = options.quote_post_id
        async with PlatformHttp(self.config) as http:
            api = XApi(http, self.config, credentials)
            if media:
                uploaded = [await upload(api, item) for item in media]
                await await_processed(api, {mid: info for mid, info in uploaded if info})
                body["media"] = {"media_ids": [media_id for media_id, _ in uploaded]}
            created = await api.json("POST", "/2/tweets", publishing=True, json=body)
        post_id = data_of(created).get("id")
        if not isinstance(post_id, str) or not post_id:
            raise Ambiguous("X accepted the post without naming it.", code="no_id")
        return Published(
            external_id=post_id,
            permalink=self.permalink(post_id, credentials.username),
            published_at=clock.now(),
        )

    # --- reading back --------------------------------------------------------------------------

    def comparable_text(self, text: str) -> str:
        """X lists text with `&`, `<` and `>` as HTML entities and links as t.co links."""
        return comparable(html.unescape(text))

    async def find_replies(
        self, credentials: Credentials, reply_to: ReplyTo, *, since: datetime
    ) -> list[RecentPost]:
        """The account's replies to the part before: its recent posts that answer it."""
        return await replies_among_recent(self, credentials, reply_to, since)

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        return None  # the scopes asked for at connection include reading its own posts

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        found: list[RecentPost] = []
        params = {
            "start_time": _rfc3339(since),
            "max_results": str(max(TIMELINE_MIN, min(limit, TIMELINE_MAX))),
            "tweet.fields": "created_at,referenced_tweets",
        }
        async with PlatformHttp(self.config) as http:
            api = XApi(http, self.config, credentials)
            while len(found) < limit:
                page = await api.json(
                    "GET", f"/2/users/{quote(credentials.external_id)}/tweets", params=params
                )
                for item in page.get("data") or []:
                    post_id = item.get("id") if isinstance(item, dict) else None
                    if not isinstance(post_id, str):
                        continue
                    text = item.get("text")
                    found.append(
                        RecentPost(
                            external_id=post_id,
                            text=text if isinstance(text, str) else None,
                            created_at=_created_at(item.get("created_at")),
                            permalink=self.permalink(post_id, credentials.username),
                            reply_to=_replied_to(item.get("referenced_tweets")),
                        )
                    )
                meta = page.get("meta")
                next_token = meta.get("next_token") if isinstance(meta, dict) else None
                if not isinstance(next_token, str) or not next_token:
                    break
                params["pagination_token"] = next_token
        epoch = datetime.min.replace(tzinfo=UTC)
        found.sort(key=lambda post: post.created_at or epoch, reverse=True)
        return found[:limit]

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        """Public numbers for every post, then non-public ones (clicks) only for the account's
        own posts of the last 30 days, in a request of their own: asked for any other post, X
        leaves the whole post out of `data` (a "Field Authorization Error" in `errors`). A post
        X can't find (not yet readable, deleted) has no data: None."""
        results: dict[str, PostMetrics | None] = dict.fromkeys(external_ids)
        async with PlatformHttp(self.config) as http:
            api = XApi(http, self.config, credentials)
            for start in range(0, len(external_ids), LOOKUP_MAX_IDS):
                ids = external_ids[start : start + LOOKUP_MAX_IDS]
                body = await api.json(
                    "GET",
                    "/2/tweets",
                    params={
                        "ids": ",".join(ids),
                        "tweet.fields": "public_metrics,created_at,author_id",
                        "expansions": "attachments.media_keys",
                        "media.fields": "public_metrics",
                    },
                )
                views = _media_views(body)
                found = [
                    item
                    for item in body.get("data") or []
                    if isinstance(item, dict) and item.get("id") in results
                ]
                private = await self._non_public(api, credentials, found)
                for item in found:
                    results[item["id"]] = _post_metrics(item, views, private.get(item["id"]))
        return results

    async def _non_public(
        self, api: XApi, credentials: Credentials, items: list[dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """`non_public_metrics` of the posts X gives them for: the caller's own, created less
        than 30 days ago. A post X refuses anyway (the boundary passed meanwhile) just has none."""
        cutoff = clock.now() - NON_PUBLIC_FOR
        owned = [
            item["id"]
            for item in items
            if item.get("author_id") == credentials.external_id
            and (created := _created_at(item.get("created_at"))) is not None
            and created > cutoff
        ]
        if not owned:
            return {}
        body = await api.json(
            "GET",
            "/2/tweets",
            params={"ids": ",".join(owned), "tweet.fields": "non_public_metrics"},
        )
        return {
            item["id"]: item["non_public_metrics"]
            for item in body.get("data") or []
            if isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and isinstance(item.get("non_public_metrics"), dict)
        }


def _media_views(body: dict[str, Any]) -> dict[str, int]:
    """Views of each video or GIF in the lookup's `includes.media`, by media key."""
    views: dict[str, int] = {}
    for media in (body.get("includes") or {}).get("media") or []:
        if not isinstance(media, dict) or media.get("type") not in ("video", "animated_gif"):
            continue
        count = _optional_int((media.get("public_metrics") or {}).get("view_count"))
        if isinstance(media.get("media_key"), str) and count is not None:
            views[media["media_key"]] = count
    return views


def _replied_to(references: Any) -> str | None:
    """The post a listed post replies to (`referenced_tweets` of type `replied_to`)."""
    for reference in references if isinstance(references, list) else []:
        if isinstance(reference, dict) and reference.get("type") == "replied_to":
            found = reference.get("id")
            return found if isinstance(found, str) else None
    return None


def _post_metrics(
    item: dict[str, Any], views: dict[str, int], private: dict[str, Any] | None
) -> PostMetrics:
    public = item.get("public_metrics") or {}
    private = private or {}
    reposts = _optional_int(public.get("retweet_count", public.get("repost_count")))
    quotes = _optional_int(public.get("quote_count"))
    shares = None if reposts is None and quotes is None else (reposts or 0) + (quotes or 0)
    keys = (item.get("attachments") or {}).get("media_keys") or []
    counted = [views[key] for key in keys if key in views]
    # The non-public count is the account's own view of it; both are the same number at X.
    impressions = _optional_int(private.get("impression_count"))
    if impressions is None:
        impressions = _optional_int(public.get("impression_count"))
    return PostMetrics(
        impressions=impressions,
        likes=_optional_int(public.get("like_count")),
        comments=_optional_int(public.get("reply_count")),
        shares=shares,
        saves=_optional_int(public.get("bookmark_count")),
        clicks=_optional_int(private.get("url_link_clicks")),
        video_views=sum(counted) if counted else None,
    )
