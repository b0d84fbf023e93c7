"""The Instagram fake as one app: the login host (`/oauth/authorize`, `/oauth/access_token`),
the Graph host (everything else), permalink pages and `/_control`."""

from __future__ import annotations

import html
import struct
import zlib
from dataclasses import asdict
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.instagram.graph import GraphApi
from t21.sandbox.instagram.state import (
    BASIC,
    CODE_TTL_S,
    KNOWN_SCOPES,
    InstagramState,
    Outcome,
    oauth_error,
)
from t21.sandbox.meta.host import Login, form_body
from t21.sandbox.meta.state import AuthCode
from t21.sandbox.meta.wire import graph_time
from t21.sandbox.oauth import ControlError, control_body, control_error, optional
from t21.sandbox.platform import FaultMiddleware, IssuedToken, control_routes

OUTCOMES = ("FINISHED", "ERROR", "EXPIRED", "IN_PROGRESS")
INSIGHT_STATES = ("values", "empty", "not_enough_viewers")


class InstagramLogin(Login):
    """Instagram Login's host: its refusals are `{error_type, code, error_message}`, its token
    answer lists the permissions granted."""

    basic_scope: ClassVar[str] = BASIC
    known_scopes: ClassVar[frozenset[str]] = KNOWN_SCOPES
    code_ttl_s: ClassVar[float] = CODE_TTL_S

    def refuse_window(self, error: str, message: str) -> Response:
        return oauth_error(message)

    def refuse_code(self, message: str) -> Response:
        return oauth_error(message)

    async def exchange_form(self, request: Request) -> dict[str, str]:
        return await form_body(request)

    def token_answer(self, grant: AuthCode, token: IssuedToken) -> dict[str, Any]:
        return super().token_answer(grant, token) | {"permissions": sorted(grant.scopes)}


def create_instagram_app(state: InstagramState | None = None) -> Starlette:
    """The fake, served at a root (tests) or mounted at `/instagram` (the sandbox)."""
    state = state or InstagramState()
    graph = GraphApi(state)

    login = InstagramLogin(state, lambda: next(iter(state.accounts.values())).user_id)

    async def post_page(request: Request) -> Response:
        wanted = request.path_params["code"]
        for media in state.media.values():
            if wanted in (media.shortcode, media.id):
                caption = html.escape(media.caption or "")
                return HTMLResponse(
                    f"<!doctype html><title>Instagram</title><p>{caption}</p>"
                    f"<p>{media.media_type} · {graph_time(media.timestamp)}</p>"
                )
        return HTMLResponse("<!doctype html><p>Sorry, this page isn't available.</p>", 404)

    async def profile_picture(_request: Request) -> Response:
        return Response(_PICTURE, media_type="image/png")

    async def control_config(request: Request) -> Response:
        if request.method == "POST":
            _configure(state, await control_body(request))
        return JSONResponse(state.config())

    async def control_outcome(request: Request) -> Response:
        body = await control_body(request)
        status_code = optional(body, "status_code", str)
        if status_code not in OUTCOMES:
            raise ControlError(f"`status_code` must be one of {', '.join(OUTCOMES)}.")
        count = optional(body, "count", int) or 1
        subcode = optional(body, "error_subcode", int)
        state.outcomes.extend(Outcome(status_code, subcode) for _ in range(count))
        return JSONResponse({"queued": len(state.outcomes)})

    async def control_insights(request: Request) -> Response:
        body = await control_body(request)
        media = state.media.get(optional(body, "media_id", str) or "")
        if media is None:
            raise ControlError("No published media has this `media_id`.", 404)
        insights = optional(body, "state", str) or "values"
        if insights not in INSIGHT_STATES:
            raise ControlError(f"`state` must be one of {', '.join(INSIGHT_STATES)}.")
        values = optional(body, "values", dict) or {}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values.values()):
            raise ControlError("`values` maps metric names to integers.")
        media.insights, media.values = insights, {**media.values, **values}
        return JSONResponse({"media_id": media.id, "state": media.insights, "values": values})

    async def control_media(_request: Request) -> Response:
        return JSONResponse({"media": [asdict(media) for media in state.media.values()]})

    app = Starlette(
        routes=[
            *control_routes(state),
            Route("/_control/config", control_config, methods=["GET", "POST"]),
            Route("/_control/containers/outcome", control_outcome, methods=["POST"]),
            Route("/_control/insights", control_insights, methods=["POST"]),
            Route("/_control/media", control_media, methods=["GET"]),
            Route("/oauth/authorize", login.authorize, methods=["GET"]),
            Route("/oauth/access_token", login.access_token, methods=["POST"]),
            Route("/p/{code}/", post_page, methods=["GET"]),
            Route("/reel/{code}/", post_page, methods=["GET"]),
            Route("/stories/{username}/{code}/", post_page, methods=["GET"]),
            Route("/profile_pictures/{name}", profile_picture, methods=["GET"]),
            Route("/{rest:path}", graph.handle, methods=["GET", "POST"]),
        ],
        middleware=[Middleware(FaultMiddleware, state=state)],
        exception_handlers={ControlError: control_error},
    )
    app.state.instagram = state
    return app


def _configure(state: InstagramState, body: dict[str, Any]) -> None:
    state.configure(body)
    for name in ("image_processing_s", "video_processing_s"):
        seconds = body.get(name)
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise ControlError(f"`{name}` must be a non-negative number of seconds.")
            setattr(state, name, float(seconds))
    insights = optional(body, "insights_default", str)
    if insights is not None:
        if insights not in INSIGHT_STATES:
            raise ControlError(f"`insights_default` must be one of {', '.join(INSIGHT_STATES)}.")
        state.insights_default = insights


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xc0" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


_PICTURE = _png(16, 16)
