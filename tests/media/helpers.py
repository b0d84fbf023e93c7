"""Talking to the media API in tests: a brand to upload to, uploads both ways, fetching URLs."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from t21.core.tls import tls_context
from tests.support.accounts import Account

MEDIA = "/api/v1/media"


async def create_brand(client: httpx.AsyncClient, account: Account, name: str = "Brand") -> str:
    response = await client.post("/api/v1/brands", json={"name": name}, headers=account.headers)
    assert response.status_code == 201, response.text
    brand_id: str = response.json()["id"]
    return brand_id


async def upload(
    client: httpx.AsyncClient,
    account: Account,
    brand_id: str,
    data: bytes,
    *,
    filename: str = "picture.png",
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    part: tuple[Any, ...] = (
        (filename, data) if content_type is None else (filename, data, content_type)
    )
    return await client.post(
        MEDIA,
        data={"brand_id": brand_id},
        files={"file": part},
        headers={**account.headers, **(headers or {})},
    )


async def start_upload(
    client: httpx.AsyncClient, account: Account, brand_id: str, **fields: Any
) -> httpx.Response:
    return await client.post(
        f"{MEDIA}/uploads", json={"brand_id": brand_id, **fields}, headers=account.headers
    )


def local(url: str) -> str:
    """A URL of T21 itself (on its public URL) as a path for the test client."""
    return httpx.URL(url).raw_path.decode()


async def fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET a download URL: through the app for the local folder, over HTTP for S3."""
    if "/api/v1/media/objects/" in url:
        return await client.get(local(url))
    async with httpx.AsyncClient(verify=tls_context()) as outside:
        return await outside.get(url)


async def put(client: httpx.AsyncClient, upload: dict[str, Any], data: bytes) -> httpx.Response:
    """Send the bytes of a direct upload as its instructions say."""
    assert upload["method"] == "PUT"
    if "/api/v1/media/objects/" in upload["url"]:
        return await client.put(local(upload["url"]), content=data, headers=upload["headers"])
    async with httpx.AsyncClient(verify=tls_context()) as outside:
        return await outside.put(upload["url"], content=data, headers=upload["headers"])


def new_id() -> str:
    return str(uuid.uuid4())
