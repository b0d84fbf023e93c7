"""`/api/v1/media`, and the signed object URLs of the local folder."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse

from t21.core.deps import DbSession
from t21.core.errors import Conflict, Forbidden, NotFound, PayloadTooLarge
from t21.core.pagination import PageParams
from t21.core.routing import IDEMPOTENT, APIRouter
from t21.core.runtime import Runtime
from t21.media import service
from t21.media.inspect import SUPPORTED_TYPES
from t21.media.models import MediaAsset
from t21.media.schemas import (
    AssetList,
    AssetOut,
    StorageUsage,
    UploadIn,
    UploadInstructions,
    UploadOut,
)
from t21.media.storage import (
    THUMBNAIL_SUFFIX,
    UPLOAD_PREFIX,
    LocalStorage,
    storage_of,
    verify_local_url,
)
from t21.organizations.auth import CurrentPrincipal

router = APIRouter(prefix="/media", tags=["media"])

INVALID_LINK = "This link is invalid or has expired."


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _out(runtime: Runtime, asset: MediaAsset) -> AssetOut:
    return AssetOut.of(asset, storage_of(runtime), runtime.settings.media_url_ttl_s)


@router.get("/usage")
async def storage_usage(
    principal: CurrentPrincipal,
    session: DbSession,
    organization_id: Annotated[uuid.UUID, Query(description="The organization to account.")],
) -> StorageUsage:
    """Bytes of media the organization stores (ready assets), for any member."""
    used, count = await service.storage_usage(session, principal, organization_id)
    return StorageUsage(organization_id=organization_id, bytes=used, assets=count)


@router.get("/objects/{key:path}", include_in_schema=False)
async def download_object(
    key: str,
    request: Request,
    expires: str = "",
    type: str = "",
    signature: str = "",
) -> Response:
    """A file of the local folder, for whoever holds a signed, unexpired link to it."""
    storage = storage_of(_runtime(request))
    if not isinstance(storage, LocalStorage):
        raise NotFound("No such object.")
    if type not in SUPPORTED_TYPES or not verify_local_url(
        storage.settings, "GET", key, expires, type, signature
    ):
        raise Forbidden(INVALID_LINK)
    path = storage.path_of(key)
    if not await asyncio.to_thread(path.is_file):
        raise NotFound("No such object.")
    return FileResponse(path, media_type=type)


@router.put("/objects/{key:path}", include_in_schema=False)
async def upload_object(
    key: str,
    request: Request,
    expires: str = "",
    size: str = "",
    signature: str = "",
) -> Response:
    """The bytes of a direct upload to the local folder, through its signed, expiring link."""
    storage = storage_of(_runtime(request))
    if not isinstance(storage, LocalStorage):
        raise NotFound("No such object.")
    if (
        not key.startswith(UPLOAD_PREFIX)
        or key.endswith(THUMBNAIL_SUFFIX)
        or not size.isdigit()
        or not verify_local_url(storage.settings, "PUT", key, expires, size, signature)
    ):
        raise Forbidden(INVALID_LINK)
    if await asyncio.to_thread(storage.path_of(key.removeprefix(UPLOAD_PREFIX)).exists):
        raise Conflict("This upload is already complete.")
    try:
        await storage.receive(key, request.stream(), limit=int(size))
    except ValueError:
        raise PayloadTooLarge(f"The upload is larger than the declared {size} bytes.") from None
    return Response(status_code=200)


@router.post("", status_code=201, openapi_extra=IDEMPOTENT)
async def upload_media(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    file: Annotated[UploadFile, File(description="An image or a video; its type is sniffed.")],
    brand_id: Annotated[uuid.UUID, Form()],
) -> AssetOut:
    """Upload a file (members). Images are decoded, measured and get a thumbnail; MP4 and
    QuickTime videos get their duration and frame size."""
    runtime = _runtime(request)
    asset = await service.upload(
        session,
        runtime,
        principal,
        brand_id,
        file.file,
        filename=file.filename,
        declared_type=file.content_type,
    )
    return _out(runtime, asset)


@router.post("/uploads", status_code=201, openapi_extra=IDEMPOTENT)
async def start_upload(
    body: UploadIn, request: Request, principal: CurrentPrincipal, session: DbSession
) -> UploadOut:
    """Announce a direct upload (members): send the bytes to `upload.url` with `upload.method`
    and `upload.headers` before the URL expires, then call `complete`."""
    runtime = _runtime(request)
    asset, target = await service.start_upload(session, runtime, principal, body)
    return UploadOut(
        asset=_out(runtime, asset),
        upload=UploadInstructions(url=target.url, headers=target.headers),
    )


@router.post("/{media_id}/complete")
async def complete_upload(
    media_id: uuid.UUID, request: Request, principal: CurrentPrincipal, session: DbSession
) -> AssetOut:
    """Verify the uploaded object (size, SHA-256, type, image decoded) and make the asset
    ready. A ready asset is returned as it is."""
    runtime = _runtime(request)
    return _out(runtime, await service.complete_upload(session, runtime, principal, media_id))


@router.get("")
async def list_media(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    brand_id: Annotated[
        uuid.UUID | None, Query(description="Default: every brand of the caller.")
    ] = None,
) -> AssetList:
    runtime = _runtime(request)
    assets, next_cursor = await service.list_assets(session, principal, page, brand_id)
    return AssetList(items=[_out(runtime, asset) for asset in assets], next_cursor=next_cursor)


@router.get("/{media_id}")
async def get_media(
    media_id: uuid.UUID, request: Request, principal: CurrentPrincipal, session: DbSession
) -> AssetOut:
    """The asset, with time-limited `url` and `thumbnail_url`."""
    return _out(_runtime(request), await service.get_asset(session, principal, media_id))


@router.delete("/{media_id}", status_code=204)
async def delete_media(
    media_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> Response:
    """Delete the asset (members); 409 while a post scheduled or being published uses it."""
    await service.delete_asset(session, principal, media_id)
    return Response(status_code=204)
