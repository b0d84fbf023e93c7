"""Google's OAuth 2.0 for web server apps reaching Google APIs, as the fakes of Google networks
(Business Profile, YouTube) serve it over their own `NetworkState`: the consent page (which
consents at once for the fake's person), the token endpoint (codes, offline access's refresh
tokens, refreshing) and revocation. Sign-in to T21 itself is `t21.sandbox.google`'s.

Faithful to Google where T21 depends on it: codes are single-use and live 10 minutes, PKCE
(S256 or plain) is checked and can't be downgraded, access tokens live 3599 s, a refresh token
is issued only with `access_type=offline` and is never rotated, a revoked or unknown refresh
token answers 400 `invalid_grant`, and revoking a refresh token revokes every token of its
grant. An unknown scope is refused (`invalid_scope`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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
    scopes: frozenset[str]
    offline: bool
    challenge: str | None
    method: str | None
    issued_at: float
    used: bool = False


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
    state: NetworkState,
    codes: Callable[[], dict[str, AuthCode]],
    *,
    known_scopes: frozenset[str],
    person: Callable[[], str],
) -> list[Route]:
    """`/o/oauth2/v2/auth`, `/token` and `/revoke` for `state`'s tokens; `codes()` is where the
    fake keeps its authorization codes (read on each use: a restored sandbox refills its state
    in place), `person()` the id of whoever consents (the fake's signed-in Google user)."""

    async def authorize(request: Request) -> Response:
        params = parameters(request.query_params.multi_items())
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        if not client_id:
            return error_page("invalid_request", "Missing required parameter: client_id")
        if not redirect_uri or not acceptable_redirect_uri(redirect_uri):
            return error_page("redirect_uri_mismatch", "The redirect URI is not authorized.")
        back: dict[str, str | None] = {"state": params.get("state")}

        def refuse(error: str, description: str) -> Response:
            return redirect_to(redirect_uri, back | {"error": error,
                                                     "error_description": description})  # fmt: skip

        if params.get("response_type") != "code":
            return refuse("unsupported_response_type", "Unsupported response_type.")
        scopes = (params.get("scope") or "").split()
        if not scopes:
            return refuse("invalid_request", "Missing required parameter: scope")
        unknown = [scope for scope in scopes if scope not in known_scopes]
        if unknown:
            return refuse("invalid_scope", f"Some requested scopes were invalid: {unknown}")
        access_type = params.get("access_type", "online")
        if access_type not in ("online", "offline"):
            return refuse("invalid_request", f"Invalid access_type: {access_type}")
        problem = challenge_problem(params, ("plain", "S256"))
        if problem is not None:
            return refuse("invalid_request", problem)
        challenge = params.get("code_challenge")
        code = "4/0" + secrets.token_urlsafe(32)
        codes()[code] = AuthCode(
            client_id, redirect_uri, frozenset(scopes), access_type == "offline", challenge,
            params.get("code_challenge_method", "plain") if challenge else None, time.time(),
        )  # fmt: skip
        return redirect_to(redirect_uri, back | {"code": code, "scope": " ".join(scopes)})

    def grant(client_id: str, scopes: frozenset[str], offline: bool) -> Response:
        access = state.issue(
            "access", account_id=person(), client_id=client_id, scopes=scopes,
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
                "refresh", account_id=person(), client_id=client_id, scopes=scopes,
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
        if not client_id or not form.get("client_secret"):
            return _token_error("invalid_client", "The OAuth client was not found.", 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            code = codes().get(form.get("code", ""))
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
            return grant(client_id, code.scopes, code.offline)
        if grant_type == "refresh_token":
            refresh = state.token(form.get("refresh_token"), "refresh")
            if refresh is None or refresh.client_id != client_id:
                return _token_error("invalid_grant", GRANT_REVOKED)
            return grant(client_id, refresh.scopes, offline=False)
        return _token_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    async def revoke(request: Request) -> Response:
        form = parameters(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        found = state.tokens.get(form.get("token", ""))
        if found is None or not found.usable():
            return _token_error("invalid_token", "Token expired or revoked")
        revoked = [found]
        if found.kind == "refresh":
            revoked += [
                t
                for t in state.tokens.values()
                if t.account_id == found.account_id and t.client_id == found.client_id
            ]
        for item in revoked:
            item.revoked = True
        return JSONResponse({})

    return [
        Route("/o/oauth2/v2/auth", authorize, methods=["GET"]),
        Route("/token", token, methods=["POST"]),
        Route("/revoke", revoke, methods=["POST"]),
    ]
