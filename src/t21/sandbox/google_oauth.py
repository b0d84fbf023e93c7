"""Google's OAuth 2.0 for web server apps reaching Google APIs, as every fake of a Google network
(Business Profile, YouTube) serves it over its `GoogleNetworkState`: the consent page (which
consents at once for the fake's person), the token endpoint (codes, offline access's refresh
tokens, refreshing) and revocation. Sign-in to T21 itself is `t21.sandbox.google`'s.

Faithful to Google where T21 depends on it: only the sandbox's client is known; codes are
single-use and live 10 minutes, PKCE (S256 or plain) is checked and can't be downgraded, access
tokens live 3599 s, a refresh token is issued only with `access_type=offline` and is never
rotated, a revoked or unknown refresh token answers 400 `invalid_grant`, and revoking any token
of a grant revokes all of it. An unknown scope is refused (`invalid_scope`). Consent grants what
was asked for less what the person unticked (granular consent, `untick`), plus, with
`include_granted_scopes=true`, what they granted the client before (incremental consent).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.platforms.registry import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from t21.sandbox.oauth import (
    CODE_TTL_S,
    NO_STORE,
    acceptable_redirect_uri,
    challenge_problem,
    error_page,
    parameters,
    redirect_to,
    verifier_problem,
)
from t21.sandbox.platform import IssuedToken, NetworkState, bearer

ACCESS_TTL_S = 3599
GRANT_REVOKED = "Token has been expired or revoked."


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    person: str
    scopes: frozenset[str]
    offline: bool
    challenge: str | None
    method: str | None
    issued_at: float
    used: bool = False


@dataclass
class GoogleNetworkState(NetworkState):
    """The world of a Google network's fake, with what its OAuth keeps: the authorization codes,
    the scopes each person granted a client (incremental consent adds to them) and the scopes
    the next consent leaves unticked."""

    codes: dict[str, AuthCode] = field(default_factory=dict)
    granted: dict[str, set[str]] = field(default_factory=dict)
    untick: set[str] = field(default_factory=set)

    def forget_consent(self) -> None:
        self.codes.clear()
        self.granted.clear()
        self.untick = set()


def _token_error(error: str, description: str, status: int = 400) -> Response:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def api_error(status: int, state: str, message: str, reason: str | None = None) -> Response:
    """Google's JSON error envelope, as every Google API answers a refusal."""
    error: dict[str, Any] = {"code": status, "message": message, "status": state}
    if reason is not None:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
             "domain": "googleapis.com"}
        ]  # fmt: skip
    return JSONResponse({"error": error}, status_code=status)


def authenticated(state: NetworkState, request: Request, scope: str) -> IssuedToken | Response:
    """The request's access token if it is usable and carries `scope`, else Google's 401/403."""
    token = state.token(bearer(request))
    if token is None:
        return api_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            "ACCESS_TOKEN_EXPIRED",
        )
    if scope not in token.scopes:
        return api_error(
            403,
            "PERMISSION_DENIED",
            "Request had insufficient authentication scopes.",
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
        )
    return token


