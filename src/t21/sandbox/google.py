"""A fake of Google's OpenID Connect provider (discovery, authorization, token, JWKS, userinfo),
faithful to Google's wire format so T21's real login code runs against it unchanged.

The authorization endpoint consents at once for a sandbox user. Codes are single-use and live
10 minutes, PKCE (S256 or plain) is checked, ID tokens are RS256 JWTs signed with a key made once
per `GoogleState` and published as JWKS. Refusals follow OAuth 2.0 and Google: an unvalidated
client or redirect URI gets an error page, never a redirect. `/_control` manages users and
registered clients, picks who signs in next and reads back what each endpoint received.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import (
    ControlError,
    OAuthError,
    acceptable_redirect_uri,
    base_url,
    challenge_problem,
    control_body,
    control_error,
    error_page,
    optional,
    parameters,
    redirect_to,
    verifier_problem,
)

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


def subject_for(email: str) -> str:
    """Google's `sub` for an email: 21 digits, stable across resets and restarts."""
    digest = hashlib.sha256(email.lower().encode()).digest()
    return "1" + str(int.from_bytes(digest[:8], "big") % 10**20).zfill(20)


@dataclass
class GoogleUser:
    email: str
    name: str
    sub: str
    email_verified: bool = True
    picture: str = ""

    def claims(self, scopes: Iterable[str]) -> dict[str, Any]:
        """The identity claims Google releases for these granted scopes."""
        granted = set(scopes)
        claims: dict[str, Any] = {"sub": self.sub}
        if "email" in granted:
            claims |= {"email": self.email, "email_verified": self.email_verified}
        if "profile" in granted:
            given, _, family = self.name.partition(" ")
            claims |= {"name": self.name, "picture": self.picture, "given_name": given}
            if family:
                claims["family_name"] = family
        return claims


def granted_scope(scopes: Iterable[str]) -> str:
    """Granted scopes as Google spells them back: `email` and `profile` as their URLs."""
    return " ".join(sorted(SCOPE_URLS.get(name, name) for name in scopes))


def new_user(email: str, name: str | None = None, sub: str | None = None) -> GoogleUser:
    sub = sub or subject_for(email)
    words = re.split(r"[._\-+]", email.partition("@")[0])
    return GoogleUser(
        email=email,
        name=name or " ".join(word.capitalize() for word in words if word) or email,
        sub=sub,
        picture=f"https://lh3.googleusercontent.com/a/{sub}=s96-c",
    )


