"""A fake of TikTok's Login Kit v2, Content Posting API and Display API (PLATFORMS.md §6), so
the TikTok adapter runs against it unchanged.

Every API answer has TikTok's `{"data": {...}, "error": {"code", "message", "log_id"}}`
envelope ("ok" on success); the OAuth endpoints answer flat as TikTok's do. Authorization
consents at once; codes are single-use, access tokens live 2 h (or 24 h by setting), refresh
tokens 180 days and rotate. Posting validates like TikTok: privacy against the creator's
options, the chunk arithmetic, ordered chunk ranges, text lengths, photo counts, per-token
per-minute rate limits (init 6, status 30, creator_info 20) and a daily post cap; pulled media
is downloaded for real. Processing is a counter of status polls.

Beside the shared `/_control` API (faults, tokens, published, requests, reset):
- `GET|POST /_control/settings`: read or change `TikTokSettings` (token lifetime, scopes the
  user grants, privacy options, processing and moderation polls, rate limits, daily cap,
  audited app, verified URL prefixes).
- `POST /_control/metrics` `{video_id, like_count?, comment_count?, share_count?,
  view_count?}`: set a post's numbers.
"""

from __future__ import annotations

from dataclasses import asdict

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import ControlError, control_body, control_error, optional
from t21.sandbox.platform import FaultMiddleware, control_routes
from t21.sandbox.tiktok.accounts import account_routes
from t21.sandbox.tiktok.common import OAuthRefusal, TikTokError, oauth_refusal, tiktok_error
from t21.sandbox.tiktok.posting import posting_routes
from t21.sandbox.tiktok.state import TikTokSettings, TikTokState
from t21.sandbox.tiktok.videos import video_routes

__all__ = ["TikTokSettings", "TikTokState", "create_tiktok_app"]


def create_tiktok_app(state: TikTokState | None = None) -> Starlette:
    """The TikTok fake as an ASGI app, served at a root or mounted (e.g. at `/tiktok`)."""
    state = state or TikTokState()

    async def settings(request: Request) -> Response:
        if request.method == "POST":
            state.settings.update(await control_body(request))
        return JSONResponse(asdict(state.settings))

    async def metrics(request: Request) -> Response:
        body = await control_body(request)
        video = state.video(str(optional(body, "video_id", str) or ""))
        if video is None:
            raise ControlError("No post has this video_id.", 404)
        for name in video.counts:
            value = optional(body, name, int)
            if value is not None:
                video.counts[name] = value
        return JSONResponse({"video_id": video.id, **video.counts})

    app = Starlette(
        routes=[
            *account_routes(state),
            *posting_routes(state),
            *video_routes(state),
            *control_routes(state),
            Route("/_control/settings", settings, methods=["GET", "POST"]),
            Route("/_control/metrics", metrics, methods=["POST"]),
        ],
        middleware=[Middleware(FaultMiddleware, state=state)],
        exception_handlers={
            TikTokError: tiktok_error,
            OAuthRefusal: oauth_refusal,
            ControlError: control_error,
        },
    )
    app.state.tiktok = state
    return app
