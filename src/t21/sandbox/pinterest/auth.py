"""OAuth: the consent page (consents at once for the sandbox's person), the token endpoint
(codes, continuous refresh tokens that rotate), revocation (system users only) and the
account."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import acceptable_redirect_uri, error_page, parameters, redirect_to
from t21.sandbox.pinterest.state import (
    CODE_TTL_S,
    KNOWN_SCOPES,
    REFRESH_TTL_S,
    AuthCode,
    PinterestState,
)
from t21.sandbox.pinterest.wire import PinterestError, authorized


def auth_routes(state: PinterestState) -> list[Route]:
    async def consent(request: Request) -> Response:
        params = parameters(request.query_params.multi_items())
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        if client_id not in state.clients:
            return error_page("invalid_client", "client_id is missing or unknown.")
        if not redirect_uri or not acceptable_redirect_uri(redirect_uri):
            return error_page("invalid_request", "redirect_uri is missing or invalid.")
        back = params.get("state")
        if params.get("response_type") != "code":
            return redirect_to(redirect_uri, {"error": "unsupported_response_type", "state": back})
        asked = [name for name in params.get("scope", "").split(",") if name]
        unknown = [name for name in asked if name not in KNOWN_SCOPES]
        if not asked or unknown:
            return redirect_to(redirect_uri, {"error": "invalid_scope", "state": back})
        granted = frozenset(asked)
        if state.settings.grant_scopes is not None:
            granted &= frozenset(state.settings.grant_scopes)
        code = secrets.token_hex(20)
        state.codes[code] = AuthCode(client_id, redirect_uri, granted, time.time())
        return redirect_to(redirect_uri, {"code": code, "state": back})

    def client(request: Request) -> str:
        """The app named by HTTP Basic credentials (the token endpoint's only client auth)."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        try:
            pair = base64.b64decode(value, validate=True).decode() if scheme == "Basic" else ""
        except (binascii.Error, UnicodeDecodeError):
            pair = ""
        client_id, _, secret = pair.partition(":")
        expected = state.clients.get(client_id)
        if expected is None or not hmac.compare_digest(secret, expected):
            raise PinterestError(401, 2, "Authentication failed.")
        return client_id

    async def form_of(request: Request) -> dict[str, str]:
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise PinterestError(400, 1, "The body must be application/x-www-form-urlencoded.")
        return parameters(parse_qsl((await request.body()).decode("utf-8", errors="replace")))

    def issue(user_id: str, client_id: str, scopes: frozenset[str], kind: str) -> dict[str, Any]:
        ttl = state.settings.access_ttl_s
        access = state.issue(
            "access", account_id=user_id, client_id=client_id, scopes=scopes, ttl_s=ttl,
            prefix="pina_",
        )  # fmt: skip
        refresh = state.issue(
            "refresh", account_id=user_id, client_id=client_id, scopes=scopes,
            ttl_s=REFRESH_TTL_S, prefix="pinr_",
        )  # fmt: skip
        return {
            "access_token": access.value,
            "token_type": "bearer",
            "expires_in": ttl,
            "scope": ",".join(sorted(scopes)),
            "response_type": kind,
            "refresh_token": refresh.value,
            "refresh_token_expires_in": REFRESH_TTL_S,
            "refresh_token_expires_at": int(time.time()) + REFRESH_TTL_S,
        }

    async def token(request: Request) -> Response:
        client_id = client(request)
        form = await form_of(request)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = state.codes.get(form.get("code", ""))
            if grant is None or grant.used or grant.client_id != client_id:
                raise PinterestError(400, 1, "Invalid authorization code.")
            grant.used = True
            if time.time() - grant.issued_at > CODE_TTL_S:
                raise PinterestError(400, 1, "Invalid authorization code.")
            if form.get("redirect_uri") != grant.redirect_uri:
                raise PinterestError(400, 1, "redirect_uri does not match the authorization.")
            body = issue(state.user.id, client_id, grant.scopes, "authorization_code")
        elif grant_type == "refresh_token":
            old = state.token(form.get("refresh_token"), "refresh")
            if old is None or old.client_id != client_id:
                raise PinterestError(400, 1, "Invalid refresh token.")
            old.used = True  # each continuous refresh hands out the next refresh token
            body = issue(old.account_id, client_id, old.scopes, "refresh_token")
        else:
            raise PinterestError(400, 1, f"Unsupported grant_type: {grant_type}.")
        return JSONResponse(body, headers={"cache-control": "no-store"})

    async def revoke(request: Request) -> Response:
        client(request)
        form = await form_of(request)
        if not form.get("token"):
            raise PinterestError(400, 1, "token is required.")
        # Only tokens issued for system users may be revoked; the sandbox has none.
        raise PinterestError(403, 29, "You are not permitted to access that resource.")

    async def user_account(request: Request) -> Response:
        authorized(state, request, "org_read", "user_accounts:read")
        user = state.user
        return JSONResponse(
            {
                "account_type": "BUSINESS",
                "id": user.id,
                "username": user.username,
                "business_name": user.business_name,
                "profile_image": f"https://i.pinimg.com/600x600_R/{user.username}.jpg",
                "website_url": None,
                "board_count": len(state.visible_boards(user.username)),
                "pin_count": sum(1 for pin in state.pins if pin.user_id == user.id),
            }
        )

    return [
        Route("/oauth/", consent, methods=["GET"]),
        Route("/v5/oauth/token", token, methods=["POST"]),
        Route("/v5/oauth/token/revoke", revoke, methods=["POST"]),
        Route("/v5/user_account", user_account, methods=["GET"]),
    ]
