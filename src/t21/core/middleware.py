"""HTTP plumbing shared by every route: request ids, access logs, metrics, headers, body limits."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import cors
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from t21.core import metrics, tracing
from t21.core.errors import BadRequest, PayloadTooLarge
from t21.core.ids import uuid7
from t21.core.logging import get_logger
from t21.core.problems import problem_response

log = get_logger("t21.http")
_access_log = logging.getLogger("t21.http")  # the standard library's logger under `log`

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    """The outermost layer: a request id for every request, in the logs and on the response,
    then one access-log line and the request metrics, labelled by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid7().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        metrics.HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            metrics.HTTP_IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope.get("method", "")
            tracing.name_request_span(method, route, request_id)
            counted, timed = _request_metrics(method, route, status)
            counted.inc()
            timed.observe(elapsed)
            path = scope.get("path", "")
            quiet = path in _QUIET_PATHS and status < 400
            # Below the level logged, the line costs nothing (~20 us a request to build and
            # have structlog's `filter_by_level` drop it).
            if _access_log.isEnabledFor(logging.DEBUG if quiet else logging.INFO):
                fields = {
                    "method": method,
                    "path": path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": (scope.get("client") or ("-",))[0],
                }
                if quiet:
                    log.debug("request", **fields)
                else:
                    log.info("request", **fields)
            structlog.contextvars.unbind_contextvars("request_id")


# Each (method, route template, status)'s children of the request metrics: prometheus-client's
# `labels()` takes a lock and builds its key on every call.
_metric_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _request_metrics(method: str, route: str, status: int) -> tuple[Any, Any]:
    children = _metric_children.get((method, route, status))
    if children is None:
        children = (
            metrics.HTTP_REQUESTS.labels(method, route, str(status)),
            metrics.HTTP_LATENCY.labels(method, route),
        )
        _metric_children[(method, route, status)] = children
    return children


def _route_template(scope: Scope) -> str:
    """The matched route's template (`/api/v1/posts/{post_id}`), never a raw id-bearing path."""
    # FastAPI keeps a route of a nested router with its own path (`/posts/{post_id}`) and the
    # whole template, prefixes included, on the route context it matched.
    matched = (scope.get("fastapi") or {}).get("effective_route_context")
    full = getattr(matched, "path", None)
    if isinstance(full, str):
        return full
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if "endpoint" in scope and not scope.get("path_params"):
        # A plain Starlette route (OpenAPI document, docs page): its path is its template.
        return str(scope.get("path", "<unmatched>"))
    return "<unmatched>"


class SecurityHeadersMiddleware:
    """Conservative browser security headers on every response; routes may override them."""

    DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        policy = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
        no_store = (b"cache-control", b"no-store")
        transport = [(b"strict-transport-security", b"max-age=31536000; includeSubDomains")]
        tail = transport if hsts else []
        # Built once: the API's, the docs pages', and every other path's headers.
        self._api = [*common, policy, no_store, *tail]
        self._docs = [*common, *tail]
        self._other = [*common, policy, *tail]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/api/"):
            extra = self._api
        elif path in self.DOCS_PATHS:
            extra = self._docs
        else:
            extra = self._other

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers.extend(item for item in extra if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` when a streamed body passes the limit.

    It is an HTTPException so FastAPI's body parsing re-raises it untouched, and the HTTP
    exception handler renders it as the 413 problem.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class BodyLimitMiddleware:
    """Refuses request bodies over the limit: by Content-Length up front, else while streaming.

    `overrides` maps path prefixes to their own limits (uploads take more than JSON).
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, overrides: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = sorted((overrides or {}).items(), key=lambda item: -len(item[0]))

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope.get("path", ""))
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                declared_size = int(declared)
            except ValueError:
                declared_size = -1
            if declared_size < 0:
                bad = problem_response(
                    BadRequest("The Content-Length header is not a valid size."),
                    request_id=scope.get("state", {}).get("request_id"),
                )
                await bad(scope, receive, send)
                return
            if declared_size > limit:
                response = problem_response(
                    PayloadTooLarge(f"The request body is larger than {limit} bytes."),
                    request_id=scope.get("state", {}).get("request_id"),
                    headers={"Connection": "close"},
                )
                await response(scope, receive, send)
                return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)


# Outside production, a front end on the developer's machine may call the API from any port.
LOCAL_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$"


class CORSMiddleware(cors.CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as a problem (400 `bad_request`
    naming what was refused) rather than as plain text. A request without an `Origin` (every
    call but a browser's cross-origin one) only gets `Vary: Origin`, added without parsing
    the request's headers into a mapping or the response's into a mutable one."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(name == b"origin" for name, _ in scope["headers"]):
            await super().__call__(scope, receive, send)
            return

        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if any(name.lower() == b"vary" for name, _ in headers):
                    vary = MutableHeaders(scope=message)
                    vary["Vary"] = ", ".join([*vary.getlist("Vary"), "Origin"])
                else:
                    message["headers"] = [*headers, (b"vary", b"Origin")]
            await send(message)

        await self.app(scope, receive, send_varying)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        headers = {
            key: value
            for key, value in response.headers.items()
            if key.lower() not in ("content-length", "content-type")
        }
        refused = bytes(response.body).decode() or "Disallowed CORS request"
        detail = (
            f"{refused.replace('Disallowed CORS ', 'This cross-origin request is refused: ')}"
            " (see T21_CORS_ORIGINS)."
        )
        return problem_response(BadRequest(detail), headers=headers)