@dataclass
class GoogleClient:
    """A registered OAuth client; once any is registered, only registered ones are accepted."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    email: str
    scopes: frozenset[str]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    issued_at: float
    redeemed: bool = False
    access_token: str | None = None


@dataclass
class _AccessToken:
    email: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float


def _default_users() -> dict[str, GoogleUser]:
    return {DEFAULT_EMAIL: new_user(DEFAULT_EMAIL, DEFAULT_NAME)}


@dataclass
class GoogleState:
    """Everything the fake knows. `issuer` is pinned from the first request unless set, so ID
    tokens and discovery agree whatever Host later requests use; `clock` can be moved by tests.
    `reset()` keeps the issuer and the signing key (clients may have cached the JWKS)."""

    issuer: str | None = None
    clock: Callable[[], float] = field(default=time.time)
    users: dict[str, GoogleUser] = field(default_factory=_default_users)
    clients: dict[str, GoogleClient] = field(default_factory=dict)
    next_user: str | None = None
    codes: dict[str, _Grant] = field(default_factory=dict)
    tokens: dict[str, _AccessToken] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    signing_key: rsa.RSAPrivateKey | None = None

    def private_key(self) -> rsa.RSAPrivateKey:
        """The ID token signing key, made on first use (it takes ~0.1 s): the sandbox starts
        with every T21 app, most of which never sign anyone in through Google."""
        if self.signing_key is None:
            self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.signing_key

    @property
    def kid(self) -> str:
        der = (
            self.private_key()
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return hashlib.sha256(der).hexdigest()[:40]

    def jwk(self) -> dict[str, Any]:
        key: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key().public_key(), as_dict=True)
        return {**key, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def user(self, email: str) -> GoogleUser | None:
        return self.users.get(email.lower())

    def reset(self) -> None:
        self.users = _default_users()
        self.clients.clear()
        self.next_user = None
        self.codes.clear()
        self.tokens.clear()
        self.received.clear()


# --- the app ---------------------------------------------------------------------------------


def create_google_app(state: GoogleState | None = None) -> Starlette:
    """The Google fake as an ASGI app, served at a root or mounted (e.g. at `/google`)."""
    state = state or GoogleState()

    def issuer(request: Request) -> str:
        if state.issuer is None:
            state.issuer = base_url(request)
        return state.issuer

    async def discovery(request: Request) -> Response:
        root = issuer(request)
        endpoints = {name: f"{root}{path}" for name, path in ENDPOINTS.items()}
        return JSONResponse({"issuer": root, **endpoints, **DISCOVERY})

    def untrusted_client(params: dict[str, str]) -> tuple[str, str] | None:
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        if not client_id:
            return "invalid_request", "Missing required parameter: client_id"
        client = state.clients.get(client_id)
        if state.clients and client is None:
            return "invalid_client", "The OAuth client was not found."
        if not redirect_uri:
            return "invalid_request", "Missing required parameter: redirect_uri"
        if not acceptable_redirect_uri(redirect_uri) or (
            client is not None and redirect_uri not in client.redirect_uris
        ):
            return "redirect_uri_mismatch", (
                f"The redirect URI in the request, {redirect_uri}, does not match the ones "
                "authorized for the OAuth client."
            )
        return None

    def bad_request(params: dict[str, str]) -> tuple[str, str] | None:
        response_type, scope = params.get("response_type"), params.get("scope")
        if not response_type:
            return "invalid_request", "Missing required parameter: response_type"
        if response_type != "code":
            return "unsupported_response_type", f"Unsupported response_type: {response_type}"
        if not scope:
            return "invalid_request", "Missing required parameter: scope"
        unknown = [name for name in scope.split() if name not in KNOWN_SCOPES]
        if unknown:
            return "invalid_scope", f"Some requested scopes were invalid: {', '.join(unknown)}"
        if "openid" not in scope.split():
            return "invalid_scope", "The openid scope is required."
        problem = challenge_problem(params, ("plain", "S256"))
        return ("invalid_request", problem) if problem else None

    def sign_in_user(login_hint: str | None) -> GoogleUser:
        hinted = state.user(login_hint) if login_hint else None
        if hinted is not None:
            return hinted
        chosen = state.user(state.next_user) if state.next_user else None
        state.next_user = None
        return chosen or state.users[DEFAULT_EMAIL]

    async def authorize(request: Request) -> Response:
        params = parameters(request.query_params.multi_items())
        entry: dict[str, Any] = {"endpoint": "authorize"} | {
            name: params.get(name) for name in AUTHORIZE_LOGGED
        }
        entry |= {name: name in params for name in ("state", "nonce", "code_challenge")}
        state.received.append(entry)
        untrusted = untrusted_client(params)
        if untrusted is not None:
            entry["outcome"] = untrusted[0]
            return error_page(*untrusted)
        redirect_uri, state_param = params["redirect_uri"], params.get("state")
        problem = bad_request(params)
        if problem is not None:
            entry["outcome"] = problem[0]
            error, description = problem
            return redirect_to(
                redirect_uri,
                {"error": error, "error_description": description, "state": state_param},
            )
        user = sign_in_user(params.get("login_hint"))
        scopes = frozenset(KNOWN_SCOPES[name] for name in params["scope"].split())
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method", "plain") if challenge else None
        code = "4/0" + secrets.token_urlsafe(32)
        state.codes[code] = _Grant(
            params["client_id"], redirect_uri, user.email.lower(), scopes, params.get("nonce"),
            challenge, method, issued_at=state.clock(),
        )  # fmt: skip
        entry |= {"outcome": "code", "user": user.email}
        return redirect_to(
            redirect_uri,
            {
                "code": code,
                "state": state_param,
                "scope": granted_scope(scopes),
                "authuser": "0",
                "prompt": "none",
            },
        )

    def authenticate_client(request: Request, form: dict[str, str], entry: dict[str, Any]) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "basic":
            entry["client_auth"] = "client_secret_basic"
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except ValueError:
                raise OAuthError("invalid_client", "Invalid client credentials.", 401) from None
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            if "client_secret" in form:
                raise OAuthError("invalid_request", "More than one client authentication method.")
            if not client_id or form.get("client_id", client_id) != client_id:
                raise OAuthError("invalid_client", "Invalid client credentials.", 401)
        else:
            entry["client_auth"] = "client_secret_post"
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            if not client_id:
                raise OAuthError("invalid_request", "Could not determine client ID from request.")
        entry["client_id"] = client_id
        if not secret:
            raise OAuthError("invalid_request", "client_secret is missing.")
        client = state.clients.get(client_id)
        if state.clients and client is None:
            raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
        if client is not None and not hmac.compare_digest(secret, client.client_secret):
            raise OAuthError("invalid_client", "Unauthorized", 401)
        return client_id

    def redeem(grant: _Grant, client_id: str, form: dict[str, str], iss: str) -> dict[str, Any]:
        if grant.redeemed:
            if grant.access_token is not None:  # a replayed code revokes what it bought
                state.tokens.pop(grant.access_token, None)
            raise OAuthError("invalid_grant", "The authorization code was already redeemed.")
        grant.redeemed = True  # the first attempt consumes the code, whatever its outcome
        now = state.clock()
        if now - grant.issued_at > CODE_TTL_S:
            raise OAuthError("invalid_grant", "The authorization code has expired.")
        if "redirect_uri" not in form:
            raise OAuthError("invalid_request", "Missing required parameter: redirect_uri")
        if form["redirect_uri"] != grant.redirect_uri:
            raise OAuthError("redirect_uri_mismatch", "Bad Request")
        problem = verifier_problem(
            grant.code_challenge, grant.code_challenge_method, form.get("code_verifier")
        )
        if problem is not None:
            raise OAuthError("invalid_grant", problem)
        user = state.user(grant.email)
        if user is None:
            raise OAuthError("invalid_grant", "The account no longer exists.")
        access_token = "ya29." + secrets.token_urlsafe(48)
        state.tokens[access_token] = _AccessToken(
            grant.email, client_id, grant.scopes, now + ACCESS_TOKEN_TTL_S
        )
        grant.access_token = access_token
        at_hash = hashlib.sha256(access_token.encode()).digest()[:16]
        claims: dict[str, Any] = {
            "iss": iss,
            "azp": client_id,
            "aud": client_id,
            **user.claims(grant.scopes),
            "at_hash": base64.urlsafe_b64encode(at_hash).rstrip(b"=").decode(),
            "iat": int(now),
            "exp": int(now) + ID_TOKEN_TTL_S,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        id_token = jwt.encode(
            claims, state.private_key(), algorithm="RS256", headers={"kid": state.kid}
        )
        return {
            "access_token": access_token,
            "expires_in": ACCESS_TOKEN_TTL_S,
            "scope": granted_scope(grant.scopes),
            "token_type": "Bearer",
            "id_token": id_token,
        }

    async def exchange(request: Request, entry: dict[str, Any]) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "The body must be form-encoded.")
        raw = (await request.body()).decode("utf-8", errors="replace")
        form = parameters(parse_qsl(raw))
        entry |= {
            "grant_type": form.get("grant_type"),
            "redirect_uri": form.get("redirect_uri"),
            "code_verifier": "code_verifier" in form,
        }
        if not form.get("grant_type"):
            raise OAuthError("invalid_request", "Missing required parameter: grant_type")
        if form["grant_type"] != "authorization_code":
            raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {form['grant_type']}")
        client_id = authenticate_client(request, form, entry)
        if "code" not in form:
            raise OAuthError("invalid_request", "Missing required parameter: code")
        grant = state.codes.get(form["code"])
        if grant is None or grant.client_id != client_id:
            raise OAuthError("invalid_grant", "Malformed auth code.")
        return redeem(grant, client_id, form, issuer(request))

    async def token(request: Request) -> Response:
        entry: dict[str, Any] = {"endpoint": "token"}
        state.received.append(entry)
        try:
            body = await exchange(request, entry)
        except OAuthError as exc:
            entry["outcome"] = exc.error
            headers = dict(NO_STORE)
            if exc.status == 401:
                headers["www-authenticate"] = 'Basic realm="sandbox"'
            content = {"error": exc.error, "error_description": exc.description}
            return JSONResponse(content, status_code=exc.status, headers=headers)
        entry["outcome"] = "token"
        return JSONResponse(body, headers=NO_STORE)

    async def certs(_request: Request) -> Response:
        return JSONResponse(
            {"keys": [state.jwk()]}, headers={"cache-control": "public, max-age=3600"}
        )

    async def userinfo(request: Request) -> Response:
        entry: dict[str, Any] = {"endpoint": "userinfo", "client_id": None}
        state.received.append(entry)
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            entry["outcome"] = "missing_token"
            return _unauthorized('Bearer realm="sandbox"')
        found = state.tokens.get(value.strip())
        user = state.user(found.email) if found is not None else None
        if found is None or user is None or found.expires_at <= state.clock():
            entry["outcome"] = "invalid_token"
            return _unauthorized('Bearer realm="sandbox", error="invalid_token"')
        entry |= {"client_id": found.client_id, "outcome": "ok", "user": user.email}
        return JSONResponse(user.claims(found.scopes))

    async def control_users(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"users": [asdict(user) for user in state.users.values()]})
        body = await control_body(request)
        email = optional(body, "email", str)
        if not email or "@" not in email:
            raise ControlError("`email` must be an email address.")
        user = state.user(email) or new_user(
            email, optional(body, "name", str), optional(body, "sub", str)
        )
        for name, kind in (("name", str), ("sub", str), ("email_verified", bool), ("picture", str)):
            value = optional(body, name, kind)
            if value is not None:
                setattr(user, name, value)
        state.users[email.lower()] = user
        return JSONResponse(asdict(user))

    async def control_next_user(request: Request) -> Response:
        email = optional(await control_body(request), "email", str)
        if not email or state.user(email) is None:
            raise ControlError("No sandbox user has this email.", 404)
        state.next_user = email
        return JSONResponse({"next_user": email})

    async def control_clients(request: Request) -> Response:
        body = await control_body(request)
        client_id, secret = optional(body, "client_id", str), optional(body, "client_secret", str)
        uris = optional(body, "redirect_uris", list) or []
        if not client_id or not secret:
            raise ControlError("`client_id` and `client_secret` are required.")
        if not all(isinstance(uri, str) and acceptable_redirect_uri(uri) for uri in uris):
            raise ControlError("`redirect_uris` must be absolute http(s) URLs.")
        state.clients[client_id] = GoogleClient(client_id, secret, list(uris))
        return JSONResponse({"client_id": client_id, "redirect_uris": uris})

    async def control_requests(_request: Request) -> Response:
        return JSONResponse({"requests": state.received})

    async def control_reset(_request: Request) -> Response:
        state.reset()
        return JSONResponse({"reset": True})

    app = Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
            Route("/o/oauth2/v2/auth", authorize, methods=["GET"]),
            Route("/token", token, methods=["POST"]),
            Route("/oauth2/v3/certs", certs, methods=["GET"]),
            Route("/v1/userinfo", userinfo, methods=["GET", "POST"]),
            Route("/_control/users", control_users, methods=["GET", "POST"]),
            Route("/_control/next-user", control_next_user, methods=["POST"]),
            Route("/_control/clients", control_clients, methods=["POST"]),
            Route("/_control/requests", control_requests, methods=["GET"]),
            Route("/_control/reset", control_reset, methods=["POST"]),
        ],
        exception_handlers={ControlError: control_error},
    )
    app.state.google = state
    return app


def _unauthorized(challenge: str) -> Response:
    return JSONResponse(
        {"error": "invalid_token", "error_description": "Invalid Credentials"},
        status_code=401,
        headers={"www-authenticate": challenge},
    )
