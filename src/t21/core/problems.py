"""Every error leaves T21 as an RFC 9457 problem document (`application/problem+json`).

Domain errors, request validation, unknown routes and methods, oversized bodies and unexpected
exceptions all end here, so a client parses one shape. Nothing internal (traces, SQL, secrets)
is ever put in a problem; unexpected failures are logged with the request id instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from t21.core.db import database_unavailable
from t21.core.errors import (
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    T21Error,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from t21.core.logging import get_logger

log = get_logger("t21.errors")

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Seconds a client is asked to wait when the database was busy or unreachable.
DATABASE_RETRY_AFTER_S = 2


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_CONTENT_TYPE


class ProblemDetail(BaseModel):
    """One field-level problem of a 422 (or of a row of an import)."""

    loc: list[str | int] = Field(
        description="Where the problem is: `body`, `query`, `path` or `header`, then the keys.",
        examples=[["body", "targets", 0, "content"]],
    )
    msg: str = Field(description="What is wrong, in a sentence meant for people.")
    type: str | None = Field(
        default=None, description="The kind of a request-parsing problem (`missing`, …)."
    )
    rule: str | None = Field(
        default=None,
        description="The rule a post breaks (`max_length`, `media_count`, `invalid_options`, …).",
        examples=["max_length"],
    )
    target: int | None = Field(
        default=None, description="The index of the post's target the problem is about."
    )
    platform: str | None = Field(
        default=None, description="The network of that target (a name from GET /api/v1/platforms)."
    )
    social_account_id: str | None = Field(default=None, description="The account of that target.")


class Problem(BaseModel):
    """An RFC 9457 problem document, as every T21 error is sent."""

    type: str = Field(examples=["https://t21.app/errors/not_found"])
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable error code.")
    errors: list[ProblemDetail] | None = None
    request_id: str | None = Field(
        default=None, description="The request's `X-Request-ID`: quote it when reporting a fault."
    )


class ValidationProblem(Problem):
    """422 `validation_error`: every field-level problem of the request, in `errors`."""

    errors: list[ProblemDetail] | None = Field(
        default=None, description="Each problem found; a post lists every target's."
    )


class PaymentProblem(Problem):
    """402 `quota_exceeded` (a plan limit is reached) or `plan_required` (not in the tier)."""

    limit: str | None = Field(default=None, description="The limit reached.", examples=["brands"])
    used: int | None = Field(default=None, description="How much of it the organization uses.")
    allowed: int | None = Field(default=None, description="How much the plan includes.")
    tier: str | None = Field(
        default=None, description="The organization's tier.", examples=["free"]
    )
    model: str | None = Field(default=None, description="`plan_required`: the AI model asked for.")
    allowed_models: list[str] | None = Field(
        default=None, description="`plan_required`: the AI models the tier includes."
    )


class ConflictProblem(Problem):
    """409 `conflict`, `idempotency_conflict` or another conflict of state."""

    target_ids: list[str] | None = Field(
        default=None, description="The post's targets that are in the way (being published)."
    )


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": Problem, "content": {PROBLEM_CONTENT_TYPE: {}}, "description": "Problem"},
    "5XX": {"model": Problem, "content": {PROBLEM_CONTENT_TYPE: {}}, "description": "Problem"},
}


def problem_response(
    error: T21Error,
    *,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    body = error.problem()
    if request_id is not None:
        body["request_id"] = request_id
    merged = {**error.headers, **(headers or {})}
    return ProblemResponse(body, status_code=error.status, headers=merged)


def _request_id(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


async def _t21_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, T21Error)
    return problem_response(exc, request_id=_request_id(request))


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return validation_entries(errors)


def validation_entries(
    errors: Sequence[Any], prefix: Sequence[str | int] = ()
) -> list[dict[str, Any]]:
    """Pydantic's errors as a 422's `errors` entries, each `loc` after `prefix` (e.g. `body`
    for a body validated by hand)."""
    # Inputs are deliberately left out: they may hold passwords or tokens.
    entries = []
    for error in errors:
        entry = {
            "loc": [*prefix, *error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": error.get("type"),
        }
        rule = (error.get("ctx") or {}).get("rule")
        if isinstance(rule, str):  # a validator that names the rule it enforces
            entry["rule"] = rule
        entries.append(entry)
    return entries


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if errors and all(tuple(error.get("loc", ()))[:1] == ("path",) for error in errors):
        # Ids are opaque: one that can't exist is simply not found, like one that doesn't.
        detail = f"Nothing at {request.method} {request.url.path}."
        return problem_response(NotFound(detail), request_id=_request_id(request))
    if any(error.get("type") == "json_invalid" for error in errors):
        detail = "The body is not valid JSON."
        ctx = next((e.get("ctx") or {} for e in errors if e.get("type") == "json_invalid"), {})
        if ctx.get("error"):
            detail = f"The body is not valid JSON: {ctx['error']}."
        error: T21Error = BadRequest(detail)
    else:
        error = ValidationFailed(
            "The request has invalid fields; see `errors`.", errors=_validation_errors(errors)
        )
    return problem_response(error, request_id=_request_id(request))


_HTTP_ERRORS: dict[int, type[T21Error]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at the request's path (Starlette's own 405 names only
    the first route that matched the path, so `Allow` would miss e.g. POST beside GET)."""
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        route_methods = getattr(context, "methods", None)
        template = getattr(context, "path", None)
        if not route_methods or not isinstance(template, str):
            continue
        regex, _, _ = compile_path(template)
        if regex.match(path):
            methods.update(route_methods)
    if methods:
        methods.add("OPTIONS")
    return sorted(methods)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error_class = _HTTP_ERRORS.get(exc.status_code)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
        if request.method == "OPTIONS" and allowed:
            # OPTIONS asks what a resource allows (RFC 9110); CORS preflights are answered
            # before the routes, by the CORS middleware, when CORS is on.
            return Response(status_code=204, headers=headers)
    if exc.status_code == 404:
        detail = f"Nothing at {request.method} {request.url.path}."
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    elif isinstance(exc.detail, str) and exc.detail:
        detail = exc.detail
    else:
        detail = ""
    if error_class is None:
        error: T21Error = T21Error(detail or None)
        body = error.problem() | {
            "status": exc.status_code,
            "code": f"http_{exc.status_code}",
            "type": f"https://t21.app/errors/http_{exc.status_code}",
            "title": detail or "HTTP error",
        }
        return ProblemResponse(body, status_code=exc.status_code, headers=headers)
    return problem_response(
        error_class(detail or None), request_id=_request_id(request), headers=headers
    )


