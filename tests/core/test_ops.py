"""Operational endpoints: liveness, honest readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from t21.core.db import create_engine
from t21.core.runtime import Runtime
from t21.worker.queue import JobQueue
from tests.core.test_http import assert_problem
from tests.support.metrics import scrape, value


async def test_health_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_database_and_broker(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


async def _until_ready(client: httpx.AsyncClient) -> None:
    """A process is ready once its job consumer reads the broker, a moment after it starts."""
    for _ in range(100):
        if (await client.get("/ready")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the process never became ready")


async def test_ready_is_503_naming_an_unreachable_database(
    client: httpx.AsyncClient, runtime: Runtime, settings_factory: Any
) -> None:
    await _until_ready(client)
    healthy = runtime.engine
    runtime.engine = create_engine(
        settings_factory(database_url="postgresql://t21@127.0.0.1:1/t21"), pooled=False
    )
    try:
        response = await client.get("/ready")
    finally:
        await runtime.engine.dispose()
        runtime.engine = healthy
    body = assert_problem(response, 503, "unavailable")
    assert body["checks"]["database"].startswith("unreachable")
    assert body["checks"]["broker"] == "ok"
    assert "database" in body["detail"]


async def test_ready_is_503_naming_an_unreachable_broker(
    client: httpx.AsyncClient, runtime: Runtime, settings_factory: Any
) -> None:
    working = runtime.jobs
    # A queue on a Redis nobody listens on: what a worker sees when its broker is down.
    runtime.jobs = JobQueue(settings_factory(redis_url="redis://127.0.0.1:1/0"))
    try:
        response = await client.get("/ready")
    finally:
        runtime.jobs = working
    body = assert_problem(response, 503, "unavailable")
    assert body["checks"] == {"database": "ok", "broker": body["checks"]["broker"]}
    assert body["checks"]["broker"] != "ok"


async def test_metrics_expose_requests_by_route_template(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    await client.get("/api/v1/_test/conflict")
    await client.get("/api/v1/_test/conflict")
    await client.get("/api/v1/nothing/here/123")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = await scrape(client)
    conflict = {"method": "GET", "route": "/api/v1/_test/conflict", "status": "409"}
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    total = "t21_http_requests_total"
    assert value(after, total, **conflict) - value(before, total, **conflict) == 2
    assert value(after, total, **unmatched) - value(before, total, **unmatched) == 1
    assert "/nothing/here/123" not in response.text
    durations = "t21_http_request_duration_seconds_count"
    route = {"method": "GET", "route": "/api/v1/_test/conflict"}
    assert value(after, durations, **route) - value(before, durations, **route) == 2


async def test_metrics_can_require_a_token(app_factory: Any) -> None:
    app: FastAPI = app_factory(metrics_token="scrape-me-please")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            anonymous = await http.get("/metrics")
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
            right = await http.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
    assert_problem(anonymous, 401, "not_authenticated")
    assert_problem(wrong, 401, "not_authenticated")
    assert right.status_code == 200
