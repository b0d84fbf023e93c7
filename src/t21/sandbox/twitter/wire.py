"""How the X fake speaks: X API v2's error envelopes (problem+json, `{"errors": [...]}` and
OAuth's `{error, error_description}`), request parsing, ids, and the rate-limit headers every
API answer carries."""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEMS = "https://api.x.com/2/problems/"
PROBLEM_JSON = "application/problem+json"
# X's ids are snowflakes: milliseconds since the Twitter epoch, shifted past a sequence number.
TWITTER_EPOCH_MS = 1_288_834_974_657
WINDOW_S = 15 * 60
DAY_S = 24 * 60 * 60


@dataclass
class Refusal(Exception):
    """An error answer: its status, its body in one of X's envelopes, and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def about_blank(status: int, title: str, detail: str | None = None) -> Refusal:
    """The bare problem X answers 401, 403 and 5xx with, e.g.
    `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`."""
    return Refusal(
        status, {"title": title, "type": "about:blank", "status": status, "detail": detail or title}
    )


def unauthorized() -> Refusal:
    # X says the same for a missing, unknown, expired or revoked token.
    return about_blank(401, "Unauthorized")


def forbidden(detail: str) -> Refusal:
    """A 403 as X sends it for duplicates and actions the user may not take."""
    return about_blank(403, "Forbidden", detail)


def problem(status: int, kind: str, title: str, detail: str, **extra: Any) -> Refusal:
    body = {"title": title, "detail": detail, "type": PROBLEMS + kind, "status": status}
    return Refusal(status, body | extra)


def invalid_request(message: str, **parameters: Any) -> Refusal:
    """X's 400: the failed parameters in `errors`, and the generic invalid-request problem."""
    error: dict[str, Any] = {"message": message}
    if parameters:
        error["parameters"] = {name: [value] for name, value in parameters.items()}
    return Refusal(
        400,
        {
            "errors": [error],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": PROBLEMS + "invalid-request",
        },
    )


def missing_scope(scopes: list[str]) -> Refusal:
    # What X says for a token granted without an endpoint's scope is not in its docs
    # (PLATFORMS.md); postiz sees "Unsupported Authentication", so the fake answers that.
    return problem(
        403,
        "unsupported-authentication",
        "Unsupported Authentication",
        f"Your OAuth 2.0 User Context token lacks the scope(s) {', '.join(scopes)} "
        "this endpoint requires.",
    )


def not_found(resource_type: str, value: str, parameter: str) -> dict[str, Any]:
    """One entry of a 200's `errors` for an id X can't find (partial success on reads)."""
    return {
        "value": value,
        "detail": f"Could not find {resource_type} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": value,
        "type": PROBLEMS + "resource-not-found",
    }


def oauth_error(error: str, description: str, status: int = 400) -> Refusal:
    return Refusal(status, {"error": error, "error_description": description})


def rate_limited() -> Refusal:
    return Refusal(429, {"errors": [{"code": 88, "message": "Rate limit exceeded"}]})


def usage_capped() -> Refusal:
    return problem(
        429,
        "usage-capped",
        "UsageCapExceeded",
        "Usage cap exceeded: Monthly product cap",
        period="Monthly",
        scope="Product",
    )


