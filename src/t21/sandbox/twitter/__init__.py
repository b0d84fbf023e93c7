"""A fake of X (API v2) for posting, faithful to X's paths, field names, status codes and error
envelopes so T21's adapter runs against it unchanged (PLATFORMS.md §4):

- OAuth 2.0 with mandatory PKCE: `/i/oauth2/authorize` consents at once for the sandbox user;
  codes are single use and live 30 s. `/2/oauth2/token` (confidential clients by Basic auth)
  issues 2-hour access tokens and, with `offline.access`, refresh tokens that are rotated on use
  (single use); `/2/oauth2/revoke`; `/2/users/me`.
- Media through `/2/media/upload/initialize`, `/{id}/append`, `/{id}/finalize`; videos and GIFs
  process for `processing_polls` `GET /2/media/upload?command=STATUS` reads, then succeed (or
  fail, when the bytes aren't what they claim). Alt text through `/2/media/metadata`.
- `POST /2/tweets` checks the weighted length (its own count, `t21.sandbox.twitter.counting`, 280),
  1–4 ready media ids (a video or GIF alone), reply and quote targets, `reply_settings`, and
  refuses duplicate text with 403. Lookups (`GET /2/tweets`, `tweet.fields` or `post.fields`)
  give non-public metrics only for the author's posts younger than 30 days; the timeline
  `GET /2/users/{id}/tweets`; `GET /2/tweets/analytics`; `DELETE /2/tweets/{id}`; permalink
  pages at `/{username}/status/{id}`.
- Every API answer carries `x-rate-limit-*` headers (and `POST /2/tweets` the app's
  `x-app-limit-24hour-*`); a spent window answers 429 with code 88, a capped app 429
  usage-capped. Invalid tokens answer 401, a scope the token lacks 403.

`/_control` adds to the shared routes (`t21.sandbox.platform`): `GET|POST /settings`
(max_text, processing_polls, check_after_secs, rotate_refresh_tokens, usage_capped, and
`limits` `{bucket: n}` e.g. `{"tweets:create": 1, "app:tweets": 1}`), `POST /metrics`
`{id, like_count?, retweet_count?, reply_count?, quote_count?, bookmark_count?,
impression_count?, url_link_clicks?, user_profile_clicks?, view_count?}` and `POST /age`
`{id, days}` (moves a post's creation back).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import ControlError, control_body, control_error, optional
from t21.sandbox.platform import FaultMiddleware, control_routes
from t21.sandbox.twitter.auth import auth_routes
from t21.sandbox.twitter.media import media_routes
from t21.sandbox.twitter.state import TwitterState, XUser
from t21.sandbox.twitter.tweets import METRIC_NAMES, tweet_routes
from t21.sandbox.twitter.wire import RateLimitMiddleware, Refusal, refusal_response

__all__ = ["TwitterState", "XUser", "create_twitter_app"]

SETTINGS: dict[str, type[Any]] = {
    "max_text": int,
    "processing_polls": int,
    "check_after_secs": int,
    "rotate_refresh_tokens": bool,
    "usage_capped": bool,
}
DAY_S = 86_400


def _control_extras(state: TwitterState) -> list[Route]:
    async def settings(request: Request) -> Response:
        if request.method == "POST":
            body = await control_body(request)
            for name, kind in SETTINGS.items():
                value = optional(body, name, kind)
                if value is not None:
                    setattr(state, name, value)
            limits = optional(body, "limits", dict) or {}
            for bucket, limit in limits.items():
                if bucket not in state.limits or not isinstance(limit, int) or limit < 0:
                    raise ControlError(f"Unknown bucket or bad limit: {bucket}.")
                state.limits[bucket] = limit
        current = {name: getattr(state, name) for name in SETTINGS}
        return JSONResponse(current | {"limits": state.limits})

    async def metrics(request: Request) -> Response:
        body = await control_body(request)
        tweet = state.tweets.get(str(optional(body, "id", str)))
        if tweet is None:
            raise ControlError("`id` must be the id of a published post.", 404)
        for name in METRIC_NAMES:
            value = optional(body, name, int)
            if value is not None:
                tweet.metrics[name] = value
        return JSONResponse({"id": tweet.id, "metrics": tweet.metrics})

    async def age(request: Request) -> Response:
        body = await control_body(request)
        tweet = state.tweets.get(str(optional(body, "id", str)))
        if tweet is None:
            raise ControlError("`id` must be the id of a published post.", 404)
        tweet.created_at -= (optional(body, "days", int) or 0) * DAY_S
        return JSONResponse({"id": tweet.id, "created_at": tweet.created_at})

    return [
        Route("/_control/settings", settings, methods=["GET", "POST"]),
        Route("/_control/metrics", metrics, methods=["POST"]),
        Route("/_control/age", age, methods=["POST"]),
    ]


def create_twitter_app(state: TwitterState | None = None) -> Starlette:
    """The X fake as an ASGI app, served at a root or mounted (e.g. at `/twitter`)."""
    state = state or TwitterState()
    app = Starlette(
        routes=[
            *_control_extras(state),
            *control_routes(state),
            *auth_routes(state),
            *media_routes(state),
            *tweet_routes(state),
        ],
        middleware=[
            Middleware(FaultMiddleware, state=state),
            Middleware(
                RateLimitMiddleware,
                limits=lambda: state.limits,
                caller=state.rate_key,
                usage_capped=lambda: state.usage_capped,
                windows=state.windows,
            ),
        ],
        exception_handlers={Refusal: refusal_response, ControlError: control_error},
    )
    app.state.twitter = state
    return app
