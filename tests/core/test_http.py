"""The HTTP contract every route shares: problem documents, request ids, headers, body limits."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"https://t21.app/errors/{code}"
    assert body["title"]
    assert body["detail"]
    return body


async def test_unknown_route_is_a_not_found_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/does-not-exist")
    body = assert_problem(response, 404, "not_found")
    assert body["request_id"] == response.headers["x-request-id"]


async def test_wrong_method_is_a_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_domain_error_renders_its_code_detail_and_extensions(
    client: httpx.AsyncClient,
) -> None:
    body = assert_problem(await client.get("/api/v1/_test/conflict"), 409, "conflict")
    assert body["detail"] == "That cannot happen twice."
    assert body["resource"] == "thing"


async def test_malformed_json_is_bad_request(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/_test/echo", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "bad_request")
    assert "JSON" in body["detail"]


async def test_invalid_fields_are_listed_without_echoing_input(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/_test/echo", json={"name": "", "count": 99, "password": "hunter2-secret"}
    )
    body = assert_problem(response, 422, "validation_error")
    locations = {tuple(error["loc"]) for error in body["errors"]}
    assert locations == {("body", "name"), ("body", "count")}
    assert all(error["msg"] for error in body["errors"])
    assert "hunter2" not in response.text


async def test_missing_body_is_a_validation_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/api/v1/_test/echo"), 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body"]


async def test_unexpected_error_is_a_500_problem_without_internals(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.get("/api/v1/_test/boom")
    body = assert_problem(response, 500, "internal_error")
    request_id = response.headers["x-request-id"]
    assert body["request_id"] == request_id
    assert request_id in body["detail"]
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    # The failure is logged in full, with the request id, for the operator.
    records = [r for r in caplog.records if r.name == "t21.errors"]
    assert records, "the unhandled error was not logged"
    logged = records[0].msg
    assert isinstance(logged, dict)
    assert logged["request_id"] == request_id
    # Security headers and the request id survive the failure.
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_request_id_is_generated_echoed_or_replaced(client: httpx.AsyncClient) -> None:
    generated = await client.get("/health")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await client.get("/health", headers={"X-Request-ID": "abc-123.def:4"})
    assert echoed.headers["x-request-id"] == "abc-123.def:4"
    hostile = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"
    assert len(hostile.headers["x-request-id"]) == 32


async def test_security_headers_on_api_responses(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/does-not-exist")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in response.headers


async def test_hsts_when_public_url_is_https(app_factory: Any) -> None:
    app = app_factory(public_url="https://api.example.com")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_declared_oversized_body_is_refused_before_reading(
    app_factory: Any,
) -> None:
    app = app_factory(max_request_bytes=64)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            payload = {"name": "x", "count": 1, "password": "p" * 200}
            response = await http.post("/api/v1/_test/echo", json=payload)
            small = await http.post(
                "/api/v1/_test/echo", json={"name": "x", "count": 1, "password": "p"}
            )
    body = assert_problem(response, 413, "payload_too_large")
    assert "64 bytes" in body["detail"]
    assert small.status_code == 200


async def test_streamed_oversized_body_is_refused(app_factory: Any) -> None:
    app = app_factory(max_request_bytes=64)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "x", "count": 1, "password": "'
        for _ in range(10):
            yield b"p" * 20
        yield b'"}'

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.post(
                "/api/v1/_test/echo",
                content=chunks(),
                headers={"content-type": "application/json"},
            )
    assert_problem(response, 413, "payload_too_large")


async def test_invalid_content_length_is_bad_request(client: httpx.AsyncClient) -> None:
    request = client.build_request(
        "POST", "/api/v1/_test/echo", content=b"{}", headers={"content-type": "application/json"}
    )
    request.headers["content-length"] = "-5"
    response = await client.send(request)
    assert_problem(response, 400, "bad_request")


async def test_cors_allows_listed_origins_only(app_factory: Any) -> None:
    app = app_factory(cors_origins="https://app.example.com, https://admin.example.com")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            allowed = await http.options(
                "/api/v1/_test/echo",
                headers={
                    "Origin": "https://admin.example.com",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization,content-type",
                },
            )
            denied = await http.get("/health", headers={"Origin": "https://evil.example.com"})
            simple = await http.get("/health", headers={"Origin": "https://app.example.com"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://admin.example.com"
    assert "access-control-allow-origin" not in denied.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "X-Request-ID" in simple.headers["access-control-expose-headers"]


async def test_responses_vary_by_origin_and_carry_the_headers_of_their_kind_of_path(
    app_factory: Any,
) -> None:
    app = app_factory(cors_origins="https://app.example.com")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            api = await http.get("/api/v1/does-not-exist")
            health = await http.get("/health")
            docs = await http.get("/docs")
            cross = await http.get("/health", headers={"Origin": "https://app.example.com"})
    for response in (api, health, docs):
        # No Origin: nothing of CORS but the Vary that tells caches the answer depends on it.
        assert response.headers.get_list("vary") == ["Origin"]
        assert "access-control-allow-origin" not in response.headers
        assert response.headers["x-frame-options"] == "DENY"
    assert api.headers["cache-control"] == "no-store"
    assert "cache-control" not in health.headers
    assert "content-security-policy" in health.headers
    assert "content-security-policy" not in docs.headers
    assert cross.headers["access-control-allow-origin"] == "https://app.example.com"


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    document = spec.json()
    assert document["info"]["title"] == "T21 API"
    assert "Problem" in json.dumps(document["components"])
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_the_app_refuses_requests_when_not_started(app: FastAPI) -> None:
    # Without the lifespan the runtime doesn't exist: a clean 500 problem, not a crash.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.post("/api/v1/_test/emails", json={"to": "a@example.com"})
    assert_problem(response, 500, "internal_error")
