"""What the media endpoints take and give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from t21.media.models import MediaStatus
from t21.media.storage import Storage


def _lower(value: str) -> str:
    return value.lower()


Filename = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$"), AfterValidator(_lower)]


class UploadIn(BaseModel):
    """A direct upload announced: the bytes then go to `upload.url`, then `complete`."""

    model_config = ConfigDict(extra="forbid")

    brand_id: uuid.UUID
    filename: Filename
    content_type: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = Field(
        description="The file's type; it must match what the bytes are (checked at complete)."
    )
    size: int = Field(ge=1, description="The exact size in bytes (checked at complete).")
    sha256: Sha256 | None = Field(
        default=None, description="The file's SHA-256 in hex, if known (checked at complete)."
    )


class AssetRecord(Protocol):
    """What an asset's answer reads: a `MediaAsset`, or a row of its columns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def brand_id(self) -> uuid.UUID: ...
    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...
    @property
    def duration_s(self) -> float | None: ...
    @property
    def sha256(self) -> str | None: ...
    @property
    def status(self) -> MediaStatus: ...
    @property
    def storage_key(self) -> str: ...
    @property
    def thumbnail_key(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...


class AssetOut(BaseModel):
    id: uuid.UUID
    brand_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    duration_s: float | None
    sha256: str | None
    status: MediaStatus
    url: str | None = Field(description="A time-limited download URL; null until ready.")
    thumbnail_url: str | None = Field(description="A time-limited URL of a JPEG thumbnail.")
    created_at: datetime

    @classmethod
    def of(cls, asset: AssetRecord, storage: Storage, ttl_s: int) -> AssetOut:
        ready = asset.status is MediaStatus.READY
        url = storage.download_url(asset.storage_key, asset.content_type, ttl_s) if ready else None
        thumbnail_url = None
        if ready and asset.thumbnail_key is not None:
            thumbnail_url = storage.download_url(asset.thumbnail_key, "image/jpeg", ttl_s)
        return cls(
            id=asset.id,
            brand_id=asset.brand_id,
            filename=asset.filename,
            content_type=asset.content_type,
            size=asset.size,
            width=asset.width,
            height=asset.height,
            duration_s=asset.duration_s,
            sha256=asset.sha256,
            status=asset.status,
            url=url,
            thumbnail_url=thumbnail_url,
            created_at=asset.created_at,
        )


class AssetList(BaseModel):
    items: list[AssetOut]
    next_cursor: str | None = None


class UploadInstructions(BaseModel):
    url: str = Field(description="Where to send the file's bytes, as the whole request body.")
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(description="Headers to send with the bytes.")


class UploadOut(BaseModel):
    asset: AssetOut
    upload: UploadInstructions


class StorageUsage(BaseModel):
    organization_id: uuid.UUID
    bytes: int = Field(description="The total size of the organization's ready assets.")
    assets: int = Field(description="How many ready assets that is.")
