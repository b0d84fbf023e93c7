"""What the Pinterest fake knows: its settings, the person who signs in, boards, codes, media
uploads and pins."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

from t21.sandbox.oauth import ControlError
from t21.sandbox.platform import NetworkState

SANDBOX_CLIENT_ID = "t21-sandbox"
SANDBOX_CLIENT_SECRET = "t21-sandbox-secret"  # noqa: S105 (the sandbox's public test client)
# The OAuth scopes of API v5 (`securitySchemes.pinterest_oauth2` of the reference).
KNOWN_SCOPES = frozenset(
    {
        "ads:read", "ads:write", "billing:read", "billing:write", "biz_access:read",
        "biz_access:write", "boards:read", "boards:read_secret", "boards:write",
        "boards:write_secret", "catalogs:read", "catalogs:write", "pins:read",
        "pins:read_secret", "pins:write", "pins:write_secret", "user_accounts:read",
        "user_accounts:write",
    }
)  # fmt: skip
CODE_TTL_S = 600
ACCESS_TTL_S = 30 * 24 * 3600  # 30 days
REFRESH_TTL_S = 60 * 24 * 3600  # continuous refresh: 60 days, refreshable again
RATE_WINDOW_S = 60.0
FIRST_ID = 1_100_000_000_000_000_000  # pin, board and media ids are digit strings


def _default_rate_limits() -> dict[str, int]:
    # Standard access, per user per app per minute (docs reference/rate-limits).
    return {"org_read": 1000, "org_write": 100, "org_analytics": 300}


@dataclass
class PinterestSettings:
    """What tests (and sandbox users) may change through `/_control/settings`."""

    access_ttl_s: int = ACCESS_TTL_S
    grant_scopes: list[str] | None = None  # the person grants only these on consent
    processing_polls: int = 1  # status reads answering "processing" once the upload is in
    fail_processing: bool = False  # the next uploaded video fails processing
    rate_limits: dict[str, int] = field(default_factory=_default_rate_limits)

    def update(self, body: dict[str, Any]) -> None:
        known = {item.name for item in fields(self)}
        for name, value in body.items():
            if name not in known:
                raise ControlError(f"Unknown setting `{name}`.")
            current = getattr(self, name)
            if name == "grant_scopes":
                if value is not None and not isinstance(value, list):
                    raise ControlError("`grant_scopes` must be a list or null.")
                self.grant_scopes = value
                continue
            kind = type(current)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ControlError(f"`{name}` must be a {kind.__name__}.")
            setattr(self, name, value)
        self.rate_limits = _default_rate_limits() | self.rate_limits


@dataclass
class User:
    id: str = "1116281818394112040"
    username: str = "t21sandbox"
    business_name: str = "T21 Sandbox"


@dataclass
class Board:
    id: str
    name: str
    owner: str  # the username of its owner
    privacy: str = "PUBLIC"
    collaborators: list[str] = field(default_factory=list)


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    issued_at: float
    used: bool = False


@dataclass
class Upload:
    """A registered media upload: the form fields its upload must carry, and its progress."""

    media_id: str
    user_id: str
    key: str
    policy: str
    status: str = "registered"
    size: int = 0
    polls: int = 0  # status reads while processing


@dataclass
class Pin:
    id: str
    user_id: str
    board_id: str
    description: str | None
    title: str | None
    link: str | None
    alt_text: str | None
    media_type: str
    created_at: float
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("IMPRESSION", "SAVE", "PIN_CLICK", "OUTBOUND_CLICK"), 0
        )
    )


def _default_boards() -> list[Board]:
    user = User()
    return [
        Board(id=str(FIRST_ID + 1), name="Recipes", owner=user.username),
        Board(id=str(FIRST_ID + 2), name="Home ideas", owner=user.username),
        # Someone else's board, that the person may not pin to.
        Board(id=str(FIRST_ID + 3), name="Not yours", owner="someone.else"),
    ]


@dataclass
class PinterestState(NetworkState):
    name: str = "pinterest"
    settings: PinterestSettings = field(default_factory=PinterestSettings)
    user: User = field(default_factory=User)
    clients: dict[str, str] = field(
        default_factory=lambda: {SANDBOX_CLIENT_ID: SANDBOX_CLIENT_SECRET}
    )
    codes: dict[str, AuthCode] = field(default_factory=dict)
    boards: list[Board] = field(default_factory=_default_boards)
    uploads: dict[str, Upload] = field(default_factory=dict)
    pins: list[Pin] = field(default_factory=list)  # oldest first
    calls: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    counter: int = 100

    def next_id(self) -> str:
        self.counter += 1
        return str(FIRST_ID + self.counter)

    def throttle_wait(self, user_id: str, category: str) -> float | None:
        """Count a call against the user's per-minute limit of `category`; the seconds until
        the window frees a call when it is used up, else None."""
        window = self.calls.setdefault((user_id, category), deque())
        now = time.time()
        while window and window[0] <= now - RATE_WINDOW_S:
            window.popleft()
        if len(window) >= self.settings.rate_limits.get(category, 1_000_000):
            return max(1.0, window[0] + RATE_WINDOW_S - now)
        window.append(now)
        return None

    def visible_boards(self, username: str) -> list[Board]:
        """The boards a person owns or collaborates on (what `GET /v5/boards` lists)."""
        return [b for b in self.boards if b.owner == username or username in b.collaborators]

    def pin(self, pin_id: str) -> Pin | None:
        return next((pin for pin in self.pins if pin.id == pin_id), None)

    def reset(self) -> None:
        super().reset()
        self.settings = PinterestSettings()
        self.user = User()
        self.codes.clear()
        self.boards = _default_boards()
        self.uploads.clear()
        self.pins.clear()
        self.calls.clear()
        self.counter = 100
