"""What every social-network fake shares: issued tokens, injected faults, and a record of what
it received and published (so tests can prove nothing was published twice).

A fake keeps a `NetworkState` (subclassed with its own posts, containers, uploads...), wraps its
Starlette app with `FaultMiddleware`, and adds `control_routes(state)` under `/_control`:

- `POST /_control/faults` `{status, body?, headers?, path?, query?, method?, count?, delay_s?,
  lose_response?}`: the next `count` matching requests get this answer. With `lose_response`
  the request is carried out, then the answer is held for `delay_s` (the client times out,
  not knowing the post exists: "accepted but the response was lost").
- `POST /_control/tokens/expire` `{token?}` / `POST /_control/tokens/revoke` `{token?}`: expire
  or revoke one token, or all of them.
- `GET /_control/published`: every post the fake published, in order.
- `GET /_control/requests`: method, path and query of every request (no secrets).
- `POST /_control/reset`: forget everything.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PREFIX = "/_control"
SECRET_QUERY_KEYS = frozenset(
    {"access_token", "client_secret", "code", "refresh_token", "fb_exchange_token", "token"}
)


@dataclass
class Fault:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    path: str | None = None  # a regular expression searched in the request path
    query: str | None = None  # a regular expression searched in the query string
    method: str | None = None
    count: int = 1
    delay_s: float = 0.0
    lose_response: bool = False

    def matches(self, method: str, path: str, query: str = "") -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.query is not None and re.search(self.query, query) is None:
            return False
        return self.path is None or re.search(self.path, path) is not None


@dataclass
class IssuedToken:
    value: str
    kind: str  # "access" or "refresh"
    account_id: str
    client_id: str
    scopes: frozenset[str]
    issued_at: float
    expires_at: float | None
    revoked: bool = False
    used: bool = False  # a rotated refresh token

    def usable(self) -> bool:
        if self.revoked or self.used:
            return False
        return self.expires_at is None or time.time() < self.expires_at


@dataclass
class NetworkState:
    """The in-memory world of one fake network."""

    name: str
    faults: list[Fault] = field(default_factory=list)
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    published: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def issue(
        self,
        kind: str,
        *,
        account_id: str,
        client_id: str,
        scopes: frozenset[str],
        ttl_s: float | None,
        prefix: str = "",
    ) -> IssuedToken:
        value = prefix + secrets.token_urlsafe(32)
        now = time.time()
        token = IssuedToken(
            value=value,
            kind=kind,
            account_id=account_id,
            client_id=client_id,
            scopes=scopes,
            issued_at=now,
            expires_at=now + ttl_s if ttl_s is not None else None,
        )
        self.tokens[value] = token
        return token

    def token(self, value: str | None, kind: str = "access") -> IssuedToken | None:
        """The token `value` if it is a usable token of `kind`, else None."""
        if not value:
            return None
        token = self.tokens.get(value)
        if token is None or token.kind != kind or not token.usable():
            return None
        return token

    def take_fault(self, method: str, path: str, query: str = "") -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path, query):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def record_publication(self, **post: Any) -> None:
        self.published.append({"published_at": time.time(), **post})

    def reset(self) -> None:
        self.faults.clear()
        self.tokens.clear()
        self.published.clear()
        self.requests.clear()


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return request.query_params.get("access_token")


class FaultMiddleware:
    """Records every request and answers with the next matching fault, if any."""

    def __init__(self, app: ASGIApp, state: NetworkState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Mounted (e.g. at /linkedin in the sandbox), the path carries the mount's prefix.
        path: str = scope["path"].removeprefix(scope.get("root_path", ""))
        if path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        raw_query = scope.get("query_string", b"").decode("latin-1")
        query = _redacted_query(raw_query)
        self.state.requests.append({"method": method, "path": path, "query": query})
        fault = self.state.take_fault(method, path, raw_query)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.lose_response:
            await self._carry_out_then_hold(scope, receive, send, fault)
            return
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        await _fault_response(fault)(scope, receive, send)

    async def _carry_out_then_hold(
        self, scope: Scope, receive: Receive, send: Send, fault: Fault
    ) -> None:
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        await asyncio.sleep(fault.delay_s)
        for message in held:
            await send(message)


def _fault_response(fault: Fault) -> Response:
    if fault.body is None or isinstance(fault.body, dict | list):
        return JSONResponse(fault.body or {}, status_code=fault.status, headers=fault.headers)
    return Response(str(fault.body), status_code=fault.status, headers=fault.headers)


def _redacted_query(query: str) -> str:
    parts = []
    for pair in query.split("&") if query else []:
        key, _, _value = pair.partition("=")
        parts.append(f"{key}=[redacted]" if key in SECRET_QUERY_KEYS else pair)
    return "&".join(parts)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("the control body must be a JSON object")
    return value


def control_routes(
    state: NetworkState, extra_reset: Callable[[], None] | None = None
) -> list[Route]:
    """The `/_control` routes every fake shares."""

    async def add_fault(request: Request) -> Response:
        body = await _json(request)
        known = {name: value for name, value in body.items() if name in Fault.__dataclass_fields__}
        fault = Fault(**known)
        state.faults.append(fault)
        return JSONResponse({"queued": len(state.faults)})

    def _tokens_of(body: dict[str, Any]) -> list[IssuedToken]:
        value = body.get("token")
        if value is None:
            return list(state.tokens.values())
        return [state.tokens[value]] if value in state.tokens else []

    async def expire(request: Request) -> Response:
        tokens = _tokens_of(await _json(request))
        for token in tokens:
            token.expires_at = time.time() - 1
        return JSONResponse({"expired": len(tokens)})

    async def revoke(request: Request) -> Response:
        tokens = _tokens_of(await _json(request))
        for token in tokens:
            token.revoked = True
        return JSONResponse({"revoked": len(tokens)})

    async def published(_request: Request) -> Response:
        return JSONResponse({"published": state.published})

    async def requests(_request: Request) -> Response:
        return JSONResponse({"requests": state.requests})

    async def tokens(_request: Request) -> Response:
        # Kinds and states only: a test proves rotation without reading secrets.
        summary = [
            {k: v for k, v in asdict(token).items() if k != "value"}
            | {"scopes": sorted(token.scopes), "usable": token.usable()}
            for token in state.tokens.values()
        ]
        return JSONResponse({"tokens": summary})

    async def reset(_request: Request) -> Response:
        state.reset()
        if extra_reset is not None:
            extra_reset()
        return JSONResponse({"reset": True})

    def route(
        path: str, endpoint: Callable[[Request], Awaitable[Response]], methods: list[str]
    ) -> Route:
        return Route(CONTROL_PREFIX + path, endpoint, methods=methods)

    return [
        route("/faults", add_fault, ["POST"]),
        route("/tokens/expire", expire, ["POST"]),
        route("/tokens/revoke", revoke, ["POST"]),
        route("/tokens", tokens, ["GET"]),
        route("/published", published, ["GET"]),
        route("/requests", requests, ["GET"]),
        route("/reset", reset, ["POST"]),
    ]
