"""LinkedIn Pages: posting as an organization the signed-in member administers, reading the
page's posts back, and the page's share statistics. The wire (versioned headers, error
classes, `little` text) and the media uploads are LinkedIn's own (`t21.platforms.linkedin`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from t21.core.outside import NotPermitted, Permanent
from t21.platforms.base import (
    Connection,
    Credentials,
    PostMetrics,
    Profile,
)
from t21.platforms.http import PlatformHttp
from t21.platforms.linkedin.client import LinkedInClient
from t21.platforms.linkedin.provider import LinkedInProvider

PUBLISH_SCOPE = "w_organization_social"
READ_SCOPE = "r_organization_social"
ADMIN_SCOPE = "rw_organization_admin"
ORGANIZATION_PREFIX = "urn:li:organization:"
# Page roles that may post as the page: ADMINISTRATOR, DIRECT_SPONSORED_CONTENT_POSTER,
# RECRUITING_POSTER (Share API permissions table) and CONTENT_ADMINISTRATOR (organization access
# control roles); only ADMINISTRATOR reads the share statistics (share-statistics page).
POSTING_ROLES = frozenset(
    {"ADMINISTRATOR", "CONTENT_ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER"}
    | {"RECRUITING_POSTER"}
)
STATISTICS_ROLE = "ADMINISTRATOR"
ACL_PAGE = 100
STATISTICS_BATCH = 20


class LinkedInPageOptions(BaseModel):
    """Per-post options of a page post (a page has no connections: PUBLIC or LOGGED_IN)."""

    model_config = ConfigDict(extra="forbid")

    # Who sees the post: anyone, or signed-in LinkedIn members.
    visibility: Literal["PUBLIC", "LOGGED_IN"] = "PUBLIC"
    # `isReshareDisabledByAuthor`.
    disable_reshare: bool = False


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _page_id(urn: str) -> str:
    page_id = urn.removeprefix(ORGANIZATION_PREFIX)
    if not urn.startswith(ORGANIZATION_PREFIX) or not page_id.isdigit():
        raise Permanent(f"{urn} is not a LinkedIn page", code="not_a_page")
    return page_id


def _restli_list(urns: list[str]) -> str:
    """A Rest.li 2.0 `List(...)` of URNs, each percent-encoded inside it."""
    return "List(" + ",".join(quote(urn, safe="") for urn in urns) + ")"


class LinkedInPageProvider(LinkedInProvider):
    """LinkedIn pages: one T21 account per page the member may post as."""

    name: ClassVar[str] = "linkedin_page"
    display_name: ClassVar[str] = "LinkedIn Page"
    # Posting and reading as the page; rw_organization_admin lists the pages the member
    # administers with their names, and reads the share statistics.
    scopes: ClassVar[tuple[str, ...]] = (PUBLISH_SCOPE, READ_SCOPE, ADMIN_SCOPE)
    publish_scope: ClassVar[str] = PUBLISH_SCOPE
    options: ClassVar[type[BaseModel]] = LinkedInPageOptions
    # Reply chains: LinkedIn has comments, not threads of posts.
    supports_threads: ClassVar[bool] = False
    limits = replace(
        LinkedInProvider.limits,
        notes=(
            "A single image is posted as content.media, 2–20 images as content.multiImage.",
            "Images must be under 36,152,320 pixels.",
            "Posts as the page need a posting role on it (administrator, content admin).",
            "Daily limits reset at 00:00 UTC.",
            "Hashtags (#word) stay clickable; other reserved characters are escaped.",
        ),
    )

    # --- connecting --------------------------------------------------------------------------

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        """One account per page on which the member holds a posting role, all sharing the
        member's token (LinkedIn issues tokens to members, never to pages)."""
        async with PlatformHttp(self.config) as http:
            grant = await self._token(
                http,
                {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
                refreshing=False,
            )
            credentials = Credentials(access_token=grant.access_token, external_id="")
            api = LinkedInClient(http, self.config, credentials)
            roles = await self._roles(api)
            connections = [
                Connection(
                    profile=await self._page(api, urn),
                    grant=grant,
                    capabilities={"role": role},
                )
                for urn, role in roles.items()
            ]
        if not connections:
            raise Permanent(
                "This LinkedIn member administers no LinkedIn page (an administrator or content "
                "admin role on the page is needed to post as it).",
                code="no_pages",
            )
        return connections

    async def _roles(self, api: LinkedInClient) -> dict[str, str]:
        """The pages the member may post as, with the role held there (the strongest first)."""
        roles: dict[str, str] = {}
        start = 0
        while True:
            page = await api.json(
                "GET",
                f"/rest/organizationAcls?q=roleAssignee&state=APPROVED&start={start}"
                f"&count={ACL_PAGE}",
                scope=ADMIN_SCOPE,
            )
            elements = [e for e in page.get("elements") or [] if isinstance(e, dict)]
            for element in elements:
                urn, role = element.get("organization"), element.get("role")
                if not isinstance(urn, str) or not urn.startswith(ORGANIZATION_PREFIX):
                    continue
                if role in POSTING_ROLES and roles.get(urn) != STATISTICS_ROLE:
                    roles[urn] = str(role)
            if len(elements) < ACL_PAGE:
                return roles
            start += ACL_PAGE

    async def _page(self, api: LinkedInClient, urn: str) -> Profile:
        page_id = _page_id(urn)
        body = await api.json("GET", f"/rest/organizations/{page_id}", scope=ADMIN_SCOPE)
        name, vanity = body.get("localizedName"), body.get("vanityName")
        return Profile(
            external_id=urn,
            username=vanity if isinstance(vanity, str) and vanity else page_id,
            display_name=name if isinstance(name, str) and name else None,
        )

    async def profile(self, credentials: Credentials) -> Profile:
        async with PlatformHttp(self.config) as http:
            api = LinkedInClient(http, self.config, credentials)
            return await self._page(api, credentials.external_id)

    async def revoke(self, credentials: Credentials) -> bool:
        """Not revoked: the token is the member's, shared by every page connected in the same
        sign-in (and by reconnections); revoking it for one page would cut off the others.
        T21 forgets it; the member removes the app at linkedin.com/psettings/permitted-services."""
        return False

    # --- numbers -----------------------------------------------------------------------------

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        """Lifetime organic numbers per post from `organizationalEntityShareStatistics`
        (rw_organization_admin, ADMINISTRATOR on the page; only the last 12 months)."""
        if credentials.scopes and ADMIN_SCOPE not in credentials.scopes:
            raise NotPermitted(
                "LinkedIn gives a page's post numbers only with the rw_organization_admin "
                "permission, which this connection wasn't granted.",
                code="missing_scope",
            )
        page = quote(credentials.external_id, safe="")
        results: dict[str, PostMetrics | None] = dict.fromkeys(external_ids)
        async with PlatformHttp(self.config) as http:
            api = LinkedInClient(http, self.config, credentials)
            for first in range(0, len(external_ids), STATISTICS_BATCH):
                batch = external_ids[first : first + STATISTICS_BATCH]
                shares = [urn for urn in batch if urn.startswith("urn:li:share:")]
                ugc_posts = [urn for urn in batch if urn.startswith("urn:li:ugcPost:")]
                query = f"q=organizationalEntity&organizationalEntity={page}"
                if shares:
                    query += f"&shares={_restli_list(shares)}"
                if ugc_posts:
                    query += f"&ugcPosts={_restli_list(ugc_posts)}"
                if not shares and not ugc_posts:
                    continue
                body = await api.json(
                    "GET", f"/rest/organizationalEntityShareStatistics?{query}", scope=ADMIN_SCOPE
                )
                for element in body.get("elements") or []:
                    if not isinstance(element, dict):
                        continue
                    urn = element.get("share") or element.get("ugcPost")
                    counts = element.get("totalShareStatistics")
                    if urn not in results or not isinstance(counts, dict):
                        continue
                    results[str(urn)] = PostMetrics(
                        impressions=_count(counts.get("impressionCount")),
                        reach=_count(counts.get("uniqueImpressionsCount")),
                        likes=_count(counts.get("likeCount")),
                        comments=_count(counts.get("commentCount")),
                        shares=_count(counts.get("shareCount")),
                        clicks=_count(counts.get("clickCount")),
                    )
        return results
