"""OpenTelemetry traces: HTTP requests, database statements, calls to outside services (the
networks, OpenRouter, Stripe, webhook endpoints) and jobs, one trace from a request to the jobs
it caused.

Off unless `T21_OTEL_ENDPOINT` names an OTLP/HTTP collector: then no tracer provider exists,
nothing is instrumented and each log line pays one lookup of the current span (the API's
no-op). On, `open_tracing` gives the process its own tracer provider (batching exporter, a
parent-based ratio sampler, `service.name` from `T21_OTEL_SERVICE_NAME` and the process's role),
instruments the database engine and httpx, and the API adds the ASGI middleware; a job carries
its sender's context in the message's `traceparent` label (W3C Trace Context) and runs in a
span of its own under it. Work that outlives any job's message keeps the context in its row
instead: an event stores `current_traceparent()`, and each attempt to deliver it to a webhook
runs in `continued_span` under it, however late and from whichever job. `trace_id` and `span_id`
join the request or job id in every log line.

Nothing secret reaches a span: a request's span is named by its route template
(`GET /api/v1/review/{token}`) and records no path or query (review tokens and OAuth codes travel
in them), and an outside call records only the origin it went to (Graph API tokens travel in
queries, a Telegram bot's token in the path). That is why the server span is T21's own
(`TracingMiddleware`) rather than the ASGI instrumentation's, which records the raw path.

Database statements get a span each from SQLAlchemy's cursor events (`_StatementSpans`): the
SQL with its placeholders, never the bound values. (OpenTelemetry's SQLAlchemy instrumentation
declares support below SQLAlchemy 2.1, which T21 runs.)

Libraries: opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http and the httpx
instrumentation (https://opentelemetry.io/docs/languages/python/).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager, suppress
from contextvars import Token
from typing import TYPE_CHECKING, Any, cast

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from t21 import __version__
from t21.core.settings import Settings

if TYPE_CHECKING:
    # The SDK and the instrumentations are imported only when tracing is turned on.
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine

TRACER_NAME = "t21"
# The message label a job's sender context travels in.
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_provider: TracerProvider | None = None
_users = 0


def enabled(settings: Settings) -> bool:
    return bool(settings.otel_endpoint)


def provider() -> TracerProvider | None:
    """The process's tracer provider while tracing is on."""
    return _provider


def tracer() -> trace.Tracer:
    """T21's tracer: a real one while tracing is on, the no-op tracer otherwise."""
    if _provider is None:
        return trace.NoOpTracer()
    return _provider.get_tracer(TRACER_NAME, __version__)


def _exporting_processor(settings: Settings) -> SpanProcessor:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = str(settings.otel_endpoint).rstrip("/")
    return BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))


@contextmanager
def open_tracing(
    settings: Settings,
    engine: AsyncEngine,
    *,
    role: str,
    processor: SpanProcessor | None = None,
) -> Iterator[TracerProvider | None]:
    """Tracing on for this process while the block runs, if `settings` ask for it (or a
    `processor` is given: tests collect spans in memory). Instruments `engine` and httpx;
    flushes and takes everything off at the end."""
    global _provider, _users
    if processor is None and not enabled(settings):
        yield None
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    if _provider is None:
        resource = Resource.create(
            {
                "service.name": settings.otel_service_name,
                "service.version": __version__,
                "service.instance.role": role,
                "deployment.environment": settings.env.value,
            }
        )
        _provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.otel_sample_ratio))
        )
        _provider.add_span_processor(processor or _exporting_processor(settings))
        HTTPXClientInstrumentor().instrument(
            tracer_provider=_provider,
            request_hook=_origin_only,
            async_request_hook=_async_origin_only,
        )
    _users += 1
    statements = _StatementSpans(engine)
    try:
        yield _provider
    finally:
        statements.remove()
        _users -= 1
        if _users == 0:
            HTTPXClientInstrumentor().uninstrument()
            _provider.shutdown()
            _provider = None


def carrier() -> dict[str, str]:
    """The current trace context as W3C Trace Context headers (empty when there is none)."""
    headers: dict[str, str] = {}
    if _provider is not None:
        inject(headers)
    return headers


def current_traceparent() -> str | None:
    """The current span's context as a W3C `traceparent` (version 00, 55 characters), to keep
    with a row whose later work continues this trace (an event's webhook deliveries); None while
    tracing is off (one global lookup) or outside any span. `tracestate` is not kept: T21 sets
    none, and a caller's vendor state doesn't outlive the request it came with."""
    if _provider is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


