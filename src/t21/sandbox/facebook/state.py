"""The Facebook fake's world: the signed-in user, their Pages, tokens, posts, photos and videos,
and the Graph error envelope it answers with."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from t21.core.tls import tls_context
from t21.sandbox.platform import IssuedToken, NetworkState, bearer

SHORT_TOKEN_TTL_S = 2 * 3600  # "short-lived user and page tokens last hours"
LONG_TOKEN_TTL_S = 5_184_000  # 60 days, from fb_exchange_token
CODE_TTL_S = 600
MAX_MESSAGE = 63_206
MAX_PHOTO_BYTES = 4_000_000  # photos must be smaller (error 1366046)
MIN_VIDEO_BYTES = 1024  # subcode 1363022
MAX_VIDEO_BYTES = 2_000_000_000  # subcode 1363023
REELS_PER_DAY = 30
REELS_WINDOW_S = 24 * 3600
DEFAULT_PROCESSING_POLLS = 2
MIN_FANS_FOR_INSIGHTS = 100
DEFAULT_USER_ID = "100095000000001"
DEFAULT_USER_NAME = "Sandbox User"
FIRST_OBJECT_ID = 122_100_000_000_000_000
PERMISSIONS = (
    "pages_show_list",
    "pages_manage_posts",
    "pages_read_engagement",
    "pages_manage_engagement",
    "pages_read_user_engagement",
    "read_insights",
    "publish_video",
    "business_management",
    "public_profile",
)
PAGE_TASKS = ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"]


class GraphError(Exception):
    """A Graph API error answer: `{"error": {message, type, code, error_subcode?, ...}}`. HTTP
    400, or 500 for codes 1 and 2 (PLATFORMS.md §1: the status per code is unconfirmed)."""

    def __init__(
        self,
        message: str,
        code: int,
        *,
        subcode: int | None = None,
        kind: str = "OAuthException",
        user_title: str | None = None,
        user_msg: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.kind = kind
        self.user_title = user_title
        self.user_msg = user_msg
        self.headers = headers or {}

    def response(self) -> Response:
        error: dict[str, Any] = {"message": self.message, "type": self.kind, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.user_title:
            error |= {"is_transient": False, "error_user_title": self.user_title}
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = "A" + hashlib.sha256(self.message.encode()).hexdigest()[:22]
        status = 500 if self.code in (1, 2) else 400
        return JSONResponse({"error": error}, status_code=status, headers=self.headers)


def no_object(node: str, method: str = "get") -> GraphError:
    return GraphError(
        f"Unsupported {method} request. Object with ID '{node}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read "
        "the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        100,
        subcode=33,
        kind="GraphMethodException",
    )


def graph_time(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(at))


@dataclass
class FakePage:
    id: str
    name: str
    fan_count: int = 1200

    def picture(self, base: str) -> dict[str, Any]:
        url = f"{base}/_media/pages/{self.id}.png"
        return {"data": {"height": 50, "width": 50, "is_silhouette": False, "url": url}}


@dataclass
class FakePost:
    id: str
    page_id: str
    kind: str  # status, link, photo, album, video, reel
    message: str | None
    link: str | None
    created_time: float
    permalink_url: str
    media: list[str] = field(default_factory=list)
    video_id: str | None = None
    # {id, message, from: {id, name}, created_time}, oldest first.
    comments: list[dict[str, Any]] = field(default_factory=list)
    shares: int = 0
    # Insights values by metric name once Facebook "has data"; None until then.
    insights: dict[str, Any] | None = None
    is_published: bool = True
    scheduled_for: float | None = None

    def visible(self, now: float) -> bool:
        """Listed on the Page: published, or scheduled for a time that has come."""
        return self.is_published or (self.scheduled_for is not None and self.scheduled_for <= now)


@dataclass
class FakePhoto:
    id: str
    page_id: str
    url: str
    published: bool
    attached: bool = False


@dataclass
class FakeVideo:
    """A video or reel. `phase`: created (a reel session) → uploaded → processing → ready or
    error; `polls_left` status reads answer `processing` before the outcome shows."""

    id: str
    page_id: str
    kind: str  # video or reel
    phase: str = "created"
    polls_left: int = 0
    outcome: str = "ready"
    description: str | None = None
    file_url: str | None = None
    published_at: float | None = None
    post_id: str | None = None
    permalink_url: str | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)
    likes: int = 0
    views: int | None = None
    record: dict[str, Any] | None = None

    def poll(self) -> None:
        if self.phase != "processing":
            return
        if self.polls_left > 0:
            self.polls_left -= 1
            return
        self.phase = self.outcome
        if self.record is not None:
            self.record["status"] = self.outcome

    def status(self) -> dict[str, Any]:
        uploaded = self.phase != "created"
        published = self.published_at is not None
        processing = {"ready": "complete", "error": "error", "processing": "in_progress"}
        status: dict[str, Any] = {
            "video_status": {"created": "processing", "uploaded": "upload_complete"}.get(
                self.phase, self.phase
            ),
            "uploading_phase": {"status": "complete" if uploaded else "not_started"},
            "processing_phase": {"status": processing.get(self.phase, "not_started")},
            "publishing_phase": {
                "status": "complete" if published and self.phase == "ready" else "not_started",
                "publish_status": "published" if published else "not_published",
            },
        }
        if self.phase == "error":
            status["processing_phase"]["errors"] = [
                {"code": 1363008, "message": "The video file is corrupt or its format is not "
                 "supported, so it could not be processed."}
            ]  # fmt: skip
        return status


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    issued_at: float
    used: bool = False


def _default_pages() -> dict[str, FakePage]:
    pages = [
        FakePage("101950000000001", "Sandbox Bakery", fan_count=1200),
        FakePage("101950000000002", "Sandbox Studio", fan_count=40),
    ]
    return {page.id: page for page in pages}


@dataclass
class FacebookState(NetworkState):
    """The sandbox user, their Pages and everything published on them."""

    name: str = "facebook"
    user_id: str = DEFAULT_USER_ID
    user_name: str = DEFAULT_USER_NAME
    pages: dict[str, FakePage] = field(default_factory=_default_pages)
    declined: set[str] = field(default_factory=set)
    processing_polls: int = DEFAULT_PROCESSING_POLLS
    video_outcome: str = "ready"
    reels_per_day: int = REELS_PER_DAY
    codes: dict[str, AuthCode] = field(default_factory=dict)
    posts: dict[str, FakePost] = field(default_factory=dict)
    photos: dict[str, FakePhoto] = field(default_factory=dict)
    videos: dict[str, FakeVideo] = field(default_factory=dict)
    last_id: int = FIRST_OBJECT_ID

    def new_id(self) -> str:
        self.last_id += 1
        return str(self.last_id)

    def reset(self) -> None:
        super().reset()
        self.pages = _default_pages()
        self.declined = set()
        self.processing_polls = DEFAULT_PROCESSING_POLLS
        self.video_outcome = "ready"
        self.reels_per_day = REELS_PER_DAY
        self.codes.clear()
        self.posts.clear()
        self.photos.clear()
        self.videos.clear()
        self.last_id = FIRST_OBJECT_ID

    # --- who is calling ----------------------------------------------------------------

    def caller(self, request: Request, params: dict[str, Any]) -> IssuedToken:
        """The usable token of this request, or Graph's answer for a missing, unknown,
        expired or revoked one."""
        value = bearer(request) or params.get("access_token")
        if not isinstance(value, str) or not value:
            raise GraphError(
                "An active access token must be used to query information about the current user.",
                2500,
            )
        token = self.tokens.get(value)
        if token is None or token.kind not in ("user", "page"):
            raise GraphError("Invalid OAuth access token - Cannot parse access token", 190)
        if token.revoked:
            raise GraphError(
                "Error validating access token: The user has not authorized application "
                f"{token.client_id}.",
                190,
                subcode=458,
            )
        if token.expires_at is not None and time.time() >= token.expires_at:
            raise GraphError(
                f"Error validating access token: Session has expired on "
                f"{graph_time(token.expires_at)}. The current time is {graph_time(time.time())}.",
                190,
                subcode=463,
            )
        return token

    def user_caller(self, request: Request, params: dict[str, Any], node: str) -> IssuedToken:
        token = self.caller(request, params)
        if token.kind != "user" or node not in ("me", self.user_id):
            raise no_object(node)
        return token

    def page_caller(
        self, request: Request, params: dict[str, Any], node: str, *needs: str
    ) -> tuple[IssuedToken, FakePage]:
        """A Page token of this very Page, holding the permissions `needs`."""
        token = self.caller(request, params)
        page = self.pages.get(token.account_id if node == "me" else node)
        if page is None:
            raise no_object(node)
        if token.kind != "page" or token.account_id != page.id:
            raise GraphError(
                "(#200) If posting to a page, requires both pages_read_engagement and "
                "pages_manage_posts as an admin with sufficient administrative permission",
                200,
            )
        missing = [name for name in needs if name not in token.scopes]
        if missing:
            raise GraphError(f"(#200) Requires {missing[0]} permission to manage the object", 200)
        return token, page

    def owner(self, node: str) -> str | None:
        """The Page a post, photo or video belongs to."""
        for objects in (self.posts, self.photos, self.videos):
            found = objects.get(node)
            if found is not None:
                return str(found.page_id)
        return None


# --- requests ------------------------------------------------------------------------------


async def graph_params(request: Request) -> dict[str, Any]:
    """Graph reads parameters from the query string and from a form or JSON body alike."""
    values: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type == "application/json":
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            raise GraphError("(#100) Invalid JSON in the request body", 100) from None
        if isinstance(body, dict):
            values.update(body)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        values.update({name: value for name, value in form.items() if isinstance(value, str)})
    return values


def flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1")


def requested_fields(params: dict[str, Any], default: str) -> dict[str, str]:
    """`fields` by name, each with its whole spec (`comments.summary(true).limit(0)`)."""
    raw = str(params.get("fields") or default)
    specs: list[str] = []
    depth, current = 0, ""
    for char in raw:
        depth += (char in "({") - (char in ")}")
        if char == "," and depth == 0:
            specs.append(current)
            current = ""
        else:
            current += char
    specs.append(current)
    named: dict[str, str] = {}
    for spec in (spec.strip() for spec in specs):
        if spec:
            named[spec.split(".")[0].split("{")[0].split("(")[0]] = spec
    return named


def pick(available: dict[str, Any], fields: dict[str, str], node_type: str) -> dict[str, Any]:
    """The requested fields of an object; `None` values are left out, as Graph does."""
    picked: dict[str, Any] = {}
    for name in fields:
        if name not in available:
            raise GraphError(
                f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})",
                100,
            )
        if available[name] is not None:
            picked[name] = available[name]
    return picked


def summary_edge(count: int, spec: str | None) -> dict[str, Any]:
    edge: dict[str, Any] = {"data": []}
    if spec and "summary(true)" in spec:
        edge["summary"] = {"order": "ranked", "total_count": count, "can_comment": True}
    return edge


def app_usage() -> dict[str, str]:
    return {"x-app-usage": json.dumps({"call_count": 1, "total_cputime": 1, "total_time": 1})}


def answer(body: dict[str, Any]) -> Response:
    return JSONResponse(body, headers=app_usage())


# --- media ---------------------------------------------------------------------------------


async def download(url: Any) -> bytes | None:
    """Fetch media as Facebook does from a public URL; None when it can't be had."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        return None
    try:
        async with httpx.AsyncClient(
            timeout=10, follow_redirects=True, verify=tls_context()
        ) as client:
            response = await client.get(url)
    except httpx.HTTPError:
        return None
    return response.content if response.status_code == 200 else None


