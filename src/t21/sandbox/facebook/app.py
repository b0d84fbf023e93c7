"""The Facebook fake's routes: Facebook Login (dialog, code and long-lived token exchanges),
the user's permissions and Pages, Graph nodes and edges under `/{version}/...`, the reels
upload URL, and `/_control`."""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.facebook.pages import PagePublishing
from t21.sandbox.facebook.reading import PageReading
from t21.sandbox.facebook.state import (
    CODE_TTL_S,
    LONG_TOKEN_TTL_S,
    PAGE_TASKS,
    PERMISSIONS,
    SHORT_TOKEN_TTL_S,
    AuthCode,
    FacebookState,
    FakePage,
    GraphError,
    answer,
    graph_params,
    no_object,
    pick,
    requested_fields,
)
from t21.sandbox.oauth import (
    ControlError,
    acceptable_redirect_uri,
    base_url,
    control_body,
    control_error,
    error_page,
    optional,
    redirect_to,
)
from t21.sandbox.platform import FaultMiddleware, IssuedToken, control_routes

VERSION = re.compile(r"v\d+\.\d+")
Edge = Callable[[Request, str, dict[str, Any]], Awaitable[Response]]


def _version(request: Request) -> None:
    version = request.path_params.get("version", "")
    if not VERSION.fullmatch(version):
        raise GraphError(f"Unknown path components: /{version}", 2500)


