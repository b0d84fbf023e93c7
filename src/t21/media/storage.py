"""Where media bytes live: one small `Storage` protocol, a local folder and S3-compatible storage.

Keys are generated from ids (`object_key`), never from what a client sent. The local folder is
the embedded default: T21 itself serves its files, and takes its direct uploads, through URLs
signed with the secret key that expire (`sign_local_url`). S3-compatible storage (AWS S3,
Cloudflare R2, MinIO) goes through obstore, with presigned URLs for downloads and uploads.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlencode, urlsplit

from t21.core import clock
from t21.core.runtime import Runtime
from t21.core.settings import Settings

# The path under which T21 serves (and takes uploads of) the local folder's objects.
LOCAL_OBJECTS_PATH = "/api/v1/media/objects"
UPLOAD_PREFIX = "uploads/"
THUMBNAIL_SUFFIX = ".thumb.jpg"
# Every key T21 makes: `[uploads/]<organization hex>/<asset hex>[.thumb.jpg]`.
KEY_PATTERN = re.compile(r"^(uploads/)?[0-9a-f]{32}/[0-9a-f]{32}(\.thumb\.jpg)?$")
CHUNK = 1024 * 1024


class ObjectMissing(Exception):
    """No object is stored under the key."""


@dataclass(frozen=True)
class UploadTarget:
    """Where and how a client sends the bytes of a direct upload."""

    url: str
    method: str = "PUT"
    headers: dict[str, str] = field(default_factory=dict)


class Storage(Protocol):
    """An object store addressed by keys."""

    name: str

    async def put(self, key: str, source: BinaryIO, content_type: str) -> None:
        """Store everything `source` holds (from its start) under `key`, replacing it."""

    async def get_into(self, key: str, target: BinaryIO, *, limit: int) -> int:
        """Copy the object into `target`; its size. `ObjectMissing`; `ValueError` past `limit`."""

    async def read(self, key: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes of the object from `offset`."""

    async def size(self, key: str) -> int | None:
        """The object's size, or None when there is none."""

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove the objects; missing ones are not an error."""

    def download_url(self, key: str, content_type: str, ttl_s: int) -> str:
        """A URL anyone holding it can GET the object from, until `ttl_s` seconds from now."""

    def upload_target(self, key: str, content_type: str, size: int, ttl_s: int) -> UploadTarget:
        """A URL a client can PUT up to `size` bytes to, until `ttl_s` seconds from now."""


def object_key(organization_id: uuid.UUID, asset_id: uuid.UUID) -> str:
    return f"{organization_id.hex}/{asset_id.hex}"


def upload_key(storage_key: str) -> str:
    """Where a direct upload lands before it is verified and copied to `storage_key`."""
    return UPLOAD_PREFIX + storage_key


def thumbnail_key(storage_key: str) -> str:
    return storage_key + THUMBNAIL_SUFFIX


def _check_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise ValueError(f"not a media storage key: {key!r}")
    return key


# --- signed URLs of the local folder -------------------------------------------------------------


@lru_cache(maxsize=8)
def _url_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"t21 media urls v1", hashlib.sha256).digest()


def _signature(settings: Settings, method: str, key: str, expires: int, detail: str) -> str:
    message = f"{method}\n{key}\n{expires}\n{detail}".encode()
    return hmac.new(_url_key(settings.secret()), message, hashlib.sha256).hexdigest()


def sign_local_url(
    settings: Settings, method: str, key: str, ttl_s: int, *, detail: str = ""
) -> str:
    """`/api/v1/media/objects/<key>` on the public URL, valid for `method` until `ttl_s` from
    now. `detail` (the content type of a GET, the size limit of a PUT) is signed too."""
    expires = int(clock.now().timestamp()) + ttl_s
    signature = _signature(settings, method, key, expires, detail)
    query = {"expires": str(expires), "signature": signature}
    if method == "GET":
        query["type"] = detail
    else:
        query["size"] = detail
    return f"{settings.resolved_public_url}{LOCAL_OBJECTS_PATH}/{key}?{urlencode(query)}"


def verify_local_url(
    settings: Settings, method: str, key: str, expires: str, detail: str, signature: str
) -> bool:
    """Whether the signed URL's parts are genuine and not expired (constant-time compare)."""
    if not KEY_PATTERN.match(key) or not expires.isdigit() or len(expires) > 12:
        return False
    expected = _signature(settings, method, key, int(expires), detail)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return False
    return int(expires) > clock.now().timestamp()


# --- the local folder ---------------------------------------------------------------------------


