"""The Threads fake as one app: the authorization window (`/oauth/authorize`, threads.net's),
the code exchange (`POST /oauth/access_token`, graph.threads.net's), the Graph host, post pages
and `/_control`."""

from __future__ import annotations

import html
from dataclasses import asdict
from typing import ClassVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.meta.host import Login, form_body
from t21.sandbox.meta.wire import GraphError
from t21.sandbox.oauth import (
    ControlError,
    control_body,
    control_error,
    error_page,
    optional,
    parameters,
)
from t21.sandbox.platform import FaultMiddleware, control_routes
from t21.sandbox.threads.graph import GraphApi
from t21.sandbox.threads.state import (
    BASIC,
    CODE_TTL_S,
    KNOWN_SCOPES,
    METRICS,
    Outcome,
    ThreadsState,
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


class ThreadsLogin(Login):
    """threads.net's authorize window (an error page when it can't redirect) and
    graph.threads.net's code exchange (Graph's error envelope; parameters from the query or a
    form)."""

    basic_scope: ClassVar[str] = BASIC
    known_scopes: ClassVar[frozenset[str]] = KNOWN_SCOPES
    code_ttl_s: ClassVar[float] = CODE_TTL_S

    def refuse_window(self, error: str, message: str) -> Response:
        return error_page(error, message)

    def refuse_code(self, message: str) -> Response:
        refusal = GraphError(100, f"(#100) {message}")
        return JSONResponse(refusal.body(self.state.trace()), status_code=refusal.status)

    async def exchange_form(self, request: Request) -> dict[str, str]:
        form = await form_body(request)
        return parameters([*request.query_params.multi_items(), *form.items()])


def create_threads_app(state: ThreadsState | None = None) -> Starlette:
    """The fake, served at a root (tests) or mounted at `/threads` (the sandbox)."""
    state = state or ThreadsState()
    graph = GraphApi(state)

    login = ThreadsLogin(state, lambda: next(iter(state.accounts.values())).user_id)

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
            state.configure(await control_body(request))
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
            Route("/oauth/authorize", login.authorize, methods=["GET"]),
            Route("/oauth/access_token", login.access_token, methods=["POST"]),
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
