"""The X fake's world: its users, OAuth codes, media uploads, posts and rate-limit windows, and
the check every API call goes through (the bearer token and its scopes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.types import Scope

from t21.sandbox.platform import IssuedToken, NetworkState, bearer
from t21.sandbox.twitter.wire import (
    APP_TWEETS_PER_DAY,
    USER_LIMITS,
    Snowflakes,
    Window,
    missing_scope,
    unauthorized,
)

SANDBOX_CLIENTS = {"t21-sandbox": "t21-sandbox-secret"}
ACCESS_TOKEN_TTL_S = 7200
# X doesn't document how long refresh tokens live; about 6 months is commonly cited.
REFRESH_TOKEN_TTL_S = 180 * 24 * 3600
CODE_TTL_S = 30
MAX_TEXT = 280
PROCESSING_POLLS = 2
CHECK_AFTER_SECS = 1


@dataclass
class XUser:
    id: str = "1588913423452921857"
    username: str = "t21sandbox"
    name: str = "T21 Sandbox"
    profile_image_url: str = "https://pbs.twimg.com/profile_images/1588913423/sandbox_normal.jpg"

    def public(self, fields: set[str]) -> dict[str, Any]:
        data = {"id": self.id, "name": self.name, "username": self.username}
        if "profile_image_url" in fields:
            data["profile_image_url"] = self.profile_image_url
        return data


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: frozenset[str]
    challenge: str
    method: str
    issued_at: float
    used: bool = False


@dataclass
class Upload:
    """A media upload from `initialize` to a usable media id."""

    id: str
    media_key: str
    owner: str
    media_type: str
    category: str
    total_bytes: int
    created_at: float
    segments: dict[int, bytes] = field(default_factory=dict)
    finalized: bool = False
    # None: no processing (images); else pending → in_progress → succeeded | failed.
    processing: str | None = None
    polls_left: int = 0
    error: dict[str, Any] | None = None
    alt_text: str | None = None

    @property
    def kind(self) -> str:
        """The media object's `type` in X's answers."""
        if self.category == "tweet_video":
            return "video"
        return "animated_gif" if self.category == "tweet_gif" else "photo"

    def data(self) -> bytes:
        return b"".join(self.segments[index] for index in sorted(self.segments))

    def ready(self) -> bool:
        return self.finalized and self.processing in (None, "succeeded")


@dataclass
class Tweet:
    id: str
    author_id: str
    text: str
    created_at: float
    media_keys: list[str] = field(default_factory=list)
    reply_to: str | None = None
    quote_of: str | None = None
    reply_settings: str | None = None
    deleted: bool = False
    # public_metrics, non_public_metrics and media view counts: zero until `/_control/metrics`.
    metrics: dict[str, int] = field(default_factory=dict)


def default_limits() -> dict[str, int]:
    return dict(USER_LIMITS) | {"app:tweets": APP_TWEETS_PER_DAY}


@dataclass
class TwitterState(NetworkState):
    name: str = "twitter"
    clients: dict[str, str] = field(default_factory=lambda: dict(SANDBOX_CLIENTS))
    users: dict[str, XUser] = field(default_factory=lambda: {XUser().id: XUser()})
    codes: dict[str, AuthCode] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    tweets: dict[str, Tweet] = field(default_factory=dict)
    windows: dict[tuple[str, str], Window] = field(default_factory=dict)
    ids: Snowflakes = field(default_factory=Snowflakes)
    # Settings, changed through `/_control/settings`.
    max_text: int = MAX_TEXT
    processing_polls: int = PROCESSING_POLLS
    check_after_secs: int = CHECK_AFTER_SECS
    rotate_refresh_tokens: bool = True
    usage_capped: bool = False
    limits: dict[str, int] = field(default_factory=default_limits)

    @property
    def user(self) -> XUser:
        """The account that signs in at the authorize endpoint."""
        return next(iter(self.users.values()))

    def caller(self, request: Request, *scopes: str) -> IssuedToken:
        """The request's usable access token, holding every one of `scopes`."""
        token = self.token(bearer(request))
        if token is None:
            raise unauthorized()
        missing = [scope for scope in scopes if scope not in token.scopes]
        if missing:
            raise missing_scope(missing)
        return token

    def rate_key(self, scope: Scope) -> tuple[str, str] | None:
        """Whose window a request counts against: its token's user and app, if it has one."""
        headers = dict(scope.get("headers") or [])
        kind, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        token = self.tokens.get(value.strip()) if kind.lower() == "bearer" else None
        return (token.account_id, token.client_id) if token is not None else None

    def visible_tweet(self, tweet_id: str) -> Tweet | None:
        tweet = self.tweets.get(tweet_id)
        return tweet if tweet is not None and not tweet.deleted else None

    def reset(self) -> None:
        super().reset()
        self.clients = dict(SANDBOX_CLIENTS)
        self.users = {XUser().id: XUser()}
        self.codes.clear()
        self.uploads.clear()
        self.tweets.clear()
        self.windows.clear()
        self.max_text = MAX_TEXT
        self.processing_polls = PROCESSING_POLLS
        self.check_after_secs = CHECK_AFTER_SECS
        self.rotate_refresh_tokens = True
        self.usage_capped = False
        self.limits = default_limits()