def google_oauth_routes(
    state: GoogleNetworkState, *, known_scopes: frozenset[str], person: Callable[[], str]
) -> list[Route]:
    """`/o/oauth2/v2/auth`, `/token` and `/revoke` for `state`'s tokens; `person()` is the id of
    whoever consents (the account the fake's tokens belong to). Codes and grants are read
    through `state` on each use: a restored sandbox refills its state in place."""

    async def authorize(request: Request) -> Response:
        params = parameters(request.query_params.multi_items())
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        if client_id != SANDBOX_CLIENT_ID:
            return error_page("invalid_client", "The OAuth client was not found.")
        if not redirect_uri or not acceptable_redirect_uri(redirect_uri):
            return error_page("redirect_uri_mismatch", "The redirect URI is not authorized.")
        back: dict[str, str | None] = {"state": params.get("state")}

        def refuse(error: str, description: str) -> Response:
            return redirect_to(redirect_uri, back | {"error": error,
                                                     "error_description": description})  # fmt: skip

        if params.get("response_type") != "code":
            return refuse("unsupported_response_type", "Unsupported response_type.")
        scopes = set((params.get("scope") or "").split())
        if not scopes:
            return refuse("invalid_request", "Missing required parameter: scope")
        unknown = sorted(scopes - known_scopes)
        if unknown:
            return refuse("invalid_scope", f"Some requested scopes were invalid: {unknown}")
        access_type = params.get("access_type", "online")
        if access_type not in ("online", "offline"):
            return refuse("invalid_request", f"Invalid access_type: {access_type}")
        problem = challenge_problem(params, ("plain", "S256"))
        if problem is not None:
            return refuse("invalid_request", problem)
        who = person()
        granted = state.granted.setdefault(who, set())
        given = scopes - state.untick
        if params.get("include_granted_scopes") == "true":
            given |= granted
        granted |= given
        challenge = params.get("code_challenge")
        code = "4/0" + secrets.token_urlsafe(32)
        state.codes[code] = AuthCode(
            client_id, redirect_uri, who, frozenset(given), access_type == "offline", challenge,
            params.get("code_challenge_method", "plain") if challenge else None, time.time(),
        )  # fmt: skip
        return redirect_to(redirect_uri, back | {"code": code, "scope": " ".join(sorted(given))})

    def grant(who: str, scopes: frozenset[str], offline: bool) -> Response:
        access = state.issue(
            "access", account_id=who, client_id=SANDBOX_CLIENT_ID, scopes=scopes,
            ttl_s=ACCESS_TTL_S, prefix="ya29.",
        )  # fmt: skip
        body: dict[str, Any] = {
            "access_token": access.value,
            "expires_in": ACCESS_TTL_S,
            "scope": " ".join(sorted(scopes)),
            "token_type": "Bearer",
        }
        if offline:
            refresh = state.issue(
                "refresh", account_id=who, client_id=SANDBOX_CLIENT_ID, scopes=scopes,
                ttl_s=None, prefix="1//",
            )  # fmt: skip
            body["refresh_token"] = refresh.value
        return JSONResponse(body, headers=NO_STORE)

    async def token(request: Request) -> Response:
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            return _token_error("invalid_request", "The body must be form-encoded.")
        form = parameters(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        client_id = form.get("client_id")
        if client_id != SANDBOX_CLIENT_ID or form.get("client_secret") != SANDBOX_CLIENT_SECRET:
            return _token_error("invalid_client", "The OAuth client was not found.", 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            code = state.codes.get(form.get("code", ""))
            if code is None or code.used or code.client_id != client_id:
                return _token_error("invalid_grant", "Malformed auth code.")
            code.used = True
            if time.time() - code.issued_at > CODE_TTL_S:
                return _token_error("invalid_grant", "The authorization code has expired.")
            if form.get("redirect_uri") != code.redirect_uri:
                return _token_error("redirect_uri_mismatch", "Bad Request")
            problem = verifier_problem(code.challenge, code.method, form.get("code_verifier"))
            if problem is not None:
                return _token_error("invalid_grant", problem)
            return grant(code.person, code.scopes, code.offline)
        if grant_type == "refresh_token":
            refresh = state.token(form.get("refresh_token"), "refresh")
            if refresh is None or refresh.client_id != client_id:
                return _token_error("invalid_grant", GRANT_REVOKED)
            return grant(refresh.account_id, refresh.scopes, offline=False)
        return _token_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    async def revoke(request: Request) -> Response:
        form = parameters(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        found = state.tokens.get(form.get("token", ""))
        if found is None or not found.usable():
            return _token_error("invalid_token", "Token expired or revoked")
        for held in state.tokens.values():
            if held.account_id == found.account_id and held.client_id == found.client_id:
                held.revoked = True
        state.granted.pop(found.account_id, None)
        return JSONResponse({})

    return [
        Route("/o/oauth2/v2/auth", authorize, methods=["GET"]),
        Route("/token", token, methods=["POST"]),
        Route("/revoke", revoke, methods=["POST"]),
    ]
