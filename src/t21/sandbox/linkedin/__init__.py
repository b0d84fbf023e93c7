"""A fake of LinkedIn for member posting, faithful to LinkedIn's paths, field names, status
codes and error envelopes so T21's adapter runs against it unchanged:

- OAuth 2.0 three-legged without PKCE: `/oauth/v2/authorization` consents at once to the
  scopes the app's products give it (`app_scopes`, a new app's self-serve ones by default:
  `openid profile email w_member_social`) and refuses any other with unauthorized_scope_error,
  `/oauth/v2/accessToken` issues 60-day access tokens and, in partner mode (on by default),
  refresh tokens that expire 365 days after the first grant whatever the refreshes (never
  rotated), `/oauth/v2/revoke`. Identity: `/v2/userinfo` (OIDC) and `/v2/me`.
- `/rest/*` wants `LinkedIn-Version` (a retired one answers 426 NONEXISTENT_VERSION) and
  `X-Restli-Protocol-Version: 2.0.0`, and JSON bodies as `application/json` (else 415).
  Reading posts by author needs `r_member_social`. 401s say REVOKED_ACCESS_TOKEN (65601),
  EXPIRED_ACCESS_TOKEN or an invalid token (65600); a scope the token lacks is 403 ACCESS_DENIED.
- `/rest/posts` parses commentary as `little` text and, like LinkedIn, silently cuts it at the
  first unescaped reserved character; 3000 characters at most; media must be AVAILABLE;
  multiImage takes 2–20 images; identical posts are DUPLICATE_POST; posts per member per UTC
  day are capped (429). 201 with the URN in `x-restli-id` and an empty body.
- Images and videos process for `processing_polls` status reads (images also finish
  `image_settle_s` after upload); a file that isn't what it claims ends PROCESSING_FAILED.
- `memberCreatorPostAnalytics` answers no element until `/_control/analytics` gives a post
  numbers. Legacy `/v2/assets`, `/v2/ugcPosts` and `/v2/organizationalEntityShareStatistics`.
- Pages (`organizations`): the member's roles (`/rest/organizationAcls?q=roleAssignee`), a
  page (`/rest/organizations/{id}`), its share statistics; posting or uploading as a page needs
  w_organization_social and a posting role on it, reading its posts r_organization_social.
  `POST /_control/organizations` `{id, name?, vanity_name?, role?}` adds a page or changes
  the member's role (null: none).

`/_control` adds to the shared routes (`t21.sandbox.platform`): `GET|POST /settings`
(partner_mode, daily_post_limit, image_status_forbidden, processing_polls, image_settle_s,
video_part_bytes, vanity_name, app_scopes), `POST /analytics` `{post, IMPRESSION?, MEMBERS_REACHED?,
RESHARE?, REACTION?, COMMENT?}` and `POST /refresh-tokens/age` `{days}` (moves the first grant
and the refresh tokens' expiry back, as if that many days had passed).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.linkedin.auth import auth_routes
from t21.sandbox.linkedin.media import media_routes
from t21.sandbox.linkedin.organizations import organization_routes
from t21.sandbox.linkedin.posts import QUERY_TYPES, post_routes
from t21.sandbox.linkedin.state import LinkedInMember, LinkedInState
from t21.sandbox.linkedin.wire import Refusal, refusal_response
from t21.sandbox.oauth import ControlError, control_body, control_error, optional
from t21.sandbox.platform import FaultMiddleware, control_routes

__all__ = ["LinkedInMember", "LinkedInState", "create_linkedin_app"]

SETTINGS: dict[str, type[Any]] = {
    "partner_mode": bool,
    "daily_post_limit": int,
    "image_status_forbidden": bool,
    "processing_polls": int,
    "image_settle_s": float,
    "video_part_bytes": int,
}
DAY_S = 86_400


def _control_extras(state: LinkedInState) -> list[Route]:
    async def settings(request: Request) -> Response:
        if request.method == "POST":
            body = await control_body(request)
            for name, kind in SETTINGS.items():
                value = body.get(name)
                if kind is float and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                value = optional({name: value}, name, kind)
                if value is not None:
                    setattr(state, name, value)
            if "app_scopes" in body:
                scopes = body["app_scopes"]
                if not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes):
                    raise ControlError("`app_scopes` must be a list of scope names.")
                state.app_scopes = frozenset(scopes)
            if "vanity_name" in body:
                state.member.vanity_name = optional(body, "vanity_name", str)
        current = {name: getattr(state, name) for name in SETTINGS}
        scopes = sorted(state.app_scopes)
        return JSONResponse(current | {"app_scopes": scopes, "member": asdict(state.member)})

    async def analytics(request: Request) -> Response:
        body = await control_body(request)
        urn = optional(body, "post", str)
        if urn not in state.posts:
            raise ControlError("`post` must be the URN of a published post.", 404)
        numbers = {name: optional(body, name, int) for name in QUERY_TYPES}
        state.analytics[urn] = {name: n for name, n in numbers.items() if n is not None}
        return JSONResponse({"post": urn, "analytics": state.analytics[urn]})

    async def age(request: Request) -> Response:
        shift = (optional(await control_body(request), "days", int) or 0) * DAY_S
        for client_id in state.first_grants:
            state.first_grants[client_id] -= shift
        aged = [t for t in state.tokens.values() if t.kind == "refresh" and t.expires_at]
        for token in aged:
            token.expires_at = (token.expires_at or 0) - shift
        return JSONResponse({"aged": len(aged)})

    return [
        Route("/_control/settings", settings, methods=["GET", "POST"]),
        Route("/_control/analytics", analytics, methods=["POST"]),
        Route("/_control/refresh-tokens/age", age, methods=["POST"]),
    ]


def create_linkedin_app(state: LinkedInState | None = None) -> Starlette:
    """The LinkedIn fake as an ASGI app, served at a root or mounted (e.g. at `/linkedin`)."""
    state = state or LinkedInState()
    app = Starlette(
        routes=[
            *auth_routes(state),
            *media_routes(state),
            *post_routes(state),
            *organization_routes(state),
            *_control_extras(state),
            *control_routes(state),
        ],
        middleware=[Middleware(FaultMiddleware, state=state)],
        exception_handlers={Refusal: refusal_response, ControlError: control_error},
    )
    app.state.linkedin = state
    return app
