"""Templates: CRUD per brand, declared variables, rendering that never runs template text,
members write and viewers read and render, another tenant's template is not found."""

from __future__ import annotations

from typing import Any

import httpx

from t21.core.settings import Settings
from t21.worker.queue import JobQueue
from tests.core.test_http import assert_problem
from tests.support.accounts import Account, add_member, create_api_key, register

TEMPLATES = "/api/v1/templates"
LAUNCH = {
    "name": "Launch",
    "content": "New at {{ shop }}: {{product}} from {{ price }}! {{{{ not a placeholder }}",
    "variables": ["shop", " product ", "price", "shop", "unused"],
}


async def _brand(client: httpx.AsyncClient, account: Account, **fields: Any) -> str:
    response = await client.post(
        "/api/v1/brands", json={"name": "Acme", **fields}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    brand_id: str = response.json()["id"]
    return brand_id


async def _create(
    client: httpx.AsyncClient, account: Account, brand_id: str, **fields: Any
) -> httpx.Response:
    body = {"brand_id": brand_id, **LAUNCH, **fields}
    return await client.post(TEMPLATES, json=body, headers=account.headers)


async def _render(
    client: httpx.AsyncClient, account: Account, template_id: str, values: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"{TEMPLATES}/{template_id}/render", json={"values": values}, headers=account.headers
    )


def _locs(body: dict[str, Any]) -> list[list[Any]]:
    return [error["loc"] for error in body["errors"]]


async def test_create_read_update_delete(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    brand_id = await _brand(client, owner)
    created = await _create(client, owner, brand_id)
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {
        "id",
        "brand_id",
        "name",
        "content",
        "variables",
        "created_at",
        "updated_at",
    }
    assert body["brand_id"] == brand_id
    assert body["content"] == LAUNCH["content"]
    assert body["variables"] == ["shop", "product", "price", "unused"]
    assert body["created_at"].endswith("Z")
    template_url = f"{TEMPLATES}/{body['id']}"
    assert (await client.get(template_url, headers=owner.headers)).json() == body

    patched = await client.patch(
        template_url, json={"name": "Launch v2", "content": "Hi {{ shop }}"}, headers=owner.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Launch v2"
    assert patched.json()["content"] == "Hi {{ shop }}"
    assert patched.json()["variables"] == body["variables"]

    deleted = await client.delete(template_url, headers=owner.headers)
    assert deleted.status_code == 204
    assert_problem(await client.get(template_url, headers=owner.headers), 404, "not_found")


async def test_render_inserts_values_and_keeps_escapes(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    template = (await _create(client, owner, await _brand(client, owner))).json()
    rendered = await _render(
        client, owner, template["id"], {"shop": "Acme", "product": "Beans", "price": 9.5}
    )
    assert rendered.status_code == 200, rendered.text
    assert rendered.json() == {"content": "New at Acme: Beans from 9.5! {{ not a placeholder }}"}
    with_integer = await _render(
        client, owner, template["id"], {"shop": "A", "product": "B", "price": 10, "unused": ""}
    )
    assert with_integer.json()["content"].startswith("New at A: B from 10!")


async def test_a_value_is_inserted_literally_never_as_template_text(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client)
    brand_id = await _brand(client, owner)
    template = (
        await _create(client, owner, brand_id, content="{{ a }}|{{ b }}", variables=["a", "b"])
    ).json()
    hostile = "{{ b }} {{ __import__('os').system('id') }} {{{{ {% raw %}"
    rendered = await _render(client, owner, template["id"], {"a": hostile, "b": "B"})
    assert rendered.status_code == 200, rendered.text
    assert rendered.json()["content"] == f"{hostile}|B"


async def test_unknown_and_missing_values_are_each_named(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    template = (await _create(client, owner, await _brand(client, owner))).json()
    response = await _render(client, owner, template["id"], {"shop": "Acme", "colour": "red"})
    body = assert_problem(response, 422, "validation_error")
    assert sorted(_locs(body)) == [
        ["body", "values", "colour"],
        ["body", "values", "price"],
        ["body", "values", "product"],
    ]
    messages = {error["loc"][-1]: error["msg"] for error in body["errors"]}
    assert "unknown" in messages["colour"]
    assert "missing" in messages["price"]


async def test_values_are_strings_or_numbers(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    template = (await _create(client, owner, await _brand(client, owner))).json()
    for bad in ({"nested": "object"}, ["list"], True, None):
        values = {"shop": bad, "product": "B", "price": "1"}
        body = assert_problem(
            await _render(client, owner, template["id"], values), 422, "validation_error"
        )
        assert _locs(body) == [["body", "values", "shop"]]


async def test_rendered_output_is_bounded(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    brand_id = await _brand(client, owner)
    content = "{{v}}" * 2000
    template = (await _create(client, owner, brand_id, content=content, variables=["v"])).json()
    body = assert_problem(
        await _render(client, owner, template["id"], {"v": "x" * 100}), 422, "validation_error"
    )
    assert "100000-byte limit" in body["errors"][0]["msg"]


async def test_duplicate_name_in_a_brand_is_a_conflict(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    brand_id = await _brand(client, owner)
    first = await _create(client, owner, brand_id)
    assert first.status_code == 201
    assert_problem(await _create(client, owner, brand_id), 409, "conflict")
    other_brand = await _brand(client, owner, name="Other")
    assert (await _create(client, owner, other_brand)).status_code == 201
    second = await _create(client, owner, brand_id, name="Second")
    renamed = await client.patch(
        f"{TEMPLATES}/{second.json()['id']}", json={"name": "Launch"}, headers=owner.headers
    )
    assert_problem(renamed, 409, "conflict")
    listed = await client.get(TEMPLATES, params={"brand_id": brand_id}, headers=owner.headers)
    assert sorted(t["name"] for t in listed.json()["items"]) == ["Launch", "Second"]


async def test_undeclared_placeholders_are_refused(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    brand_id = await _brand(client, owner)
    response = await _create(
        client, owner, brand_id, content="{{ a }} {{ b }} {{ c }}", variables=["b"]
    )
    body = assert_problem(response, 422, "validation_error")
    assert _locs(body) == [["body", "content"], ["body", "content"]]
    assert "{{ a }}" in body["errors"][0]["msg"]
    assert "{{ c }}" in body["errors"][1]["msg"]

    template = (await _create(client, owner, brand_id)).json()
    dropped = await client.patch(
        f"{TEMPLATES}/{template['id']}", json={"variables": ["shop"]}, headers=owner.headers
    )
    body = assert_problem(dropped, 422, "validation_error")
    assert _locs(body) == [["body", "variables"], ["body", "variables"]]
    unchanged = await client.get(f"{TEMPLATES}/{template['id']}", headers=owner.headers)
    assert unchanged.json()["variables"] == template["variables"]


async def test_malformed_placeholders_are_refused(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    brand_id = await _brand(client, owner)
    for content in (
        "{{ user.name }}",
        "{{ name | upper }}",
        "{{ 7 * 7 }}",
        "{{ }}",
        "Hi {{ name",
        "{{ self.__class__ }}",
    ):
        response = await _create(client, owner, brand_id, content=content, variables=["name"])
        body = assert_problem(response, 422, "validation_error")
        assert _locs(body) == [["body", "content"]], content
    template = (await _create(client, owner, brand_id)).json()
    patched = await client.patch(
        f"{TEMPLATES}/{template['id']}", json={"content": "{{ a.b }}"}, headers=owner.headers
    )
    assert_problem(patched, 422, "validation_error")


async def test_invalid_fields_are_refused(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    brand_id = await _brand(client, owner)
    cases: list[tuple[dict[str, Any], list[Any]]] = [
        ({"name": " "}, ["body", "name"]),
        ({"name": "x" * 101}, ["body", "name"]),
        ({"content": ""}, ["body", "content"]),
        ({"content": "x" * 20_001}, ["body", "content"]),
        ({"variables": ["has space"]}, ["body", "variables", 0]),
        ({"variables": ["ok", "1st"]}, ["body", "variables", 1]),
        ({"variables": [f"v{i}" for i in range(51)]}, ["body", "variables"]),
        ({"variables": None}, ["body", "variables"]),
        ({"colour": "red"}, ["body", "colour"]),
    ]
    for fields, location in cases:
        body = assert_problem(
            await _create(client, owner, brand_id, **fields), 422, "validation_error"
        )
        assert location in _locs(body), (fields, body)
    template = (await _create(client, owner, brand_id)).json()
    for patch, location in (
        ({"content": None}, ["body", "content"]),
        ({"brand_id": brand_id}, ["body", "brand_id"]),
    ):
        response = await client.patch(
            f"{TEMPLATES}/{template['id']}", json=patch, headers=owner.headers
        )
        body = assert_problem(response, 422, "validation_error")
        assert location in _locs(body)
    listed = await client.get(TEMPLATES, headers=owner.headers)
    assert [t["id"] for t in listed.json()["items"]] == [template["id"]]


async def test_members_write_and_viewers_read_and_render(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    owner = await register(client)
    org = owner.personal_organization_id
    brand_id = await _brand(client, owner)
    member = await add_member(
        client, jobs, settings, inviter=owner, organization_id=org, role="member"
    )
    viewer = await add_member(
        client, jobs, settings, inviter=owner, organization_id=org, role="viewer"
    )
    made = await _create(client, member, brand_id)
    assert made.status_code == 201, made.text
    url = f"{TEMPLATES}/{made.json()['id']}"
    assert (await client.patch(url, json={"name": "M"}, headers=member.headers)).status_code == 200

    assert (await client.get(url, headers=viewer.headers)).status_code == 200
    listed = await client.get(TEMPLATES, params={"brand_id": brand_id}, headers=viewer.headers)
    assert [t["id"] for t in listed.json()["items"]] == [made.json()["id"]]
    values = {"shop": "A", "product": "B", "price": "C"}
    rendered = await _render(client, viewer, made.json()["id"], values)
    assert rendered.status_code == 200, rendered.text
    assert_problem(await _create(client, viewer, brand_id, name="V"), 403, "forbidden")
    assert_problem(
        await client.patch(url, json={"name": "V"}, headers=viewer.headers), 403, "forbidden"
    )
    assert_problem(await client.delete(url, headers=viewer.headers), 403, "forbidden")

    assert (await client.delete(url, headers=member.headers)).status_code == 204


async def test_an_api_key_acts_with_its_role(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    brand_id = await _brand(client, owner)
    org = owner.personal_organization_id
    member_key = await create_api_key(client, owner, org, role="member")
    viewer_key = await create_api_key(client, owner, org, role="viewer")
    made = await client.post(
        TEMPLATES,
        json={"brand_id": brand_id, **LAUNCH},
        headers={"Authorization": f"Bearer {member_key['key']}"},
    )
    assert made.status_code == 201, made.text
    refused = await client.post(
        TEMPLATES,
        json={"brand_id": brand_id, **LAUNCH, "name": "Other"},
        headers={"Authorization": f"Bearer {viewer_key['key']}"},
    )
    assert_problem(refused, 403, "forbidden")


async def test_another_tenants_template_is_not_found(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    stranger = await register(client)
    brand_id = await _brand(client, owner)
    template = (await _create(client, owner, brand_id)).json()
    url = f"{TEMPLATES}/{template['id']}"
    for method, path, body in (
        ("GET", url, None),
        ("PATCH", url, {"name": "x"}),
        ("DELETE", url, None),
        ("POST", f"{url}/render", {"values": {}}),
    ):
        response = await client.request(method, path, json=body, headers=stranger.headers)
        assert_problem(response, 404, "not_found")
    assert_problem(await _create(client, stranger, brand_id), 404, "not_found")
    listed = await client.get(TEMPLATES, params={"brand_id": brand_id}, headers=stranger.headers)
    assert_problem(listed, 404, "not_found")
    assert (await client.get(TEMPLATES, headers=stranger.headers)).json()["items"] == []
    unknown = await client.get(f"{TEMPLATES}/not-an-id", headers=owner.headers)
    assert_problem(unknown, 404, "not_found")


async def test_listing_pages_through_every_template_once(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    brand_id = await _brand(client, owner)
    other_brand = await _brand(client, owner, name="Other")
    made = [(await _create(client, owner, brand_id, name=f"T{i}")).json()["id"] for i in range(5)]
    elsewhere = (await _create(client, owner, other_brand)).json()["id"]

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"brand_id": brand_id, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(TEMPLATES, params=params, headers=owner.headers)).json()
        assert len(page["items"]) <= 2
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    everything = await client.get(TEMPLATES, headers=owner.headers)
    assert [t["id"] for t in everything.json()["items"]] == [*made, elsewhere]
    bad_cursor = await client.get(TEMPLATES, params={"cursor": "nope"}, headers=owner.headers)
    assert_problem(bad_cursor, 422, "validation_error")


async def test_creation_honours_idempotency_keys(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    brand_id = await _brand(client, owner)
    headers = {**owner.headers, "Idempotency-Key": "template-1"}
    body = {"brand_id": brand_id, **LAUNCH}
    first = await client.post(TEMPLATES, json=body, headers=headers)
    again = await client.post(TEMPLATES, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    changed = await client.post(TEMPLATES, json={**body, "name": "Else"}, headers=headers)
    assert_problem(changed, 409, "idempotency_conflict")


async def test_text_that_is_not_valid_unicode_is_refused(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    template = (await _create(client, owner, await _brand(client, owner))).json()
    headers = {**owner.headers, "Content-Type": "application/json"}
    for raw in ('{"values": {"shop": "\\udc00"}}', '{"values": {"\\ud800": "x"}}'):
        response = await client.post(
            f"{TEMPLATES}/{template['id']}/render", content=raw, headers=headers
        )
        assert_problem(response, 422, "validation_error")
