"""Answers in TikTok's shapes, and the checks every API endpoint shares."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from t21.sandbox.oauth import base_url
from t21.sandbox.platform import IssuedToken, bearer, character_count
from t21.sandbox.tiktok.state import Creator, TikTokState, log_id

# A tiny JPEG for the creator's avatar URL.
AVATAR_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


@dataclass
class TikTokError(Exception):
    """An API refusal: `{"data": {}, "error": {code, message, log_id}}` with `status`."""

    status: int
    code: str
    message: str


@dataclass
class OAuthRefusal(Exception):
    """A refusal of the OAuth endpoints, which answer flat: `{error, error_description,
    log_id}`. Their HTTP status is not documented; 400 (401 for a bad client) is assumed."""

    error: str
    description: str
    status: int = 400


def ok(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"data": data, "error": {"code": "ok", "message": "", "log_id": log_id()}})


async def tiktok_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TikTokError)
    body = {"data": {}, "error": {"code": exc.code, "message": exc.message, "log_id": log_id()}}
    return JSONResponse(body, status_code=exc.status)


async def oauth_refusal(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthRefusal)
    body = {"error": exc.error, "error_description": exc.description, "log_id": log_id()}
    return JSONResponse(body, status_code=exc.status, headers={"cache-control": "no-store"})


def avatar_url(request: Request, creator: Creator) -> str:
    return f"{base_url(request)}/avatars/{creator.username}.jpeg"


def invalid_params(message: str) -> TikTokError:
    return TikTokError(400, "invalid_params", message)


def authorized(state: TikTokState, request: Request, *scopes: str) -> IssuedToken:
    """The request's usable access token holding one of `scopes`."""
    token = state.token(bearer(request))
    if token is None:
        raise TikTokError(
            401,
            "access_token_invalid",
            "The access token is invalid or not found in the request.",
        )
    if scopes and not token.scopes.intersection(scopes):
        raise TikTokError(
            401,
            "scope_not_authorized",
            f"The user did not authorize the scope required for this request: {scopes[0]}.",
        )
    return token


def throttle(state: TikTokState, token: IssuedToken, bucket: str) -> None:
    if not state.allow(token.value, bucket):
        raise TikTokError(
            429, "rate_limit_exceeded", "The API rate limit was exceeded. Please try again later."
        )


async def json_object(request: Request) -> dict[str, Any]:
    """A JSON request body, sent as TikTok's reference requires it
    (`Content-Type: application/json; charset=UTF-8`)."""
    raw = await request.body()
    if not raw:
        return {}
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/json":
        raise invalid_params("The request body must be sent as application/json.")
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid_params("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid_params("The request body must be a JSON object.")
    return body


def requested_fields(request: Request, known: set[str]) -> list[str]:
    raw = request.query_params.get("fields", "")
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if not names:
        raise invalid_params("The fields query parameter is required.")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise invalid_params(f"Invalid fields: {', '.join(unknown)}.")
    return names


def text_field(container: dict[str, Any], name: str, limit: int) -> str:
    value = container.get(name, "")
    if not isinstance(value, str):
        raise invalid_params(f"{name} must be a string.")
    if character_count(value) > limit:
        raise invalid_params(f"The {name} exceeds the maximum length of {limit} characters.")
    return value


def bool_field(container: dict[str, Any], name: str) -> bool:
    value = container.get(name, False)
    if not isinstance(value, bool):
        raise invalid_params(f"{name} must be a boolean.")
    return value


def int_field(container: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    value = container.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise invalid_params(f"{name} must be a non-negative integer.")
    return value
