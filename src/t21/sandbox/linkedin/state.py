"""The LinkedIn fake's world: its member, codes, media, posts and quotas, and the checks every
API call goes through (version headers, the bearer token and its scopes)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from t21.sandbox.linkedin.wire import access_denied, bad_request, refusal
from t21.sandbox.platform import IssuedToken, NetworkState, bearer

MB = 1024 * 1024
# The twelve monthly versions served; 202505–202507 carry sunset notices in LinkedIn's docs.
ACTIVE_VERSIONS = frozenset(
    {"202508", "202509", "202510", "202511", "202512", "202601"}
    | {"202602", "202603", "202604", "202605", "202606", "202607"}
)


SELF_SERVE_SCOPES = frozenset({"openid", "profile", "email", "w_member_social"})


@dataclass
class LinkedInMember:
    sub: str = "yQ3dK9aPzR"
    name: str = "Sandbox User"
    email: str = "sandbox.user@example.com"
    vanity_name: str | None = "sandbox-user"
    organization_id: str = "2414183"  # the page this member administers

    @property
    def urn(self) -> str:
        return f"urn:li:person:{self.sub}"


# Page roles that may post as the page (w_organization_social) and read its posts
# (r_organization_social): the Share API's permissions table lists ADMINISTRATOR,
# DIRECT_SPONSORED_CONTENT_POSTER, RECRUITING_POSTER for posting and the first two for reading
# (learn.microsoft.com/linkedin/marketing/integrations/community-management/shares/share-api);
# CONTENT_ADMINISTRATOR "create[s] and manage[s] Page content" (…/organizations/
# organization-access-control-by-role).
POSTING_ROLES = frozenset(
    {"ADMINISTRATOR", "CONTENT_ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER"}
    | {"RECRUITING_POSTER"}
)
READING_ROLES = frozenset(
    {"ADMINISTRATOR", "CONTENT_ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER"}
)


@dataclass
class Organization:
    """A LinkedIn page, and the roles members hold on it (all APPROVED)."""

    id: str
    name: str
    vanity_name: str
    roles: dict[str, str] = field(default_factory=dict)  # member URN → role

    @property
    def urn(self) -> str:
        return f"urn:li:organization:{self.id}"

    def role_of(self, member_urn: str) -> str | None:
        return self.roles.get(member_urn)


def _organizations() -> dict[str, Organization]:
    # The member administers one page; it is the page of LinkedIn's own examples.
    page = Organization("2414183", "Sandbox Company", "sandbox-company")
    page.roles[LinkedInMember().urn] = "ADMINISTRATOR"
    return {page.id: page}


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    issued_at: float
    used: bool = False


@dataclass
class Asset:
    """An image, a video or a legacy digital media asset, from its upload to AVAILABLE."""

    urn: str
    kind: str  # "image", "video" or "asset"
    owner: str
    video: bool = False  # what a legacy asset's recipe says it is
    status: str = "WAITING_UPLOAD"
    polls_left: int = 0
    size: int = 0
    sha256: str = ""
    content_type: str = ""
    failure: str | None = None
    uploaded_at: float | None = None
    upload_token: str = ""
    ranges: list[tuple[int, int]] = field(default_factory=list)
    parts: dict[int, bytes] = field(default_factory=dict)
    etags: dict[int, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"id": self.urn, "size": self.size, "sha256": self.sha256, "type": self.content_type}


@dataclass
class Post:
    urn: str
    author: str
    commentary: str  # as sent, in `little` format
    text: str  # as shown
    visibility: str
    content: dict[str, Any] | None
    media: list[str]
    reshare_disabled: bool = False
    created_ms: int = 0
    # Its comments as `GET /rest/socialActions/{urn}/comments` returns them, oldest first.
    comments: list[dict[str, Any]] = field(default_factory=list)

    def element(self) -> dict[str, Any]:
        """The post as `GET /rest/posts` returns it."""
        element: dict[str, Any] = {
            "id": self.urn,
            "author": self.author,
            "commentary": self.commentary,
            "visibility": self.visibility,
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "lifecycleStateInfo": {"isEditedByAuthor": False},
            "isReshareDisabledByAuthor": self.reshare_disabled,
            "createdAt": self.created_ms,
            "publishedAt": self.created_ms,
            "lastModifiedAt": self.created_ms,
        }
        if self.content is not None:
            element["content"] = self.content
        return element


@dataclass
class LinkedInState(NetworkState):
    """Everything the fake knows; the settings below are what `/_control/settings` changes."""

    name: str = "linkedin"
    member: LinkedInMember = field(default_factory=LinkedInMember)
    # The scopes the app's products give it: a new app's self-serve products ("Sign In with
    # LinkedIn using OpenID Connect", "Share on LinkedIn"). Community Management API adds
    # r_member_postAnalytics and the organization scopes; r_member_social is restricted.
    app_scopes: frozenset[str] = SELF_SERVE_SCOPES
    # What `app_scopes` returns to on reset (the pages fake's app has Community Management).
    default_app_scopes: frozenset[str] = SELF_SERVE_SCOPES
    # Refresh tokens are only for approved partners; on here so the refresh path is exercised.
    partner_mode: bool = True
    daily_post_limit: int = 150  # per member per UTC day (Ayrshare's figure)
    # Postiz found member tokens may not read image status; on, GET /rest/images/{urn} is 403.
    image_status_forbidden: bool = False
    processing_polls: int = 2  # status reads answering PROCESSING before the verdict
    image_settle_s: float = 0.05  # images also finish this long after upload, polled or not
    video_part_bytes: int = 4 * MB
    codes: dict[str, Code] = field(default_factory=dict)
    first_grants: dict[str, float] = field(default_factory=dict)  # client id → first grant
    assets: dict[str, Asset] = field(default_factory=dict)
    uploads: dict[str, str] = field(default_factory=dict)  # upload key → asset URN
    posts: dict[str, Post] = field(default_factory=dict)
    daily_posts: dict[str, int] = field(default_factory=dict)  # UTC date → posts
    analytics: dict[str, dict[str, int]] = field(default_factory=dict)
    organizations: dict[str, Organization] = field(default_factory=_organizations)
    next_id: int = 7_310_000_000_000_000_000

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def reset(self) -> None:
        super().reset()
        scopes = self.default_app_scopes
        fresh = LinkedInState(app_scopes=scopes, default_app_scopes=scopes)
        for name in LinkedInState.__dataclass_fields__:
            if name not in NetworkState.__dataclass_fields__:
                setattr(self, name, getattr(fresh, name))

    # --- what every call goes through ----------------------------------------------------

    def authenticate(
        self, request: Request, scope: str | tuple[str, ...] | None, resource: str
    ) -> IssuedToken:
        """The request's live access token holding `scope` (any one of a tuple)."""
        value = bearer(request)
        token = self.tokens.get(value) if value else None
        if token is None or token.kind != "access":
            raise refusal(401, "Invalid access token", service=65600)
        if token.revoked:
            message = "The token used in the request has been revoked by the user"
            raise refusal(401, message, "REVOKED_ACCESS_TOKEN", 65601)
        if not token.usable():
            # The serviceErrorCode of EXPIRED_ACCESS_TOKEN is unconfirmed; 65602 is a guess.
            message = "The token used in the request has expired"
            raise refusal(401, message, "EXPIRED_ACCESS_TOKEN", 65602)
        wanted = (scope,) if isinstance(scope, str) else scope
        if wanted is not None and not token.scopes & set(wanted):
            raise access_denied(f"Not enough permissions to access: {resource}")
        return token

    def rest(
        self, request: Request, scope: str | tuple[str, ...] | None, resource: str
    ) -> IssuedToken:
        """A versioned `/rest/*` call: the version headers first, as LinkedIn's gateway does."""
        version = request.headers.get("linkedin-version")
        if not version:
            # LinkedIn's answer to a missing header is unconfirmed in PLATFORMS.md.
            message = (
                "A version must be present. Please specify a version by adding the "
                "LinkedIn-Version header."
            )
            raise refusal(400, message, "VERSION_MISSING")
        if version.partition(".")[0] not in ACTIVE_VERSIONS:
            # 426 Upgrade Required, as LinkedIn answers; it shows YYYYMM as YYYYMM01.
            shown = f"{version}01" if re.fullmatch(r"\d{6}", version) else version
            raise refusal(426, f"Requested version {shown} is not active", "NONEXISTENT_VERSION")
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            # Unconfirmed: Rest.li 2.0 syntax (List(...), tuples) fails to parse without it.
            raise bad_request("X-Restli-Protocol-Version 2.0.0 is required for this resource.")
        return self.authenticate(request, scope, resource)

    def organization_of(self, urn: Any) -> Organization | None:
        """The page `urn` names, if it is one LinkedIn knows."""
        if not isinstance(urn, str) or not urn.startswith("urn:li:organization:"):
            return None
        return self.organizations.get(urn.removeprefix("urn:li:organization:"))

    def check_owner(self, owner: Any, request: Request) -> str:
        """`owner` (a post's author, an upload's owner) if the caller may act as it: the member
        itself with w_member_social, or a page on which the member holds a posting role with
        w_organization_social."""
        token = self.authenticate(request, None, "owner")
        organization = self.organization_of(owner)
        if organization is not None:
            allowed = "w_organization_social" in token.scopes and (
                organization.role_of(self.member.urn) in POSTING_ROLES
            )
        else:
            allowed = owner == self.member.urn and "w_member_social" in token.scopes
        if not allowed:
            raise access_denied(f"Not enough permissions to act for {owner}")
        return str(owner)

    def owned_asset(self, urn: str, kinds: tuple[str, ...]) -> Asset:
        asset = self.assets.get(urn)
        mine = asset is not None and (
            asset.owner == self.member.urn
            or (
                (org := self.organization_of(asset.owner)) is not None
                and org.role_of(self.member.urn) in POSTING_ROLES
            )
        )
        if asset is None or asset.kind not in kinds or not mine:
            raise refusal(404, f"{urn} does not exist", "NOT_FOUND")
        return asset

    def settle(self, asset: Asset) -> None:
        """Processing runs whether or not anyone polls: images finish after a moment."""
        if asset.status != "PROCESSING":
            return
        elapsed = time.time() - (asset.uploaded_at or 0)
        if asset.polls_left <= 0 or (asset.kind == "image" and elapsed >= self.image_settle_s):
            asset.status = "PROCESSING_FAILED" if asset.failure else "AVAILABLE"

    def take_quota(self) -> str:
        """Today's UTC date, if the member may post once more today."""
        day = datetime.now(UTC).date().isoformat()
        if self.daily_posts.get(day, 0) >= self.daily_post_limit:
            message = (
                "Resource level throttle MEMBER DAY limit for calls to this resource is reached."
            )
            raise refusal(429, message, "TOO_MANY_REQUESTS", 101)
        return day


# The numbers LinkedIn's analytics answer for a post (memberCreatorPostAnalytics query types,
# organizationalEntityShareStatistics reads the same), grown by the sandbox as posts age.
GROWN_ANALYTICS = ("IMPRESSION", "MEMBERS_REACHED", "REACTION", "COMMENT", "RESHARE")


def analytics_of(state: LinkedInState, post: Post) -> dict[str, int]:
    """The post's numbers: those set through the control, raised to what the post has grown to
    when the sandbox grows numbers (`NetworkState.grow`, shared by every fake)."""
    if not state.grow_metrics:
        return state.analytics.get(post.urn, {})
    numbers = state.analytics.setdefault(post.urn, {})
    state.grow(
        numbers, post_key=post.urn, published_at=post.created_ms / 1000, names=GROWN_ANALYTICS
    )
    return numbers
