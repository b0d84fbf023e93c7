"""What the TikTok fake knows: its settings, the creator, codes, publish jobs and posts."""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

from t21.sandbox.oauth import ControlError
from t21.sandbox.platform import NetworkState

SANDBOX_CLIENT_KEY = "t21-sandbox"
SANDBOX_CLIENT_SECRET = "t21-sandbox-secret"  # noqa: S105 (the sandbox's public test client)
KNOWN_SCOPES = frozenset(
    {
        "user.info.basic",
        "user.info.profile",
        "user.info.stats",
        "video.publish",
        "video.upload",
        "video.list",
    }
)
PRIVACY_LEVELS = (
    "PUBLIC_TO_EVERYONE",
    "MUTUAL_FOLLOW_FRIENDS",
    "FOLLOWER_OF_CREATOR",
    "SELF_ONLY",
)
CODE_TTL_S = 600
REFRESH_TTL_S = 180 * 24 * 3600  # "Manage OAuth Access Tokens", Nov 2026
RATE_WINDOW_S = 60.0
DAY_S = 24 * 3600
FIRST_VIDEO_ID = 7_400_000_000_000_000_000  # TikTok video ids are 19-digit numbers


def _default_rate_limits() -> dict[str, int]:
    # Per token per minute [docs]: each init endpoint 6, status/fetch 30, creator_info 20.
    return {"init": 6, "status": 30, "creator_info": 20}


@dataclass
class TikTokSettings:
    """What tests (and sandbox users) may change through `/_control/settings`."""

    access_ttl_s: int = 7200  # the current docs; older ones said 86400
    grant_scopes: list[str] | None = None  # the user unticks every other scope on consent
    privacy_level_options: list[str] = field(default_factory=lambda: list(PRIVACY_LEVELS))
    max_video_post_duration_sec: int = 600
    comment_disabled: bool = False
    duet_disabled: bool = False
    stitch_disabled: bool = False
    processing_polls: int = 2  # status polls answering PROCESSING_* once the media is in
    moderation_polls: int = 1  # PUBLISH_COMPLETE polls before the public post id shows
    rate_limits: dict[str, int] = field(default_factory=_default_rate_limits)
    # About 15 posts a day per creator per [3p], unconfirmed: spam_risk_too_many_posts.
    daily_post_cap: int = 15
    # Until TikTok audits it, an app may only post SELF_ONLY
    # (unaudited_client_can_only_post_to_private_accounts;
    # https://developers.tiktok.com/doc/content-sharing-guidelines). A new app starts unaudited.
    audited: bool = False
    # Whether creator_info lists only SELF_ONLY to an unaudited app (T21 reads the levels from
    # there). Unconfirmed: TikTok may list every level and refuse at init instead, which this
    # knob turned off reproduces.
    unaudited_lists_self_only: bool = True
    # URL prefixes verified for PULL_FROM_URL; None accepts every URL.
    verified_url_prefixes: list[str] | None = None

    def update(self, body: dict[str, Any]) -> None:
        known = {item.name: item for item in fields(self)}
        for name, value in body.items():
            if name not in known:
                raise ControlError(f"Unknown setting `{name}`.")
            current = getattr(self, name)
            nullable = name in ("grant_scopes", "verified_url_prefixes")
            if value is None and nullable:
                setattr(self, name, None)
                continue
            kind = list if nullable else type(current)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ControlError(f"`{name}` must be a {kind.__name__}.")
            setattr(self, name, value)
        self.rate_limits = _default_rate_limits() | self.rate_limits


@dataclass
class Creator:
    open_id: str = "-000t21SandboxCreatorOpenIdAbC"
    union_id: str = "c9c60f44-a68e-4f5d-84dd-ce22faeb0ba1"
    username: str = "t21.sandbox"
    display_name: str = "T21 Sandbox"


@dataclass
class AuthCode:
    client_key: str
    redirect_uri: str
    scopes: frozenset[str]
    issued_at: float
    used: bool = False


@dataclass
class PublishJob:
    """One init: its post fields, how its media arrives, and how far processing has got."""

    publish_id: str
    open_id: str
    kind: str  # "video" or "photo"
    source: str  # "FILE_UPLOAD" or "PULL_FROM_URL"
    inbox: bool
    post: dict[str, Any]
    media_urls: list[str]
    processing_left: int
    moderation_left: int
    created_at: float = field(default_factory=time.time)
    video_size: int = 0
    chunk_size: int = 0
    total_chunk_count: int = 0
    upload_token: str = ""
    received: int = 0
    downloaded: int = 0
    chunks_received: int = 0
    head: bytes = b""
    complete: bool = False  # every byte uploaded, or the media pulled
    fail_reason: str | None = None
    post_id: str | None = None

    def expected_chunk(self) -> int:
        """The length of the next chunk: chunk_size, or the rest for the last one."""
        if self.chunks_received == self.total_chunk_count - 1:
            return self.video_size - self.received
        return self.chunk_size


@dataclass
class Video:
    id: str
    open_id: str
    kind: str
    title: str
    description: str
    create_ms: int
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("like_count", "comment_count", "share_count", "view_count"), 0
        )
    )


@dataclass
class TikTokState(NetworkState):
    name: str = "tiktok"
    settings: TikTokSettings = field(default_factory=TikTokSettings)
    creator: Creator = field(default_factory=Creator)
    clients: dict[str, str] = field(
        default_factory=lambda: {SANDBOX_CLIENT_KEY: SANDBOX_CLIENT_SECRET}
    )
    codes: dict[str, AuthCode] = field(default_factory=dict)
    jobs: dict[str, PublishJob] = field(default_factory=dict)
    uploads: dict[str, str] = field(default_factory=dict)  # upload_id -> publish_id
    videos: list[Video] = field(default_factory=list)  # oldest first
    calls: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    counter: int = 0

    def next_number(self) -> int:
        self.counter += 1
        return self.counter

    def allow(self, token: str, bucket: str) -> bool:
        """Count a call against the token's per-minute limit; False when it is used up."""
        window = self.calls.setdefault((token, bucket), deque())
        now = time.time()
        while window and window[0] <= now - RATE_WINDOW_S:
            window.popleft()
        if len(window) >= self.settings.rate_limits.get(bucket, 1_000_000):
            return False
        window.append(now)
        return True

    def posts_today(self, open_id: str) -> int:
        since = time.time() - DAY_S
        return sum(
            1
            for job in self.jobs.values()
            if job.open_id == open_id and not job.inbox and job.created_at > since
        )

    def new_video(self, job: PublishJob) -> Video:
        created_ms = int(time.time() * 1000)
        if self.videos:  # strictly increasing, so list cursors never skip a post
            created_ms = max(created_ms, self.videos[-1].create_ms + 1)
        video = Video(
            id=str(FIRST_VIDEO_ID + self.next_number()),
            open_id=job.open_id,
            kind=job.kind,
            title=str(job.post.get("title") or ""),
            description=str(job.post.get("description") or ""),
            create_ms=created_ms,
        )
        self.videos.append(video)
        return video

    def video(self, video_id: str) -> Video | None:
        return next((video for video in self.videos if video.id == video_id), None)

    def reset(self) -> None:
        super().reset()
        self.settings = TikTokSettings()
        self.creator = Creator()
        self.codes.clear()
        self.jobs.clear()
        self.uploads.clear()
        self.videos.clear()
        self.calls.clear()


def log_id() -> str:
    """TikTok's log_id: a timestamp and random hex."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(10).upper()
