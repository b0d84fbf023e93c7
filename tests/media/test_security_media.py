"""Uploads that would make the server decode a giant image, or that only pretend to be MP4s, are
refused with 422 before anything is decoded or stored."""

from __future__ import annotations

import io
import struct
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from t21.core.runtime import Runtime
from tests.core.test_http import assert_problem
from tests.media import files
from tests.media.helpers import MEDIA, create_brand, fetch, put, start_upload, upload
from tests.support.accounts import Account, register

# The size of the PNG that made the server allocate about a gigabyte.
BOMB = (9400, 9400)


def _fake_mp4s() -> dict[str, bytes]:
    ftyp = struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00" + b"isomiso2"
    real = files.mp4()
    mdat = struct.pack(">I", 4104) + b"mdat" + b"\x00" * 4096
    return {
        "ftyp-then-junk": ftyp + b"<html>not a video</html>" * 40,
        "ftyp-then-zeros": ftyp + b"\x00" * 2048,
        "no-moov": ftyp + mdat,
        "no-media-data": real.replace(mdat, b""),
        "cut-short": real[:-10],
        "trailing-junk": real + b"junk!",
    }


FAKE_MP4S = _fake_mp4s()


async def _owner_and_brand(client: httpx.AsyncClient) -> tuple[Account, str]:
    owner = await register(client)
    return owner, await create_brand(client, owner)


def _stored(runtime: Runtime) -> list[str]:
    root = runtime.settings.resolved_media_dir
    return [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_a_small_png_declaring_9400x9400_is_refused_from_its_header(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    # Its pixel data is a few bytes of zeros: decoding it would fail as corrupt, so the size
    # refusal shows it was judged on the header alone, before any decoding.
    bomb = files.png_bomb(*BOMB)
    response = await upload(client, owner, brand_id, bomb, content_type="image/png")
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "file"]
    assert "9400x9400 (88360000 pixels)" in body["detail"]
    assert "at most 36152319 pixels" in body["detail"]
    assert (await client.get(MEDIA, headers=owner.headers)).json()["items"] == []
    assert _stored(runtime) == []


async def test_direct_upload_completion_refuses_an_image_over_the_pixel_cap(
    client: httpx.AsyncClient,
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    bomb = files.png_bomb(*BOMB)
    started = await start_upload(
        client, owner, brand_id, filename="b.png", content_type="image/png", size=len(bomb)
    )
    assert started.status_code == 201, started.text
    asset_id = started.json()["asset"]["id"]
    assert (await put(client, started.json()["upload"], bomb)).status_code == 200
    refused = await client.post(f"{MEDIA}/{asset_id}/complete", headers=owner.headers)
    body = assert_problem(refused, 422, "validation_error")
    assert "pixels" in body["detail"]
    still = await client.get(f"{MEDIA}/{asset_id}", headers=owner.headers)
    assert still.json()["status"] == "pending"


async def test_the_pixel_cap_is_a_setting(app_factory: Any) -> None:
    app: FastAPI = app_factory(media_max_image_pixels=200 * 150)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner, brand_id = await _owner_and_brand(api)
            fits = await upload(api, owner, brand_id, files.image("PNG", (200, 150)))
            assert fits.status_code == 201, fits.text
            over = await upload(api, owner, brand_id, files.image("PNG", (201, 150)))
            body = assert_problem(over, 422, "validation_error")
            assert "at most 30000 pixels" in body["detail"]


async def test_a_large_jpeg_gets_a_small_upright_thumbnail(client: httpx.AsyncClient) -> None:
    owner, brand_id = await _owner_and_brand(client)
    picture = Image.new("RGB", (3000, 2000), (10, 120, 200))
    exif = picture.getexif()
    exif[0x0112] = 6  # stored sideways: shown rotated 90° clockwise
    out = io.BytesIO()
    picture.save(out, format="JPEG", exif=exif)
    response = await upload(
        client, owner, brand_id, out.getvalue(), filename="p.jpg", content_type="image/jpeg"
    )
    assert response.status_code == 201, response.text
    asset = response.json()
    assert (asset["width"], asset["height"]) == (3000, 2000)
    thumbnail = await fetch(client, asset["thumbnail_url"])
    with Image.open(io.BytesIO(thumbnail.content)) as thumb:
        width, height = thumb.size
    assert height == 512
    assert 330 <= width <= 345  # upright: 2000x3000 as shown, within 512


@pytest.mark.parametrize("data", FAKE_MP4S.values(), ids=FAKE_MP4S.keys())
async def test_an_mp4_that_isnt_one_is_refused_at_upload(
    client: httpx.AsyncClient, runtime: Runtime, data: bytes
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    response = await upload(
        client, owner, brand_id, data, filename="clip.mp4", content_type="video/mp4"
    )
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "file"]
    assert "isn't one" in body["detail"]
    assert _stored(runtime) == []


@pytest.mark.parametrize("name", ["ftyp-then-junk", "no-moov"])
async def test_an_mp4_that_isnt_one_is_refused_at_direct_upload_completion(
    client: httpx.AsyncClient, name: str
) -> None:
    owner, brand_id = await _owner_and_brand(client)
    data = FAKE_MP4S[name]
    started = await start_upload(
        client, owner, brand_id, filename="clip.mp4", content_type="video/mp4", size=len(data)
    )
    assert started.status_code == 201, started.text
    asset_id = started.json()["asset"]["id"]
    assert (await put(client, started.json()["upload"], data)).status_code == 200
    refused = await client.post(f"{MEDIA}/{asset_id}/complete", headers=owner.headers)
    body = assert_problem(refused, 422, "validation_error")
    assert "isn't one" in body["detail"]
    still = await client.get(f"{MEDIA}/{asset_id}", headers=owner.headers)
    assert still.json()["status"] == "pending"


async def test_a_real_mp4_is_still_accepted(client: httpx.AsyncClient) -> None:
    owner, brand_id = await _owner_and_brand(client)
    response = await upload(
        client,
        owner,
        brand_id,
        files.mp4(duration_s=4.0),
        filename="c.mp4",
        content_type="video/mp4",
    )
    assert response.status_code == 201, response.text
    assert response.json()["duration_s"] == 4.0
