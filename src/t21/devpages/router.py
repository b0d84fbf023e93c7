"""The front-end routes of T21's links, as small server-rendered pages (development only).

Each page is the same HTML shell naming its flow; `static/pages.js` reads the link's query and
finishes the flow with the public API call a real front end would make (see README "Front-end
routes"). No build step and no outside assets: the script and the style sheet are served here.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from t21.analytics.collection import collect_now

STATIC = files("t21.devpages") / "static"
# Only this origin's script and style; the pages call the API on the same origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Page:
    """One front-end route: where T21's links land, and what finishes it."""

    path: str
    flow: str
    title: str
    query: str
    finished_by: str


PAGES = (
    Page(
        "/",
        "home",
        "T21 (development)",
        "login_code | connected | connect_code | error",
        "OAuth sign-in: POST /api/v1/auth/oauth/exchange {login_code}; account connection: "
        "GET /api/v1/social-accounts/{id} for each of `connected`, or "
        "POST /api/v1/social-accounts/connect/complete {connect_code}",
    ),
    Page(
        "/verify-email",
        "verify-email",
        "Verify your email address",
        "token",
        "POST /api/v1/auth/verify-email {token}",
    ),
    Page(
        "/reset-password",
        "reset-password",
        "Choose a new password",
        "token",
        "POST /api/v1/auth/reset-password {token, password}",
    ),
    Page(
        "/invitations/accept",
        "accept-invitation",
        "Join an organization",
        "token",
        "POST /api/v1/invitations/accept {token} (signed in as the invited address)",
    ),
    Page(
        "/billing",
        "billing",
        "Billing",
        "checkout=success&session_id | checkout=cancelled",
        "GET /api/v1/subscriptions/current?organization_id= (owner's organizations)",
    ),
    Page(
        "/social-accounts/{account_id}",
        "social-account",
        "Social account",
        "",
        "GET /api/v1/social-accounts/{id}",
    ),
    Page("/posts/{post_id}", "post", "Post", "", "GET /api/v1/posts/{id}"),
    Page(
        "/settings/webhooks/{webhook_id}",
        "webhook",
        "Webhook endpoint",
        "",
        "GET /api/v1/webhooks/{id}",
    ),
)


def _shell(page: Page) -> str:
    title = html.escape(page.title)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="stylesheet" href="/_dev/pages.css">
<script src="/_dev/pages.js" defer></script>
</head>
<body>
<header><strong>T21</strong> <span class="note">development page: a real front end replaces
it (README, "Front-end routes")</span></header>
<main id="page" data-flow="{html.escape(page.flow)}">
<h1>{title}</h1>
<p id="status" role="status">Loading…</p>
<div id="content"></div>
</main>
</body>
</html>
"""


def _page_route(page: Page) -> HTMLResponse:
    return HTMLResponse(_shell(page), headers={"content-security-policy": CONTENT_SECURITY_POLICY})


def _handler(page: Page) -> Callable[[], Awaitable[HTMLResponse]]:
    async def serve() -> HTMLResponse:
        return _page_route(page)

    return serve


def _asset(name: str, media_type: str) -> Response:
    return Response(
        (STATIC / name).read_bytes(),
        media_type=media_type,
        headers={"cache-control": "no-cache"},
    )


def create_router() -> APIRouter:
    """The development pages, left out of the API's OpenAPI document."""
    router = APIRouter(include_in_schema=False)
    for page in PAGES:
        router.add_api_route(
            page.path, _handler(page), methods=["GET"], response_class=HTMLResponse
        )

    @router.post("/_dev/analytics/collect")
    async def collect_analytics(request: Request, post_id: uuid.UUID | None = None) -> JSONResponse:
        """Collect published posts' numbers now (all, or `?post_id=`'s), as
        `t21 analytics collect` does: the sandbox's networks grow numbers as time passes."""
        done = await collect_now(request.app.state.runtime, post_id=post_id)
        return JSONResponse({"targets": done.targets, "snapshots": done.snapshots})

    @router.get("/_dev/pages.js")
    async def script() -> Response:
        return _asset("pages.js", "text/javascript")

    @router.get("/_dev/pages.css")
    async def style() -> Response:
        return _asset("pages.css", "text/css")

    return router
