"""A fake of Google Business Profile for T21's adapter, on Google's paths and wire format:

- Google OAuth for web server apps (`t21.sandbox.google_oauth`): `/o/oauth2/v2/auth` consents
  at once for the fake's person, `/token` (codes, offline refresh tokens, refreshing),
  `/revoke`. Scopes: business.manage (and the sign-in ones).
- `GET /v1/accounts` (account management; `pageSize` at most 20), `GET /v1/{account}/locations`
  and `GET /v1/locations/{id}` (business information; `readMask` required, `pageSize` at most
  100; only the masked fields are answered).
- `POST|GET /v4/accounts/{a}/locations/{l}/localPosts` (`posts`): Google's LocalPost rules,
  the photo fetched from its sourceUrl, 10 edits a minute per location (429), a project not
  approved for the APIs answering 429 to everything (its quota is 0).
- Errors in Google's envelope `{"error": {code, message, status, details}}`: 401
  UNAUTHENTICATED for a bad, expired or revoked token, 403 PERMISSION_DENIED without the scope.

`/_control` adds to the shared routes (`t21.sandbox.platform`): `POST /accounts` `{name,
account_name?, type?}`, `POST /locations` `{id, title?, account?}` (a location of an account;
`account` defaults to the person's first), `DELETE /locations/{id}`, `GET|POST /settings`
`{approved?, fetch_photos?, edits_per_minute?}` and `GET /posts` (every local post as Google
keeps it).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.google_business.posts import SCOPE, post_routes
from t21.sandbox.google_business.state import (
    PERSON,
    FakeAccount,
    FakeLocation,
    GoogleBusinessState,
)
from t21.sandbox.google_oauth import api_error, authenticated, google_oauth_routes
from t21.sandbox.oauth import ControlError, control_body, control_error, optional
from t21.sandbox.platform import FaultMiddleware, control_routes

__all__ = ["GoogleBusinessState", "create_google_business_app"]

KNOWN_SCOPES = frozenset({SCOPE, "openid", "email", "profile"})
ACCOUNTS_PAGE = 20
LOCATIONS_PAGE = 100
READABLE = frozenset({"name", "title", "storefrontAddress", "metadata"})


def _page(request: Request, largest: int) -> tuple[int, int] | Response:
    try:
        size = int(request.query_params.get("pageSize", largest))
        start = int(request.query_params.get("pageToken") or 0)
    except ValueError:
        return api_error(400, "INVALID_ARGUMENT", "Invalid pageSize or pageToken.")
    if not 1 <= size <= largest or start < 0:
        return api_error(400, "INVALID_ARGUMENT", f"pageSize must be between 1 and {largest}.")
    return size, start


def _mask(request: Request) -> list[str] | Response:
    mask = [part.strip() for part in request.query_params.get("readMask", "").split(",")]
    fields = [part for part in mask if part]
    if not fields:
        return api_error(400, "INVALID_ARGUMENT", "Request must contain a valid readMask.")
    unknown = [name for name in fields if name not in READABLE]
    if unknown:
        return api_error(400, "INVALID_ARGUMENT", f"Invalid field mask path: {unknown[0]}.")
    return fields


def _information_routes(state: GoogleBusinessState) -> list[Route]:
    def refused(request: Request) -> Response | None:
        token = authenticated(state, request, SCOPE)
        if isinstance(token, Response):
            return token
        if not state.approved:
            return api_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded: 0 requests per minute.",
                             "RATE_LIMIT_EXCEEDED")  # fmt: skip
        return None

    async def accounts(request: Request) -> Response:
        problem = refused(request)
        if problem is not None:
            return problem
        paged = _page(request, ACCOUNTS_PAGE)
        if isinstance(paged, Response):
            return paged
        size, start = paged
        found = list(state.accounts.values())
        body: dict[str, Any] = {"accounts": [a.view() for a in found[start : start + size]]}
        if start + size < len(found):
            body["nextPageToken"] = str(start + size)
        return JSONResponse(body)

    async def locations(request: Request) -> Response:
        problem = refused(request)
        paged, mask = _page(request, LOCATIONS_PAGE), _mask(request)
        for answer in (problem, paged, mask):
            if isinstance(answer, Response):
                return answer
        assert isinstance(paged, tuple)
        assert isinstance(mask, list)
        account = f"accounts/{request.path_params['account']}"
        if account not in state.accounts:
            return api_error(404, "NOT_FOUND", "Requested entity was not found.")
        size, start = paged
        found = [loc for loc in state.locations.values() if loc.account == account]
        body: dict[str, Any] = {
            "locations": [loc.view(mask) for loc in found[start : start + size]],
            "totalSize": len(found),
        }
        if start + size < len(found):
            body["nextPageToken"] = str(start + size)
        return JSONResponse(body)

    async def location(request: Request) -> Response:
        problem, mask = refused(request), _mask(request)
        for answer in (problem, mask):
            if isinstance(answer, Response):
                return answer
        assert isinstance(mask, list)
        found = state.locations.get(request.path_params["location"])
        if found is None:
            return api_error(404, "NOT_FOUND", "Requested entity was not found.")
        return JSONResponse(found.view(mask))

    return [
        Route("/v1/accounts", accounts, methods=["GET"]),
        Route("/v1/accounts/{account}/locations", locations, methods=["GET"]),
        Route("/v1/locations/{location}", location, methods=["GET"]),
    ]


def _control_extras(state: GoogleBusinessState) -> list[Route]:
    async def add_account(request: Request) -> Response:
        body = await control_body(request)
        name = optional(body, "name", str)
        if not name or not name.startswith("accounts/"):
            raise ControlError("`name` must be accounts/<id>.")
        account = FakeAccount(
            name, optional(body, "account_name", str) or name, optional(body, "type", str) or
            "LOCATION_GROUP",
        )  # fmt: skip
        state.accounts[name] = account
        return JSONResponse(account.view())

    async def add_location(request: Request) -> Response:
        body = await control_body(request)
        location_id = optional(body, "id", str)
        account = optional(body, "account", str) or next(iter(state.accounts), "")
        if not location_id or not location_id.isdigit():
            raise ControlError("`id` must be the location's digits.")
        if account not in state.accounts:
            raise ControlError("No such account.", 404)
        title = optional(body, "title", str) or f"Location {location_id}"
        state.locations[location_id] = FakeLocation(location_id, account, title)
        return JSONResponse(asdict(state.locations[location_id]))

    async def remove_location(request: Request) -> Response:
        state.locations.pop(request.path_params["location"], None)
        return JSONResponse({"removed": True})

    async def settings(request: Request) -> Response:
        if request.method == "POST":
            body = await control_body(request)
            for name in ("approved", "fetch_photos"):
                value = optional(body, name, bool)
                if value is not None:
                    setattr(state, name, value)
            edits = optional(body, "edits_per_minute", int)
            if edits is not None:
                if edits < 1:
                    raise ControlError("`edits_per_minute` must be 1 or more.")
                state.edits_per_minute = edits
        return JSONResponse(
            {
                "approved": state.approved,
                "fetch_photos": state.fetch_photos,
                "edits_per_minute": state.edits_per_minute,
            }
        )

    async def posts(_request: Request) -> Response:
        return JSONResponse({"posts": [post.view() for post in state.posts]})

    return [
        Route("/_control/accounts", add_account, methods=["POST"]),
        Route("/_control/locations", add_location, methods=["POST"]),
        Route("/_control/locations/{location}", remove_location, methods=["DELETE"]),
        Route("/_control/settings", settings, methods=["GET", "POST"]),
        Route("/_control/posts", posts, methods=["GET"]),
    ]


def create_google_business_app(state: GoogleBusinessState | None = None) -> Starlette:
    """The Business Profile fake as an ASGI app (mounted by the sandbox at /google_business)."""
    state = state or GoogleBusinessState(name="google_business")
    app = Starlette(
        routes=[
            *google_oauth_routes(state, known_scopes=KNOWN_SCOPES, person=lambda: PERSON),
            *_information_routes(state),
            *post_routes(state),
            *_control_extras(state),
            *control_routes(state, state.forget_world),
        ],
        exception_handlers={ControlError: control_error},
        middleware=[Middleware(FaultMiddleware, state=state)],
    )
    app.state.google_business = state
    return app
