"""A fake of GitHub's OAuth app flow (`/login/oauth/authorize`, `/login/oauth/access_token`) and
the two REST endpoints T21 reads (`GET /user`, `GET /user/emails`), served from one app so both
the auth base and the API base of T21's settings can point at it.

It answers like GitHub: the token endpoint speaks JSON or form encoding by the `Accept` header
and reports failures as HTTP 200 with an `error` field; PKCE accepts S256 only; `/user/emails`
needs the `user:email` (or `user`) scope; the API refuses requests without a User-Agent.
`/_control` manages users (including ones whose only email is unverified) and registered clients.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import (
    ControlError,
    OAuthError,
    acceptable_redirect_uri,
    base_url,
    challenge_problem,
    control_body,
    control_error,
    optional,
    parameters,
    redirect_to,
    verifier_problem,
)

CODE_TTL_S = 600
DEFAULT_LOGIN = "sandbox-user"
DEFAULT_NAME = "Sandbox User"
DEFAULT_EMAIL = "sandbox.user@example.com"
DOCS = "https://docs.github.com"
OAUTH_APPS_DOC = f"{DOCS}/apps/managing-oauth-apps"
TOKEN_ERRORS_DOC = f"{OAUTH_APPS_DOC}/troubleshooting-oauth-app-access-token-request-errors"
AUTHORIZE_ERRORS_DOC = f"{OAUTH_APPS_DOC}/troubleshooting-authorization-request-errors"
ERROR_URIS = {
    "incorrect_client_credentials": f"{TOKEN_ERRORS_DOC}/#incorrect-client-credentials",
    "bad_verification_code": f"{TOKEN_ERRORS_DOC}/#bad-verification-code",
    "redirect_uri_mismatch": f"{AUTHORIZE_ERRORS_DOC}/#redirect-uri-mismatch2",
    "unsupported_grant_type": f"{DOCS}/developers/apps/authorizing-oauth-apps",
}
EMAIL_SCOPES = {"user", "user:email"}
AUTHORIZE_LOGGED = ("client_id", "redirect_uri", "scope", "code_challenge_method", "login")
PROFILE_DEFAULTS = {
    "gravatar_id": "", "type": "User", "user_view_type": "public", "site_admin": False,
    "company": None, "blog": "", "location": None, "hireable": None, "bio": None,
    "twitter_username": None, "public_repos": 0, "public_gists": 0, "followers": 0, "following": 0,
}  # fmt: skip


def user_id_for(login: str) -> int:
    """A GitHub-like numeric id for a login, stable across resets and restarts."""
    digest = hashlib.sha256(login.lower().encode()).digest()
    return 10_000_000 + int.from_bytes(digest[:8], "big") % 90_000_000


@dataclass
class GitHubEmail:
    email: str
    primary: bool = False
    verified: bool = True


@dataclass
class GitHubUser:
    login: str
    id: int
    name: str | None
    emails: list[GitHubEmail]
    public_email: str | None = None
    created_at: str = field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )

    def profile(self, api_base: str) -> dict[str, Any]:
        """`GET /user` as GitHub answers it for a user with no repositories or followers."""
        return {
            "login": self.login,
            "id": self.id,
            "node_id": base64.b64encode(f"04:User{self.id}".encode()).decode(),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{self.id}?v=4",
            "url": f"{api_base}/users/{self.login}",
            "html_url": f"https://github.com/{self.login}",
            "name": self.name,
            "email": self.public_email,
            **PROFILE_DEFAULTS,
            "created_at": self.created_at,
            "updated_at": self.created_at,
        }

    def email_list(self) -> list[dict[str, Any]]:
        """`GET /user/emails`: visibility is given for the primary address only."""
        visibility = "public" if self.public_email else "private"
        return [
            {**asdict(entry), "visibility": visibility if entry.primary else None}
            for entry in self.emails
        ]


@dataclass
class GitHubClient:
    """A registered OAuth app; once any is registered, only registered ones are accepted."""

    client_id: str
    client_secret: str
    callback_url: str


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    login: str
    scopes: tuple[str, ...]
    code_challenge: str | None
    issued_at: float
    redeemed: bool = False
    access_token: str | None = None


@dataclass
class _AccessToken:
    login: str
    client_id: str
    scopes: tuple[str, ...]


def _default_users() -> dict[str, GitHubUser]:
    emails = [GitHubEmail(DEFAULT_EMAIL, primary=True, verified=True)]
    user = GitHubUser(DEFAULT_LOGIN, user_id_for(DEFAULT_LOGIN), DEFAULT_NAME, emails)
    return {DEFAULT_LOGIN: user}


@dataclass
class GitHubState:
    """Everything the fake knows; `clock` can be moved by tests to expire codes."""

    clock: Callable[[], float] = field(default=time.time)
    users: dict[str, GitHubUser] = field(default_factory=_default_users)
    clients: dict[str, GitHubClient] = field(default_factory=dict)
    next_user: str | None = None
    codes: dict[str, _Grant] = field(default_factory=dict)
    tokens: dict[str, _AccessToken] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)

    def user(self, login_or_email: str) -> GitHubUser | None:
        """The user with this login, or with this address among their emails."""
        wanted = login_or_email.lower()
        found = self.users.get(wanted)
        if found is None:
            found = next(
                (
                    u
                    for u in self.users.values()
                    if any(e.email.lower() == wanted for e in u.emails)
                ),
                None,
            )
        return found

    def reset(self) -> None:
        self.users = _default_users()
        self.clients.clear()
        self.next_user = None
        self.codes.clear()
        self.tokens.clear()
        self.received.clear()


def _redirect_allowed(redirect_uri: str, callback_url: str) -> bool:
    """GitHub's rule: same scheme, host and port as the callback URL, and its path or below."""
    given, registered = urlsplit(redirect_uri), urlsplit(callback_url)
    if (given.scheme, given.netloc) != (registered.scheme, registered.netloc) or ".." in given.path:
        return False
    return given.path == registered.path or given.path.startswith(registered.path.rstrip("/") + "/")


