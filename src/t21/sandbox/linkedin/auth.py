"""LinkedIn's OAuth 2.0 endpoints (authorization, access token, revocation) and the member's
identity (`/v2/userinfo`, `/v2/me`)."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.linkedin.state import Code, LinkedInState
from t21.sandbox.oauth import (
    acceptable_redirect_uri,
    base_url,
    error_page,
    parameters,
    redirect_to,
)
from t21.sandbox.platform import IssuedToken

ACCESS_TTL_S = 5_184_000  # 60 days
REFRESH_TTL_S = 31_536_000  # 365 days from the first grant
CODE_TTL_S = 1800
KNOWN_SCOPES = frozenset(
    {"openid", "profile", "email", "w_member_social", "r_member_social"}
    | {"r_member_postAnalytics", "w_organization_social", "r_organization_social"}
    | {"rw_organization_admin"}
)
BAD_CODE = (
    "Unable to retrieve access token: appid/redirect uri/code verifier does not match "
    "authorization code. Or authorization code expired. Or external member binding exists"
)


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


async def _form(request: Request) -> dict[str, str]:
    return parameters(parse_qsl((await request.body()).decode("utf-8", errors="replace")))


def auth_routes(state: LinkedInState) -> list[Route]:
    async def authorize(request: Request) -> Response:
        """Consents at once for the sandbox member."""
        params = parameters(request.query_params.multi_items())
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        if not client_id:
            return error_page("invalid_request", 'A required parameter "client_id" is missing')
        if not redirect_uri or not acceptable_redirect_uri(redirect_uri):
            return error_page("invalid_request", "The redirect_uri does not match the app's.")
        back: dict[str, str | None] = {"state": params.get("state")}
        if params.get("response_type") != "code":
            description = "response_type must be code"
            return redirect_to(
                redirect_uri, back | {"error": "invalid_request", "error_description": description}
            )
        scopes = (params.get("scope") or "").replace(",", " ").split()
        # A scope no product of the app gives is refused like an unknown one: LinkedIn sends
        # the browser back with unauthorized_scope_error and nobody can connect.
        granted = KNOWN_SCOPES & state.app_scopes
        unknown = [scope for scope in scopes if scope not in granted] or [""]
        if not scopes or unknown != [""]:
            description = f'Scope "{unknown[0]}" is not authorized for your application'
            error: dict[str, str | None] = {
                "error": "unauthorized_scope_error",
                "error_description": description,
            }
            return redirect_to(redirect_uri, back | error)
        code = "AQT" + secrets.token_urlsafe(32)
        state.codes[code] = Code(client_id, redirect_uri, frozenset(scopes), time.time())
        return redirect_to(redirect_uri, back | {"code": code})

    def grant(client_id: str, scopes: frozenset[str], refresh: IssuedToken | None) -> Response:
        sub = state.member.sub
        access = state.issue(
            "access", account_id=sub, client_id=client_id, scopes=scopes, ttl_s=ACCESS_TTL_S,
            prefix="AQV",
        )  # fmt: skip
        body: dict[str, Any] = {
            "access_token": access.value,
            "expires_in": ACCESS_TTL_S,
            "scope": ",".join(sorted(scopes)),  # LinkedIn lists granted scopes comma-separated
            "token_type": "Bearer",
        }
        if not state.partner_mode:
            return JSONResponse(body)
        if refresh is None:
            # One 365-day window from the first grant: reauthorizing doesn't extend it.
            now = time.time()
            first = state.first_grants.get(client_id)
            if first is None or now >= first + REFRESH_TTL_S:
                first = state.first_grants[client_id] = now
            refresh = state.issue(
                "refresh", account_id=sub, client_id=client_id, scopes=scopes, ttl_s=None,
                prefix="AQW",
            )  # fmt: skip
            refresh.expires_at = first + REFRESH_TTL_S
        # Not rotated: the same refresh token, with what is left of its life.
        expires_at = refresh.expires_at or time.time()
        body["refresh_token"] = refresh.value
        body["refresh_token_expires_in"] = max(0, int(expires_at - time.time()))
        return JSONResponse(body)

    async def access_token(request: Request) -> Response:
        form = await _form(request)
        for name in ("grant_type", "client_id", "client_secret"):
            if name not in form:
                return _oauth_error("invalid_request", f'A required parameter "{name}" is missing')
        client_id = form["client_id"]
        if form["grant_type"] == "authorization_code":
            code = state.codes.get(form.get("code", ""))
            if (
                code is None
                or code.used
                or code.client_id != client_id
                or code.redirect_uri != form.get("redirect_uri")
                or time.time() - code.issued_at > CODE_TTL_S
            ):
                return _oauth_error("invalid_request", BAD_CODE)
            code.used = True
            return grant(client_id, code.scopes, None)
        if form["grant_type"] == "refresh_token":
            if not state.partner_mode:
                # LinkedIn's exact answer for an app without refresh tokens is unconfirmed.
                description = "The client is not authorized to use refresh tokens"
                return _oauth_error("unauthorized_client", description)
            refresh = state.token(form.get("refresh_token"), "refresh")
            if refresh is None or refresh.client_id != client_id:
                description = "The provided refresh token is invalid, expired or revoked"
                return _oauth_error("invalid_request", description)
            return grant(client_id, refresh.scopes, refresh)
        return _oauth_error("unsupported_grant_type", "The grant_type is not supported")

    async def revoke(request: Request) -> Response:
        form = await _form(request)
        if not form.get("client_id") or not form.get("client_secret"):
            return _oauth_error("invalid_client", "Client authentication failed", 401)
        if "token" not in form:
            return _oauth_error("invalid_request", 'A required parameter "token" is missing')
        token = state.tokens.get(form["token"])
        if token is not None and token.client_id == form["client_id"]:
            token.revoked = True
        return Response(status_code=200)  # unknown tokens too (RFC 7009)

    async def userinfo(request: Request) -> Response:
        token = state.authenticate(request, "openid", "userinfo")
        member = state.member
        given, _, family = member.name.partition(" ")
        info: dict[str, Any] = {"sub": member.sub}
        if "profile" in token.scopes:
            info |= {
                "name": member.name,
                "given_name": given,
                "family_name": family,
                "picture": f"{base_url(request)}/dms/image/{member.sub}/profile-displayphoto",
                "locale": {"country": "US", "language": "en"},
            }
        if "email" in token.scopes:
            info |= {"email": member.email, "email_verified": True}
        return JSONResponse(info)

    async def me(request: Request) -> Response:
        state.authenticate(request, "profile", "me.GET.NO_VERSION")
        member = state.member
        given, _, family = member.name.partition(" ")
        body = {"id": member.sub, "localizedFirstName": given, "localizedLastName": family}
        if member.vanity_name:
            body["vanityName"] = member.vanity_name
        return JSONResponse(body)

    return [
        Route("/oauth/v2/authorization", authorize, methods=["GET"]),
        Route("/oauth/v2/accessToken", access_token, methods=["POST"]),
        Route("/oauth/v2/revoke", revoke, methods=["POST"]),
        Route("/v2/userinfo", userinfo, methods=["GET"]),
        Route("/v2/me", me, methods=["GET"]),
    ]
