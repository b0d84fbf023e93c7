"""The values that cross the provider protocol: media, posts to publish, their outcomes,
credentials, profiles, metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


ReadRange = Callable[[int, int], Awaitable[bytes]]


@dataclass(frozen=True)
class MediaItem:
    """One image or video of a post, as an adapter sees it.

    `url` is a time-limited public URL the network can download (Instagram, Facebook, TikTok
    pull from URLs); `read(offset, length)` returns bytes for networks that take uploads (X,
    LinkedIn, TikTok file upload).
    """

    kind: MediaKind
    content_type: str
    size: int
    url: str
    read: ReadRange
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    alt_text: str | None = None


@dataclass(frozen=True)
class PublishRequest:
    text: str
    media: list[MediaItem] = field(default_factory=list)
    # Validated against the provider's `options` model beforehand.
    options: dict[str, Any] = field(default_factory=dict)
    # What an earlier attempt of this same publication left at the network (`Continuing`):
    # the provider resumes from it instead of starting over. Empty on a first attempt.
    progress: dict[str, Any] = field(default_factory=dict)
    # What the account may do at the network as last read (`Connection.capabilities`, kept on
    # the account), for `check`; empty when unknown.
    capabilities: dict[str, Any] = field(default_factory=dict)
    # The same for every attempt of one publication (its target's id), so a network with
    # idempotency keys can tell a repeated attempt from a new post; None outside publishing.
    key: str | None = None


@dataclass(frozen=True)
class Published:
    external_id: str
    permalink: str | None
    published_at: datetime | None = None
    # What else a later reply or comment needs to name this post at the network (Bluesky: its
    # record's `cid` for a strong reference); kept with the thread's step record.
    ref: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Continuing:
    """Publishing continues later: the network is still working on what this attempt sent
    (media processing that takes minutes). The caller frees its worker, keeps `progress` with
    the target and calls `publish` again, with that `progress`, in `after_s` seconds. Nothing
    is published yet, so this is never a doubt; `reason` is safe to show a user."""

    after_s: float
    progress: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Credentials:
    """A connected account's secrets and identity, decrypted for one use."""

    access_token: str
    external_id: str
    username: str | None = None
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scopes: frozenset[str] = frozenset()
    # The private key (a JWK, JSON) the account's tokens are bound to (DPoP), where they are.
    dpop_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TokenGrant:
    """What a code exchange or a refresh returns. A refresh that rotates the refresh token
    returns the new one; `None` keeps the stored one."""

    access_token: str
    refresh_token: str | None = None
    expires_in: int | None = None
    refresh_expires_in: int | None = None
    scopes: frozenset[str] = frozenset()
    # The private key the tokens are bound to (DPoP); kept encrypted with them.
    dpop_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Profile:
    external_id: str
    username: str | None
    display_name: str | None
    avatar_url: str | None = None


@dataclass(frozen=True)
class Connection:
    """One account that a sign-in at the network gives access to (Facebook: one per Page)."""

    profile: Profile
    grant: TokenGrant
    # What the account may do at the network (TikTok: the privacy levels it may post with),
    # kept on the account for validation; empty when the network says nothing of the kind.
    capabilities: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecentPost:
    external_id: str
    text: str | None
    created_at: datetime | None
    permalink: str | None = None
    # The post it answers, where the network's listing says (a thread's part, a comment).
    reply_to: str | None = None


@dataclass(frozen=True)
class ReplyTo:
    """What a thread's part or a first comment answers at the network: the post before it
    (`parent`) and the thread's first post (`root`), each by id and its `Published.ref`."""

    parent_id: str
    root_id: str
    parent_ref: dict[str, Any] = field(default_factory=dict)
    root_ref: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PostMetrics:
    """Per-post numbers in T21's names; `None` where the network doesn't give that number."""

    impressions: int | None = None
    reach: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    clicks: int | None = None
    video_views: int | None = None
    # Clicks out to the post's link, where the network counts them apart from `clicks`.
    outbound_clicks: int | None = None


def metrics_unavailable(provider: object) -> str | None:
    """Why a network gives no numbers per post at all (Google Business Profile's insights are
    per location), in words for a person; None for a network that gives some. A provider
    (class or instance) says so with a `metrics_unavailable` string."""
    value = getattr(provider, "metrics_unavailable", None)
    return value if isinstance(value, str) else None