async def _response_validation(request: Request, exc: Exception) -> Response:
    # The server built a response that breaks its own schema: a bug, reported as one.
    log.error("response failed validation", errors=str(exc))
    return problem_response(
        InternalError(_internal_detail(request)), request_id=_request_id(request)
    )


def _internal_detail(request: Request | None, request_id: str | None = None) -> str:
    rid = request_id or (_request_id(request) if request is not None else None)
    suffix = f" Quote request id {rid} when reporting it." if rid else ""
    return "An unexpected error occurred." + suffix


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(T21Error, _t21_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(ResponseValidationError, _response_validation)


class UnhandledErrorMiddleware:
    """The innermost middleware: an exception nothing else handled becomes a 500 problem.

    Sitting inside the other middlewares, the 500 still gets the request id, CORS and security
    headers on its way out. The exception is logged in full; the client sees only the request id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            request_id = scope.get("state", {}).get("request_id")
            problem: T21Error
            if database_unavailable(error):
                # Busy or unreachable, not broken: the client may try again shortly.
                log.warning(
                    "database unavailable",
                    path=scope.get("path"),
                    method=scope.get("method"),
                    error=type(error).__name__,
                    cause=str(getattr(error, "orig", error))[:200],
                )
                problem = Unavailable(
                    "The database is busy or unreachable; try again shortly.",
                    headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
                )
            else:
                log.exception("unhandled error", path=scope.get("path"), method=scope.get("method"))
                problem = InternalError(_internal_detail(None, request_id))
            if started:
                raise
            response = problem_response(problem, request_id=request_id)
            await response(scope, receive, send)