class LocalStorage:
    """Files under one folder; T21 serves them itself through signed URLs."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.resolved_media_dir.resolve()

    def path_of(self, key: str) -> Path:
        return self.root / _check_key(key)

    async def put(self, key: str, source: BinaryIO, content_type: str) -> None:
        await asyncio.to_thread(self._put, self.path_of(key), source)

    def _put(self, path: Path, source: BinaryIO) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        source.seek(0)
        # Written aside, then moved into place: a reader never sees half an object.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as target:
                shutil.copyfileobj(source, target, CHUNK)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def receive(self, key: str, chunks: AsyncIterator[bytes], *, limit: int) -> int:
        """Store a streamed body under `key`; `ValueError` (and nothing stored) past `limit`."""
        path = self.path_of(key)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        handle, name = await asyncio.to_thread(
            tempfile.mkstemp, dir=path.parent, prefix=".incoming-"
        )
        received = 0
        try:
            with os.fdopen(handle, "wb") as target:
                async for chunk in chunks:
                    received += len(chunk)
                    if received > limit:
                        raise ValueError(f"more than {limit} bytes")
                    await asyncio.to_thread(target.write, chunk)
            await asyncio.to_thread(os.replace, name, path)
        except BaseException:
            await asyncio.to_thread(Path(name).unlink, missing_ok=True)
            raise
        return received

    async def get_into(self, key: str, target: BinaryIO, *, limit: int) -> int:
        return await asyncio.to_thread(self._get_into, self.path_of(key), target, limit)

    @staticmethod
    def _get_into(path: Path, target: BinaryIO, limit: int) -> int:
        try:
            source = path.open("rb")
        except FileNotFoundError:
            raise ObjectMissing(str(path.name)) from None
        copied = 0
        with source:
            while chunk := source.read(CHUNK):
                copied += len(chunk)
                if copied > limit:
                    raise ValueError(f"more than {limit} bytes")
                target.write(chunk)
        return copied

    async def read(self, key: str, offset: int, length: int) -> bytes:
        return await asyncio.to_thread(self._read, self.path_of(key), offset, length)

    @staticmethod
    def _read(path: Path, offset: int, length: int) -> bytes:
        try:
            with path.open("rb") as source:
                source.seek(offset)
                return source.read(length)
        except FileNotFoundError:
            raise ObjectMissing(path.name) from None

    async def size(self, key: str) -> int | None:
        try:
            return (await asyncio.to_thread(self.path_of(key).stat)).st_size
        except FileNotFoundError:
            return None

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            await asyncio.to_thread(self.path_of(key).unlink, missing_ok=True)

    def download_url(self, key: str, content_type: str, ttl_s: int) -> str:
        return sign_local_url(self.settings, "GET", _check_key(key), ttl_s, detail=content_type)

    def upload_target(self, key: str, content_type: str, size: int, ttl_s: int) -> UploadTarget:
        url = sign_local_url(self.settings, "PUT", _check_key(key), ttl_s, detail=str(size))
        return UploadTarget(url=url, headers={"Content-Type": content_type})


# --- S3-compatible storage ----------------------------------------------------------------------


class S3Storage:
    """A bucket (and optional prefix) of AWS S3, Cloudflare R2, MinIO or another S3 service."""

    name = "s3"

    def __init__(self, settings: Settings) -> None:
        from obstore.store import S3Store

        assert settings.storage_url is not None
        parts = urlsplit(settings.storage_url)
        prefix = parts.path.strip("/") or None
        config: dict[str, str] = {}
        if settings.storage_endpoint:
            config["endpoint"] = settings.storage_endpoint
            # Path-style requests work on every S3-compatible service.
            config["virtual_hosted_style_request"] = "false"
        if settings.storage_region:
            config["region"] = settings.storage_region
        if settings.storage_access_key_id:
            config["access_key_id"] = settings.storage_access_key_id
        if settings.storage_secret_access_key is not None:
            config["secret_access_key"] = settings.storage_secret_access_key.get_secret_value()
        endpoint = settings.storage_endpoint or ""
        self.store = S3Store(
            parts.netloc,
            prefix=prefix,
            config=config,  # type: ignore[arg-type]
            client_options={
                "allow_http": endpoint.startswith("http:"),
                "connect_timeout": timedelta(seconds=10),
                # Large objects stream for long; a stalled one is noticed by the read timeout.
                "read_timeout": timedelta(seconds=60),
                "timeout": timedelta(hours=1),
            },
            # A request waits seconds for an outage to pass, not obstore's default minutes.
            retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=30)},
        )

    async def put(self, key: str, source: BinaryIO, content_type: str) -> None:
        import obstore

        source.seek(0)
        await obstore.put_async(
            self.store, _check_key(key), source, attributes={"Content-Type": content_type}
        )

    async def get_into(self, key: str, target: BinaryIO, *, limit: int) -> int:
        import obstore

        try:
            result = await obstore.get_async(self.store, _check_key(key))
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        copied = 0
        async for chunk in result:
            copied += len(chunk)
            if copied > limit:
                raise ValueError(f"more than {limit} bytes")
            await asyncio.to_thread(target.write, bytes(chunk))
        return copied

    async def read(self, key: str, offset: int, length: int) -> bytes:
        import obstore

        try:
            data = await obstore.get_range_async(
                self.store, _check_key(key), start=offset, length=length
            )
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        return bytes(data)

    async def size(self, key: str) -> int | None:
        import obstore

        try:
            meta = await obstore.head_async(self.store, _check_key(key))
        except FileNotFoundError:
            return None
        return int(meta["size"])

    async def delete(self, keys: Sequence[str]) -> None:
        import obstore

        if keys:
            await obstore.delete_async(self.store, [_check_key(key) for key in keys])

    def download_url(self, key: str, content_type: str, ttl_s: int) -> str:
        import obstore

        return obstore.sign(self.store, "GET", _check_key(key), timedelta(seconds=ttl_s))

    def upload_target(self, key: str, content_type: str, size: int, ttl_s: int) -> UploadTarget:
        import obstore

        url = obstore.sign(self.store, "PUT", _check_key(key), timedelta(seconds=ttl_s))
        return UploadTarget(url=url, headers={"Content-Type": content_type})


def build_storage(settings: Settings) -> Storage:
    """The storage the settings name: S3-compatible for `T21_STORAGE_URL`, else the folder."""
    if settings.storage_url is not None:
        return S3Storage(settings)
    return LocalStorage(settings)


def storage_of(runtime: Runtime) -> Storage:
    """The process's storage, built once from its settings."""
    storage = runtime.state.get("media.storage")
    if storage is None:
        storage = build_storage(runtime.settings)
        runtime.state["media.storage"] = storage
    result: Storage = storage
    return result
