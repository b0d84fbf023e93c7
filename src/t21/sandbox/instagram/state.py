"""The Instagram fake's world: the account, authorization codes, tokens, media containers,
published media, the publishing quota and the knobs tests turn through `/_control`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from starlette.responses import JSONResponse

from t21.core import clock
from t21.sandbox.meta.state import QUOTA_WINDOW_S, GraphState

CODE_TTL_S = 3600  # Instagram authorization codes live an hour
CONTAINER_TTL_S = 86_400
DEFAULT_QUOTA = 50  # the reference page's sample; 25 and 100 are reported too
# How long Instagram takes to process a container, by default: images in seconds, reels in
# minutes (postiz polls reels for up to ~8 min). Tests set them to 0 and move `t21.core.clock`.
DEFAULT_IMAGE_PROCESSING_S = 3.0
DEFAULT_VIDEO_PROCESSING_S = 90.0
APP_CALLS_PER_HOUR = 4800  # what x-app-usage's call_count is a percentage of
KNOWN_SCOPES = frozenset(
    {
        "instagram_business_basic",
        "instagram_business_content_publish",
        "instagram_business_manage_comments",
        "instagram_business_manage_insights",
        "instagram_business_manage_messages",
    }
)
BASIC = "instagram_business_basic"
PUBLISH = "instagram_business_content_publish"
INSIGHTS = "instagram_business_manage_insights"
COMMENTS = "instagram_business_manage_comments"


def oauth_error(message: str) -> JSONResponse:
    """The Instagram login host's error shape (not Graph's)."""
    body = {"error_type": "OAuthException", "code": 400, "error_message": message}
    return JSONResponse(body, status_code=400)


@dataclass
class InstagramAccount:
    """An Instagram professional account. `user_id` is the IG user id the API publishes to;
    `app_scoped_id` is what `/me`'s `id` says under Instagram Login."""

    user_id: str = "17841400000000001"
    app_scoped_id: str = "26000000000000001"
    username: str = "t21.sandbox"
    name: str = "T21 Sandbox"
    account_type: str = "BUSINESS"
    followers_count: int = 1234


@dataclass
class Container:
    """A media container: IMAGE (a feed image or carousel image), VIDEO (carousel video only),
    REELS, STORIES or CAROUSEL. It processes until `ready_at` (on `t21.core.clock`'s time, so
    tests move it) and for `polls_left` status reads, then ends in `outcome` (FINISHED, ERROR
    with `error`, EXPIRED, or IN_PROGRESS for ever)."""

    id: str
    owner: str
    media_type: str
    created_at: float
    caption: str | None = None
    media_url: str | None = None
    is_video: bool = False
    is_carousel_item: bool = False
    children: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    polls_left: int = 0
    outcome: str = "FINISHED"
    error: str | None = None
    published_media_id: str | None = None
    ready_at: float = 0.0

    def status_code(self, now: float) -> str:
        if self.published_media_id is not None:
            return "PUBLISHED"
        if now - self.created_at > CONTAINER_TTL_S:
            return "EXPIRED"
        if self.polls_left > 0 or clock.now().timestamp() < self.ready_at:
            return "IN_PROGRESS"
        return self.outcome

    def status_text(self, now: float) -> str:
        code = self.status_code(now)
        if code == "ERROR":
            return self.error or "Error: Media upload has failed with error code 2207053"
        return {
            "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
            "IN_PROGRESS": "In Progress: Media is still being processed.",
            "EXPIRED": "Expired: The container was not published within 24 hours.",
            "PUBLISHED": "Published: Media has been published.",
        }[code]


@dataclass
class Comment:
    id: str
    text: str
    timestamp: float
    username: str


@dataclass
class Media:
    """A published IG Media: media_type IMAGE | VIDEO | CAROUSEL_ALBUM, product FEED | REELS |
    STORY. `insights` is "values" (numbers), "empty" (no data yet) or "not_enough_viewers"."""

    id: str
    owner: str
    media_type: str
    product_type: str
    caption: str | None
    timestamp: float
    shortcode: str
    media_url: str | None
    container_id: str
    children: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    insights: str = "values"
    values: dict[str, int] = field(default_factory=dict)


@dataclass
class Outcome:
    """How the next created container ends (injected through `/_control`)."""

    status_code: str
    error_subcode: int | None = None


def _default_accounts() -> dict[str, InstagramAccount]:
    account = InstagramAccount()
    return {account.user_id: account}


@dataclass
class InstagramState(GraphState):
    token_prefixes: ClassVar[tuple[str, str]] = ("IGAA", "IGAA")
    trace_prefix: ClassVar[str] = "Fk"
    id_digits: ClassVar[int] = 12
    default_quota: ClassVar[int] = DEFAULT_QUOTA

    name: str = "instagram"
    quota_total: int = DEFAULT_QUOTA
    accounts: dict[str, InstagramAccount] = field(default_factory=_default_accounts)
    containers: dict[str, Container] = field(default_factory=dict)
    media: dict[str, Media] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    calls: list[float] = field(default_factory=list)
    # Knobs (POST /_control/config) beyond every Graph fake's.
    image_processing_s: float = DEFAULT_IMAGE_PROCESSING_S
    video_processing_s: float = DEFAULT_VIDEO_PROCESSING_S
    insights_default: str = "values"

    def config(self) -> dict[str, Any]:
        return super().config() | {
            "image_processing_s": self.image_processing_s,
            "video_processing_s": self.video_processing_s,
            "insights_default": self.insights_default,
        }

    def ready_at(self, *, video: bool) -> float:
        """When a container created now finishes processing (on `t21.core.clock`'s time)."""
        seconds = self.video_processing_s if video else self.image_processing_s
        return clock.now().timestamp() + seconds

    def published_in_window(self, owner: str, now: float) -> list[Media]:
        """What counts against the quota: every publication of the last 24 h (a carousel is
        one)."""
        return [
            m
            for m in self.media.values()
            if m.owner == owner and now - m.timestamp < QUOTA_WINDOW_S
        ]

    def app_usage(self, now: float) -> int:
        """x-app-usage's call_count: percent of the hourly budget used."""
        self.calls = [moment for moment in self.calls if now - moment < 3600]
        self.calls.append(now)
        return min(100, len(self.calls) * 100 // APP_CALLS_PER_HOUR)

    def reset(self) -> None:
        super().reset()
        self.accounts = _default_accounts()
        self.containers.clear()
        self.media.clear()
        self.outcomes.clear()
        self.calls.clear()
        self.image_processing_s = DEFAULT_IMAGE_PROCESSING_S
        self.video_processing_s = DEFAULT_VIDEO_PROCESSING_S
        self.insights_default = "values"


def default_values(media_id: str) -> dict[str, int]:
    """Plausible insights for a post, stable for its id."""
    seed = int(hashlib.sha256(media_id.encode()).hexdigest()[:8], 16)
    views = 200 + seed % 800
    likes, comments, saved, shares = views // 10, views // 50, views // 40, views // 60
    return {
        "views": views,
        "reach": views * 3 // 4,
        "likes": likes,
        "comments": comments,
        "saved": saved,
        "shares": shares,
        "total_interactions": likes + comments + saved + shares,
    }
