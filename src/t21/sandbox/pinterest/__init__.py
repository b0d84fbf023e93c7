"""A fake of Pinterest's API v5 (OAuth, boards, pins, video uploads, pin analytics), so the
Pinterest adapter runs against it unchanged.

Errors are `{code, message}` as Pinterest's are. Consent is given at once for the sandbox's
person (`t21sandbox`), who owns the boards "Recipes" and "Home ideas"; a third board belongs to
someone else and takes no pins of theirs. Codes are single-use; access tokens live 30 days and
continuous refresh tokens 60 days, each refresh handing out the next one (the old one stops
working). Revocation answers 403 (Pinterest revokes system users' tokens only). Every endpoint
checks the scopes the API reference lists for it and a per-user per-minute rate limit by
category (429 with `x-ratelimit-reset`, seconds). Pins are validated as `PinCreate` says
(title 100, description 800, alt text 500, link 2048, 2-5 carousel items, no unknown fields,
a board the person may pin to) and their images downloaded; a video pin needs a succeeded
upload and a cover.

Beside the shared `/_control` API (faults, tokens, published, requests, sends, reset):
- `GET|POST /_control/settings`: `PinterestSettings` (token lifetime, granted scopes, processing
  polls, failing the next video, rate limits per category).
- `POST /_control/boards` `{name, owner?, count?}`: add boards (`count` of them, numbered).
- `POST /_control/metrics` `{pin_id, IMPRESSION?, SAVE?, PIN_CLICK?, OUTBOUND_CLICK?}`.
"""

from __future__ import annotations

from dataclasses import asdict

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import ControlError, control_body, control_error, optional
from t21.sandbox.pinterest.auth import auth_routes
from t21.sandbox.pinterest.media import media_routes
from t21.sandbox.pinterest.pins import METRICS, pin_routes
from t21.sandbox.pinterest.state import Board, PinterestSettings, PinterestState
from t21.sandbox.pinterest.wire import PinterestError, pinterest_error
from t21.sandbox.platform import FaultMiddleware, control_routes

__all__ = ["PinterestSettings", "PinterestState", "create_pinterest_app"]


def create_pinterest_app(state: PinterestState | None = None) -> Starlette:
    """The Pinterest fake as an ASGI app, served at a root or mounted (at `/pinterest`)."""
    state = state or PinterestState()

    async def settings(request: Request) -> Response:
        if request.method == "POST":
            state.settings.update(await control_body(request))
        return JSONResponse(asdict(state.settings))

    async def boards(request: Request) -> Response:
        body = await control_body(request)
        name = optional(body, "name", str) or "Board"
        owner = optional(body, "owner", str) or state.user.username
        count = optional(body, "count", int) or 1
        if not 1 <= count <= 5000:
            raise ControlError("`count` must be between 1 and 5000.")
        added = []
        for number in range(count):
            board = Board(
                id=state.next_id(), name=name if count == 1 else f"{name} {number + 1}", owner=owner
            )
            state.boards.append(board)
            added.append({"id": board.id, "name": board.name, "owner": board.owner})
        return JSONResponse({"boards": added})

    async def metrics(request: Request) -> Response:
        body = await control_body(request)
        pin = state.pin(str(optional(body, "pin_id", str) or ""))
        if pin is None:
            raise ControlError("No pin has this pin_id.", 404)
        for name in METRICS:
            value = optional(body, name, int)
            if value is not None:
                pin.counts[name] = value
        return JSONResponse({"pin_id": pin.id, **pin.counts})

    app = Starlette(
        routes=[
            *auth_routes(state),
            *pin_routes(state),
            *media_routes(state),
            *control_routes(state),
            Route("/_control/settings", settings, methods=["GET", "POST"]),
            Route("/_control/boards", boards, methods=["POST"]),
            Route("/_control/metrics", metrics, methods=["POST"]),
        ],
        middleware=[Middleware(FaultMiddleware, state=state)],
        exception_handlers={PinterestError: pinterest_error, ControlError: control_error},
    )
    app.state.pinterest = state
    return app
