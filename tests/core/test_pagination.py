"""Keyset pagination: pages in creation order, no row twice or missed, opaque cursors checked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from t21.core.errors import ValidationFailed
from t21.core.pagination import decode_cursor, encode_cursor
from tests.core.test_http import assert_problem
from tests.support.accounts import register

keys = st.one_of(
    st.uuids(),
    st.datetimes(timezones=st.just(UTC)),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
    st.integers(min_value=-(2**53), max_value=2**53),
)


@given(st.lists(keys, min_size=1, max_size=4))
def test_cursors_round_trip(values: list[uuid.UUID | datetime | str | int]) -> None:
    assert decode_cursor(encode_cursor(values)) == tuple(values)


@pytest.mark.parametrize("cursor", ["not-base64!!", "e30", "W1sieCIsMV1d", "bnVsbA"])
def test_a_malformed_cursor_is_a_validation_error(cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor)


async def test_pages_cover_every_row_once_in_creation_order(client: httpx.AsyncClient) -> None:
    account = await register(client)
    created = []
    for index in range(5):
        response = await client.post(
            "/api/v1/organizations", json={"name": f"Org {index}"}, headers=account.headers
        )
        created.append(response.json()["id"])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await client.get("/api/v1/organizations", params=params, headers=account.headers)
        assert page.status_code == 200
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [str(account.personal_organization_id), *created]


async def test_the_default_page_size_is_20_and_the_limit_is_checked(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    full = await client.get("/api/v1/organizations", headers=account.headers)
    assert full.json()["next_cursor"] is None
    for bad in ("0", "101", "ten"):
        response = await client.get(
            "/api/v1/organizations", params={"limit": bad}, headers=account.headers
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["query", "limit"]
    forged = await client.get(
        "/api/v1/organizations", params={"cursor": "garbage"}, headers=account.headers
    )
    assert assert_problem(forged, 422, "validation_error")["errors"][0]["loc"] == [
        "query",
        "cursor",
    ]
