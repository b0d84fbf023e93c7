"""The Threads fake's world: the account, authorization codes, tokens, media containers,
published posts, the publishing quota and the knobs tests turn through `/_control`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import ClassVar

from t21.sandbox.meta.state import QUOTA_WINDOW_S, GraphState

CODE_TTL_S = 600
DEFAULT_QUOTA = 250
BASIC = "threads_basic"
PUBLISH = "threads_content_publish"
INSIGHTS = "threads_manage_insights"
KNOWN_SCOPES = frozenset(
    {
        BASIC,
        PUBLISH,
        INSIGHTS,
        "threads_manage_replies",
        "threads_read_replies",
        "threads_manage_mentions",
        "threads_keyword_search",
        "threads_delete",
        "threads_location_tagging",
        "threads_profile_discovery",
    }
)
METRICS = ("views", "likes", "replies", "reposts", "quotes", "shares")


@dataclass
class ThreadsAccount:
    user_id: str = "25000000000000001"
    username: str = "t21.sandbox"
    name: str = "T21 Sandbox"


@dataclass
class Container:
    """A media container: TEXT, IMAGE, VIDEO or CAROUSEL. It reads IN_PROGRESS for
    `polls_left` status reads, then ends in `outcome` (FINISHED, ERROR with `error`, EXPIRED)."""

    id: str
    owner: str
    media_type: str
    created_at: float
    text: str | None = None
    media_url: str | None = None
    is_carousel_item: bool = False
    children: list[str] = field(default_factory=list)
    reply_control: str | None = None
    alt_text: str | None = None
    polls_left: int = 0
    outcome: str = "FINISHED"
    error: str | None = None
    published_id: str | None = None
    # The post this container answers (`reply_to_id`), for a reply.
    reply_to_id: str | None = None


@dataclass
class Post:
    id: str
    owner: str
    media_type: str  # TEXT_POST, IMAGE, VIDEO, CAROUSEL_ALBUM
    text: str | None
    timestamp: float
    shortcode: str
    reply_control: str
    children: list[str] = field(default_factory=list)
    values: dict[str, int] = field(default_factory=dict)
    # The post it replies to, for a reply.
    replied_to: str | None = None


@dataclass
class Outcome:
    status: str
    error: str | None = None


def _default_accounts() -> dict[str, ThreadsAccount]:
    account = ThreadsAccount()
    return {account.user_id: account}


@dataclass
class ThreadsState(GraphState):
    token_prefixes: ClassVar[tuple[str, str]] = ("THQ", "THAA")
    trace_prefix: ClassVar[str] = "Th"
    id_digits: ClassVar[int] = 14
    default_quota: ClassVar[int] = DEFAULT_QUOTA

    name: str = "threads"
    quota_total: int = DEFAULT_QUOTA
    accounts: dict[str, ThreadsAccount] = field(default_factory=_default_accounts)
    containers: dict[str, Container] = field(default_factory=dict)
    posts: dict[str, Post] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)

    def published_in_window(self, owner: str, now: float) -> list[Post]:
        return [
            post
            for post in self.posts.values()
            if post.owner == owner and now - post.timestamp < QUOTA_WINDOW_S
        ]

    def reset(self) -> None:
        super().reset()
        self.accounts = _default_accounts()
        self.containers.clear()
        self.posts.clear()
        self.outcomes.clear()


def default_values(post_id: str) -> dict[str, int]:
    """Plausible insights, stable for a post's id."""
    seed = int(hashlib.sha256(post_id.encode()).hexdigest()[:8], 16)
    views = 100 + seed % 900
    return {
        "views": views,
        "likes": views // 10,
        "replies": views // 40,
        "reposts": views // 60,
        "quotes": views // 120,
        "shares": views // 90,
    }
