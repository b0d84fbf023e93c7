"""Answers in Google's error envelope and the checks the Data API's endpoints share: the bearer
token, its scopes and the project's daily quota."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from t21.sandbox.platform import IssuedToken, bearer
from t21.sandbox.youtube.state import YouTubeState

QUOTA_MESSAGE = "The request cannot be completed because you have exceeded your quota."


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status, self.reason, self.message = status, reason, message


async def api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    domain = "youtube.quota" if exc.reason == "quotaExceeded" else "youtube.api"
    body = {
        "error": {
            "code": exc.status,
            "message": exc.message,
            "errors": [{"domain": domain, "reason": exc.reason, "message": exc.message}],
        }
    }
    return JSONResponse(body, status_code=exc.status)


def quota_exceeded() -> ApiError:
    return ApiError(403, "quotaExceeded", QUOTA_MESSAGE)


def authorized(
    state: YouTubeState, request: Request, scopes: frozenset[str], units: int
) -> IssuedToken:
    """The request's usable access token, holding one of `scopes`, with `units` of the day's
    quota charged for the call."""
    token = state.token(bearer(request))
    if token is None:
        raise ApiError(401, "authError", "Invalid Credentials")
    if not token.scopes & scopes:
        raise ApiError(403, "insufficientPermissions", "Request had insufficient scopes.")
    if not state.spend(units):
        raise quota_exceeded()
    return token


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
