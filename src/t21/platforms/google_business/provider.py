"""Google Business Profile locations: connecting with Google OAuth (one T21 account per location
the person manages), local posts (standard, event, offer; a call to action; a photo), reading
them back to settle a doubtful publish, and the other locations as the account's choices."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel

from t21.core.outside import Ambiguous, NotPermitted, OutsideFailure, Permanent, ReauthRequired
from t21.platforms import google_oauth
from t21.platforms.base import (
    Budget,
    Choice,
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
)
from t21.platforms.google_business import rules
from t21.platforms.google_business.wire import BusinessApi
from t21.platforms.http import PlatformHttp
from t21.platforms.text import comparable

BUSINESS_MANAGE = "https://www.googleapis.com/auth/business.manage"
# accounts.list takes at most 20 a page, locations.list 100, localPosts.list 100.
ACCOUNTS_PAGE = 20
LOCATIONS_PAGE = 100
POSTS_PAGE = 100
# localPosts.list promises no order, so T21 reads this many pages at most to find a post.
POSTS_PAGES = 5
# What T21 reads of a location (locations.list needs a readMask).
READ_MASK = "name,title,storefrontAddress,metadata"
NO_POST_METRICS = (
    "Google removed the insights of local posts (accounts.locations.localPosts.reportInsights); "
    "the Business Profile Performance API reports on a location as a whole, not per post, so "
    "T21 collects no numbers for Business Profile posts."
)


def _location_id(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class GoogleBusinessProvider:
    """Business Profile locations, posted to with the person's Google token."""

    name: ClassVar[str] = "google_business"
    display_name: ClassVar[str] = "Google Business Profile"
    uses_pkce: ClassVar[bool] = True
    scopes: ClassVar[tuple[str, ...]] = (BUSINESS_MANAGE,)
    limits: ClassVar[PlatformLimits] = rules.LIMITS
    options: ClassVar[type[BaseModel]] = rules.GoogleBusinessOptions
    # Google allows 10 edits a minute per Business Profile [usage limits].
    publish_budget: ClassVar[Budget | None] = Budget(10, timedelta(minutes=1))
    # localPosts.create has no request id or idempotency key.
    idempotency_window: ClassVar[timedelta | None] = None
    # Shown with a post's analytics (`t21.platforms.base.metrics_unavailable`).
    metrics_unavailable: ClassVar[str] = NO_POST_METRICS
    writing: ClassVar[Writing] = Writing(
        "Google Business Profile update: news, an offer or an event for people looking at the "
        "business on Search and Maps; lead with what matters in the first 100 characters, "
        "plain sentences, no hashtags.",
        300,
    )
    choice_kinds: ClassVar[frozenset[str]] = frozenset({"locations"})

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config

    # --- connecting ----------------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        scopes = self.config.requested_scopes(self.scopes)
        return google_oauth.authorization_url(
            self.config, scopes, state=state, redirect_uri=redirect_uri, code_verifier=code_verifier
        )

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        """One account per location the signed-in person manages, all sharing their token."""
        async with PlatformHttp(self.config) as http:
            grant = await google_oauth.exchange_code(
                http, self.config, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
            )
            if grant.scopes and BUSINESS_MANAGE not in grant.scopes:
                raise ReauthRequired(
                    "Connecting Google Business Profile needs the business.manage permission; "
                    "allow it on Google's consent page.",
                    code="scope_declined",
                )
            credentials = Credentials(access_token=grant.access_token, external_id="")
            locations = await self._locations(BusinessApi(http, self.config, credentials))
        if not locations:
            raise Permanent(
                "This Google account manages no Business Profile location.", code="no_locations"
            )
        return [
            Connection(
                profile=profile,
                grant=grant,
                capabilities={"account": profile.external_id.split("/locations/")[0]},
            )
            for profile in locations
        ]

    async def _locations(self, api: BusinessApi) -> list[Profile]:
        """Every location of every account the person may manage, each once, in Google's
        order; the id is the v4 name `accounts/{a}/locations/{l}` that local posts hang from."""
        found: dict[str, Profile] = {}
        for account in await self._accounts(api):
            token: str | None = None
            while True:
                params: dict[str, Any] = {"readMask": READ_MASK, "pageSize": LOCATIONS_PAGE}
                if token:
                    params["pageToken"] = token
                page = await api.get(f"{api.information_host}/v1/{account}/locations", params)
                for location in page.get("locations") or []:
                    name = location.get("name") if isinstance(location, dict) else None
                    if not isinstance(name, str) or _location_id(name) in found:
                        continue
                    title = location.get("title")
                    found[_location_id(name)] = Profile(
                        external_id=f"{account}/locations/{_location_id(name)}",
                        username=_location_id(name),
                        display_name=title if isinstance(title, str) else None,
                    )
                token = page.get("nextPageToken") or None
                if not token:
                    break
        return list(found.values())

    async def _accounts(self, api: BusinessApi) -> list[str]:
        names: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"pageSize": ACCOUNTS_PAGE}
            if token:
                params["pageToken"] = token
            page = await api.get(f"{api.accounts_host}/v1/accounts", params)
            for account in page.get("accounts") or []:
                name = account.get("name") if isinstance(account, dict) else None
                if isinstance(name, str) and name.startswith("accounts/"):
                    names.append(name)
            token = page.get("nextPageToken") or None
            if not token:
                return names

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        async with PlatformHttp(self.config) as http:
            return await google_oauth.refresh(http, self.config, credentials.refresh_token)

    async def revoke(self, credentials: Credentials) -> bool:
        """Revoke the grant only when it reaches no other location: one sign-in's token is
        shared by every location connected with it, and revoking it would cut them all off."""
        async with PlatformHttp(self.config) as http:
            current = credentials
            try:
                if credentials.refresh_token:
                    # The stored access token may be an hour old: ask with a fresh one.
                    grant = await google_oauth.refresh(http, self.config, credentials.refresh_token)
                    current = replace(credentials, access_token=grant.access_token)
                locations = await self._locations(BusinessApi(http, self.config, current))
            except OutsideFailure:
                return False
            others = [p for p in locations if p.external_id != credentials.external_id]
            if others:
                return False
            token = credentials.refresh_token or credentials.access_token
            return await google_oauth.revoke(http, self.config, token)

    async def profile(self, credentials: Credentials) -> Profile:
        location = _location_id(credentials.external_id)
        async with PlatformHttp(self.config) as http:
            api = BusinessApi(http, self.config, credentials)
            found = await api.get(
                f"{api.information_host}/v1/locations/{location}", {"readMask": READ_MASK}
            )
        title = found.get("title")
        return Profile(
            external_id=credentials.external_id,
            username=location,
            display_name=title if isinstance(title, str) else None,
        )

    async def list_choices(self, credentials: Credentials, kind: str) -> list[Choice]:
        """The locations the connecting person manages (this account's among them): where
        else the same sign-in could post, for connecting or switching to another location."""
        async with PlatformHttp(self.config) as http:
            locations = await self._locations(BusinessApi(http, self.config, credentials))
        return [Choice(id=p.external_id, name=p.display_name or p.external_id) for p in locations]

    # --- publishing ----------------------------------------------------------------------------

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        return self.limits

    def check(self, request: PublishRequest) -> None:
        rules.check(request)

    async def publish(self, credentials: Credentials, request: PublishRequest) -> Published:
        options = rules.check(request)
        body = rules.local_post(request, options)
        async with PlatformHttp(self.config) as http:
            api = BusinessApi(http, self.config, credentials)
            post = await api.post(
                f"{api.posts_host}/v4/{credentials.external_id}/localPosts", body, publishing=True
            )
        name = post.get("name")
        if not isinstance(name, str) or not name:
            raise Ambiguous("Google accepted the local post without its name.", code="no_id")
        if post.get("state") == "REJECTED":
            raise Permanent(
                "Google rejected the local post (it breaks a Business Profile content policy).",
                code="rejected",
            )
        link = post.get("searchUrl")
        return Published(
            external_id=name,
            permalink=link if isinstance(link, str) else None,
            published_at=_parse_time(post.get("createTime")),
        )

    # --- reading back --------------------------------------------------------------------------

    def comparable_text(self, text: str) -> str:
        return comparable(text)

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        return None

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        found: list[RecentPost] = []
        async with PlatformHttp(self.config) as http:
            api = BusinessApi(http, self.config, credentials)
            url = f"{api.posts_host}/v4/{credentials.external_id}/localPosts"
            token: str | None = None
            for _ in range(POSTS_PAGES):
                params: dict[str, Any] = {"pageSize": POSTS_PAGE}
                if token:
                    params["pageToken"] = token
                page = await api.get(url, params)
                for post in page.get("localPosts") or []:
                    recent = _recent(post)
                    if recent is not None and (recent.created_at or since) >= since:
                        found.append(recent)
                token = page.get("nextPageToken") or None
                if not token:
                    break
        oldest = datetime.min.replace(tzinfo=UTC)
        found.sort(key=lambda post: post.created_at or oldest, reverse=True)
        return found[:limit]

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        raise NotPermitted(NO_POST_METRICS, code="no_metrics")


def _recent(post: Any) -> RecentPost | None:
    if not isinstance(post, dict) or not isinstance(post.get("name"), str):
        return None
    summary, link = post.get("summary"), post.get("searchUrl")
    return RecentPost(
        external_id=post["name"],
        text=summary if isinstance(summary, str) else None,
        created_at=_parse_time(post.get("createTime")),
        permalink=link if isinstance(link, str) else None,
    )
