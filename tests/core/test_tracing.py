"""OpenTelemetry traces: one trace from an HTTP request through the job it enqueued to the
outside call that job made, database statements inside each; one trace from a request that
changes a post through its event to the webhook delivery (a retry sent by the dispatcher
included); nothing secret in any span; and nothing at all while tracing is off."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from t21.api import create_app
from t21.core import clock, tracing
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.events.models import Event
from t21.events.service import record_event
from t21.worker.queue import JobQueue
from tests.notifications.harness import ResendFake
from tests.notifications.test_email import resend_settings
from tests.posts.conftest import POSTS
from tests.publishing.conftest import Engine, engine  # noqa: F401  (fixture)
from tests.social.conftest import sandbox  # noqa: F401  (fixture)
from tests.support.accounts import register
from tests.support.routes import router as routes_for_tests
from tests.webhooks.conftest import WEBHOOKS, Receiver, later, receiver  # noqa: F401  (fixture)


@pytest.fixture
def resend() -> Iterator[ResendFake]:
    fake = ResendFake()
    with fake.server:
        yield fake


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def app_factory(settings: Settings, settings_factory: Any, exporter: InMemorySpanExporter) -> Any:
    """The suite's app factory, with tracing on and every span collected by `exporter`."""

    def build(**overrides: Any) -> FastAPI:
        application = create_app(
            settings_factory(**overrides) if overrides else settings,
            worker=True,
            loops=False,
            track_jobs=True,
            span_processor=SimpleSpanProcessor(exporter),
        )
        application.include_router(routes_for_tests)
        return application

    return build


