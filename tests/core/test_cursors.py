"""Crafted cursors on every list endpoint: a well-formed cursor pages, anything else is a 422 at
`["query","cursor"]`, never a 500 (a cursor's keys once reached the database unchecked)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.test_http import assert_problem
from tests.support.accounts import Account, register

CRAFTED = [
    [["u", 123]],
    [["s", "' OR 1=1 --"]],
    [["u", "' OR 1=1 --"]],
    [["t", "2026-01-01T00:00:00"]],
    [["t", "0001-01-01T00:00:00+01:00"]],
    [["i", 2**80]],
    [["i", True]],
    [["s", "a\x00b"]],
    [["u", uuid.uuid4().hex], ["u", uuid.uuid4().hex]],
    [["t", "2026-01-01T00:00:00+00:00"]],
    [["u", ["nested"]]],
    [{"u": "x"}],
    [["u"]],
    [["u", uuid.uuid4().hex, "extra"]],
    [[1, 2]],
    ["us"],
    {"u": 1},
    [],
    None,
    1e400,
]


def cursor_of(value: Any) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def list_endpoints(client: httpx.AsyncClient, account: Account) -> list[str]:
    """Every list endpoint that takes a cursor, as the owner of an organization with a brand."""
    org = account.personal_organization_id
    brand = await client.post(
        "/api/v1/brands",
        json={"name": "Cursor Co", "organization_id": str(org)},
        headers=account.headers,
    )
    assert brand.status_code == 201, brand.text
    brand_id = brand.json()["id"]
    return [
        "/api/v1/brands",
        f"/api/v1/brands?organization_id={org}",
        "/api/v1/media",
        f"/api/v1/media?brand_id={brand_id}",
        "/api/v1/organizations",
        f"/api/v1/organizations/{org}/members",
        f"/api/v1/organizations/{org}/invitations",
        f"/api/v1/organizations/{org}/api-keys",
        "/api/v1/social-accounts",
        f"/api/v1/social-accounts?brand_id={brand_id}",
        "/api/v1/templates",
        f"/api/v1/templates?brand_id={brand_id}",
        "/api/v1/posts",
        f"/api/v1/posts?brand_id={brand_id}",
    ]


def assert_refused_cursor(response: httpx.Response) -> None:
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["query", "cursor"]


async def test_a_crafted_cursor_is_a_422_on_every_list_endpoint(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    for url in await list_endpoints(client, account):
        for crafted in CRAFTED:
            response = await client.get(
                url, params={"cursor": cursor_of(crafted)}, headers=account.headers
            )
            assert_refused_cursor(response)


async def test_a_cursor_of_the_right_shape_pages_on_from_it(client: httpx.AsyncClient) -> None:
    account = await register(client)
    cursor = cursor_of([["u", uuid.UUID(int=0).hex]])
    response = await client.get(
        "/api/v1/organizations", params={"cursor": cursor}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == [
        str(account.personal_organization_id)
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
# Mostly lists of [kind, value] pairs, the shape a cursor has, so the checks past the shape
# are reached too.
cursor_documents = json_values | st.lists(
    st.tuples(st.sampled_from(["u", "t", "i", "s", "x"]), json_values).map(list),
    min_size=1,
    max_size=4,
)


@pytest.fixture
async def endpoints(client: httpx.AsyncClient) -> tuple[Account, list[str]]:
    account = await register(client)
    return account, await list_endpoints(client, account)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=cursor_documents)
async def test_no_cursor_document_makes_a_list_endpoint_fail(
    client: httpx.AsyncClient, endpoints: tuple[Account, list[str]], document: Any
) -> None:
    account, urls = endpoints
    cursor = cursor_of(document)
    for url in urls:
        response = await client.get(url, params={"cursor": cursor}, headers=account.headers)
        assert response.status_code in (200, 422), (url, document, response.text)
        if response.status_code == 422:
            assert_refused_cursor(response)
