"""The media library on S3-compatible storage: moto's S3 server on loopback, reached through
obstore by T21 and over plain HTTP (presigned URLs) by the client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped]  # comes with moto
import httpx
import pytest
from fastapi import FastAPI
from moto.server import ThreadedMotoServer

from t21.core.uow import session_scope
from t21.media.models import MediaAsset
from t21.media.service import media_item
from t21.worker.queue import JobQueue
from tests.core.test_http import assert_problem
from tests.media import files
from tests.media.helpers import MEDIA, create_brand, fetch, put, start_upload, upload
from tests.support.accounts import register

KEY_ID = "test-key-id"
SECRET = "test-secret-access-key"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class Bucket:
    name: str
    endpoint: str

    def objects(self) -> list[str]:
        listed = _client(self.endpoint).list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in listed.get("Contents", []))


def _client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        region_name=REGION,
    )


@pytest.fixture
def bucket(moto_endpoint: str) -> Bucket:
    name = f"media-{uuid.uuid4().hex[:12]}"
    _client(moto_endpoint).create_bucket(Bucket=name)
    return Bucket(name, moto_endpoint)


@pytest.fixture
async def s3_app(app_factory: Any, bucket: Bucket) -> AsyncIterator[FastAPI]:
    app: FastAPI = app_factory(
        storage_url=f"s3://{bucket.name}/library",
        storage_endpoint=bucket.endpoint,
        storage_region=REGION,
        storage_access_key_id=KEY_ID,
        storage_secret_access_key=SECRET,
    )
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def s3_client(s3_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=s3_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_multipart_upload_lands_in_the_bucket_and_downloads_through_a_presigned_url(
    s3_client: httpx.AsyncClient, s3_app: FastAPI, bucket: Bucket
) -> None:
    owner = await register(s3_client)
    brand_id = await create_brand(s3_client, owner)
    data = files.image("JPEG", (800, 600))
    created = await upload(s3_client, owner, brand_id, data, filename="photo.jpg")
    assert created.status_code == 201, created.text
    asset = created.json()
    assert (asset["content_type"], asset["width"], asset["height"]) == ("image/jpeg", 800, 600)
    assert asset["url"].startswith(f"{bucket.endpoint}/{bucket.name}/library/")
    assert "X-Amz-Signature=" in asset["url"]
    downloaded = await fetch(s3_client, asset["url"])
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert downloaded.headers["content-type"] == "image/jpeg"
    thumbnail = await fetch(s3_client, asset["thumbnail_url"])
    assert thumbnail.content.startswith(b"\xff\xd8\xff")
    assert len(bucket.objects()) == 2

    async with session_scope(s3_app.state.runtime) as session:
        row = await session.get(MediaAsset, uuid.UUID(asset["id"]))
        assert row is not None
    item = media_item(s3_app.state.runtime, row)
    assert (await fetch(s3_client, item.url)).content == data
    assert await item.read(2, 10) == data[2:12]


async def test_presigned_upload_then_complete_then_delete(
    s3_client: httpx.AsyncClient, s3_app: FastAPI, bucket: Bucket
) -> None:
    owner = await register(s3_client)
    brand_id = await create_brand(s3_client, owner)
    data = files.mp4(duration_s=3.0, width=1080, height=1920)
    started = await start_upload(
        s3_client,
        owner,
        brand_id,
        filename="reel.mp4",
        content_type="video/mp4",
        size=len(data),
        sha256=files.sha256(data),
    )
    assert started.status_code == 201, started.text
    asset_id = started.json()["asset"]["id"]
    instructions = started.json()["upload"]
    assert instructions["url"].startswith(f"{bucket.endpoint}/{bucket.name}/library/uploads/")
    assert (await put(s3_client, instructions, data)).status_code == 200

    completed = await s3_client.post(f"{MEDIA}/{asset_id}/complete", headers=owner.headers)
    assert completed.status_code == 200, completed.text
    ready = completed.json()
    assert ready["status"] == "ready"
    assert (ready["duration_s"], ready["width"], ready["height"]) == (3.0, 1080, 1920)
    assert (await fetch(s3_client, ready["url"])).content == data
    jobs = s3_app.state.runtime.jobs
    assert isinstance(jobs, JobQueue)
    await jobs.drain(timeout=20)
    assert not any(key.startswith("library/uploads/") for key in bucket.objects())
    assert len(bucket.objects()) == 1

    deleted = await s3_client.delete(f"{MEDIA}/{asset_id}", headers=owner.headers)
    assert deleted.status_code == 204
    await jobs.drain(timeout=20)
    assert bucket.objects() == []


async def test_a_lie_about_the_type_is_refused_at_complete(
    s3_client: httpx.AsyncClient, bucket: Bucket
) -> None:
    owner = await register(s3_client)
    brand_id = await create_brand(s3_client, owner)
    data = files.image("PNG")
    started = await start_upload(
        s3_client, owner, brand_id, filename="a.jpg", content_type="image/jpeg", size=len(data)
    )
    assert (await put(s3_client, started.json()["upload"], data)).status_code == 200
    asset_id = started.json()["asset"]["id"]
    refused = await s3_client.post(f"{MEDIA}/{asset_id}/complete", headers=owner.headers)
    body = assert_problem(refused, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "content_type"]
    pending = await s3_client.get(f"{MEDIA}/{asset_id}", headers=owner.headers)
    assert pending.json()["status"] == "pending"
    assert pending.json()["url"] is None


async def test_unreachable_storage_is_a_503_and_leaves_no_row(app_factory: Any) -> None:
    app: FastAPI = app_factory(
        storage_url="s3://media-nowhere",
        storage_endpoint="http://127.0.0.1:9",
        storage_region=REGION,
        storage_access_key_id=KEY_ID,
        storage_secret_access_key=SECRET,
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        owner = await register(client)
        brand_id = await create_brand(client, owner)
        response = await upload(client, owner, brand_id, files.image())
        body = assert_problem(response, 503, "unavailable")
        assert "storage" in body["detail"]
        listed = await client.get(MEDIA, headers=owner.headers)
        assert listed.json()["items"] == []
