"""The endpoints every Meta fake has: the login host's `/oauth/authorize` (consents at once and
302s back with `code`, `state` and Meta's `#_`) and `POST /oauth/access_token` (a code for a 1 h
token), and on the Graph host, under any `/vN.N/` prefix, `GET /access_token` (a 1 h token for
a 60-day one), `GET /refresh_access_token` (a 60-day token at least `refresh_min_age_s` old for
a new one) and the routing of nodes and edges, with the token only from `access_token`.
Source: https://developers.facebook.com/docs/instagram-platform/reference/access_token
Source: https://developers.facebook.com/docs/threads/get-started/long-lived-tokens/
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from t21.sandbox.meta.state import LONG_TOKEN_TTL_S, AuthCode, GraphState, now
from t21.sandbox.meta.wire import (
    VERSION,
    GraphError,
    Params,
    graph_time,
    request_params,
    unsupported,
)
from t21.sandbox.oauth import acceptable_redirect_uri, parameters, redirect_to
from t21.sandbox.platform import IssuedToken, bearer

Edge = Callable[[Request, IssuedToken, str, Params], Awaitable[dict[str, Any]]]


class Login(ABC):
    """The login host: the authorize window and the code exchange."""

    basic_scope: ClassVar[str]
    known_scopes: ClassVar[frozenset[str]]
    code_ttl_s: ClassVar[float]

    def __init__(self, state: GraphState, account_id: Callable[[], str]) -> None:
        self.state = state
        self.account_id = account_id

    @abstractmethod
    def refuse_window(self, error: str, message: str) -> Response:
        """What the authorize window shows instead of redirecting."""

    @abstractmethod
    def refuse_code(self, message: str) -> Response:
        """The code exchange's refusal, in the login host's own shape."""

    @abstractmethod
    async def exchange_form(self, request: Request) -> dict[str, str]:
        """Where the code exchange reads its parameters from."""

    def token_answer(self, grant: AuthCode, token: IssuedToken) -> dict[str, Any]:
        return {"access_token": token.value, "user_id": int(grant.account_id)}

    async def authorize(self, request: Request) -> Response:
        params = parameters(request.query_params.multi_items())
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        if not client_id or client_id not in self.state.clients:
            return self.refuse_window("invalid_client", "Invalid platform app")
        if not redirect_uri or not acceptable_redirect_uri(redirect_uri):
            return self.refuse_window("invalid_request", "Invalid redirect_uri")
        if params.get("response_type") != "code":
            return self.refuse_window("invalid_request", "Invalid response_type: it must be code")
        requested = {name for name in params.get("scope", "").replace(" ", ",").split(",") if name}
        unknown = sorted(requested - self.known_scopes)
        if unknown:
            return self.refuse_window("invalid_scope", f"Invalid scope: [{', '.join(unknown)}]")
        if self.basic_scope not in requested:
            return self.refuse_window(
                "invalid_scope", f"Invalid scope: {self.basic_scope} is required"
            )
        code = "AQ" + secrets.token_urlsafe(48)
        self.state.codes[code] = AuthCode(
            client_id=client_id,
            redirect_uri=redirect_uri,
            account_id=self.account_id(),
            scopes=frozenset(requested - self.state.withheld_scopes),
            issued_at=now(),
        )
        response = redirect_to(redirect_uri, {"code": code, "state": params.get("state")})
        # Meta appends `#_` to the redirect.
        response.headers["location"] = response.headers["location"] + "#_"
        return response

    async def access_token(self, request: Request) -> Response:
        """`POST /oauth/access_token`: an authorization code for a 1 h token."""
        form = await self.exchange_form(request)
        for name in ("client_id", "client_secret", "grant_type", "redirect_uri", "code"):
            if name not in form:
                return self.refuse_code(f"Missing required parameter {name}")
        if self.state.clients.get(form["client_id"]) != form["client_secret"]:
            return self.refuse_code("Error validating client secret.")
        if form["grant_type"] != "authorization_code":
            return self.refuse_code("Unsupported grant_type")
        grant = self.state.codes.get(form["code"])
        if (
            grant is None
            or grant.used
            or grant.client_id != form["client_id"]
            or now() - grant.issued_at > self.code_ttl_s
        ):
            return self.refuse_code("Matching code was not found or was already used.")
        grant.used = True
        if grant.redirect_uri != form["redirect_uri"]:
            return self.refuse_code(
                "Error validating verification code. Please make sure your redirect_uri is "
                "identical to the one you used in the OAuth dialog request"
            )
        token = self.state.issue_token(grant.account_id, grant.client_id, grant.scopes, long=False)
        return JSONResponse(self.token_answer(grant, token))


async def form_body(request: Request) -> dict[str, str]:
    raw = (await request.body()).decode("utf-8", errors="replace")
    return parameters(parse_qsl(raw))


class GraphHost(ABC):
    """The Graph host: token calls, then a node (`GET /{id}`) or one of `edges`."""

    # `grant_type`s are `{grant_prefix}_exchange_token` and `{grant_prefix}_refresh_token`.
    grant_prefix: ClassVar[str]
    error_kind: ClassVar[str] = "OAuthException"

    def __init__(self, state: GraphState) -> None:
        self.state = state
        self.edges: dict[tuple[str, str], Edge] = {}

    def unsupported(self, method: str, node_id: str) -> GraphError:
        return unsupported(method, node_id, kind=self.error_kind)

    def headers(self) -> dict[str, str]:
        """Headers every Graph answer carries (none by default)."""
        return {}

    @abstractmethod
    def node(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        """`GET /{node_id}` with `fields`."""

    async def handle(self, request: Request) -> Response:
        segments = [part for part in request.path_params["rest"].split("/") if part]
        if segments and VERSION.fullmatch(segments[0]):
            segments = segments[1:]
        try:
            payload = await self.route(request, segments, await request_params(request))
            status = 200
        except GraphError as exc:
            payload, status = exc.body(self.state.trace()), exc.status
        return JSONResponse(payload, status_code=status, headers=self.headers())

    async def route(self, request: Request, segments: list[str], params: Params) -> dict[str, Any]:
        method = request.method
        if segments == ["access_token"] and method == "GET":
            return self.exchange(request, params)
        if segments == ["refresh_access_token"] and method == "GET":
            return self.refresh(request, params)
        if not segments or len(segments) > 2:
            raise self.unsupported(method, "/".join(segments))
        token = self.caller(request, params)
        if len(segments) == 1:
            if method != "GET":
                raise self.unsupported(method, segments[0])
            return self.node(request, token, segments[0], params)
        edge = self.edges.get((method, segments[1]))
        if edge is None:
            raise self.unsupported(method, segments[0])
        return await edge(request, token, segments[0], params)

    def caller(self, request: Request, params: Params) -> IssuedToken:
        value = params.get("access_token")
        if not value:
            # A Bearer header is not how the references authenticate a call; the fakes take
            # only the documented `access_token` parameter.
            hint = " (send it as the access_token parameter)" if bearer(request) else ""
            raise GraphError(
                2500,
                "An active access token must be used to query information about the current "
                f"user{hint}.",
            )
        token = self.state.tokens.get(str(value))
        moment = now()
        if token is None or token.kind != "access":
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
        if token.revoked:
            raise GraphError(
                190,
                "Error validating access token: The session has been invalidated because the "
                "user changed their password or Facebook has changed the session for security "
                "reasons.",
                subcode=460,
            )
        if token.expires_at is not None and moment >= token.expires_at:
            raise GraphError(
                190,
                f"Error validating access token: Session has expired on "
                f"{graph_time(token.expires_at)}. The current time is {graph_time(moment)}.",
                subcode=463,
            )
        return token

    def exchange(self, request: Request, params: Params) -> dict[str, Any]:
        """`GET /access_token?grant_type=…_exchange_token`: a 1 h token for a 60-day one."""
        grant_type = f"{self.grant_prefix}_exchange_token"
        if params.get("grant_type") != grant_type:
            raise GraphError(100, f"(#100) grant_type must be {grant_type}")
        token = self.caller(request, params)
        if self.state.clients.get(token.client_id) != params.get("client_secret"):
            raise GraphError(100, "Error validating client secret.")
        if token.value in self.state.long_lived:
            raise GraphError(100, "(#100) Only a short-lived access token can be exchanged")
        fresh = self.state.issue_token(token.account_id, token.client_id, token.scopes, long=True)
        return {"access_token": fresh.value, "token_type": "bearer", "expires_in": LONG_TOKEN_TTL_S}

    def refresh(self, request: Request, params: Params) -> dict[str, Any]:
        """`GET /refresh_access_token`: a new 60-day token for a long-lived one at least
        `refresh_min_age_s` old. The old token stays valid until it expires (unconfirmed)."""
        grant_type = f"{self.grant_prefix}_refresh_token"
        if params.get("grant_type") != grant_type:
            raise GraphError(100, f"(#100) grant_type must be {grant_type}")
        token = self.caller(request, params)
        if token.value not in self.state.long_lived:
            raise GraphError(100, "(#100) Only a long-lived access token can be refreshed")
        if now() - token.issued_at < self.state.refresh_min_age_s:
            # The real answer to a too-young token is unconfirmed.
            hours = self.state.refresh_min_age_s / 3600
            raise GraphError(
                100,
                f"(#100) The access token can be refreshed once it is at least {hours:g} hours "
                "old.",
            )
        fresh = self.state.issue_token(token.account_id, token.client_id, token.scopes, long=True)
        return {"access_token": fresh.value, "token_type": "bearer", "expires_in": LONG_TOKEN_TTL_S}