def _error_page(message: str) -> Response:
    body = f"<!doctype html><title>GitHub</title><h1>Bad request</h1><p>{html.escape(message)}</p>"
    return HTMLResponse(body, status_code=400)


def _api_error(status: int, message: str, documentation_url: str) -> Response:
    content = {"message": message, "documentation_url": documentation_url, "status": str(status)}
    return JSONResponse(content, status_code=status)


def _scopes(raw: str | None) -> tuple[str, ...]:
    """Requested scopes (space- or comma-separated), in order, without repeats."""
    names = (raw or "").replace(",", " ").split()
    return tuple(dict.fromkeys(names))


def create_github_app(state: GitHubState | None = None) -> Starlette:
    """The GitHub fake as an ASGI app, served at a root or mounted (e.g. at `/github`)."""
    state = state or GitHubState()

    def sign_in_user(hint: str | None) -> GitHubUser:
        hinted = state.user(hint) if hint else None
        if hinted is not None:
            return hinted
        chosen = state.user(state.next_user) if state.next_user else None
        state.next_user = None
        return chosen or state.users[DEFAULT_LOGIN]

    async def authorize(request: Request) -> Response:
        params = parameters(request.query_params.multi_items())
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        entry: dict[str, Any] = {"endpoint": "authorize"} | {
            name: params.get(name) for name in AUTHORIZE_LOGGED
        }
        entry |= {name: name in params for name in ("state", "code_challenge")}
        state.received.append(entry)
        client = state.clients.get(client_id or "")
        if not client_id or (state.clients and client is None):
            entry["outcome"] = "unknown_client"
            return _error_page("The client_id is missing or unknown.")
        redirect_uri = redirect_uri or (client.callback_url if client else None)
        if (
            not redirect_uri
            or not acceptable_redirect_uri(redirect_uri)
            or (client is not None and not _redirect_allowed(redirect_uri, client.callback_url))
        ):
            entry["outcome"] = "redirect_uri_mismatch"
            return _error_page("The redirect_uri is missing or not the app's callback URL.")
        state_param = params.get("state")
        problem = challenge_problem(params, ("S256",))
        if problem is not None:
            entry["outcome"] = "invalid_request"
            return redirect_to(
                redirect_uri,
                {"error": "invalid_request", "error_description": problem, "state": state_param},
            )
        user = sign_in_user(params.get("login"))
        code = secrets.token_hex(10)
        state.codes[code] = _Grant(
            client_id, redirect_uri, user.login.lower(), _scopes(params.get("scope")),
            params.get("code_challenge"), issued_at=state.clock(),
        )  # fmt: skip
        entry |= {"outcome": "code", "user": user.login}
        return redirect_to(redirect_uri, {"code": code, "state": state_param})

    def authenticate_client(request: Request, form: dict[str, str], entry: dict[str, Any]) -> str:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        entry["client_auth"] = "client_secret_post"
        if scheme.lower() == "basic":
            entry["client_auth"] = "client_secret_basic"
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except ValueError:
                decoded = ""
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        entry["client_id"] = client_id or None
        client = state.clients.get(client_id)
        if (
            not client_id
            or not secret
            or (state.clients and client is None)
            or (client is not None and not hmac.compare_digest(secret, client.client_secret))
        ):
            raise OAuthError(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            )
        return client_id

    def redeem(form: dict[str, str], client_id: str) -> dict[str, str]:
        grant = state.codes.get(form.get("code", ""))
        bad_code = OAuthError("bad_verification_code", "The code passed is incorrect or expired.")
        if grant is None or grant.client_id != client_id:
            raise bad_code
        if grant.redeemed:
            if grant.access_token is not None:  # a replayed code revokes what it bought
                state.tokens.pop(grant.access_token, None)
            raise bad_code
        grant.redeemed = True  # the first attempt consumes the code, whatever its outcome
        if state.clock() - grant.issued_at > CODE_TTL_S:
            raise bad_code
        if form.get("redirect_uri", grant.redirect_uri) != grant.redirect_uri:
            raise OAuthError(
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
            )
        method = "S256" if grant.code_challenge else None
        problem = verifier_problem(grant.code_challenge, method, form.get("code_verifier"))
        if problem is not None:
            raise OAuthError("bad_verification_code", problem)
        access_token = "gho_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
        state.tokens[access_token] = _AccessToken(grant.login, client_id, grant.scopes)
        grant.access_token = access_token
        return {
            "access_token": access_token,
            "token_type": "bearer",
            "scope": ",".join(grant.scopes),
        }

    async def read_form(request: Request) -> dict[str, str]:
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        raw = await request.body()
        if content_type == "application/json":
            try:
                body = json_object(raw)
            except ValueError:
                return {}
            return {name: value for name, value in body.items() if isinstance(value, str)}
        return parameters(parse_qsl(raw.decode("utf-8", errors="replace")))

    async def access_token(request: Request) -> Response:
        form = await read_form(request)
        entry: dict[str, Any] = {
            "endpoint": "access_token",
            "redirect_uri": form.get("redirect_uri"),
            "code_verifier": "code_verifier" in form,
        }
        state.received.append(entry)
        try:
            grant_type = form.get("grant_type", "authorization_code")
            if grant_type != "authorization_code":
                raise OAuthError("unsupported_grant_type", f"Unsupported grant_type: {grant_type}")
            body = redeem(form, authenticate_client(request, form, entry))
            entry["outcome"] = "token"
        except OAuthError as exc:
            entry["outcome"] = exc.error
            body = {
                "error": exc.error,
                "error_description": exc.description,
                "error_uri": ERROR_URIS[exc.error],
            }
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(body)
        return Response(urlencode(body), media_type="application/x-www-form-urlencoded")

    def authenticated(request: Request, docs: str) -> _AccessToken | Response:
        """The token a REST request carries, or GitHub's refusal."""
        if not request.headers.get("user-agent"):
            return PlainTextResponse(
                "Request forbidden by administrative rules. "
                "Please make sure your request has a User-Agent header "
                f"({DOCS}/overview/resources-in-the-rest-api#user-agent-required).\n",
                status_code=403,
            )
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if not value.strip() or scheme.lower() not in ("bearer", "token"):
            return _api_error(401, "Requires authentication", docs)
        found = state.tokens.get(value.strip())
        if found is None or state.user(found.login) is None:
            return _api_error(401, "Bad credentials", f"{DOCS}/rest")
        return found

    def api_response(content: Any, token: _AccessToken, accepted: str) -> Response:
        headers = {"x-oauth-scopes": ", ".join(token.scopes), "x-accepted-oauth-scopes": accepted}
        return JSONResponse(content, headers=headers)

    async def get_user(request: Request) -> Response:
        found = authenticated(request, f"{DOCS}/rest/users/users#get-the-authenticated-user")
        state.received.append({"endpoint": "user", "outcome": _outcome(found)})
        if isinstance(found, Response):
            return found
        user = state.user(found.login)
        assert user is not None
        return api_response(user.profile(base_url(request)), found, "")

    async def get_emails(request: Request) -> Response:
        docs = f"{DOCS}/rest/users/emails#list-email-addresses-for-the-authenticated-user"
        found = authenticated(request, docs)
        entry = {"endpoint": "user/emails", "outcome": _outcome(found)}
        state.received.append(entry)
        if isinstance(found, Response):
            return found
        if not EMAIL_SCOPES & set(found.scopes):
            entry["outcome"] = "missing_scope"
            return _api_error(404, "Not Found", docs)
        user = state.user(found.login)
        assert user is not None
        return api_response(user.email_list(), found, "user, user:email")

    async def control_users(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"users": [asdict(user) for user in state.users.values()]})
        body = await control_body(request)
        login = optional(body, "login", str)
        if not login:
            raise ControlError("`login` is required.")
        user = state.users.get(login.lower()) or GitHubUser(
            login, user_id_for(login), None, [GitHubEmail(f"{login}@example.com", primary=True)]
        )
        user.name = optional(body, "name", str) or user.name
        user.id = optional(body, "id", int) or user.id
        if "emails" in body:
            user.emails = _parse_emails(body["emails"])
        if "public_email" in body:
            user.public_email = optional(body, "public_email", str)
        verified = {entry.email for entry in user.emails if entry.verified}
        if user.public_email is not None and user.public_email not in verified:
            raise ControlError("`public_email` must be one of the user's verified emails.")
        state.users[login.lower()] = user
        return JSONResponse(asdict(user))

    async def control_next_user(request: Request) -> Response:
        login = optional(await control_body(request), "login", str)
        if not login or state.user(login) is None:
            raise ControlError("No sandbox user has this login.", 404)
        state.next_user = login
        return JSONResponse({"next_user": login})

    async def control_clients(request: Request) -> Response:
        body = await control_body(request)
        client_id, secret = optional(body, "client_id", str), optional(body, "client_secret", str)
        callback_url = optional(body, "callback_url", str)
        if not client_id or not secret or not callback_url:
            raise ControlError("`client_id`, `client_secret` and `callback_url` are required.")
        if not acceptable_redirect_uri(callback_url):
            raise ControlError("`callback_url` must be an absolute http(s) URL.")
        state.clients[client_id] = GitHubClient(client_id, secret, callback_url)
        return JSONResponse({"client_id": client_id, "callback_url": callback_url})

    async def control_requests(_request: Request) -> Response:
        return JSONResponse({"requests": state.received})

    async def control_reset(_request: Request) -> Response:
        state.reset()
        return JSONResponse({"reset": True})

    app = Starlette(
        routes=[
            Route("/login/oauth/authorize", authorize, methods=["GET"]),
            Route("/login/oauth/access_token", access_token, methods=["POST"]),
            Route("/user", get_user, methods=["GET"]),
            Route("/user/emails", get_emails, methods=["GET"]),
            Route("/_control/users", control_users, methods=["GET", "POST"]),
            Route("/_control/next-user", control_next_user, methods=["POST"]),
            Route("/_control/clients", control_clients, methods=["POST"]),
            Route("/_control/requests", control_requests, methods=["GET"]),
            Route("/_control/reset", control_reset, methods=["POST"]),
        ],
        exception_handlers={ControlError: control_error},
    )
    app.state.github = state
    return app


def json_object(raw: bytes) -> dict[str, Any]:
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body


def _outcome(found: _AccessToken | Response) -> str:
    return f"http_{found.status_code}" if isinstance(found, Response) else "ok"


def _parse_emails(value: Any) -> list[GitHubEmail]:
    """`emails` from a control request: at least one, at most one primary (else the first)."""
    if not isinstance(value, list) or not value:
        raise ControlError("`emails` must be a non-empty list of {email, primary, verified}.")
    emails: list[GitHubEmail] = []
    for item in value:
        if not isinstance(item, dict):
            raise ControlError("Each email must be an object.")
        address = optional(item, "email", str)
        if not address or "@" not in address:
            raise ControlError("Each email needs an `email` address.")
        primary, verified = optional(item, "primary", bool), optional(item, "verified", bool)
        emails.append(GitHubEmail(address, bool(primary), True if verified is None else verified))
    primaries = sum(entry.primary for entry in emails)
    if primaries > 1:
        raise ControlError("At most one email can be primary.")
    if primaries == 0:
        emails[0].primary = True
    return emails