def image_type(data: bytes) -> str | None:
    """Facebook goes by the bytes, not the declared type."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


def is_video(data: bytes) -> bool:
    """MP4 and QuickTime files open with an `ftyp` box."""
    return data[4:8] == b"ftyp"


def unix_time(value: Any) -> float | None:
    """A `since`/`until`/`scheduled_publish_time` given as Unix seconds."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise GraphError(f"(#100) Invalid time: {value}", 100) from None


# A post's insights the sandbox grows as it ages (reactions by type grow as "like").
GROWN_INSIGHTS = ("post_total_media_view_unique", "post_media_view", "post_clicks")


def grow_insights(state: FacebookState, post: FakePost) -> None:
    """When the sandbox grows numbers (`NetworkState.grow`, shared by every fake), raise the
    post's insights to what it has grown to; numbers set through the control stay if higher."""
    if not state.grow_metrics:
        return
    insights = dict(post.insights or {})
    flat = {name: int(insights.get(name) or 0) for name in GROWN_INSIGHTS}
    state.grow(flat, post_key=post.id, published_at=post.created_time, names=GROWN_INSIGHTS)
    reactions = dict(insights.get("post_reactions_by_type_total") or {})
    state.grow(reactions, post_key=post.id, published_at=post.created_time, names=("like",))
    post.insights = {**insights, **flat, "post_reactions_by_type_total": reactions}
