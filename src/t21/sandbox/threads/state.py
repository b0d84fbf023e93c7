"""The Threads fake's world: the account, authorization codes, tokens, media containers,
published posts, the publishing quota and the knobs tests turn through `/_control`."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from t21.platforms.registry import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from t21.sandbox.platform import IssuedToken, NetworkState

SHORT_TOKEN_TTL_S = 3600
LONG_TOKEN_TTL_S = 5_184_000  # 60 days
CODE_TTL_S = 600
QUOTA_WINDOW_S = 86_400
DEFAULT_QUOTA = 250
REFRESH_MIN_AGE_S = 86_400.0
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


class GraphError(Exception):
    """A Graph error answer: `{"error": {message, type, code, error_subcode?, fbtrace_id}}`."""

    def __init__(
        self, code: int, message: str, *, subcode: int | None = None, status: int = 400
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.subcode, self.status = code, message, subcode, status

    def body(self, trace: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": "OAuthException"}
        error["code"] = self.code
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["fbtrace_id"] = trace
        return {"error": error}


@dataclass
class ThreadsAccount:
    user_id: str = "25000000000000001"
    username: str = "t21.sandbox"
    name: str = "T21 Sandbox"


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    account_id: str
    scopes: frozenset[str]
    issued_at: float
    used: bool = False


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


def _default_clients() -> dict[str, str]:
    return {SANDBOX_CLIENT_ID: SANDBOX_CLIENT_SECRET}


def _default_accounts() -> dict[str, ThreadsAccount]:
    account = ThreadsAccount()
    return {account.user_id: account}


@dataclass
class ThreadsState(NetworkState):
    name: str = "threads"
    clients: dict[str, str] = field(default_factory=_default_clients)
    accounts: dict[str, ThreadsAccount] = field(default_factory=_default_accounts)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    long_lived: set[str] = field(default_factory=set)
    containers: dict[str, Container] = field(default_factory=dict)
    posts: dict[str, Post] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    sequence: int = 0
    # Knobs (POST /_control/config).
    quota_total: int = DEFAULT_QUOTA
    processing_polls: int = 0
    refresh_min_age_s: float = REFRESH_MIN_AGE_S
    withheld_scopes: set[str] = field(default_factory=set)

    def next_id(self, prefix: str) -> str:
        self.sequence += 1
        return f"{prefix}{self.sequence:014d}"

    def trace(self) -> str:
        return "Th" + hashlib.sha256(str(self.sequence).encode()).hexdigest()[:20]

    def config(self) -> dict[str, Any]:
        return {
            "quota_total": self.quota_total,
            "processing_polls": self.processing_polls,
            "refresh_min_age_s": self.refresh_min_age_s,
            "withheld_scopes": sorted(self.withheld_scopes),
        }

    def issue_token(
        self, account_id: str, client_id: str, scopes: frozenset[str], *, long: bool
    ) -> IssuedToken:
        token = self.issue(
            "access",
            account_id=account_id,
            client_id=client_id,
            scopes=scopes,
            ttl_s=LONG_TOKEN_TTL_S if long else SHORT_TOKEN_TTL_S,
            prefix="THAA" if long else "THQ",
        )
        if long:
            self.long_lived.add(token.value)
        return token

    def published_in_window(self, owner: str, now: float) -> list[Post]:
        return [
            post
            for post in self.posts.values()
            if post.owner == owner and now - post.timestamp < QUOTA_WINDOW_S
        ]

    def reset(self) -> None:
        super().reset()
        self.clients = _default_clients()
        self.accounts = _default_accounts()
        self.codes.clear()
        self.long_lived.clear()
        self.containers.clear()
        self.posts.clear()
        self.outcomes.clear()
        self.sequence = 0
        self.quota_total = DEFAULT_QUOTA
        self.processing_polls = 0
        self.refresh_min_age_s = REFRESH_MIN_AGE_S
        self.withheld_scopes = set()


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


def now() -> float:
    return time.time()
