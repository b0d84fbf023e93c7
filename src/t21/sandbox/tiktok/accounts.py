"""Login Kit v2: authorize (consents at once), token (codes, rotating refresh tokens), revoke,
and the user's profile."""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import acceptable_redirect_uri, error_page, parameters, redirect_to
from t21.sandbox.tiktok.common import (
    AVATAR_JPEG,
    OAuthRefusal,
    authorized,
    avatar_url,
    ok,
    requested_fields,
)
from t21.sandbox.tiktok.state import (
    CODE_TTL_S,
    KNOWN_SCOPES,
    REFRESH_TTL_S,
    AuthCode,
    TikTokState,
)

# Which scope each user/info field needs.
USER_FIELDS = {
    "open_id": "user.info.basic",
    "union_id": "user.info.basic",
    "avatar_url": "user.info.basic",
    "avatar_url_100": "user.info.basic",
    "avatar_large_url": "user.info.basic",
    "display_name": "user.info.basic",
    "username": "user.info.profile",
    "bio_description": "user.info.profile",
    "profile_deep_link": "user.info.profile",
    "is_verified": "user.info.profile",
    "follower_count": "user.info.stats",
    "following_count": "user.info.stats",
    "likes_count": "user.info.stats",
    "video_count": "user.info.stats",
}


def account_routes(state: TikTokState) -> list[Route]:
    async def authorize(request: Request) -> Response:
        params = parameters(request.query_params.multi_items())
        client_key, redirect_uri = params.get("client_key"), params.get("redirect_uri")
        if client_key not in state.clients:
            return error_page("invalid_client", "client_key is missing or unknown.")
        if not redirect_uri or not acceptable_redirect_uri(redirect_uri):
            return error_page("invalid_request", "redirect_uri is missing or invalid.")
        back = params.get("state")
        if params.get("response_type") != "code":
            return redirect_to(
                redirect_uri,
                {
                    "error": "unsupported_response_type",
                    "error_description": "Use code.",
                    "state": back,
                },
            )
        asked = [name.strip() for name in params.get("scope", "").split(",") if name.strip()]
        unknown = [name for name in asked if name not in KNOWN_SCOPES]
        if not asked or unknown:
            description = f"Invalid scopes: {', '.join(unknown) or '(none)'}."
            return redirect_to(
                redirect_uri,
                {"error": "invalid_scope", "error_description": description, "state": back},
            )
        granted = frozenset(asked)
        if state.settings.grant_scopes is not None:
            granted &= frozenset(state.settings.grant_scopes)
        # TikTok's codes carry characters that must be URL-decoded before the exchange.
        code = secrets.token_urlsafe(32) + "*3!"
        state.codes[code] = AuthCode(client_key, redirect_uri, granted, time.time())
        return redirect_to(
            redirect_uri, {"code": code, "scopes": ",".join(sorted(granted)), "state": back}
        )

    def client(form: dict[str, str]) -> str:
        key, secret = form.get("client_key", ""), form.get("client_secret", "")
        expected = state.clients.get(key)
        if expected is None or not hmac.compare_digest(secret, expected):
            raise OAuthRefusal("invalid_client", "Client key or secret is invalid.", 401)
        return key

    async def form_of(request: Request) -> dict[str, str]:
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise OAuthRefusal("invalid_request", "The body must be form-encoded.")
        return parameters(parse_qsl((await request.body()).decode("utf-8", errors="replace")))

    def issue(open_id: str, client_key: str, scopes: frozenset[str]) -> dict[str, Any]:
        access = state.issue(
            "access", account_id=open_id, client_id=client_key, scopes=scopes,
            ttl_s=state.settings.access_ttl_s, prefix="act.",
        )  # fmt: skip
        refresh = state.issue(
            "refresh", account_id=open_id, client_id=client_key, scopes=scopes,
            ttl_s=REFRESH_TTL_S, prefix="rft.",
        )  # fmt: skip
        return {
            "access_token": access.value,
            "expires_in": state.settings.access_ttl_s,
            "open_id": open_id,
            "refresh_expires_in": REFRESH_TTL_S,
            "refresh_token": refresh.value,
            "scope": ",".join(sorted(scopes)),
            "token_type": "Bearer",
        }

    def redeem(form: dict[str, str], client_key: str) -> dict[str, Any]:
        grant = state.codes.get(form.get("code", ""))
        if grant is None or grant.used or grant.client_key != client_key:
            raise OAuthRefusal("invalid_grant", "Authorization code is expired or invalid.")
        grant.used = True
        if time.time() - grant.issued_at > CODE_TTL_S:
            raise OAuthRefusal("invalid_grant", "Authorization code is expired or invalid.")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthRefusal("invalid_request", "redirect_uri does not match the authorization.")
        return issue(state.creator.open_id, client_key, grant.scopes)

    def rotate(form: dict[str, str], client_key: str) -> dict[str, Any]:
        old = state.token(form.get("refresh_token"), "refresh")
        if old is None or old.client_id != client_key:
            raise OAuthRefusal("invalid_grant", "Refresh token is invalid or expired.")
        old.used = True  # rotation: each refresh token works once
        return issue(old.account_id, client_key, old.scopes)

    async def token(request: Request) -> Response:
        form = await form_of(request)
        client_key = client(form)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            body = redeem(form, client_key)
        elif grant_type == "refresh_token":
            body = rotate(form, client_key)
        else:
            raise OAuthRefusal("unsupported_grant_type", f"Unsupported grant_type: {grant_type}.")
        return JSONResponse(body, headers={"cache-control": "no-store"})

    async def revoke(request: Request) -> Response:
        form = await form_of(request)
        client_key = client(form)
        found = state.token(form.get("token"))
        if found is None or found.client_id != client_key:
            raise OAuthRefusal("invalid_grant", "The token is invalid or already revoked.")
        # Revoking ends the app's authorization: every token of that user for this app.
        for issued in state.tokens.values():
            if issued.account_id == found.account_id and issued.client_id == client_key:
                issued.revoked = True
        return Response(status_code=200)  # the documented answer has an empty body

    async def user_info(request: Request) -> Response:
        token = authorized(state, request, "user.info.basic")
        names = requested_fields(request, set(USER_FIELDS))
        for name in names:
            authorized(state, request, USER_FIELDS[name])
        creator = state.creator
        avatar = avatar_url(request, creator)
        values: dict[str, Any] = {
            "open_id": creator.open_id,
            "union_id": creator.union_id,
            "avatar_url": avatar,
            "avatar_url_100": avatar,
            "avatar_large_url": avatar,
            "display_name": creator.display_name,
            "username": creator.username,
            "bio_description": "",
            "profile_deep_link": f"https://vm.tiktok.com/{creator.username}",
            "is_verified": False,
            "follower_count": 0,
            "following_count": 0,
            "likes_count": 0,
            "video_count": sum(1 for video in state.videos if video.open_id == token.account_id),
        }
        return ok({"user": {name: values[name] for name in names}})

    async def avatar(_request: Request) -> Response:
        return Response(AVATAR_JPEG, media_type="image/jpeg")

    return [
        Route("/v2/auth/authorize/", authorize, methods=["GET"]),
        Route("/v2/oauth/token/", token, methods=["POST"]),
        Route("/v2/oauth/revoke/", revoke, methods=["POST"]),
        Route("/v2/user/info/", user_info, methods=["GET"]),
        Route("/avatars/{name}", avatar, methods=["GET"]),
    ]
