"""X's OAuth 2.0 (authorization code with mandatory PKCE, confidential clients by Basic auth,
2-hour access tokens, refresh tokens with `offline.access`, rotated on use) and `/2/users/me`."""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import (
    NO_STORE,
    acceptable_redirect_uri,
    challenge_problem,
    error_page,
    parameters,
    redirect_to,
    verifier_problem,
)
from t21.sandbox.twitter.state import (
    ACCESS_TOKEN_TTL_S,
    CODE_TTL_S,
    REFRESH_TOKEN_TTL_S,
    AuthCode,
    TwitterState,
)
from t21.sandbox.twitter.wire import oauth_error

KNOWN_SCOPES = frozenset(
    {
        "tweet.read", "tweet.write", "tweet.moderate.write", "users.read", "users.email",
        "follows.read", "follows.write", "offline.access", "space.read", "mute.read",
        "mute.write", "like.read", "like.write", "list.read", "list.write", "block.read",
        "block.write", "bookmark.read", "bookmark.write", "media.write", "dm.read", "dm.write",
    }
)  # fmt: skip
MAX_STATE = 500
BAD_CODE = "Value passed for the authorization code was invalid."
BAD_TOKEN = "Value passed for the token was invalid."  # noqa: S105 (X's words, no secret)


def auth_routes(state: TwitterState) -> list[Route]:
    async def authorize(request: Request) -> Response:
        params = parameters(request.query_params.multi_items())
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        if not client_id or client_id not in state.clients:
            return error_page("invalid_client", "Something went wrong: unknown client_id.")
        if not redirect_uri or not acceptable_redirect_uri(redirect_uri):
            return error_page("invalid_request", "Something went wrong: invalid redirect_uri.")
        state_param = params.get("state")
        problem = _authorize_problem(params)
        if problem is not None:
            error, description = problem
            return redirect_to(
                redirect_uri,
                {"error": error, "error_description": description, "state": state_param},
            )
        code = secrets.token_urlsafe(48)
        state.codes[code] = AuthCode(
            client_id=client_id,
            redirect_uri=redirect_uri,
            user_id=state.user.id,
            scopes=frozenset(params["scope"].split()),
            challenge=params["code_challenge"],
            method=params.get("code_challenge_method", "plain"),
            issued_at=time.time(),
        )
        return redirect_to(redirect_uri, {"state": state_param, "code": code})

    def authenticate_client(request: Request, form: dict[str, str]) -> str:
        """The client of a token, revoke call: Basic auth for confidential clients (all of the
        fake's), whose secret must match; a `client_id` in the body must be the same one."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            raise oauth_error("unauthorized_client", "Missing valid authorization header", 401)
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except ValueError:
            raise oauth_error(
                "unauthorized_client", "Missing valid authorization header", 401
            ) from None
        raw_id, _, raw_secret = decoded.partition(":")
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        expected = state.clients.get(client_id)
        if expected is None or not hmac.compare_digest(secret, expected):
            raise oauth_error("unauthorized_client", "Invalid client credentials", 401)
        if form.get("client_id", client_id) != client_id:
            raise oauth_error("invalid_request", "client_id does not match the authorization")
        return client_id

    async def form_of(request: Request) -> dict[str, str]:
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise oauth_error("invalid_request", "Content-Type must be form-urlencoded")
        return parameters(parse_qsl((await request.body()).decode("utf-8", errors="replace")))

    def grant(client_id: str, user_id: str, scopes: frozenset[str]) -> dict[str, Any]:
        access = state.issue(
            "access",
            account_id=user_id,
            client_id=client_id,
            scopes=scopes,
            ttl_s=ACCESS_TOKEN_TTL_S,
        )
        body: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_TTL_S,
            "access_token": access.value,
            "scope": " ".join(sorted(scopes)),
        }
        if "offline.access" in scopes:
            refresh = state.issue(
                "refresh",
                account_id=user_id,
                client_id=client_id,
                scopes=scopes,
                ttl_s=REFRESH_TOKEN_TTL_S,
            )
            body["refresh_token"] = refresh.value
        return body

    def redeem(form: dict[str, str], client_id: str) -> dict[str, Any]:
        code = state.codes.get(form.get("code", ""))
        if code is None or code.used or code.client_id != client_id:
            raise oauth_error("invalid_request", BAD_CODE)
        code.used = True  # single use, whatever the outcome
        if time.time() - code.issued_at > CODE_TTL_S:
            raise oauth_error("invalid_request", BAD_CODE)
        if form.get("redirect_uri") != code.redirect_uri:
            raise oauth_error("invalid_request", "Value passed for the redirect uri was invalid.")
        if verifier_problem(code.challenge, code.method, form.get("code_verifier")):
            raise oauth_error("invalid_request", BAD_CODE)
        return grant(client_id, code.user_id, code.scopes)

    def renew(form: dict[str, str], client_id: str) -> dict[str, Any]:
        old = state.token(form.get("refresh_token"), "refresh")
        if old is None or old.client_id != client_id:
            raise oauth_error("invalid_request", BAD_TOKEN)
        # Rotation is unconfirmed for X (PLATFORMS.md); the fake rotates unless told otherwise.
        if state.rotate_refresh_tokens:
            old.used = True
        return grant(client_id, old.account_id, old.scopes)

    async def token(request: Request) -> Response:
        form = await form_of(request)
        client_id = authenticate_client(request, form)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            body = redeem(form, client_id)
        elif grant_type == "refresh_token":
            body = renew(form, client_id)
        else:
            raise oauth_error("invalid_request", "Missing required parameter [grant_type].")
        return JSONResponse(body, headers=NO_STORE)

    async def revoke(request: Request) -> Response:
        form = await form_of(request)
        client_id = authenticate_client(request, form)
        if "token" not in form:
            raise oauth_error("invalid_request", "Missing required parameter [token].")
        found = state.tokens.get(form["token"])
        # RFC 7009: an unknown token is answered like a revoked one.
        if found is not None and found.client_id == client_id:
            found.revoked = True
        return JSONResponse({"revoked": True})

    async def me(request: Request) -> Response:
        caller = state.caller(request, "tweet.read", "users.read")
        user = state.users[caller.account_id]
        fields = set(request.query_params.get("user.fields", "").split(","))
        return JSONResponse({"data": user.public(fields)})

    return [
        Route("/i/oauth2/authorize", authorize, methods=["GET"]),
        Route("/2/oauth2/token", token, methods=["POST"]),
        Route("/2/oauth2/revoke", revoke, methods=["POST"]),
        Route("/2/users/me", me, methods=["GET"]),
    ]


def _authorize_problem(params: dict[str, str]) -> tuple[str, str] | None:
    if params.get("response_type") != "code":
        return "unsupported_response_type", "response_type must be code"
    scope = params.get("scope")
    if not scope:
        return "invalid_request", "Missing required parameter [scope]."
    unknown = sorted(set(scope.split()) - KNOWN_SCOPES)
    if unknown:
        return "invalid_scope", f"Unknown scope(s): {' '.join(unknown)}"
    state = params.get("state")
    if not state or len(state) > MAX_STATE:
        return "invalid_request", "Missing or invalid parameter [state]."
    if "code_challenge" not in params:  # PKCE is mandatory at X
        return "invalid_request", "Missing required parameter [code_challenge]."
    problem = challenge_problem(params, ("plain", "S256"))
    return ("invalid_request", problem) if problem else None
