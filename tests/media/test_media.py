"""The media library on the local folder: uploads both ways, what is refused (and leaves nothing
behind), signed URLs, deletion while a post is scheduled, tenants, roles and storage use."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from t21.core import clock
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.media.models import MediaAsset
from t21.media.service import media_item, storage_used
from t21.platforms.base import MediaKind
from t21.posts.models import Post, PostMedia, PostTarget, TargetStatus
from t21.worker.loops import LoopRunner
from t21.worker.queue import JobQueue
from tests.core.test_http import assert_problem
from tests.media import files
from tests.media.helpers import MEDIA, create_brand, fetch, local, put, start_upload, upload
from tests.support.accounts import Account, add_member, register


async def _owner_and_brand(client: httpx.AsyncClient) -> tuple[Account, str]:
    owner = await register(client)
    return owner, await create_brand(client, owner)


async def _assets_in_storage(runtime: Runtime) -> list[str]:
    root = runtime.settings.resolved_media_dir
    if not root.exists():
        return []
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    )


async def _listed(client: httpx.AsyncClient, account: Account) -> list[dict[str, Any]]:
    response = await client.get(MEDIA, headers=account.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# --- multipart uploads ---------------------------------------------------------------------------


async def test_multipart_upload_is_sniffed_measured_hashed_and_downloadable(
    client: httpx.AsyncClient,
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    data = files.image("PNG", (640, 480))
    # Neither the name nor a declared type says what it is: the bytes do.
    created = await upload(client, owner, brand_id, data, filename="../../etc/passwd")
    assert created.status_code == 201, created.text
    asset = created.json()
    assert set(asset) == {
        "id", "brand_id", "filename", "content_type", "size", "width", "height",
        "duration_s", "sha256", "status", "url", "thumbnail_url", "created_at",
    }  # fmt: skip
    assert asset["brand_id"] == brand_id
    assert asset["filename"] == "../../etc/passwd"  # shown back, never used as a path
    assert asset["content_type"] == "image/png"
    assert (asset["size"], asset["width"], asset["height"]) == (len(data), 640, 480)
    assert asset["sha256"] == files.sha256(data)
    assert asset["status"] == "ready"
    assert asset["duration_s"] is None
    assert asset["created_at"].endswith("Z") or asset["created_at"].endswith("+00:00")

    downloaded = await fetch(client, asset["url"])
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert downloaded.headers["content-type"] == "image/png"
    thumbnail = await fetch(client, asset["thumbnail_url"])
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert thumbnail.content.startswith(b"\xff\xd8\xff")

    fetched = await client.get(f"{MEDIA}/{asset['id']}", headers=owner.headers)
    assert fetched.status_code == 200
    assert {k: v for k, v in fetched.json().items() if not k.endswith("url")} == {
        k: v for k, v in asset.items() if not k.endswith("url")
    }
    assert (await fetch(client, fetched.json()["url"])).content == data


async def test_video_gets_its_duration_and_frame_size(client: httpx.AsyncClient) -> None:
    owner, brand_id = await _owner_and_brand(client)
    data = files.mp4(duration_s=12.5, width=1280, height=720)
    created = await upload(client, owner, brand_id, data, filename="clip.mp4")
    assert created.status_code == 201, created.text
    asset = created.json()
    assert asset["content_type"] == "video/mp4"
    assert asset["duration_s"] == 12.5
    assert (asset["width"], asset["height"]) == (1280, 720)
    assert asset["thumbnail_url"] is None
    assert (await fetch(client, asset["url"])).content == data


@pytest.mark.parametrize(
    ("data", "content_type", "message"),
    [
        (files.image("JPEG"), "image/png", "not the declared image/png"),
        (b"<html><script>alert(1)</script></html>", None, "Unsupported file type"),
        (b"%PDF-1.7 not a picture", "application/pdf", "Unsupported file type"),
        (files.corrupt_png(), "image/png", "corrupt"),
        (files.png_bomb(), "image/png", "pixels are accepted"),
        (b"", "image/png", "empty"),
    ],
    ids=["content-type-lie", "html", "pdf", "corrupt-image", "decompression-bomb", "empty"],
)
async def test_refused_uploads_are_clear_422s_and_leave_nothing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    data: bytes,
    content_type: str | None,
    message: str,
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    response = await upload(client, owner, brand_id, data, content_type=content_type)
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "file"]
    assert message in body["detail"]
    assert await _listed(client, owner) == []
    assert await _assets_in_storage(runtime) == []


async def test_an_oversized_upload_is_a_413_and_leaves_nothing(
    client: httpx.AsyncClient, app_factory: Any
) -> None:
    app = app_factory(media_max_upload_bytes=10_000)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as small,
    ):
        owner, brand_id = await _owner_and_brand(small)
        # Just over: caught while the file is read; far over: refused on Content-Length.
        for data in (b"\x89PNG\r\n\x1a\n" + b"\x00" * 10_001, b"\x89PNG" + b"\x00" * 200_000):
            response = await upload(small, owner, brand_id, data)
            assert_problem(response, 413, "payload_too_large")
        announced = await start_upload(
            small, owner, brand_id, filename="big.mp4", content_type="video/mp4", size=10_001
        )
        assert_problem(announced, 413, "payload_too_large")
        assert await _listed(small, owner) == []
        assert await _assets_in_storage(app.state.runtime) == []


async def test_an_upload_needs_a_file_and_a_brand(client: httpx.AsyncClient) -> None:
    owner, brand_id = await _owner_and_brand(client)
    no_file = await client.post(MEDIA, data={"brand_id": brand_id}, headers=owner.headers)
    body = assert_problem(no_file, 422, "validation_error")
    assert ["body", "file"] in [error["loc"] for error in body["errors"]]
    unknown_brand = await upload(client, owner, str(uuid.uuid4()), files.image())
    assert_problem(unknown_brand, 404, "not_found")


async def test_an_idempotent_upload_is_stored_once(client: httpx.AsyncClient) -> None:
    owner, brand_id = await _owner_and_brand(client)
    data = files.image("GIF", (32, 32), mode="P")
    # The same request twice: the same multipart boundary, so the same body.
    key = {"Idempotency-Key": "upload-1", "Content-Type": "multipart/form-data; boundary=fixed"}
    first = await upload(client, owner, brand_id, data, filename="a.gif", headers=key)
    again = await upload(client, owner, brand_id, data, filename="a.gif", headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json()["id"] == again.json()["id"]
    assert [item["id"] for item in await _listed(client, owner)] == [first.json()["id"]]


# --- direct uploads ------------------------------------------------------------------------------


async def test_direct_upload_then_complete_verifies_and_serves_the_bytes(
    client: httpx.AsyncClient, runtime: Runtime, jobs: JobQueue
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    data = files.image("WEBP", (300, 200))
    started = await start_upload(
        client,
        owner,
        brand_id,
        filename="hero.webp",
        content_type="image/webp",
        size=len(data),
        sha256=files.sha256(data).upper(),
    )
    assert started.status_code == 201, started.text
    asset, instructions = started.json()["asset"], started.json()["upload"]
    assert asset["status"] == "pending"
    assert asset["url"] is None
    assert asset["thumbnail_url"] is None
    assert instructions["method"] == "PUT"
    assert instructions["headers"] == {"Content-Type": "image/webp"}

    early = await client.post(f"{MEDIA}/{asset['id']}/complete", headers=owner.headers)
    assert_problem(early, 409, "conflict")

    sent = await put(client, instructions, data)
    assert sent.status_code == 200, sent.text
    completed = await client.post(f"{MEDIA}/{asset['id']}/complete", headers=owner.headers)
    assert completed.status_code == 200, completed.text
    ready = completed.json()
    assert ready["status"] == "ready"
    assert (ready["width"], ready["height"], ready["size"]) == (300, 200, len(data))
    assert ready["sha256"] == files.sha256(data)
    assert (await fetch(client, ready["url"])).content == data
    assert (await fetch(client, ready["thumbnail_url"])).status_code == 200

    # Completing again answers the same asset; the upload URL can't replace the verified bytes.
    again = await client.post(f"{MEDIA}/{asset['id']}/complete", headers=owner.headers)
    assert again.status_code == 200
    assert again.json()["sha256"] == ready["sha256"]
    assert_problem(await put(client, instructions, b"\xff\xd8\xffnot it"), 409, "conflict")
    await jobs.drain(timeout=20)
    stored = await _assets_in_storage(runtime)
    assert not any(name.startswith("uploads/") for name in stored)
    assert (await fetch(client, ready["url"])).content == data


@pytest.mark.parametrize(
    ("declared", "sent", "location", "status"),
    [
        ({"content_type": "image/png"}, files.image("JPEG"), ["body", "content_type"], 422),
        ({"content_type": "image/png"}, files.corrupt_png(), ["body", "file"], 422),
        ({"content_type": "image/png", "sha256": "0" * 64}, files.image(), ["body", "sha256"], 422),
    ],
    ids=["content-type-lie", "corrupt", "checksum"],
)
async def test_complete_refuses_what_is_not_what_was_declared(
    client: httpx.AsyncClient,
    declared: dict[str, Any],
    sent: bytes,
    location: list[str],
    status: int,
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    started = await start_upload(
        client, owner, brand_id, filename="x.png", size=len(sent), **declared
    )
    assert started.status_code == 201, started.text
    asset_id = started.json()["asset"]["id"]
    assert (await put(client, started.json()["upload"], sent)).status_code == 200
    refused = await client.post(f"{MEDIA}/{asset_id}/complete", headers=owner.headers)
    body = assert_problem(refused, status, "validation_error")
    assert body["errors"][0]["loc"] == location
    still = await client.get(f"{MEDIA}/{asset_id}", headers=owner.headers)
    assert still.json()["status"] == "pending"
    assert still.json()["sha256"] == declared.get("sha256")


async def test_the_upload_url_takes_no_more_than_the_declared_size(
    client: httpx.AsyncClient,
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    data = files.image()
    started = await start_upload(
        client, owner, brand_id, filename="x.png", content_type="image/png", size=len(data) - 1
    )
    too_much = await put(client, started.json()["upload"], data)
    assert_problem(too_much, 413, "payload_too_large")
    short = await start_upload(
        client, owner, brand_id, filename="x.png", content_type="image/png", size=len(data) + 1
    )
    assert (await put(client, short.json()["upload"], data)).status_code == 200
    refused = await client.post(
        f"{MEDIA}/{short.json()['asset']['id']}/complete", headers=owner.headers
    )
    body = assert_problem(refused, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "size"]


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"content_type": "text/html"}, ["body", "content_type"]),
        ({"size": 0}, ["body", "size"]),
        ({"filename": ""}, ["body", "filename"]),
        ({"sha256": "not-a-digest"}, ["body", "sha256"]),
        ({"path": "/etc"}, ["body", "path"]),
    ],
)
async def test_announcing_an_upload_validates_every_field(
    client: httpx.AsyncClient, fields: dict[str, Any], location: list[str]
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    base = {"filename": "a.png", "content_type": "image/png", "size": 10}
    response = await start_upload(client, owner, brand_id, **{**base, **fields})
    body = assert_problem(response, 422, "validation_error")
    assert location in [error["loc"] for error in body["errors"]]
    assert await _listed(client, owner) == []


async def test_abandoned_uploads_are_removed_after_they_expire(
    client: httpx.AsyncClient, loops: LoopRunner, jobs: JobQueue, runtime: Runtime
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    data = files.image()
    started = await start_upload(
        client, owner, brand_id, filename="x.png", content_type="image/png", size=len(data)
    )
    assert (await put(client, started.json()["upload"], data)).status_code == 200
    assert await loops.run_once("media.expire_uploads") == 0
    later = clock.now() + timedelta(seconds=runtime.settings.media_url_ttl_s) + timedelta(hours=2)
    with clock.frozen(later):
        assert await loops.run_once("media.expire_uploads") == 1
    asset_id = started.json()["asset"]["id"]
    gone = await client.get(f"{MEDIA}/{asset_id}", headers=owner.headers)
    assert_problem(gone, 404, "not_found")
    await jobs.drain(timeout=20)
    assert await _assets_in_storage(runtime) == []


# --- signed URLs ---------------------------------------------------------------------------------


async def test_forged_expired_and_traversing_links_are_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    asset = (await upload(client, owner, brand_id, files.image())).json()
    url = httpx.URL(asset["url"])
    forged = url.copy_set_param("signature", "0" * 64)
    assert_problem(await client.get(local(str(forged))), 403, "forbidden")
    retyped = url.copy_set_param("type", "image/gif")
    assert_problem(await client.get(local(str(retyped))), 403, "forbidden")
    stretched = url.copy_set_param("expires", str(int(url.params["expires"]) + 3600))
    assert_problem(await client.get(local(str(stretched))), 403, "forbidden")
    other_key = asset["thumbnail_url"].split("?")[0] + "?" + url.query.decode()
    assert_problem(await client.get(local(other_key)), 403, "forbidden")
    traversal = "/api/v1/media/objects/../../secret_key?" + url.query.decode()
    assert (await client.get(traversal)).status_code in (403, 404)
    assert_problem(await client.get("/api/v1/media/objects/x"), 403, "forbidden")
    with clock.frozen(clock.now() + timedelta(seconds=runtime.settings.media_url_ttl_s + 1)):
        assert_problem(await client.get(local(asset["url"])), 403, "forbidden")
    assert (await client.get(local(asset["url"]))).status_code == 200


async def test_an_upload_link_only_writes_its_own_upload(client: httpx.AsyncClient) -> None:
    owner, brand_id = await _owner_and_brand(client)
    asset = (await upload(client, owner, brand_id, files.image())).json()
    # A download link is no upload link, even for the same key.
    assert_problem(await client.put(local(asset["url"]), content=b"x"), 403, "forbidden")
    started = await start_upload(
        client, owner, brand_id, filename="x.png", content_type="image/png", size=10
    )
    target = httpx.URL(started.json()["upload"]["url"])
    bigger = target.copy_set_param("size", "1000000")
    assert_problem(await client.put(local(str(bigger)), content=b"x"), 403, "forbidden")


# --- media for the publishing engine --------------------------------------------------------------


async def test_media_item_gives_a_downloadable_url_and_reads_ranges(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    data = files.mp4()
    asset_id = (await upload(client, owner, brand_id, data, filename="v.mp4")).json()["id"]
    async with session_scope(runtime) as session:
        asset = await session.get(MediaAsset, uuid.UUID(asset_id))
        assert asset is not None
    item = media_item(runtime, asset)
    assert item.kind is MediaKind.VIDEO
    assert (item.content_type, item.size, item.duration_s) == ("video/mp4", len(data), 12.5)
    assert item.url.startswith(settings.resolved_public_url + "/api/v1/media/objects/")
    assert (await client.get(local(item.url))).content == data
    assert await item.read(0, 8) == data[:8]
    assert await item.read(len(data) - 5, 100) == data[-5:]


# --- deleting ------------------------------------------------------------------------------------


async def _post_using(
    runtime: Runtime, asset_id: str, owner: Account, status: TargetStatus
) -> uuid.UUID:
    async with session_scope(runtime) as session:
        asset = await session.get(MediaAsset, uuid.UUID(asset_id))
        assert asset is not None
        post = Post(
            organization_id=asset.organization_id,
            brand_id=asset.brand_id,
            author_id=owner.user_id,
            content="Hello",
        )
        session.add(post)
        await session.flush()
        session.add(PostMedia(post_id=post.id, position=0, media_id=asset.id))
        session.add(
            PostTarget(
                organization_id=asset.organization_id,
                post_id=post.id,
                platform="twitter",
                status=status,
                options={},
            )
        )
        return post.id


async def _set_targets(runtime: Runtime, post_id: uuid.UUID, status: TargetStatus) -> None:
    async with session_scope(runtime) as session:
        for target in await session.scalars(
            select(PostTarget).where(PostTarget.post_id == post_id)
        ):
            target.status = status


async def test_delete_is_refused_while_a_scheduled_post_uses_the_media(
    client: httpx.AsyncClient, runtime: Runtime, jobs: JobQueue
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    asset = (await upload(client, owner, brand_id, files.image())).json()
    post_id = await _post_using(runtime, asset["id"], owner, TargetStatus.SCHEDULED)
    for status in (TargetStatus.SCHEDULED, TargetStatus.QUEUED, TargetStatus.RETRYING):
        await _set_targets(runtime, post_id, status)
        refused = await client.delete(f"{MEDIA}/{asset['id']}", headers=owner.headers)
        assert_problem(refused, 409, "conflict")
    assert (await fetch(client, asset["url"])).status_code == 200

    await _set_targets(runtime, post_id, TargetStatus.PUBLISHED)
    deleted = await client.delete(f"{MEDIA}/{asset['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    assert_problem(
        await client.get(f"{MEDIA}/{asset['id']}", headers=owner.headers), 404, "not_found"
    )
    await jobs.drain(timeout=20)
    assert await _assets_in_storage(runtime) == []
    assert (await client.get(local(asset["url"]))).status_code == 404


# --- tenants, roles, accounting ------------------------------------------------------------------


async def test_another_tenants_media_is_not_found(client: httpx.AsyncClient) -> None:
    owner, brand_id = await _owner_and_brand(client)
    asset = (await upload(client, owner, brand_id, files.image())).json()
    pending = await start_upload(
        client, owner, brand_id, filename="x.png", content_type="image/png", size=10
    )
    stranger = await register(client)
    for response in (
        await client.get(f"{MEDIA}/{asset['id']}", headers=stranger.headers),
        await client.delete(f"{MEDIA}/{asset['id']}", headers=stranger.headers),
        await client.post(
            f"{MEDIA}/{pending.json()['asset']['id']}/complete", headers=stranger.headers
        ),
        await client.get(MEDIA, params={"brand_id": brand_id}, headers=stranger.headers),
        await upload(client, stranger, brand_id, files.image()),
        await start_upload(
            client, stranger, brand_id, filename="x.png", content_type="image/png", size=10
        ),
        await client.get(
            f"{MEDIA}/usage",
            params={"organization_id": str(owner.personal_organization_id)},
            headers=stranger.headers,
        ),
    ):
        assert_problem(response, 404, "not_found")
    assert await _listed(client, stranger) == []
    assert len(await _listed(client, owner)) == 2


async def test_viewers_read_and_members_upload_and_delete(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    owner = await register(client)
    organization_id = (
        await client.post("/api/v1/organizations", json={"name": "Team"}, headers=owner.headers)
    ).json()["id"]
    brand = await client.post(
        "/api/v1/brands",
        json={"name": "Team brand", "organization_id": organization_id},
        headers=owner.headers,
    )
    brand_id = brand.json()["id"]
    org = uuid.UUID(organization_id)
    viewer = await add_member(
        client, jobs, settings, inviter=owner, organization_id=org, role="viewer"
    )
    member = await add_member(
        client, jobs, settings, inviter=owner, organization_id=org, role="member"
    )
    created = await upload(client, member, brand_id, files.image())
    assert created.status_code == 201, created.text
    asset_id = created.json()["id"]
    assert_problem(await upload(client, viewer, brand_id, files.image()), 403, "forbidden")
    assert_problem(
        await client.delete(f"{MEDIA}/{asset_id}", headers=viewer.headers), 403, "forbidden"
    )
    seen = await client.get(MEDIA, params={"brand_id": brand_id}, headers=viewer.headers)
    assert [item["id"] for item in seen.json()["items"]] == [asset_id]
    assert (await client.get(f"{MEDIA}/{asset_id}", headers=viewer.headers)).status_code == 200
    assert (await client.delete(f"{MEDIA}/{asset_id}", headers=member.headers)).status_code == 204


async def test_lists_page_by_brand(client: httpx.AsyncClient) -> None:
    owner, brand_id = await _owner_and_brand(client)
    ids = [(await upload(client, owner, brand_id, files.image())).json()["id"] for _ in range(3)]
    first = await client.get(
        MEDIA, params={"brand_id": brand_id, "limit": 2}, headers=owner.headers
    )
    assert [item["id"] for item in first.json()["items"]] == ids[:2]
    cursor = first.json()["next_cursor"]
    rest = await client.get(
        MEDIA, params={"brand_id": brand_id, "limit": 2, "cursor": cursor}, headers=owner.headers
    )
    assert [item["id"] for item in rest.json()["items"]] == ids[2:]
    assert rest.json()["next_cursor"] is None
    assert all(item["url"] for item in first.json()["items"])


async def test_storage_use_counts_ready_assets_of_the_organization(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    one, two = files.image("PNG", (100, 100)), files.mp4()
    await upload(client, owner, brand_id, one)
    await upload(client, owner, brand_id, two, filename="v.mp4")
    await start_upload(client, owner, brand_id, filename="p.png", content_type="image/png", size=99)
    organization_id = owner.personal_organization_id
    usage = await client.get(
        f"{MEDIA}/usage", params={"organization_id": str(organization_id)}, headers=owner.headers
    )
    assert usage.status_code == 200, usage.text
    assert usage.json() == {
        "organization_id": str(organization_id),
        "bytes": len(one) + len(two),
        "assets": 2,
    }
    async with session_scope(runtime) as session:
        assert await storage_used(session, organization_id) == len(one) + len(two)
        assert await storage_used(session, uuid.uuid4()) == 0


async def test_the_usage_endpoint_is_documented(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "/api/v1/media/usage" in document["paths"]
    assert "/api/v1/media/{media_id}/complete" in document["paths"]
    assert not any("/objects/" in path for path in document["paths"])


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nnot a file\r\n--b--\r\n",
         "multipart/form-data; boundary=b"),
        (b"--b\r\ngarbage without an end", "multipart/form-data; boundary=b"),
        (b"{\"brand_id\": \"x\"}", "application/json"),
        (b"brand_id=x", "application/x-www-form-urlencoded"),
        (b"", "multipart/form-data"),
    ],
    ids=["file-as-text", "truncated", "json", "urlencoded", "no-boundary"],
)  # fmt: skip
async def test_malformed_upload_requests_are_client_errors(
    client: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    owner = await register(client)
    response = await client.post(
        MEDIA, content=content, headers={**owner.headers, "Content-Type": content_type}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