@asynccontextmanager
async def traced_api(
    settings_factory: Any, exporter: InMemorySpanExporter | None, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(
        settings_factory(**overrides),
        worker=True,
        loops=False,
        track_jobs=True,
        span_processor=SimpleSpanProcessor(exporter) if exporter is not None else None,
    )
    app.include_router(routes_for_tests)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            yield app, api


async def drain(app: FastAPI) -> None:
    jobs = app.state.runtime.jobs
    assert isinstance(jobs, JobQueue)
    await jobs.drain(timeout=20)


def by_trace(spans: tuple[ReadableSpan, ...], trace_id: int) -> list[ReadableSpan]:
    return [
        span for span in spans if span.context is not None and span.context.trace_id == trace_id
    ]


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    """The names of `span`'s ancestors, nearest first."""
    index = {s.context.span_id: s for s in spans if s.context is not None}
    names: list[str] = []
    parent = span.parent
    while parent is not None and parent.span_id in index:
        found = index[parent.span_id]
        names.append(found.name)
        parent = found.parent
    return names


async def test_a_request_its_job_and_the_jobs_outside_call_are_one_trace(
    settings_factory: Any, resend: ResendFake, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = InMemorySpanExporter()
    async with traced_api(settings_factory, exporter, **resend_settings(resend)) as (app, api):
        account = await register(api)
        await drain(app)
        exporter.clear()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            answer = await api.post(
                "/api/v1/auth/forgot-password",
                json={"email": account.email},
                headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
            )
            assert answer.status_code == 202, answer.text
            await drain(app)
    spans = exporter.get_finished_spans()
    [server] = [span for span in spans if span.kind is trace.SpanKind.SERVER]
    assert server.name == "POST /api/v1/auth/forgot-password"
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/api/v1/auth/forgot-password"
    assert server.attributes["http.response.status_code"] == 202
    assert server.context is not None
    # The caller's trace continues: its trace id, under its span.
    assert format(server.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == "b7ad6b7169203331"
    one_trace = by_trace(spans, server.context.trace_id)
    # The request enqueued the reset job, which enqueued the email's delivery: each job runs
    # in a span of its own under its sender's.
    jobs = {span.name: span for span in one_trace if span.kind is trace.SpanKind.CONSUMER}
    assert len(jobs) >= 2, sorted(jobs)
    for job in jobs.values():
        assert server.name in ancestors(job, one_trace)
    [delivery] = [span for name, span in jobs.items() if name.startswith("job notifications.")]
    calls = [span for span in one_trace if span.kind is trace.SpanKind.CLIENT]
    outside = [span for span in calls if span.attributes and "url.full" in span.attributes]
    assert outside, [span.name for span in calls]
    for call in outside:
        assert call.attributes is not None
        assert call.attributes["url.full"] == resend.url.rstrip("/")  # the origin, no path
        assert delivery.name in ancestors(call, one_trace)
    statements = [
        span for span in one_trace if span.attributes and "db.statement" in span.attributes
    ]
    assert any(server.name in ancestors(span, one_trace) for span in statements)
    assert any(delivery.name in ancestors(span, one_trace) for span in statements)
    # Every log line of the request and the job names the trace.
    trace_hex = format(server.context.trace_id, "032x")
    lines = [
        record.msg
        for record in caplog.records
        if isinstance(record.msg, dict) and ("request_id" in record.msg or "job_id" in record.msg)
    ]
    assert any("request_id" in line for line in lines)
    for line in lines:
        assert line.get("trace_id") == trace_hex, line


async def test_a_span_never_holds_a_token_from_the_path_or_query(settings_factory: Any) -> None:
    exporter = InMemorySpanExporter()
    secret = "tok_" + "s3cr3t" * 6
    async with traced_api(settings_factory, exporter) as (_app, api):
        await api.get(f"/api/v1/review/{secret}?code={secret}")
        await api.get(f"/api/v1/auth/verify-email?token={secret}")
    spans = exporter.get_finished_spans()
    assert spans
    assert secret not in json.dumps([span.to_json() for span in spans])
    names = {span.name for span in spans if span.kind is trace.SpanKind.SERVER}
    assert "GET /api/v1/review/{token}" in names


async def test_a_tracer_provider_set_for_the_process_gets_no_span_of_fastapis_own(
    settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An auto-instrumentation (`opentelemetry-instrument`, `FASTAPI_OTEL_AUTO_CONFIGURE`) may
    set a tracer provider for the whole process. FastAPI would then trace every request itself,
    its span holding the raw path: T21's server span stays the only one, and holds no token."""
    from opentelemetry.sdk.trace import TracerProvider

    exporter = InMemorySpanExporter()
    process_provider = TracerProvider()
    process_provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: process_provider)
    secret = "tok_" + "s3cr3t" * 6
    async with traced_api(settings_factory, None) as (_app, api):
        answer = await api.get(f"/api/v1/review/{secret}")
        assert answer.status_code == 404, answer.text
        assert (await api.get("/health")).status_code == 200
    assert exporter.get_finished_spans() == ()


async def test_tracing_is_off_without_an_endpoint(
    settings_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with traced_api(settings_factory, None) as (_app, api):
        assert tracing.provider() is None
        with caplog.at_level(logging.INFO):
            answer = await api.get("/health")
        assert answer.status_code == 200
    assert isinstance(tracing.tracer(), trace.NoOpTracer)
    for record in caplog.records:
        if isinstance(record.msg, dict):
            assert "trace_id" not in record.msg


# --- from a change to its webhook ------------------------------------------------------------

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def parent_of(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, span.name
    [found] = [
        s for s in spans if s.context is not None and s.context.span_id == span.parent.span_id
    ]
    return found


async def test_a_post_change_its_event_and_the_webhook_delivery_are_one_trace(
    engine: Engine,  # noqa: F811
    receiver: Receiver,  # noqa: F811
    exporter: InMemorySpanExporter,
) -> None:
    api, owner = engine.api, engine.owner
    hook = await api.post(
        WEBHOOKS, json={"url": receiver.url(), "events": ["post.updated"]}, headers=owner.headers
    )
    assert hook.status_code == 201, hook.text
    post = await engine.draft("twitter", content="First words")
    await engine.world.drain()
    exporter.clear()

    edited = await api.patch(
        f"{POSTS}/{post['id']}",
        json={"content": "Better words"},
        headers={**owner.headers, "traceparent": CALLER},
    )
    assert edited.status_code == 200, edited.text
    await engine.world.drain()

    spans = list(exporter.get_finished_spans())
    [server] = [span for span in spans if span.kind is trace.SpanKind.SERVER]
    assert server.name == "PATCH /api/v1/posts/{post_id}"
    assert server.context is not None
    assert format(server.context.trace_id, "032x") == CALLER_TRACE
    [attempt] = named(spans, "webhook deliver")
    assert attempt.context is not None
    # The attempt is the child of the span the event was recorded in: the request's.
    assert attempt.context.trace_id == server.context.trace_id
    assert parent_of(attempt, spans) is server
    assert attempt.attributes is not None
    assert attempt.attributes["t21.event_type"] == "post.updated"
    assert attempt.attributes["http.response.status_code"] == 200
    # ...and linked to the job that ran it (sent after the request's commit).
    [job] = named(spans, "job webhooks.deliver")
    assert job.context is not None
    assert [link.context.span_id for link in attempt.links] == [job.context.span_id]
    assert server.name in ancestors(job, spans)
    # The POST to the receiver is the attempt's child, and carries the trace on.
    origin = receiver.base_url
    [call] = [
        span
        for span in spans
        if span.kind is trace.SpanKind.CLIENT
        and span.attributes
        and span.attributes.get("url.full") == origin
    ]
    assert parent_of(call, spans) is attempt
    [received] = receiver.at("/hook")
    assert received.headers["traceparent"].split("-")[1] == CALLER_TRACE
    # Recording the outcome happens inside the attempt too.
    statements = [s for s in spans if s.attributes and "db.statement" in s.attributes]
    assert any(
        s.parent is not None and s.parent.span_id == attempt.context.span_id for s in statements
    )


async def test_a_retry_sent_by_the_dispatcher_stays_in_the_trace_of_the_change(
    engine: Engine,  # noqa: F811
    receiver: Receiver,  # noqa: F811
    exporter: InMemorySpanExporter,
) -> None:
    api, owner = engine.api, engine.owner
    hook = await api.post(
        WEBHOOKS, json={"url": receiver.url(), "events": ["post.updated"]}, headers=owner.headers
    )
    assert hook.status_code == 201, hook.text
    receiver.script("/hook", (503, 0.0))
    post = await engine.draft("twitter", content="First words")
    await engine.world.drain()
    exporter.clear()
    edited = await api.patch(
        f"{POSTS}/{post['id']}",
        json={"content": "Better words"},
        headers={**owner.headers, "traceparent": CALLER},
    )
    assert edited.status_code == 200, edited.text
    await engine.world.drain()

    # The retry falls due later and the periodic dispatcher (in no trace) sends its job.
    with clock.frozen(later(3600)):
        await engine.loops.run_once("webhooks.dispatch")
        await engine.world.drain()
    assert len(receiver.at("/hook")) == 2

    spans = list(exporter.get_finished_spans())
    [server] = [span for span in spans if span.kind is trace.SpanKind.SERVER]
    first, second = sorted(named(spans, "webhook deliver"), key=lambda span: span.start_time or 0)
    assert first.status.status_code is trace.StatusCode.ERROR
    assert first.attributes is not None
    assert first.attributes["http.response.status_code"] == 503
    assert second.status.status_code is not trace.StatusCode.ERROR
    for attempt in (first, second):
        assert parent_of(attempt, spans) is server
    # The retry's job began a trace of its own; the attempt links to it.
    jobs = sorted(named(spans, "job webhooks.deliver"), key=lambda span: span.start_time or 0)
    retry_job = jobs[-1]
    assert retry_job.context is not None
    assert server.context is not None
    assert retry_job.context.trace_id != server.context.trace_id
    assert [link.context.span_id for link in second.links] == [retry_job.context.span_id]
    for received in receiver.at("/hook"):
        assert received.headers["traceparent"].split("-")[1] == CALLER_TRACE


async def test_an_event_keeps_its_trace_only_while_tracing_is_on(settings_factory: Any) -> None:
    async with traced_api(settings_factory, None) as (app, api):
        account = await register(api)
        async with session_scope(app.state.runtime) as session:
            untraced = await record_event(
                session,
                organization_id=account.personal_organization_id,
                type="post.updated",
                data={},
            )
        assert untraced.traceparent is None
    async with traced_api(settings_factory, InMemorySpanExporter()) as (app, api):
        account = await register(api)
        async with session_scope(app.state.runtime) as session:
            outside = await record_event(
                session,
                organization_id=account.personal_organization_id,
                type="post.updated",
                data={},
            )
            with tracing.tracer().start_as_current_span("a change") as span:
                inside = await record_event(
                    session,
                    organization_id=account.personal_organization_id,
                    type="post.updated",
                    data={},
                )
        async with session_scope(app.state.runtime) as session:
            stored = {
                event.id: event.traceparent
                for event in await session.scalars(
                    select(Event).where(Event.id.in_([outside.id, inside.id]))
                )
            }
    context = span.get_span_context()
    assert stored == {
        outside.id: None,
        inside.id: f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}",
    }
