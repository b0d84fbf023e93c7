"""Answers in Pinterest's shapes and the checks every API endpoint shares: the bearer token
and its scopes, per-minute rate limits, JSON bodies and bookmark pages."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from t21.sandbox.pinterest.state import PinterestState
from t21.sandbox.platform import IssuedToken, bearer

MAX_PAGE_SIZE = 250
DEFAULT_PAGE_SIZE = 25


@dataclass
class PinterestError(Exception):
    """A refusal: `{"code", "message"}` with `status`, and headers (a 429's reset)."""

    status: int
    code: int
    message: str
    headers: dict[str, str] | None = None


async def pinterest_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PinterestError)
    body = {"code": exc.code, "message": exc.message}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def invalid(message: str) -> PinterestError:
    return PinterestError(400, 1, message)


def authorized(state: PinterestState, request: Request, category: str, *scopes: str) -> IssuedToken:
    """The request's usable access token, holding every one of `scopes`, within the rate
    limit of `category`."""
    token = state.token(bearer(request))
    if token is None:
        raise PinterestError(401, 2, "Authentication failed.")
    missing = [scope for scope in scopes if scope not in token.scopes]
    if missing:
        raise PinterestError(
            403, 29, f"You are not permitted to access that resource ({', '.join(missing)})."
        )
    wait = state.throttle_wait(token.account_id, category)
    if wait is not None:
        raise PinterestError(
            429,
            8,
            "You have exceeded your rate limit. Try again later.",
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(wait) + 1)},
        )
    return token


async def json_object(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/json":
        raise invalid("The request body must be application/json.")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


def page(request: Request, items: list[dict[str, Any]]) -> JSONResponse:
    """One bookmark page of `items`: `page_size` 1-250 (25 by default), the bookmark an
    opaque offset."""
    raw = request.query_params.get("page_size", str(DEFAULT_PAGE_SIZE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise invalid(f"page_size must be between 1 and {MAX_PAGE_SIZE}.")
    size = int(raw)
    start = 0
    bookmark = request.query_params.get("bookmark")
    if bookmark:
        try:
            start = int(base64.urlsafe_b64decode(bookmark.encode()).decode())
        except ValueError:
            raise invalid("Invalid bookmark.") from None
    chunk = items[start : start + size]
    following = start + size
    token = base64.urlsafe_b64encode(str(following).encode()).decode()
    return JSONResponse({"items": chunk, "bookmark": token if following < len(items) else None})


def text_field(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string.")
    if len(value) > limit:
        raise invalid(f"{name} is longer than {limit} characters.")
    return value
