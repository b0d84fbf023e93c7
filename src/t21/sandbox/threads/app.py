"""The Threads fake as one app: the authorization window (`/oauth/authorize`, threads.net's),
the code exchange (`POST /oauth/access_token`, graph.threads.net's), the Graph host, post pages
and `/_control`."""

from __future__ import annotations

import html
import secrets
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import (
    ControlError,
    acceptable_redirect_uri,
    control_body,
    control_error,
    error_page,
    optional,
    parameters,
    redirect_to,
)
from t21.sandbox.platform import FaultMiddleware, control_routes
from t21.sandbox.threads.graph import GraphApi
from t21.sandbox.threads.state import (
    BASIC,
    CODE_TTL_S,
    KNOWN_SCOPES,
    METRICS,
    AuthCode,
    GraphError,
    Outcome,
    ThreadsState,
    now,
)

OUTCOMES = ("FINISHED", "ERROR", "EXPIRED")
ERROR_MESSAGES = (
    "FAILED_DOWNLOADING_VIDEO", "FAILED_PROCESSING_AUDIO", "FAILED_PROCESSING_VIDEO",
    "INVALID_ASPEC_RATIO", "INVALID_BIT_RATE", "INVALID_DURATION", "INVALID_FRAME_RATE",
    "INVALID_AUDIO_CHANNELS", "INVALID_AUDIO_CHANNEL_LAYOUT", "UNKNOWN",
)  # fmt: skip
# The smallest valid PNG (1×1), for profile pictures.
_PICTURE = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d7"
    "63f8cfc000000301010018dd8db00000000049454e44ae426082"
)


