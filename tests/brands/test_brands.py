"""Brands: the contract's CRUD, validation of every field, admins manage and members read,
another tenant's brand is not found."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from t21.core.settings import Settings
from t21.worker.queue import JobQueue
from tests.core.test_http import assert_problem
from tests.support.accounts import Account, add_member, create_api_key, register

BRANDS = "/api/v1/brands"

FULL = {
    "name": "Acme Coffee",
    "description": "Small-batch roasters.",
    "voice": "Warm, playful, never pushy.",
    "target_audience": "Coffee lovers in London",
    "industry": "Food & drink",
    "keywords": ["coffee", "espresso"],
    "default_hashtags": ["#coffee", "roasters"],
    "timezone": "Europe/London",
    "website": "https://acme.example.com/",
}


async def _create(client: httpx.AsyncClient, account: Account, **fields: Any) -> httpx.Response:
    return await client.post(BRANDS, json={"name": "Brand", **fields}, headers=account.headers)


async def test_create_with_every_field_and_read_it_back(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    created = await client.post(BRANDS, json=FULL, headers=owner.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["organization_id"] == str(owner.personal_organization_id)
    assert body["default_hashtags"] == ["#coffee", "#roasters"]
    assert body["timezone"] == "Europe/London"
    assert body["website"] == "https://acme.example.com/"
    fetched = await client.get(f"{BRANDS}/{body['id']}", headers=owner.headers)
    assert fetched.json() == body


async def test_defaults_are_utc_and_empty_lists(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    body = (await _create(client, owner)).json()
    assert body["timezone"] == "UTC"
    assert body["keywords"] == []
    assert body["default_hashtags"] == []
    assert body["description"] is None


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"timezone": "Mars/Olympus"}, ["body", "timezone"]),
        ({"timezone": "GMT+1"}, ["body", "timezone"]),
        ({"name": ""}, ["body", "name"]),
        ({"name": "x" * 101}, ["body", "name"]),
        ({"website": "not a url"}, ["body", "website"]),
        ({"default_hashtags": ["two words"]}, ["body", "default_hashtags", 0]),
        ({"keywords": ["k"] * 51}, ["body", "keywords"]),
        ({"colour": "red"}, ["body", "colour"]),
    ],
)
async def test_invalid_fields_are_refused_and_nothing_is_created(
    client: httpx.AsyncClient, fields: dict[str, Any], location: list[Any]
) -> None:
    owner = await register(client)
    body = assert_problem(await _create(client, owner, **fields), 422, "validation_error")
    assert location in [error["loc"] for error in body["errors"]]
    listed = await client.get(BRANDS, headers=owner.headers)
    assert listed.json()["items"] == []


async def test_update_changes_only_what_is_sent(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    brand = (await client.post(BRANDS, json=FULL, headers=owner.headers)).json()
    patched = await client.patch(
        f"{BRANDS}/{brand['id']}",
        json={"voice": "Dry wit.", "timezone": "America/New_York", "keywords": []},
        headers=owner.headers,
    )
    assert patched.status_code == 200
    body = patched.json()
    assert body["voice"] == "Dry wit."
    assert body["timezone"] == "America/New_York"
    assert body["keywords"] == []
    assert body["name"] == FULL["name"]
    assert body["description"] == FULL["description"]
    invalid = await client.patch(
        f"{BRANDS}/{brand['id']}", json={"timezone": "Nowhere"}, headers=owner.headers
    )
    assert_problem(invalid, 422, "validation_error")


async def test_delete_removes_the_brand(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    brand = (await _create(client, owner)).json()
    assert (
        await client.delete(f"{BRANDS}/{brand['id']}", headers=owner.headers)
    ).status_code == 204
    missing = await client.get(f"{BRANDS}/{brand['id']}", headers=owner.headers)
    assert_problem(missing, 404, "not_found")


async def test_admins_manage_members_and_viewers_read(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    owner = await register(client)
    org = owner.personal_organization_id
    admin = await add_member(
        client, jobs, settings, inviter=owner, organization_id=org, role="admin"
    )
    member = await add_member(
        client, jobs, settings, inviter=owner, organization_id=org, role="member"
    )
    viewer = await add_member(
        client, jobs, settings, inviter=owner, organization_id=org, role="viewer"
    )
    made = await _create(client, admin, organization_id=str(org))
    assert made.status_code == 201
    brand_id = made.json()["id"]
    for reader in (member, viewer):
        assert (await client.get(f"{BRANDS}/{brand_id}", headers=reader.headers)).status_code == 200
        listed = await client.get(BRANDS, headers=reader.headers)
        assert [b["id"] for b in listed.json()["items"]] == [brand_id]
        refused = await _create(client, reader, organization_id=str(org))
        assert_problem(refused, 403, "forbidden")
        edit = await client.patch(
            f"{BRANDS}/{brand_id}", json={"name": "X"}, headers=reader.headers
        )
        assert_problem(edit, 403, "forbidden")
        gone = await client.delete(f"{BRANDS}/{brand_id}", headers=reader.headers)
        assert_problem(gone, 403, "forbidden")


async def test_another_tenants_brand_is_not_found(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    stranger = await register(client)
    brand = (await _create(client, owner)).json()
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"{BRANDS}/{brand['id']}",
            json={"name": "x"} if method == "PATCH" else None,
            headers=stranger.headers,
        )
        assert_problem(response, 404, "not_found")
    created_elsewhere = await _create(
        client, stranger, organization_id=str(owner.personal_organization_id)
    )
    assert_problem(created_elsewhere, 404, "not_found")
    assert (await client.get(BRANDS, headers=stranger.headers)).json()["items"] == []


async def test_listing_filters_by_organization(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    other_org = (
        await client.post("/api/v1/organizations", json={"name": "Side"}, headers=owner.headers)
    ).json()["id"]
    personal = (await _create(client, owner, name="Mine")).json()["id"]
    side = (await _create(client, owner, name="Side brand", organization_id=other_org)).json()["id"]
    everything = await client.get(BRANDS, headers=owner.headers)
    assert {b["id"] for b in everything.json()["items"]} == {personal, side}
    filtered = await client.get(
        BRANDS, params={"organization_id": other_org}, headers=owner.headers
    )
    assert [b["id"] for b in filtered.json()["items"]] == [side]


async def test_an_api_key_creates_brands_in_its_organization(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    key = await create_api_key(client, owner, owner.personal_organization_id, role="admin")
    headers = {"Authorization": f"Bearer {key['key']}"}
    created = await client.post(BRANDS, json={"name": "Via key"}, headers=headers)
    assert created.status_code == 201
    assert created.json()["organization_id"] == str(owner.personal_organization_id)
    member_key = await create_api_key(client, owner, owner.personal_organization_id, role="member")
    refused = await client.post(
        BRANDS, json={"name": "No"}, headers={"Authorization": f"Bearer {member_key['key']}"}
    )
    assert_problem(refused, 403, "forbidden")
