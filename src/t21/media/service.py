"""The media library: uploads sniffed, measured and stored; assets listed, served and deleted.

A multipart upload is inspected before anything is stored, and its row is added only once its
objects are. A direct upload starts as a `pending` row; its bytes land under an upload key, and
`complete` verifies them (size, SHA-256, sniffed type) and copies them to the asset's key, so what
T21 serves is always what it checked. Objects are removed only after the row's removal commits
(the `media.delete_objects` job).
"""

from __future__ import annotations

import asyncio
import io
import tempfile
import unicodedata
import uuid
from collections.abc import Awaitable
from datetime import timedelta
from typing import BinaryIO, TypeVar

from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.audit.service import Actor
from t21.brands.service import get_brand, list_of_brands
from t21.core import clock
from t21.core.errors import Conflict, PayloadTooLarge, Unavailable, ValidationFailed
from t21.core.ids import uuid7
from t21.core.logging import get_logger
from t21.core.pagination import PageRequest
from t21.core.runtime import Runtime
from t21.media.inspect import SUPPORTED_TYPES, Inspection, inspect_file, normalise_type
from t21.media.models import MediaAsset, MediaStatus
from t21.media.schemas import UploadIn
from t21.media.storage import (
    ObjectMissing,
    Storage,
    UploadTarget,
    object_key,
    storage_of,
    thumbnail_key,
    upload_key,
)
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal, get_scoped
from t21.platforms.base import MediaItem, MediaKind
from t21.posts.models import PostMedia, PostTarget, TargetStatus
from t21.worker.jobs import enqueue

log = get_logger("t21.media")

T = TypeVar("T")

DELETE_OBJECTS_JOB = "media.delete_objects"
# Targets on their way out: their post's media must stay until they are published.
ACTIVE_TARGETS = (
    TargetStatus.PENDING_APPROVAL,
    TargetStatus.SCHEDULED,
    TargetStatus.QUEUED,
    TargetStatus.PUBLISHING,
    TargetStatus.RETRYING,
)
# How long after its upload URL expires a pending upload may still be completed.
UPLOAD_GRACE = timedelta(hours=1)


def media_kind(content_type: str) -> MediaKind:
    return MediaKind.VIDEO if content_type.startswith("video/") else MediaKind.IMAGE


def media_item(runtime: Runtime, asset: MediaAsset) -> MediaItem:
    """`asset` as a network adapter takes it: a time-limited URL the network can download
    (presigned on S3, signed on T21's public URL for the local folder) and a byte reader."""
    storage = storage_of(runtime)
    key = asset.storage_key

    async def read(offset: int, length: int) -> bytes:
        return await storage.read(key, offset, length)

    return MediaItem(
        kind=media_kind(asset.content_type),
        content_type=asset.content_type,
        size=asset.size,
        url=storage.download_url(key, asset.content_type, runtime.settings.media_url_ttl_s),
        read=read,
        width=asset.width,
        height=asset.height,
        duration_s=asset.duration_s,
    )


# --- helpers ------------------------------------------------------------------------------------


def _display_name(filename: str | None) -> str:
    """The uploader's name for the file, for showing back only: printable, at most 255."""
    cleaned = "".join(
        char for char in (filename or "") if unicodedata.category(char)[0] != "C"
    ).strip()
    return cleaned[:255] or "upload"


async def _stored(operation: Awaitable[T], what: str) -> T:
    """A storage operation; a failure of the storage itself is a 503, never a 500."""
    try:
        return await operation
    except (ObjectMissing, ValueError):
        raise
    except Exception as exc:
        log.error("media storage failed", operation=what, error=type(exc).__name__)
        raise Unavailable("The media storage is unavailable; try again later.") from None


async def _forget_objects(storage: Storage, keys: list[str]) -> None:
    """Best-effort removal of objects no row points at (a failed request's leftovers)."""
    try:
        await storage.delete(keys)
    except Exception as exc:
        log.warning("media objects left behind", keys=keys, error=type(exc).__name__)


def _delete_after_commit(keys: list[str]) -> None:
    if keys:
        enqueue(DELETE_OBJECTS_JOB, keys=keys)


def _keys_of(asset: MediaAsset) -> list[str]:
    keys = [asset.storage_key, upload_key(asset.storage_key)]
    if asset.thumbnail_key is not None:
        keys.append(asset.thumbnail_key)
    return keys


async def _store_inspected(
    storage: Storage, key: str, source: BinaryIO, inspection: Inspection
) -> str | None:
    """Store the bytes and the thumbnail; the thumbnail's key, if there is one."""
    await _stored(storage.put(key, source, inspection.content_type), "put")
    if inspection.thumbnail is None:
        return None
    thumb = thumbnail_key(key)
    try:
        await _stored(storage.put(thumb, io.BytesIO(inspection.thumbnail), "image/jpeg"), "put")
    except BaseException:
        await _forget_objects(storage, [key])
        raise
    return thumb