def create_threads_app(state: ThreadsState | None = None) -> Starlette:
    """The fake, served at a root (tests) or mounted at `/threads` (the sandbox)."""
    state = state or ThreadsState()
    graph = GraphApi(state)

    async def authorize(request: Request) -> Response:
        params = parameters(request.query_params.multi_items())
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        if not client_id or client_id not in state.clients:
            return error_page("invalid_client", "Invalid platform app")
        if not redirect_uri or not acceptable_redirect_uri(redirect_uri):
            return error_page("invalid_request", "Invalid redirect_uri")
        if params.get("response_type") != "code":
            return error_page("invalid_request", "response_type must be code")
        requested = {name for name in params.get("scope", "").replace(" ", ",").split(",") if name}
        unknown = sorted(requested - KNOWN_SCOPES)
        if unknown:
            return error_page("invalid_scope", f"Invalid scope: {', '.join(unknown)}")
        if BASIC not in requested:
            return error_page("invalid_scope", f"{BASIC} is required")
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
        response.headers["location"] = response.headers["location"] + "#_"
        return response

    async def access_token(request: Request) -> Response:
        """`POST /oauth/access_token`: an authorization code for a 1 h token."""
        raw = (await request.body()).decode("utf-8", errors="replace")
        form = parameters([*request.query_params.multi_items(), *parse_qsl(raw)])
        try:
            for name in ("client_id", "client_secret", "grant_type", "redirect_uri", "code"):
                if name not in form:
                    raise GraphError(100, f"(#100) Missing required parameter {name}")
            if state.clients.get(form["client_id"]) != form["client_secret"]:
                raise GraphError(101, "Error validating client secret.")
            if form["grant_type"] != "authorization_code":
                raise GraphError(100, "(#100) Unsupported grant_type")
            grant = state.codes.get(form["code"])
            if (
                grant is None
                or grant.used
                or grant.client_id != form["client_id"]
                or now() - grant.issued_at > CODE_TTL_S
            ):
                raise GraphError(100, "(#100) Matching code was not found or was already used")
            grant.used = True
            if grant.redirect_uri != form["redirect_uri"]:
                raise GraphError(
                    100, "(#100) redirect_uri is not identical to the one used in the dialog"
                )
        except GraphError as exc:
            return JSONResponse(exc.body(state.trace()), status_code=exc.status)
        token = state.issue_token(grant.account_id, grant.client_id, grant.scopes, long=False)
        return JSONResponse({"access_token": token.value, "user_id": int(grant.account_id)})

    async def post_page(request: Request) -> Response:
        for post in state.posts.values():
            if post.shortcode == request.path_params["code"]:
                text = html.escape(post.text or "")
                return HTMLResponse(f"<!doctype html><title>Threads</title><p>{text}</p>")
        return HTMLResponse("<!doctype html><p>Sorry, this page isn't available.</p>", 404)

    async def profile_picture(_request: Request) -> Response:
        return Response(_PICTURE, media_type="image/png")

    async def control_config(request: Request) -> Response:
        if request.method == "POST":
            _configure(state, await control_body(request))
        return JSONResponse(state.config())

    async def control_outcome(request: Request) -> Response:
        """The next media containers end in `status` (with `error_message` for ERROR)."""
        body = await control_body(request)
        status = optional(body, "status", str)
        if status not in OUTCOMES:
            raise ControlError(f"`status` must be one of {', '.join(OUTCOMES)}.")
        error = optional(body, "error_message", str)
        if status == "ERROR" and error not in ERROR_MESSAGES:
            raise ControlError(f"`error_message` must be one of {', '.join(ERROR_MESSAGES)}.")
        count = optional(body, "count", int) or 1
        state.outcomes.extend(Outcome(status, error) for _ in range(count))
        return JSONResponse({"queued": len(state.outcomes)})

    async def control_insights(request: Request) -> Response:
        body = await control_body(request)
        post = state.posts.get(optional(body, "media_id", str) or "")
        if post is None:
            raise ControlError("No published post has this `media_id`.", 404)
        values = optional(body, "values", dict) or {}
        if not all(
            name in METRICS and isinstance(v, int) and not isinstance(v, bool)
            for name, v in values.items()
        ):
            raise ControlError(f"`values` maps metrics ({', '.join(METRICS)}) to integers.")
        post.values = {**post.values, **values}
        return JSONResponse({"media_id": post.id, "values": post.values})

    async def control_posts(_request: Request) -> Response:
        return JSONResponse({"posts": [asdict(post) for post in state.posts.values()]})

    return _app(
        state,
        graph,
        [
            Route("/_control/config", control_config, methods=["GET", "POST"]),
            Route("/_control/containers/outcome", control_outcome, methods=["POST"]),
            Route("/_control/insights", control_insights, methods=["POST"]),
            Route("/_control/posts", control_posts, methods=["GET"]),
            Route("/oauth/authorize", authorize, methods=["GET"]),
            Route("/oauth/access_token", access_token, methods=["POST"]),
            Route("/@{username}/post/{code}", post_page, methods=["GET"]),
            Route("/profile_pictures/{name}", profile_picture, methods=["GET"]),
        ],
    )


def _app(state: ThreadsState, graph: GraphApi, routes: list[Route]) -> Starlette:
    app = Starlette(
        routes=[
            *control_routes(state),
            *routes,
            Route("/{rest:path}", graph.handle, methods=["GET", "POST"]),
        ],
        middleware=[Middleware(FaultMiddleware, state=state)],
        exception_handlers={ControlError: control_error},
    )
    app.state.threads = state
    return app


def _configure(state: ThreadsState, body: dict[str, Any]) -> None:
    quota = optional(body, "quota_total", int)
    if quota is not None:
        if quota < 1:
            raise ControlError("`quota_total` must be positive (Threads uses 250).")
        state.quota_total = quota
    polls = optional(body, "processing_polls", int)
    if polls is not None:
        if polls < 0:
            raise ControlError("`processing_polls` can't be negative.")
        state.processing_polls = polls
    age = body.get("refresh_min_age_s")
    if age is not None:
        if isinstance(age, bool) or not isinstance(age, int | float) or age < 0:
            raise ControlError("`refresh_min_age_s` must be a non-negative number.")
        state.refresh_min_age_s = float(age)
    withheld = optional(body, "withheld_scopes", list)
    if withheld is not None:
        state.withheld_scopes = {str(name) for name in withheld}
