"""LinkedIn member posting through the versioned Posts API, and member post analytics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict

from t21.core import clock
from t21.core.outside import Ambiguous, NotPermitted, Permanent
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
from t21.platforms.http import PlatformHttp, json_body
from t21.platforms.linkedin.client import LinkedInClient
from t21.platforms.linkedin.media import (
    PUBLISH_SCOPE,
    await_available,
    upload_image,
    upload_video,
)
from t21.platforms.linkedin.wire import escape_little, token_failure, unescape_little, unexpected
from t21.platforms.text import comparable

ANALYTICS_SCOPE = "r_member_postAnalytics"
# Reading posts by author (`GET /rest/posts?q=author`): a member's need r_member_social, a
# restricted permission LinkedIn grants few apps; a page's need r_organization_social.
READ_MEMBER_POSTS_SCOPE = "r_member_social"
READ_ORGANIZATION_POSTS_SCOPE = "r_organization_social"
MB = 1024 * 1024
# One `memberCreatorPostAnalytics` call per metric; LinkedIn's name → T21's.
METRIC_QUERIES = {
    "IMPRESSION": "impressions",
    "MEMBERS_REACHED": "reach",
    "RESHARE": "shares",
    "REACTION": "likes",
    "COMMENT": "comments",
}
FIND_PAGE_MAX = 100


class LinkedInOptions(BaseModel):
    """Per-post options of a LinkedIn member post."""

    model_config = ConfigDict(extra="forbid")

    # Who sees the post: anyone, 1st-degree connections, or signed-in LinkedIn members.
    visibility: Literal["PUBLIC", "CONNECTIONS", "LOGGED_IN"] = "PUBLIC"
    # `isReshareDisabledByAuthor`.
    disable_reshare: bool = False


def _scopes(value: Any) -> frozenset[str]:
    # LinkedIn spells granted scopes comma-separated ("email,openid,profile,w_member_social").
    if not isinstance(value, str):
        return frozenset()
    return frozenset(part for part in value.replace(",", " ").split() if part)


def _optional_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _image_entry(urn: str, item: MediaItem) -> dict[str, str]:
    return {"id": urn, "altText": item.alt_text} if item.alt_text else {"id": urn}


def _analytics_entity(urn: str) -> str:
    """The `entity` of memberCreatorPostAnalytics: `(share:<urn>)` or `(ugc:<urn>)` with the URN
    percent-encoded inside the Rest.li tuple. LinkedIn's docs don't show the exact syntax
    (PLATFORMS.md: unconfirmed); this is what working integrations send, and the fake
    accepts nothing else."""
    kind = "ugc" if urn.startswith("urn:li:ugcPost:") else "share"
    return f"({kind}:{quote(urn, safe='')})"


def _read_scope(author: str) -> str:
    if author.startswith("urn:li:organization:"):
        return READ_ORGANIZATION_POSTS_SCOPE
    return READ_MEMBER_POSTS_SCOPE


def _cannot_read(scope: str) -> str:
    return (
        f"LinkedIn lets T21 read this account's posts only with the {scope} permission, which "
        "this connection wasn't granted, so T21 can't check whether the post went out."
    )


def _post_time(element: dict[str, Any]) -> datetime | None:
    millis = element.get("publishedAt") or element.get("createdAt")
    if not isinstance(millis, int | float):
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


class LinkedInProvider:
    """LinkedIn member profiles: text, one image, 2–20 images, or one video per post."""

    name: ClassVar[str] = "linkedin"
    display_name: ClassVar[str] = "LinkedIn"
    uses_pkce: ClassVar[bool] = False
    # What a freshly created app gets from its two self-serve products ("Sign In with LinkedIn
    # using OpenID Connect": openid profile email; "Share on LinkedIn": w_member_social).
    # r_member_postAnalytics needs the Community Management API product and r_member_social is
    # restricted; asking for a scope the app lacks fails the sign-in (unauthorized_scope_error),
    # so they are added through T21_LINKEDIN_SCOPES only where the app has them.
    scopes: ClassVar[tuple[str, ...]] = ("openid", "profile", "email", PUBLISH_SCOPE)
    limits: ClassVar[PlatformLimits] = PlatformLimits(
        max_text=3000,  # commentary [postiz] [3p]
        text_counting=TextCounting.CHARACTERS,
        requires_media=False,
        max_images=20,  # multiImage 2–20 [docs MultiImage API]
        max_videos=1,
        mixed_media=False,  # [postiz]
        image=MediaRule(
            content_types=frozenset({"image/jpeg", "image/png", "image/gif"}),
            max_size_bytes=5 * MB,  # [3p]
        ),
        video=MediaRule(
            content_types=frozenset({"video/mp4"}),
            max_size_bytes=500 * MB,  # MP4, 3 s–30 min, ≤ 500 MB, 1:2.4–2.4:1 [3p]
            min_aspect=1 / 2.4,
            max_aspect=2.4,
            min_duration_s=3,
            max_duration_s=30 * 60,
        ),
        min_multi_images=2,
        notes=(
            "A single image is posted as content.media, 2–20 images as content.multiImage.",
            "Images must be under 36,152,320 pixels.",
            "Daily per-member and per-app limits (about 150 posts a member) reset at 00:00 UTC.",
            "Hashtags (#word) stay clickable; other reserved characters are escaped.",
        ),
    )
    options: ClassVar[type[BaseModel]] = LinkedInOptions
    # The scope posting and uploading need (a page posts with w_organization_social).
    publish_scope: ClassVar[str] = PUBLISH_SCOPE
    # `options.first_comment`, posted by T21 as a step of its own after the post; LinkedIn's
    # comment box takes 1,250 characters (unconfirmed in the API documentation).
    supports_first_comment: ClassVar[bool] = True
    max_comment: ClassVar[int] = 1250
    # About 150 posts a day per member; the day resets at 00:00 UTC [docs rate limits].
    publish_budget: ClassVar[Budget | None] = Budget(150, timedelta(hours=24))
    idempotency_window: ClassVar[timedelta | None] = None
    writing: ClassVar[Writing] = Writing(
        "LinkedIn: professional and insightful. A strong first line, short paragraphs, concrete "
        "value for the reader, a question or takeaway at the end, three to five hashtags.",
        1300,
    )

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config

    def permalink(self, urn: str) -> str:
        return f"{self.config.auth_base}/feed/update/{urn}"

    # --- connecting --------------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": redirect_uri,
                "state": state,
                "scope": " ".join(self.config.requested_scopes(self.scopes)),
            },
            quote_via=quote,
        )
        return f"{self.config.auth_base}/oauth/v2/authorization?{query}"

    async def _token(
        self, http: PlatformHttp, form: dict[str, str], *, refreshing: bool
    ) -> TokenGrant:
        response = await http.request(
            "POST",
            f"{self.config.auth_base}/oauth/v2/accessToken",
            data=form
            | {"client_id": self.config.client_id, "client_secret": self.config.client_secret},
        )
        if response.status_code != 200:
            raise token_failure(response, refreshing=refreshing)
        body = json_body(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(token, str) or not token:
            raise unexpected("the token request")
        refresh_token = body.get("refresh_token")
        return TokenGrant(
            access_token=token,
            refresh_token=refresh_token if isinstance(refresh_token, str) else None,
            expires_in=_optional_int(body.get("expires_in")),
            refresh_expires_in=_optional_int(body.get("refresh_token_expires_in")),
            scopes=_scopes(body.get("scope")),
        )

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        async with PlatformHttp(self.config) as http:
            grant = await self._token(
                http,
                {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
                refreshing=False,
            )
            credentials = Credentials(access_token=grant.access_token, external_id="")
            profile = await self._profile(LinkedInClient(http, self.config, credentials))
        return [Connection(profile=profile, grant=grant)]

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        """Only approved partners get refresh tokens; without one a person must sign in again.
        LinkedIn doesn't rotate it, and its expiry stays that of the first grant."""
        if not credentials.refresh_token:
            return None
        async with PlatformHttp(self.config) as http:
            form = {"grant_type": "refresh_token", "refresh_token": credentials.refresh_token}
            return await self._token(http, form, refreshing=True)

    async def revoke(self, credentials: Credentials) -> bool:
        async with PlatformHttp(self.config) as http:
            for token in (credentials.access_token, credentials.refresh_token):
                if not token:
                    continue
                response = await http.request(
                    "POST",
                    f"{self.config.auth_base}/oauth/v2/revoke",
                    data={
                        "client_id": self.config.client_id,
                        "client_secret": self.config.client_secret,
                        "token": token,
                    },
                )
                if response.status_code != 200:
                    raise token_failure(response, refreshing=False)
        return True

    async def _profile(self, api: LinkedInClient) -> Profile:
        info = await api.json("GET", "/v2/userinfo", versioned=False)
        sub = info.get("sub")
        if not isinstance(sub, str) or not sub:
            raise unexpected("the profile")
        # The vanity name is a nicer handle when LinkedIn shares it; the OIDC subject otherwise.
        me = await api.send("GET", "/v2/me", versioned=False, allow=(403,))
        me_body = json_body(me) if me.status_code == 200 else None
        vanity = me_body.get("vanityName") if isinstance(me_body, dict) else None
        name, picture = info.get("name"), info.get("picture")
        return Profile(
            external_id=f"urn:li:person:{sub}",
            username=vanity if isinstance(vanity, str) and vanity else sub,
            display_name=name if isinstance(name, str) else None,
            avatar_url=picture if isinstance(picture, str) and picture else None,
        )

    async def profile(self, credentials: Credentials) -> Profile:
        async with PlatformHttp(self.config) as http:
            return await self._profile(LinkedInClient(http, self.config, credentials))

    # --- publishing --------------------------------------------------------------------------

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        return self.limits

    def check(self, request: PublishRequest) -> None:
        parse_options(self.options, request.options, self.display_name)
        images = [item for item in request.media if item.kind is MediaKind.IMAGE]
        videos = [item for item in request.media if item.kind is MediaKind.VIDEO]
        if videos and (images or len(videos) > 1):
            raise Permanent(
                "A LinkedIn post takes one video, or images, never both.", code="media_mix"
            )

    async def publish(self, credentials: Credentials, request: PublishRequest) -> Published:
        self.check(request)
        options = LinkedInOptions.model_validate(request.options)
        images = [item for item in request.media if item.kind is MediaKind.IMAGE]
        videos = [item for item in request.media if item.kind is MediaKind.VIDEO]
        body: dict[str, Any] = {
            "author": credentials.external_id,
            "commentary": escape_little(request.text),
            "visibility": options.visibility,
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": options.disable_reshare,
        }
        async with PlatformHttp(self.config) as http:
            api = LinkedInClient(http, self.config, credentials)
            content = await self._content(api, images, videos)
            if content is not None:
                body["content"] = content
            response = await api.send(
                "POST", "/rest/posts", scope=self.publish_scope, publishing=True, json=body
            )
        urn = response.headers.get("x-restli-id")
        if not urn:
            raise Ambiguous("LinkedIn accepted the post without naming it.", code="no_id")
        return Published(external_id=urn, permalink=self.permalink(urn), published_at=clock.now())

    async def _content(
        self, api: LinkedInClient, images: list[MediaItem], videos: list[MediaItem]
    ) -> dict[str, Any] | None:
        if videos:
            urn = await upload_video(api, videos[0], self.publish_scope)
            await await_available(api, "videos", [urn], self.publish_scope)
            return {"media": {"id": urn}}
        if not images:
            return None
        urns = [await upload_image(api, item, self.publish_scope) for item in images]
        await await_available(api, "images", urns, self.publish_scope)
        entries = [_image_entry(urn, item) for urn, item in zip(urns, images, strict=True)]
        if len(entries) == 1:
            return {"media": entries[0]}
        return {"multiImage": {"images": entries}}

    # --- first comment -----------------------------------------------------------------------

    async def publish_comment(self, credentials: Credentials, on: ReplyTo, text: str) -> Published:
        """`options.first_comment`: `POST /rest/socialActions/{post urn}/comments` `{actor,
        object, message: {text}}` as the post's author, with the posting permission
        (https://learn.microsoft.com/linkedin/marketing/community-management/shares/comments-api,
        "Create a Comment"); T21 records it as a step of its own, so it goes out once."""
        body = {
            "actor": credentials.external_id,
            "object": on.parent_id,
            "message": {"text": text},
        }
        async with PlatformHttp(self.config) as http:
            api = LinkedInClient(http, self.config, credentials)
            response = await api.send(
                "POST",
                f"/rest/socialActions/{quote(on.parent_id, safe='')}/comments",
                scope=self.publish_scope,
                publishing=True,
                json=body,
            )
        created = json_body(response)
        comment_id = response.headers.get("x-restli-id") or (
            created.get("id") if isinstance(created, dict) else None
        )
        if not isinstance(comment_id, str) or not comment_id:
            raise Ambiguous("LinkedIn accepted the comment without naming it.", code="no_id")
        return Published(external_id=comment_id, permalink=None, published_at=clock.now())

    async def find_comments(
        self, credentials: Credentials, on: ReplyTo, *, since: datetime
    ) -> list[RecentPost]:
        """The author's own comments on the post (`GET /rest/socialActions/{urn}/comments`,
        which needs the same read permission as `find_recent`)."""
        blocker = self.find_recent_blocker(credentials)
        if blocker is not None:
            raise NotPermitted(blocker, code="cannot_check")
        async with PlatformHttp(self.config) as http:
            api = LinkedInClient(http, self.config, credentials)
            response = await api.send(
                "GET",
                f"/rest/socialActions/{quote(on.parent_id, safe='')}/comments",
                allow=(403,),
            )
        if response.status_code == 403:
            raise NotPermitted(
                _cannot_read(_read_scope(credentials.external_id)), code="cannot_check"
            )
        page = json_body(response)
        found = []
        for element in (page.get("elements") or []) if isinstance(page, dict) else []:
            if not isinstance(element, dict) or element.get("actor") != credentials.external_id:
                continue
            created = element.get("created")
            millis = created.get("time") if isinstance(created, dict) else None
            at = datetime.fromtimestamp(millis / 1000, UTC) if isinstance(millis, int) else None
            if at is not None and at < since:
                continue
            message = element.get("message")
            text = message.get("text") if isinstance(message, dict) else None
            found.append(
                RecentPost(
                    external_id=str(element.get("id")),
                    text=text if isinstance(text, str) else None,
                    created_at=at,
                    reply_to=on.parent_id,
                )
            )
        return found

    # --- reading back ------------------------------------------------------------------------

    def comparable_text(self, text: str) -> str:
        return comparable(text)

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        """LinkedIn lets an app read posts by author only with r_member_social (a member's,
        restricted) or r_organization_social (a page's). Granted scopes that are unknown (an
        account connected before they were kept) are tried, a refusal then says the same."""
        needed = _read_scope(credentials.external_id)
        if not credentials.scopes or needed in credentials.scopes:
            return None
        return _cannot_read(needed)

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        blocker = self.find_recent_blocker(credentials)
        if blocker is not None:
            raise NotPermitted(blocker, code="cannot_check")
        found: list[RecentPost] = []
        author = quote(credentials.external_id, safe="")
        count = max(1, min(limit, FIND_PAGE_MAX))
        async with PlatformHttp(self.config) as http:
            api = LinkedInClient(http, self.config, credentials)
            start = 0
            while len(found) < limit:
                response = await api.send(
                    "GET",
                    f"/rest/posts?q=author&author={author}&count={count}&start={start}"
                    "&sortBy=LAST_MODIFIED",
                    headers={"X-RestLi-Method": "FINDER"},
                    allow=(403,),
                )
                if response.status_code == 403:
                    needed = _read_scope(credentials.external_id)
                    raise NotPermitted(_cannot_read(needed), code="cannot_check")
                page = json_body(response)
                if not isinstance(page, dict):
                    raise unexpected("the posts of the author")
                elements = [e for e in page.get("elements") or [] if isinstance(e, dict)]
                for element in elements:
                    created = _post_time(element)
                    urn = element.get("id")
                    if isinstance(urn, str) and (created is None or created >= since):
                        commentary = element.get("commentary")
                        text = unescape_little(commentary) if isinstance(commentary, str) else None
                        found.append(RecentPost(urn, text, created, self.permalink(urn)))
                times = [t for t in map(_post_time, elements) if t is not None]
                if len(elements) < count or (times and min(times) < since):
                    break
                start += count
        epoch = datetime.min.replace(tzinfo=UTC)
        found.sort(key=lambda post: post.created_at or epoch, reverse=True)
        return found[:limit]

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        """Member post analytics need r_member_postAnalytics (Community Management API
        product); an account granted scopes without it is skipped, saying why."""
        if credentials.scopes and ANALYTICS_SCOPE not in credentials.scopes:
            raise NotPermitted(
                "LinkedIn gives post numbers only with the r_member_postAnalytics permission, "
                "which this connection wasn't granted (the app needs the Community Management "
                "API product, and T21_LINKEDIN_SCOPES must ask for it).",
                code="missing_scope",
            )
        results: dict[str, PostMetrics | None] = {}
        async with PlatformHttp(self.config) as http:
            api = LinkedInClient(http, self.config, credentials)
            for urn in external_ids:
                results[urn] = await self._post_metrics(api, urn)
        return results

    async def _post_metrics(self, api: LinkedInClient, urn: str) -> PostMetrics | None:
        entity = _analytics_entity(urn)

        async def total(query_type: str) -> int | None:
            response = await api.send(
                "GET",
                f"/rest/memberCreatorPostAnalytics?q=entity&entity={entity}"
                f"&queryType={query_type}&aggregation=TOTAL",
                scope=ANALYTICS_SCOPE,
                allow=(404,),
            )
            body = json_body(response) if response.status_code != 404 else None
            elements = body.get("elements") if isinstance(body, dict) else None
            # No element: LinkedIn has no data for this post (yet).
            if not elements or not isinstance(elements[0], dict):
                return None
            return _optional_int(elements[0].get("count"))

        counts = [await total(query) for query in METRIC_QUERIES]
        if all(count is None for count in counts):
            return None
        values = dict(zip(METRIC_QUERIES.values(), counts, strict=True))
        return PostMetrics(**values)
