"""OpenTelemetry traces: one trace from an HTTP request through the job it enqueued to the
outside call that job made, database statements inside each; nothing secret in any span; and
nothing at all while tracing is off."""

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

from t21.api import create_app
from t21.core import tracing
from t21.worker.queue import JobQueue
from tests.notifications.harness import ResendFake
from tests.notifications.test_email import resend_settings
from tests.support.accounts import register
from tests.support.routes import router as test_router


@pytest.fixture
def resend() -> Iterator[ResendFake]:
    fake = ResendFake()
    with fake.server:
        yield fake


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
    app.include_router(test_router)
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