async def refusal_response(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    media_type = PROBLEM_JSON if "type" in exc.body else "application/json"
    return JSONResponse(exc.body, exc.status, headers=exc.headers, media_type=media_type)


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body, or X's 400 for anything else."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise invalid_request("Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid_request("Request body must be a JSON object.")
    return body


def multipart_fields(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body by name (the fake has no multipart library;
    the standard library's MIME parser reads form-data as well)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, bytes] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload
    return fields


class Snowflakes:
    """Ids that grow with time, 19 digits like X's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> str:
        with self._lock:
            value = (int(time.time() * 1000) - TWITTER_EPOCH_MS) << 22
            self._last = max(value, self._last + 1)
            return str(self._last)

    # Kept in the sandbox's state file (`t21.sandbox.persistence`): the lock is not.
    def __getstate__(self) -> dict[str, int]:
        return {"last": self._last}

    def __setstate__(self, saved: dict[str, int]) -> None:
        self._lock = threading.Lock()
        self._last = saved["last"]


# --- rate limits ---------------------------------------------------------------------------------


@dataclass
class Window:
    limit: int
    remaining: int
    reset: float


# Per-user requests per 15 minutes (PLATFORMS.md's table). /2/users/{id}/tweets and
# /2/media/metadata aren't in it: 900 and 500 are the documented numbers of similar reads and
# uploads (unconfirmed).
USER_LIMITS = {
    "tweets:create": 100,
    "tweets:delete": 50,
    "tweets:lookup": 5000,
    "tweets:analytics": 300,
    "users:me": 75,
    "users:timeline": 900,
    "media:initialize": 1875,
    "media:append": 1875,
    "media:finalize": 1875,
    "media:status": 1000,
    "media:metadata": 500,
}
APP_TWEETS_PER_DAY = 10_000


def bucket(method: str, path: str) -> str | None:
    """The rate-limit bucket of an API request, None for requests without one (OAuth, pages)."""
    parts = path.strip("/").split("/")
    if parts[:1] != ["2"] or parts[1:2] == ["oauth2"]:
        return None
    if parts[1:] == ["tweets"]:
        return "tweets:create" if method == "POST" else "tweets:lookup"
    if parts[1:] == ["tweets", "analytics"]:
        return "tweets:analytics"
    if parts[1:2] == ["tweets"] and method == "DELETE":
        return "tweets:delete"
    if parts[1:] == ["users", "me"]:
        return "users:me"
    if parts[1:2] == ["users"] and parts[3:] == ["tweets"]:
        return "users:timeline"
    if parts[1:] == ["media", "upload"]:
        return "media:status"
    if parts[1:] == ["media", "metadata"]:
        return "media:metadata"
    if parts[1:3] == ["media", "upload"]:
        return f"media:{parts[-1]}"
    return None


class RateLimitMiddleware:
    """Counts every API request against its user's 15-minute window (and posts against the
    app's 24-hour one), answers 429 once one is spent, and sends X's `x-rate-limit-*` (and
    `x-app-limit-24hour-*`) headers on every answer. A usage-capped app gets 429 usage-capped.

    `caller(request scope)` names the user and the app of the request's token, if any."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Callable[[], dict[str, int]],
        caller: Callable[[Scope], tuple[str, str] | None],
        usage_capped: Callable[[], bool],
        windows: dict[tuple[str, str], Window],
    ) -> None:
        self.app = app
        self.limits = limits
        self.caller = caller
        self.usage_capped = usage_capped
        self.windows = windows

    def _take(self, key: tuple[str, str], limit: int, length_s: float) -> Window:
        now = time.time()
        window = self.windows.get(key)
        if window is None or now >= window.reset or window.limit != limit:
            window = Window(limit=limit, remaining=limit, reset=now + length_s)
            self.windows[key] = window
        if window.remaining > 0:
            window.remaining -= 1
            window.limit = limit
            return window
        return Window(limit, -1, window.reset)  # spent: -1 marks the refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = bucket(scope["method"], route_path(scope)) if scope["type"] == "http" else None
        who = self.caller(scope) if name is not None else None
        if name is None or who is None:
            await self.app(scope, receive, send)
            return
        user, client = who
        limits = self.limits()
        user_window = self._take((name, user), limits[name], WINDOW_S)
        headers = _headers("x-rate-limit", user_window)
        spent = user_window.remaining < 0
        if name == "tweets:create" and not spent:
            app_window = self._take(("app:tweets", client), limits["app:tweets"], DAY_S)
            headers |= _headers("x-app-limit-24hour", app_window)
            spent = app_window.remaining < 0
        refusal = usage_capped() if self.usage_capped() else rate_limited() if spent else None
        if refusal is not None:
            answer = JSONResponse(refusal.body, refusal.status, headers=headers)
            await answer(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.encode(), v.encode()) for k, v in headers.items()),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


def route_path(scope: Scope) -> str:
    """The request's path inside this app: mounted (at `/twitter` in the sandbox), Starlette
    keeps the whole path in `path` and the mount's prefix in `root_path`."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _headers(prefix: str, window: Window) -> dict[str, str]:
    return {
        f"{prefix}-limit": str(window.limit),
        f"{prefix}-remaining": str(max(window.remaining, 0)),
        f"{prefix}-reset": str(int(window.reset)),
    }