def _apply(asset: MediaAsset, inspection: Inspection) -> None:
    asset.content_type = inspection.content_type
    asset.size = inspection.size
    asset.sha256 = inspection.sha256
    asset.width = inspection.width
    asset.height = inspection.height
    asset.duration_s = inspection.duration_s


# --- uploads ------------------------------------------------------------------------------------


async def upload(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    brand_id: uuid.UUID,
    source: BinaryIO,
    *,
    filename: str | None,
    declared_type: str | None,
) -> MediaAsset:
    """A ready asset of the brand from an uploaded file (multipart), inspected before anything
    is stored; nothing is left behind when it is refused."""
    brand = await get_brand(session, principal, brand_id, Action.WRITE_CONTENT)
    settings = runtime.settings
    inspection = await asyncio.to_thread(
        inspect_file,
        source,
        declared_type=declared_type,
        max_bytes=settings.media_max_upload_bytes,
        max_pixels=settings.media_max_image_pixels,
    )
    storage = storage_of(runtime)
    asset_id = uuid7()
    asset = MediaAsset(
        id=asset_id,
        organization_id=brand.organization_id,
        brand_id=brand.id,
        uploaded_by_id=principal.user_id,
        filename=_display_name(filename),
        status=MediaStatus.READY,
        storage_key=object_key(brand.organization_id, asset_id),
    )
    _apply(asset, inspection)
    asset.thumbnail_key = await _store_inspected(storage, asset.storage_key, source, inspection)
    session.add(asset)
    try:
        await session.flush()
    except BaseException:
        await _forget_objects(storage, _keys_of(asset))
        raise
    return asset


async def start_upload(
    session: AsyncSession, runtime: Runtime, principal: Principal, fields: UploadIn
) -> tuple[MediaAsset, UploadTarget]:
    """A pending asset and where to PUT its bytes; `complete_upload` then verifies them."""
    brand = await get_brand(session, principal, fields.brand_id, Action.WRITE_CONTENT)
    settings = runtime.settings
    content_type = normalise_type(fields.content_type)
    if content_type not in SUPPORTED_TYPES:
        message = f"Unsupported content type {content_type!r}: one of {sorted(SUPPORTED_TYPES)}."
        raise ValidationFailed(message, errors=[{"loc": ["body", "content_type"], "msg": message}])
    if fields.size > settings.media_max_upload_bytes:
        raise PayloadTooLarge(
            f"The file is larger than the {settings.media_max_upload_bytes} bytes allowed."
        )
    asset_id = uuid7()
    ttl = settings.media_url_ttl_s
    asset = MediaAsset(
        id=asset_id,
        organization_id=brand.organization_id,
        brand_id=brand.id,
        uploaded_by_id=principal.user_id,
        filename=_display_name(fields.filename),
        content_type=content_type,
        size=fields.size,
        sha256=fields.sha256,
        status=MediaStatus.PENDING,
        storage_key=object_key(brand.organization_id, asset_id),
        upload_expires_at=clock.now() + timedelta(seconds=ttl) + UPLOAD_GRACE,
    )
    session.add(asset)
    await session.flush()
    storage = storage_of(runtime)
    target = storage.upload_target(upload_key(asset.storage_key), content_type, fields.size, ttl)
    return asset, target


async def complete_upload(
    session: AsyncSession, runtime: Runtime, principal: Principal, asset_id: uuid.UUID
) -> MediaAsset:
    """Verify a direct upload's object (size, SHA-256, type, image decoded) and make the asset
    ready. A refused object changes nothing: the asset stays pending until it expires."""
    asset = await get_asset(session, principal, asset_id, Action.WRITE_CONTENT)
    if asset.status is MediaStatus.READY:
        return asset
    if asset.upload_expires_at is not None and asset.upload_expires_at <= clock.now():
        raise Conflict("This upload has expired; start a new one.")
    storage = storage_of(runtime)
    incoming = upload_key(asset.storage_key)
    stored_size = await _stored(storage.size(incoming), "head")
    if stored_size is None:
        raise Conflict("Nothing has been uploaded yet: PUT the file to the upload URL first.")
    if stored_size != asset.size:
        message = f"The uploaded object is {stored_size} bytes, not the declared {asset.size}."
        raise ValidationFailed(message, errors=[{"loc": ["body", "size"], "msg": message}])
    with tempfile.TemporaryFile() as local:
        try:
            await _stored(storage.get_into(incoming, local, limit=asset.size), "get")
        except ObjectMissing:
            raise Conflict("The uploaded object disappeared; upload it again.") from None
        except ValueError:
            message = "The uploaded object changed size while it was read; upload it again."
            raise ValidationFailed(
                message, errors=[{"loc": ["body", "size"], "msg": message}]
            ) from None
        inspection = await asyncio.to_thread(
            inspect_file,
            local,
            declared_type=asset.content_type,
            max_bytes=asset.size,
            max_pixels=runtime.settings.media_max_image_pixels,
            field="file",
            type_field="content_type",
        )
        if asset.sha256 is not None and inspection.sha256 != asset.sha256:
            message = "The uploaded object's SHA-256 is not the declared one."
            raise ValidationFailed(message, errors=[{"loc": ["body", "sha256"], "msg": message}])
        thumb = await _store_inspected(storage, asset.storage_key, local, inspection)
    _apply(asset, inspection)
    asset.thumbnail_key = thumb
    asset.status = MediaStatus.READY
    asset.upload_expires_at = None
    await session.flush()
    _delete_after_commit([incoming])
    return asset


