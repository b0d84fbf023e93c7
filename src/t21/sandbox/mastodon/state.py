"""The Mastodon fake's world: registered apps, the sandbox account, codes, media, statuses, the
idempotency keys and rate-limit windows, and the check every API call goes through."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from t21.sandbox.platform import IssuedToken, NetworkState, bearer

MAX_TEXT = 500
PROCESSING_POLLS = 2
# app/lib/rate_limiter.rb: statuses 300 per 3 hours per account; media 30 per 30 minutes.
STATUS_LIMIT = 300
STATUS_PERIOD_S = 3 * 3600
MEDIA_LIMIT = 30
MEDIA_PERIOD_S = 30 * 60
# post_status_service.rb keeps an idempotency key one hour.
IDEMPOTENCY_TTL_S = 3600
CODE_TTL_S = 600


class Refusal(Exception):
    """An API refusal, answered `{"error": message}` with `status` (and `headers`)."""

    def __init__(
        self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra


@dataclass
class App:
    client_id: str
    client_secret: str
    name: str
    redirect_uris: list[str]
    scopes: frozenset[str]
    website: str | None


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str | None
    method: str | None
    issued_at: float
    used: bool = False


@dataclass
class Media:
    id: str
    account_id: str
    kind: str  # image | video | gifv
    content_type: str
    size: int
    description: str | None
    polls_left: int
    status_id: str | None = None

    def processed(self) -> bool:
        return self.polls_left <= 0

    def entity(self, base: str) -> dict[str, Any]:
        url = f"{base}/system/media_attachments/{self.id}/original" if self.processed() else None
        return {
            "id": self.id,
            "type": self.kind,
            "url": url,
            "preview_url": url,
            "remote_url": None,
            "description": self.description,
            "blurhash": None,
            "meta": {},
        }


@dataclass
class Status:
    id: str
    account_id: str
    text: str
    created_at: float
    visibility: str
    spoiler_text: str
    sensitive: bool
    language: str | None
    media_ids: list[str]
    # The status it replies to (`in_reply_to_id`), if any.
    in_reply_to_id: str | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"favourites_count": 0, "reblogs_count": 0, "replies_count": 0}
    )


@dataclass
class MastodonState(NetworkState):
    name: str = "mastodon"
    account_id: str = "109348729384756123"
    username: str = "t21sandbox"
    apps: dict[str, App] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    media: dict[str, Media] = field(default_factory=dict)
    statuses: dict[str, Status] = field(default_factory=dict)
    # (account, key) → (status id, stored at)
    idempotency: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    # (bucket, account) → times of the requests in the window
    windows: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    max_text: int = MAX_TEXT
    processing_polls: int = PROCESSING_POLLS
    pkce: bool = True
    status_limit: int = STATUS_LIMIT
    media_limit: int = MEDIA_LIMIT
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self) -> str:
        # Mastodon's ids are snowflake-like: milliseconds shifted by 16 bits, and a sequence.
        return str((int(time.time() * 1000) << 16) + next(self.ids) % 65536)

    def caller(self, request: Request, scope: str) -> IssuedToken:
        """The request's usable token, granted `scope` or its parent (`write` covers
        `write:statuses`)."""
        token = self.token(bearer(request))
        if token is None:
            raise Refusal(401, "The access token is invalid")
        parent = scope.split(":", 1)[0]
        if scope not in token.scopes and parent not in token.scopes:
            raise Refusal(403, "This action is outside the authorized scopes")
        return token

    def reset(self) -> None:
        super().reset()
        self.apps.clear()
        self.codes.clear()
        self.media.clear()
        self.statuses.clear()
        self.idempotency.clear()
        self.windows.clear()
        self.max_text = MAX_TEXT
        self.processing_polls = PROCESSING_POLLS
        self.pkce = True
        self.status_limit = STATUS_LIMIT
        self.media_limit = MEDIA_LIMIT
