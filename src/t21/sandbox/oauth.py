"""OAuth 2.0 plumbing the sandbox's provider fakes share: protocol errors, redirects, PKCE
checks, request parsing, and the `/_control` request helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

CODE_TTL_S = 600
ACCESS_TOKEN_TTL_S = 3599
ID_TOKEN_TTL_S = 3600
DEFAULT_EMAIL = "sandbox.user@example.com"
DEFAULT_NAME = "Sandbox User"
SCOPE_URLS = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}
KNOWN_SCOPES = {"openid": "openid", "email": "email", "profile": "profile"} | {
    url: name for name, url in SCOPE_URLS.items()
}
ENDPOINTS = {
    "authorization_endpoint": "/o/oauth2/v2/auth",
    "token_endpoint": "/token",
    "userinfo_endpoint": "/v1/userinfo",
    "jwks_uri": "/oauth2/v3/certs",
}
DISCOVERY = {
    "response_types_supported": ["code"],
    "subject_types_supported": ["public"],
    "id_token_signing_alg_values_supported": ["RS256"],
    "scopes_supported": ["openid", "email", "profile"],
    "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    "claims_supported": [
        "aud", "email", "email_verified", "exp", "family_name", "given_name",
        "iat", "iss", "name", "picture", "sub",
    ],
    "code_challenge_methods_supported": ["plain", "S256"],
    "grant_types_supported": ["authorization_code"],
}  # fmt: skip
AUTHORIZE_LOGGED = (
    "client_id", "redirect_uri", "response_type", "scope", "code_challenge_method", "login_hint",
)  # fmt: skip
PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


@dataclass
class OAuthError(Exception):
    """An OAuth error answer: `error`, `error_description` and the HTTP status."""

    error: str
    description: str
    status: int = 400


@dataclass
class ControlError(Exception):
    """A bad `/_control` request."""

    message: str
    status: int = 400


def base_url(request: Request) -> str:
    """This app's absolute base URL including any mount prefix: Starlette's `base_url` stops at
    the top-level app's root, while the scope's `root_path` already includes the mounts."""
    base = request.base_url
    return f"{base.scheme}://{base.netloc}{request.scope.get('root_path', '')}".rstrip("/")


def redirect_to(uri: str, params: dict[str, str | None]) -> Response:
    """A 302 to `uri` with `params` added to the query it already has."""
    parts = urlsplit(uri)
    extra = urlencode({name: value for name, value in params.items() if value is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=302)


def error_page(error: str, description: str) -> Response:
    """The page shown instead of redirecting when the client or redirect URI can't be trusted."""
    body = (
        "<!doctype html><title>Error 400 (OAuth 2.0)</title>"
        f"<h1>400. That’s an error.</h1><p>Error 400: {html.escape(error)}</p>"
        f"<p>{html.escape(description)}</p>"
    )
    return HTMLResponse(body, status_code=400)


def parameters(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Parameters by name; an empty one counts as absent (RFC 6749 §3.1)."""
    values: dict[str, str] = {}
    for name, value in pairs:
        if value:
            values.setdefault(name, value)
    return values


def acceptable_redirect_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and "#" not in uri


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def challenge_problem(params: dict[str, str], methods: tuple[str, ...]) -> str | None:
    """Why the PKCE parameters of an authorization request are unacceptable, if they are."""
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if challenge is None:
        return "code_challenge_method was sent without code_challenge." if method else None
    if (method or "plain") not in methods:
        return f"Unsupported code_challenge_method: {method or 'plain'}."
    if not PKCE_VALUE.fullmatch(challenge):
        return "Invalid code_challenge."
    return None


def verifier_problem(challenge: str | None, method: str | None, verifier: str | None) -> str | None:
    """Why `verifier` doesn't prove possession of the code's challenge, if it doesn't. A verifier
    for a code issued without a challenge is refused too (PKCE downgrade)."""
    if challenge is None:
        return "code_verifier was sent but no code_challenge was given." if verifier else None
    if verifier is None:
        return "Missing code verifier."
    expected = verifier if method == "plain" else s256(verifier)
    if not PKCE_VALUE.fullmatch(verifier) or not hmac.compare_digest(expected, challenge):
        return "Invalid code verifier."
    return None


async def control_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ControlError("The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise ControlError("The body must be a JSON object.")
    return body


def optional(body: dict[str, Any], name: str, kind: type[Any]) -> Any:
    """`body[name]` if present and of type `kind` (bools are not ints), else a ControlError."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ControlError(f"`{name}` must be a {kind.__name__}.")
    return value


async def control_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlError)
    return JSONResponse({"error": exc.message}, status_code=exc.status)