def create_facebook_app(state: FacebookState | None = None) -> Starlette:
    """The fake as an ASGI app, served at a root or mounted (e.g. at `/facebook`)."""
    state = state or FacebookState()
    publishing = PagePublishing(state)
    reading = PageReading(state)

    # --- Facebook Login ------------------------------------------------------------------

    async def dialog(request: Request) -> Response:
        """Consents at once for the sandbox user, minus the permissions set to be declined,
        and returns with `#_` appended as Meta does."""
        _version(request)
        params = {name: value for name, value in request.query_params.items() if value}
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        if not client_id:
            return error_page("invalid_request", "The parameter app_id is required")
        if not redirect_uri or not acceptable_redirect_uri(redirect_uri):
            return error_page("invalid_request", "URL blocked: the redirect_uri is not valid.")
        if params.get("response_type", "code") != "code":
            return error_page("invalid_request", "Unsupported response_type.")
        requested = {name.strip() for name in params.get("scope", "").split(",") if name.strip()}
        unknown = sorted(requested - set(PERMISSIONS))
        if unknown:
            return error_page("invalid_scope", f"Invalid Scopes: {', '.join(unknown)}")
        granted = frozenset((requested | {"public_profile"}) - state.declined)
        code = "AQ" + secrets.token_urlsafe(48)
        state.codes[code] = AuthCode(client_id, redirect_uri, granted, time.time())
        response = redirect_to(redirect_uri, {"code": code, "state": params.get("state")})
        response.headers["location"] += "#_"
        return response

    def _issue_user_token(scopes: frozenset[str], client_id: str, ttl: int) -> Response:
        token = state.issue(
            "user", account_id=state.user_id, client_id=client_id, scopes=scopes, ttl_s=ttl,
            prefix="EAAG",
        )  # fmt: skip
        return answer({"access_token": token.value, "token_type": "bearer", "expires_in": ttl})

    async def access_token(request: Request) -> Response:
        _version(request)
        params = await graph_params(request)
        for name in ("client_id", "client_secret"):
            if not params.get(name):
                raise GraphError(f"Missing {name} parameter.", 101 if name == "client_id" else 1)
        if params.get("grant_type") == "fb_exchange_token":
            short = state.tokens.get(str(params.get("fb_exchange_token") or ""))
            if short is None or short.kind != "user" or not short.usable():
                raise GraphError("Error validating access token: the token is invalid.", 190)
            return _issue_user_token(short.scopes, str(params["client_id"]), LONG_TOKEN_TTL_S)
        for name in ("redirect_uri", "code"):
            if not params.get(name):
                raise GraphError(f"Missing {name} parameter.", 100)
        grant = state.codes.get(str(params["code"]))
        if grant is None:
            raise GraphError("Invalid verification code format.", 100)
        if grant.used:
            raise GraphError("This authorization code has been used.", 100, subcode=36009)
        grant.used = True
        if time.time() - grant.issued_at > CODE_TTL_S:
            raise GraphError("This authorization code has expired.", 100, subcode=36007)
        if params["redirect_uri"] != grant.redirect_uri or params["client_id"] != grant.client_id:
            raise GraphError(
                "Error validating verification code. Please make sure your redirect_uri is "
                "identical to the one you used in the OAuth dialog request",
                100,
                subcode=36008,
            )
        return _issue_user_token(grant.scopes, grant.client_id, SHORT_TOKEN_TTL_S)

    # --- the user ------------------------------------------------------------------------

    async def permissions(request: Request, node: str, params: dict[str, Any]) -> Response:
        token = state.user_caller(request, params, node)
        data = [{"permission": name, "status": "granted"} for name in sorted(token.scopes)]
        data += [{"permission": name, "status": "declined"} for name in sorted(state.declined)]
        return answer({"data": data})

    async def remove_app(request: Request, node: str, params: dict[str, Any]) -> Response:
        """`DELETE /me/permissions` with a user token: the app loses every token of the user
        and of the user's Pages."""
        state.user_caller(request, params, node)
        owners = {state.user_id, *state.pages}
        for token in state.tokens.values():
            if token.account_id in owners:
                token.revoked = True
        return answer({"success": True})

    async def accounts(request: Request, node: str, params: dict[str, Any]) -> Response:
        """The Pages the user manages, each with a Page token: one that never expires when the
        user token is long-lived, else one that lasts as long as it does."""
        token = state.user_caller(request, params, node)
        listed = list(state.pages.values()) if "pages_show_list" in token.scopes else []
        limit = max(1, min(int(params.get("limit") or 25), 100))
        start = _cursor(params.get("after"))
        window = listed[start : start + limit]
        fields = requested_fields(params, "access_token,category,name,id,tasks")
        data = [pick(_page_fields(request, page, token), fields, "Page") for page in window]
        paging: dict[str, Any] = {
            "cursors": {"before": _encode(start), "after": _encode(start + len(window) - 1)}
        }
        if start + limit < len(listed):
            following = {"fields": ",".join(fields.values()), "limit": limit}
            query = urlencode(following | {"after": _encode(start + limit)})
            version = request.path_params["version"]
            paging["next"] = f"{base_url(request)}/{version}/{node}/accounts?{query}"
        return answer({"data": data, "paging": paging})

    def _page_fields(request: Request, page: FakePage, user: IssuedToken) -> dict[str, Any]:
        lifetime = (user.expires_at or 0) - user.issued_at
        long_lived = user.expires_at is None or lifetime > SHORT_TOKEN_TTL_S
        ttl = None if long_lived else max(1.0, (user.expires_at or 0) - time.time())
        page_token = state.issue(
            "page", account_id=page.id, client_id=user.client_id, scopes=user.scopes, ttl_s=ttl,
            prefix="EAAG",
        )  # fmt: skip
        return {
            "id": page.id,
            "name": page.name,
            "access_token": page_token.value,
            "category": "Local business",
            "tasks": PAGE_TASKS,
            "picture": page.picture(base_url(request)),
            "fan_count": page.fan_count,
        }

    # --- Graph nodes and edges -----------------------------------------------------------

    async def node(request: Request) -> Response:
        _version(request)
        params = await graph_params(request)
        token = state.caller(request, params)
        name = request.path_params["node"]
        node_id = token.account_id if name == "me" else name
        fields = requested_fields(params, "id,name")
        if node_id == state.user_id:
            return answer(pick({"id": state.user_id, "name": state.user_name}, fields, "User"))
        if node_id in state.pages:
            page = state.pages[node_id]
            available = {
                "id": page.id,
                "name": page.name,
                "picture": page.picture(base_url(request)),
                "fan_count": page.fan_count,
                "link": f"{base_url(request)}/{page.id}",
            }
            return answer(pick(available, fields, "Page"))
        if node_id in state.posts:
            fields = requested_fields(params, "id,message,created_time")
            return answer(pick(reading.post_fields(state.posts[node_id], fields), fields, "Post"))
        if node_id in state.videos:
            fields = requested_fields(params, "id,description,created_time")
            video = state.videos[node_id]
            return answer(pick(reading.video_fields(video, fields), fields, "Video"))
        if node_id in state.photos:
            return answer(pick({"id": node_id}, requested_fields(params, "id"), "Photo"))
        raise no_object(name)

    edges: dict[tuple[str, str], Edge] = {
        ("GET", "permissions"): permissions,
        ("DELETE", "permissions"): remove_app,
        ("GET", "accounts"): accounts,
        ("POST", "feed"): publishing.feed,
        ("POST", "photos"): publishing.photos,
        ("POST", "videos"): publishing.videos,
        ("POST", "video_reels"): publishing.video_reels,
        ("POST", "comments"): publishing.comments,
        ("GET", "comments"): publishing.list_comments,
        ("GET", "posts"): reading.posts,
        ("GET", "feed"): reading.posts,
        ("GET", "insights"): reading.insights,
        ("GET", "video_insights"): reading.video_insights,
    }

    async def edge(request: Request) -> Response:
        _version(request)
        name, edge_name = request.path_params["node"], request.path_params["edge"]
        handler = edges.get((request.method, edge_name))
        if handler is None:
            raise GraphError(
                f"(#100) Tried accessing nonexisting field ({edge_name}) on node type (Page)", 100
            )
        params = await graph_params(request)
        if request.method == "POST" and name == "me":
            name = state.caller(request, params).account_id
        return await handler(request, name, params)

    # --- /_control -----------------------------------------------------------------------

    async def control_pages(request: Request) -> Response:
        """Replace the user's Pages: `{"pages": [{"id"?, "name", "fan_count"?}]}`."""
        if request.method == "POST":
            entries = optional(await control_body(request), "pages", list) or []
            replaced: dict[str, FakePage] = {}
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    raise ControlError("Each page needs a `name`.")
                page_id = str(entry.get("id") or 101950000000000 + len(replaced) + 1)
                fans = optional(entry, "fan_count", int)
                replaced[page_id] = FakePage(page_id, entry["name"], 1200 if fans is None else fans)
            state.pages = replaced
        return JSONResponse({"pages": [asdict(page) for page in state.pages.values()]})

    async def control_permissions(request: Request) -> Response:
        """Which permissions the user declines at the next login: `{"declined": [...]}`."""
        declined = optional(await control_body(request), "declined", list) or []
        if not all(isinstance(name, str) for name in declined):
            raise ControlError("`declined` must be a list of permission names.")
        state.declined = set(declined)
        return JSONResponse({"declined": sorted(state.declined)})

    async def control_config(request: Request) -> Response:
        """`{"processing_polls"?, "video_outcome"? ("ready"|"error"), "reels_per_day"?}`."""
        body = await control_body(request)
        polls = optional(body, "processing_polls", int)
        outcome = optional(body, "video_outcome", str)
        reels = optional(body, "reels_per_day", int)
        if outcome is not None and outcome not in ("ready", "error"):
            raise ControlError("`video_outcome` is ready or error.")
        state.processing_polls = state.processing_polls if polls is None else polls
        state.video_outcome = outcome or state.video_outcome
        state.reels_per_day = state.reels_per_day if reels is None else reels
        return JSONResponse(
            {
                "processing_polls": state.processing_polls,
                "video_outcome": state.video_outcome,
                "reels_per_day": state.reels_per_day,
            }
        )

    async def control_insights(request: Request) -> Response:
        """Give a post (or a video's post) numbers: `{"id", "reach"?, "reactions"? {type: n},
        "clicks"?, "shares"?, "video_views"?, "likes"?}`."""
        body = await control_body(request)
        object_id = optional(body, "id", str) or ""
        video = state.videos.get(object_id)
        post = state.posts.get(video.post_id if video and video.post_id else object_id)
        if post is None:
            raise ControlError("No post or video has this id.", 404)
        post.insights = {
            "post_total_media_view_unique": optional(body, "reach", int) or 0,
            "post_media_view": optional(body, "reach", int) or 0,
            "post_reactions_by_type_total": optional(body, "reactions", dict) or {},
            "post_clicks": optional(body, "clicks", int) or 0,
            "post_clicks_by_type": {"other clicks": optional(body, "clicks", int) or 0},
        }
        post.shares = optional(body, "shares", int) or 0
        if video is not None:
            video.views = optional(body, "video_views", int) or 0
            video.likes = optional(body, "likes", int) or 0
        return JSONResponse({"id": object_id, "insights": post.insights})

    async def graph_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GraphError)
        return exc.response()

    app = Starlette(
        routes=[
            Route("/_control/pages", control_pages, methods=["GET", "POST"]),
            Route("/_control/permissions", control_permissions, methods=["POST"]),
            Route("/_control/config", control_config, methods=["POST"]),
            Route("/_control/insights", control_insights, methods=["POST"]),
            *control_routes(state),
            Route("/{version}/dialog/oauth", dialog, methods=["GET"]),
            Route("/{version}/oauth/access_token", access_token, methods=["GET", "POST"]),
            Route("/video-upload/{version}/{video_id}", publishing.rupload, methods=["POST"]),
            Route("/{version}/{node}", node, methods=["GET"]),
            Route("/{version}/{node}/{edge}", edge, methods=["GET", "POST", "DELETE"]),
        ],
        exception_handlers={GraphError: graph_error, ControlError: control_error},
    )
    app.state.facebook = state
    app.add_middleware(FaultMiddleware, state=state)
    return app


def _encode(index: int) -> str:
    return base64.urlsafe_b64encode(str(max(index, 0)).encode()).decode().rstrip("=")


def _cursor(value: Any) -> int:
    if not value:
        return 0
    try:
        padded = str(value) + "=" * (-len(str(value)) % 4)
        return int(base64.urlsafe_b64decode(padded).decode())
    except ValueError:
        raise GraphError("(#100) Invalid cursor", 100) from None
