"""Hardening of the HTTP surface: no NUL characters in text, the API's docs can be turned off,
and a 429 reports the limit that refused it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.core.test_http import assert_problem
from tests.support.accounts import Account, register
from tests.support.windows import fresh_window

BRANDS = "/api/v1/brands"


async def _brands(client: httpx.AsyncClient, account: Account) -> list[dict[str, Any]]:
    listed = await client.get(BRANDS, headers=account.headers)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "Bean\u0000There"}, ["body", "name"]),
        ({"name": "Beans", "keywords": ["roast", "single\u0000origin"]}, ["body", "keywords", 1]),
        ({"name": "Beans", "voice": "\u0000"}, ["body", "voice"]),
        ({"name": "Beans", "bad\u0000key": "x"}, ["body", "bad\\u0000key"]),
    ],
    ids=["field", "list-item", "only-a-nul", "key"],
)
async def test_a_nul_character_in_any_json_text_is_a_422_and_creates_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], loc: list[Any]
) -> None:
    owner = await register(client)
    response = await client.post(BRANDS, json=body, headers=owner.headers)
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["loc"] == loc
    assert "NUL" in problem["detail"]
    assert await _brands(client, owner) == []


async def test_a_nul_is_refused_whatever_the_declared_content_type(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client)
    raw = b'{"name": "Bean\\u0000There"}'
    for content_type in ("application/json; charset=utf-8", "Application/JSON", "text/x+json"):
        headers = owner.headers | {"Content-Type": content_type}
        response = await client.post(BRANDS, content=raw, headers=headers)
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"] == ["body", "name"], content_type
    assert await _brands(client, owner) == []


async def test_an_escaped_backslash_before_u0000_is_ordinary_text(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client)
    response = await client.post(
        BRANDS,
        content=b'{"name": "C:\\\\u0000 path"}',
        headers=owner.headers | {"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "C:\\u0000 path"


async def test_a_nul_character_in_a_query_parameter_is_a_422(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    response = await client.get(f"{BRANDS}?cursor=abc%00def", headers=owner.headers)
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["loc"] == ["query", "cursor"]


async def test_a_nul_character_in_a_path_parameter_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/media/objects/brand%00/file?expires=1&signature=x")
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["loc"][0] == "path"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
async def test_the_api_docs_can_be_turned_off(app_factory: Any, path: str) -> None:
    app: FastAPI = app_factory(api_docs=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get(path)).status_code == 404
            assert (await http.get("/health")).status_code == 200


async def test_the_api_docs_are_served_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "T21 API"


async def test_a_429_reports_the_bucket_that_refused_not_a_tighter_looking_one(
    app_factory: Any,
) -> None:
    # The per-IP bucket (3 an hour) is at 0 remaining with the longer reset when the route's
    # own bucket (2 a minute) refuses the third request: the 429 must describe the route's.
    app: FastAPI = app_factory(rate_limit_per_ip="3/hour")
    await fresh_window(60, needed_s=4)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answers = [await http.get("/api/v1/_test/limited") for _ in range(3)]
            over_ip = await http.get("/api/v1/_test/limited")
    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[2]
    assert refused.headers.get_list("ratelimit-limit") == ["2"]
    assert refused.headers.get_list("ratelimit-remaining") == ["0"]
    assert 1 <= int(refused.headers["ratelimit-reset"]) <= 60
    assert refused.headers["retry-after"] == refused.headers["ratelimit-reset"]
    # Refused by the per-IP bucket, the 429 describes that one.
    assert over_ip.status_code == 429
    assert over_ip.headers.get_list("ratelimit-limit") == ["3"]
    assert over_ip.headers.get_list("ratelimit-remaining") == ["0"]