@contextmanager
def continued_span(
    name: str, traceparent: str | None, *, attributes: dict[str, str | int]
) -> Iterator[trace.Span]:
    """A span made current for the block, continuing the trace `traceparent` names (kept with
    the row that caused this work) as a child of that span, and linked to the span current
    now (the job doing the work: a dispatcher, a retry, or another delivery's hand-over may
    have sent it, in a trace of its own). Without a `traceparent` (recorded while tracing was
    off, or outside any span) it is a child of the current span. Tracing off: the no-op span,
    and nothing else is done."""
    if _provider is None:
        yield trace.INVALID_SPAN
        return
    parent = extract({TRACEPARENT: traceparent}) if traceparent else None
    links: list[trace.Link] = []
    if parent is not None and trace.get_current_span(parent).get_span_context().is_valid:
        running = trace.get_current_span().get_span_context()
        if running.is_valid:
            links.append(trace.Link(running, {"t21.link": "run_by"}))
    else:
        parent = None
    with tracer().start_as_current_span(
        name, context=parent, kind=trace.SpanKind.INTERNAL, attributes=attributes, links=links
    ) as span:
        yield span


def attach_job_span(name: str, job_id: str, labels: MutableMapping[str, Any]) -> object | None:
    """Start the span a job runs in, continuing the trace its sender was in (the message's
    labels), or a new trace when it was sent outside one; made current until
    `detach_job_span(handle)`, which a broker middleware calls after the job."""
    if _provider is None:
        return None
    parent = extract({key: str(labels[key]) for key in (TRACEPARENT, TRACESTATE) if key in labels})
    span = tracer().start_span(
        f"job {name}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.operation.type": "process", "t21.job": name, "t21.job_id": job_id},
    )
    token = otel_context.attach(trace.set_span_in_context(span))
    return (span, token)


def detach_job_span(handle: object | None, *, error: BaseException | None) -> None:
    """End the span `attach_job_span` started, marked failed when the job raised `error`."""
    if handle is None:
        return
    span, token = cast("tuple[trace.Span, object]", handle)
    if error is not None:
        span.record_exception(error)
        span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
    span.end()
    # A job ended in another context than it began leaves nothing to detach there: the span
    # is ended all the same, and that context dies with its task.
    with suppress(ValueError):
        otel_context.detach(cast("Token[otel_context.Context]", token))


def _origin(url: Any) -> str:
    port = f":{url.port}" if getattr(url, "port", None) else ""
    return f"{url.scheme}://{url.host}{port}"


def _origin_only(span: trace.Span, request: Any) -> None:
    """An outside call's span keeps the origin it went to, never its path or query."""
    if span.is_recording():
        origin = _origin(request.url)
        span.set_attribute("url.full", origin)
        span.set_attribute("http.url", origin)


async def _async_origin_only(span: trace.Span, request: Any) -> None:
    _origin_only(span, request)


# FastAPI's own telemetry, off: T21's request span is `TracingMiddleware`'s, which names a
# span by its route template only. FastAPI's would record the raw path (review tokens and
# OAuth codes travel in paths and queries) under any global tracer provider, e.g. one that
# `opentelemetry-instrument` or `FASTAPI_OTEL_AUTO_CONFIGURE` sets up; and even unconfigured
# it asks OpenTelemetry for the global providers on every request.
FASTAPI_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


class TracingMiddleware:
    """The outermost layer while tracing is on: a server span per HTTP request, continuing the
    caller's trace (`traceparent`), named and labelled by route template once routing is done
    (`name_request_span`), with the response status. Passes straight through when off."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _provider is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers", [])
            if key in (b"traceparent", b"tracestate")
        }
        method = str(scope.get("method", ""))
        with tracer().start_as_current_span(
            method,
            context=extract(headers),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.scheme": scope.get("scheme", "")},
        ) as span:

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(trace.Status(trace.StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, send_with_status)


def name_request_span(method: str, route: str, request_id: str) -> None:
    """Name the current request's span by its route template, with the request id."""
    if _provider is None:
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
        span.set_attribute("t21.request_id", request_id)


# The longest statement text kept on a span.
STATEMENT_CHARS = 2000


class _StatementSpans:
    """A client span per statement the engine runs, under the span current when it ran."""

    def __init__(self, engine: AsyncEngine) -> None:
        from sqlalchemy import event

        self._event = event
        self._engine = engine.sync_engine
        self._system = self._engine.dialect.name
        self._listeners: list[tuple[str, Any]] = [
            ("before_cursor_execute", self._before),
            ("after_cursor_execute", self._after),
            ("handle_error", self._error),
        ]
        for name, listener in self._listeners:
            event.listen(self._engine, name, listener)

    def remove(self) -> None:
        for name, listener in self._listeners:
            self._event.remove(self._engine, name, listener)

    def _before(
        self, _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = tracer().start_span(
            f"{operation} {self._system}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "db.system": self._system,
                "db.operation": operation,
                "db.statement": statement[:STATEMENT_CHARS],
            },
        )
        if context is not None:
            context._t21_span = span

    def _after(
        self, _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        span = getattr(context, "_t21_span", None)
        if span is not None:
            span.end()
            context._t21_span = None

    def _error(self, exception_context: Any) -> None:
        context = exception_context.execution_context
        span = getattr(context, "_t21_span", None)
        if span is not None:
            error = exception_context.original_exception
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
            span.end()
            context._t21_span = None