# --- reading and deleting -----------------------------------------------------------------------


async def get_asset(
    session: AsyncSession,
    principal: Principal,
    asset_id: uuid.UUID,
    action: Action = Action.READ,
) -> MediaAsset:
    """The asset, if it belongs to one of the principal's organizations; else 404."""
    return await get_scoped(
        session, principal, MediaAsset, asset_id, what="media asset", action=action
    )


async def list_assets(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    brand_id: uuid.UUID | None = None,
) -> tuple[list[MediaAsset], str | None]:
    """The assets of a brand (default: of every organization of the caller), oldest first."""
    return await list_of_brands(session, principal, MediaAsset, page, brand_id)


async def in_use(session: AsyncSession, asset_id: uuid.UUID) -> bool:
    """Whether a post with a target on its way to being published carries the asset."""
    used = await session.scalar(
        select(
            exists().where(
                and_(
                    PostMedia.media_id == asset_id,
                    PostTarget.post_id == PostMedia.post_id,
                    PostTarget.status.in_(ACTIVE_TARGETS),
                )
            )
        )
    )
    return bool(used)


async def delete_asset(session: AsyncSession, principal: Principal, asset_id: uuid.UUID) -> None:
    """Remove the asset; its objects go once the removal commits. 409 while a scheduled post
    uses it."""
    asset = await get_asset(session, principal, asset_id, Action.WRITE_CONTENT)
    if await in_use(session, asset.id):
        raise Conflict(
            "A scheduled post uses this media; cancel or edit the post before deleting it."
        )
    keys = _keys_of(asset)
    await audit.record(
        session,
        organization_id=asset.organization_id,
        actor=Actor.of(principal),
        action="media.deleted",
        target_type="media",
        target_id=asset.id,
        details={"filename": asset.filename},
    )
    await session.delete(asset)
    await session.flush()
    _delete_after_commit(keys)


# --- accounting and clean-up ---------------------------------------------------------------------


async def storage_used(session: AsyncSession, organization_id: uuid.UUID) -> int:
    """Bytes of the organization's ready assets."""
    total = await session.scalar(
        select(func.coalesce(func.sum(MediaAsset.size), 0)).where(
            MediaAsset.organization_id == organization_id,
            MediaAsset.status == MediaStatus.READY,
        )
    )
    return int(total or 0)


async def storage_usage(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID
) -> tuple[int, int]:
    """(bytes, assets) of the organization's ready assets, for a member of it."""
    principal.authorize(organization_id, Action.READ)
    row = (
        await session.execute(
            select(func.coalesce(func.sum(MediaAsset.size), 0), func.count()).where(
                MediaAsset.organization_id == organization_id,
                MediaAsset.status == MediaStatus.READY,
            )
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


async def expire_abandoned_uploads(session: AsyncSession, *, limit: int) -> int:
    """Remove up to `limit` pending uploads past their expiry; their objects go after commit."""
    abandoned = list(
        (
            await session.scalars(
                select(MediaAsset)
                .where(
                    MediaAsset.status == MediaStatus.PENDING,
                    MediaAsset.upload_expires_at <= clock.now(),
                )
                .order_by(MediaAsset.upload_expires_at)
                .limit(limit)
            )
        ).all()
    )
    if not abandoned:
        return 0
    await session.execute(
        delete(MediaAsset).where(
            MediaAsset.id.in_([asset.id for asset in abandoned]),
            MediaAsset.status == MediaStatus.PENDING,
        )
    )
    _delete_after_commit([key for asset in abandoned for key in _keys_of(asset)])
    return len(abandoned)
