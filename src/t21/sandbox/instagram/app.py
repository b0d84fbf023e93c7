"""The Instagram fake as one app: the login host (`/oauth/authorize`, `/oauth/access_token`),
the Graph host (everything else), permalink pages and `/_control`."""

from __future__ import annotations

import html
import secrets
import struct
import zlib
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl

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
    AuthCode,
    InstagramState,
    Outcome,
    now,
    oauth_error,
)
from t21.sandbox.instagram.wire import graph_time
from t21.sandbox.oauth import (
    ControlError,
    acceptable_redirect_uri,
    control_body,
    control_error,
    optional,
    parameters,
    redirect_to,
)
from t21.sandbox.platform import FaultMiddleware, control_routes

OUTCOMES = ("FINISHED", "ERROR", "EXPIRED", "IN_PROGRESS")
INSIGHT_STATES = ("values", "empty", "not_enough_viewers")


def create_instagram_app(state: InstagramState | None = None) -> Starlette:
    """The fake, served at a root (tests) or mounted at `/instagram` (the sandbox)."""
    state = state or InstagramState()
    graph = GraphApi(state)

    async def authorize(request: Request) -> Response:
        params = parameters(request.query_params.multi_items())
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        if not client_id or client_id not in state.clients:
            return oauth_error("Invalid platform app")
        if not redirect_uri or not acceptable_redirect_uri(redirect_uri):
            return oauth_error("Invalid redirect_uri")
        if params.get("response_type") != "code":
            return oauth_error("Invalid response_type: it must be code")
        requested = {name for name in params.get("scope", "").replace(" ", ",").split(",") if name}
        unknown = sorted(requested - KNOWN_SCOPES)
        if unknown:
            return oauth_error(f"Invalid scope: [{', '.join(unknown)}]")
        if BASIC not in requested:
            return oauth_error(f"Invalid scope: {BASIC} is required")
        account = next(iter(state.accounts.values()))
        code = "AQ" + secrets.token_urlsafe(48)
        state.codes[code] = AuthCode(
            client_id=client_id,
            redirect_uri=redirect_uri,
            account_id=account.user_id,
            scopes=frozenset(requested - state.withheld_scopes),
            issued_at=now(),
        )
        response = redirect_to(redirect_uri, {"code": code, "state": params.get("state")})
        # Meta appends `#_` to the redirect.
        response.headers["location"] = response.headers["location"] + "#_"
        return response

    async def access_token(request: Request) -> Response:
        """`POST /oauth/access_token`: an authorization code for a 1 h token."""
        raw = (await request.body()).decode("utf-8", errors="replace")
        form = parameters(parse_qsl(raw))
        for name in ("client_id", "client_secret", "grant_type", "redirect_uri", "code"):
            if name not in form:
                return oauth_error(f"Missing required field {name}")
        if state.clients.get(form["client_id"]) != form["client_secret"]:
            return oauth_error("Invalid Client Secret")
        if form["grant_type"] != "authorization_code":
            return oauth_error("Unsupported grant_type")
        grant = state.codes.get(form["code"])
        if (
            grant is None
            or grant.used
            or grant.client_id != form["client_id"]
            or now() - grant.issued_at > CODE_TTL_S
        ):
            return oauth_error("Matching code was not found or was already used.")
        grant.used = True
        if grant.redirect_uri != form["redirect_uri"]:
            return oauth_error(
                "Error validating verification code. Please make sure your redirect_uri is "
                "identical to the one you used in the OAuth dialog request"
            )
        token = state.issue_token(grant.account_id, grant.client_id, grant.scopes, long=False)
        return JSONResponse(
            {
                "access_token": token.value,
                "user_id": int(grant.account_id),
                "permissions": sorted(grant.scopes),
            }
        )

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
            Route("/oauth/authorize", authorize, methods=["GET"]),
            Route("/oauth/access_token", access_token, methods=["POST"]),
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
    quota = optional(body, "quota_total", int)
    if quota is not None:
        if quota < 1:
            raise ControlError("`quota_total` must be positive (Instagram uses 25, 50 or 100).")
        state.quota_total = quota
    polls = optional(body, "processing_polls", int)
    if polls is not None:
        if polls < 0:
            raise ControlError("`processing_polls` can't be negative.")
        state.processing_polls = polls
    for name in ("image_processing_s", "video_processing_s"):
        seconds = body.get(name)
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise ControlError(f"`{name}` must be a non-negative number of seconds.")
            setattr(state, name, float(seconds))
    age = body.get("refresh_min_age_s")
    if age is not None:
        if isinstance(age, bool) or not isinstance(age, int | float) or age < 0:
            raise ControlError("`refresh_min_age_s` must be a non-negative number.")
        state.refresh_min_age_s = float(age)
    insights = optional(body, "insights_default", str)
    if insights is not None:
        if insights not in INSIGHT_STATES:
            raise ControlError(f"`insights_default` must be one of {', '.join(INSIGHT_STATES)}.")
        state.insights_default = insights
    withheld = optional(body, "withheld_scopes", list)
    if withheld is not None:
        state.withheld_scopes = {str(name) for name in withheld}


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
