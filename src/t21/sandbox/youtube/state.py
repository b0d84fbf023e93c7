"""The YouTube fake's world: Google users and their channels, upload sessions with every byte
range they received, videos and their comment threads, and the project's daily quota (Google's
OAuth keeps its codes and grants in the `GoogleNetworkState` this extends)."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from t21.sandbox.google_oauth import GoogleNetworkState

SCOPE = "https://www.googleapis.com/auth/"
UPLOAD = SCOPE + "youtube.upload"
READONLY = SCOPE + "youtube.readonly"
ANALYTICS = SCOPE + "yt-analytics.readonly"
FULL = SCOPE + "youtube"
FORCE_SSL = SCOPE + "youtube.force-ssl"
KNOWN_SCOPES = frozenset({UPLOAD, READONLY, ANALYTICS, FULL, FORCE_SSL})
# Which scopes let a call through (Data API reference, "Authorization" of each method).
WRITE_SCOPES = frozenset({UPLOAD, FULL, SCOPE + "youtube.force-ssl"})
READ_SCOPES = frozenset({READONLY, FULL, SCOPE + "youtube.force-ssl"})
ANALYTICS_SCOPES = frozenset({ANALYTICS, SCOPE + "yt-analytics-monetary.readonly"})
# commentThreads.insert names youtube.force-ssl alone.
COMMENT_SCOPES = frozenset({FORCE_SSL})
# The longest comment the fake takes (commentTextTooLong past it).
MAX_COMMENT = 10_000
# The Analytics API's user-activity metrics of video reports the fake serves, and each one's
# dataType (https://developers.google.com/youtube/analytics/metrics).
REPORT_METRICS = {
    "views": "INTEGER", "redViews": "INTEGER", "comments": "INTEGER", "likes": "INTEGER",
    "dislikes": "INTEGER", "shares": "INTEGER", "estimatedMinutesWatched": "INTEGER",
    "estimatedRedMinutesWatched": "INTEGER", "averageViewDuration": "INTEGER",
    "averageViewPercentage": "FLOAT", "subscribersGained": "INTEGER",
    "subscribersLost": "INTEGER", "videosAddedToPlaylists": "INTEGER",
    "videosRemovedFromPlaylists": "INTEGER",
}  # fmt: skip
# The report's numbers that are the video's statistics unless set.
FROM_STATISTICS = {"views": "viewCount", "likes": "likeCount", "comments": "commentCount"}
DAILY_UNITS = 10_000
DAILY_UPLOADS = 100
DEFAULT_EMAIL = "sandbox.creator@example.com"
ID_ALPHABET = string.ascii_letters + string.digits + "-_"


def new_id(length: int, prefix: str = "") -> str:
    return prefix + "".join(secrets.choice(ID_ALPHABET) for _ in range(length))


@dataclass
class Channel:
    id: str
    title: str
    handle: str
    verified: bool = True
    videos: list[str] = field(default_factory=list)  # newest last

    @property
    def uploads(self) -> str:
        return "UU" + self.id[2:]


@dataclass
class User:
    email: str
    channels: list[str]  # the one consent picks first


@dataclass
class Session:
    """One resumable upload: its metadata, size and each byte range a chunk brought."""

    id: str
    channel: str
    resource: dict[str, Any]
    size: int
    content_type: str
    created_at: float
    received: int = 0
    ranges: list[tuple[int, int]] = field(default_factory=list)
    # Ranges that were sent again after being kept (never expected of a careful client).
    resent: list[tuple[int, int]] = field(default_factory=list)
    video: str | None = None


@dataclass
class YouTubeState(GoogleNetworkState):
    name: str = "youtube"
    users: dict[str, User] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Each video's comment threads (commentThread resources), oldest first.
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    next_user: str | None = None
    units_left: int = DAILY_UNITS
    uploads_left: int = DAILY_UPLOADS
    # After this many more chunks are kept, chunk PUTs answer 503 (nothing kept) `chunk_faults`
    # times: a connection failing mid-upload.
    chunks_before_fault: int | None = None
    chunk_faults: int = 0
    # Each video's Analytics report numbers set through `/_control`, and the videos reports
    # leave out (their data not in yet).
    analytics: dict[str, dict[str, float]] = field(default_factory=dict)
    unreported: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.forget()

    def add_user(self, email: str, channels: list[tuple[str, str]]) -> User:
        ids = []
        for title, handle in channels:
            channel = Channel(id=new_id(22, "UC"), title=title, handle=handle)
            self.channels[channel.id] = channel
            ids.append(channel.id)
        user = User(email=email, channels=ids)
        self.users[email] = user
        return user

    def forget(self) -> None:
        """Back to the starting world: one creator with one channel, a full quota."""
        self.users.clear()
        self.channels.clear()
        self.forget_consent()
        self.sessions.clear()
        self.videos.clear()
        self.comments.clear()
        self.next_user = None
        self.units_left, self.uploads_left = DAILY_UNITS, DAILY_UPLOADS
        self.chunks_before_fault, self.chunk_faults = None, 0
        self.analytics.clear()
        self.unreported.clear()
        self.add_user(DEFAULT_EMAIL, [("Sandbox Creator", "@sandboxcreator")])

    def consenting(self) -> str:
        """The channel a consent now grants: the first of the next user's (or the first's)."""
        user = self.users.get(self.next_user or "") or next(iter(self.users.values()))
        return user.channels[0]

    def user_of(self, channel_id: str) -> User | None:
        return next((u for u in self.users.values() if channel_id in u.channels), None)

    def reported(self, video_id: str) -> bool:
        return video_id in self.videos and video_id not in self.unreported

    def report_row(self, video_id: str, metrics: list[str]) -> list[float]:
        """The video's numbers for `metrics`, as its report row has them."""
        set_here = self.analytics.get(video_id, {})
        statistics = self.videos[video_id]["statistics"]
        row: list[float] = []
        for metric in metrics:
            if metric in set_here:
                row.append(set_here[metric])
            elif metric in FROM_STATISTICS:
                row.append(int(statistics.get(FROM_STATISTICS[metric], "0")))
            else:
                row.append(0.0 if REPORT_METRICS[metric] == "FLOAT" else 0)
        return row

    def spend(self, units: int) -> bool:
        """Charge `units` to the project's daily quota; False when it can't pay."""
        if self.units_left < units:
            return False
        self.units_left -= units
        return True

    def now(self) -> float:
        return time.time()
