"""`/api/v1/brands`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response

from t21.brands import service
from t21.brands.schemas import BrandIn, BrandList, BrandOut, BrandPatch
from t21.core.deps import AppSettings, DbSession
from t21.core.pagination import PageParams
from t21.core.routing import IDEMPOTENT, APIRouter
from t21.organizations.auth import CurrentPrincipal

router = APIRouter(prefix="/brands", tags=["brands"])


@router.get("")
async def list_brands(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    organization_id: Annotated[
        uuid.UUID | None, Query(description="Default: every organization of the caller.")
    ] = None,
) -> BrandList:
    brands, next_cursor = await service.list_brands(session, principal, page, organization_id)
    return BrandList(items=[BrandOut.of(brand) for brand in brands], next_cursor=next_cursor)


@router.post("", status_code=201, openapi_extra=IDEMPOTENT)
async def create_brand(
    body: BrandIn, principal: CurrentPrincipal, session: DbSession, settings: AppSettings
) -> BrandOut:
    """A brand of `organization_id` (default: the caller's personal organization); admins.
    Past the plan's brands: 402 `quota_exceeded`."""
    return BrandOut.of(await service.create_brand(session, settings, principal, body))


@router.get("/{brand_id}")
async def get_brand(
    brand_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> BrandOut:
    return BrandOut.of(await service.get_brand(session, principal, brand_id))


@router.patch("/{brand_id}")
async def update_brand(
    brand_id: uuid.UUID, body: BrandPatch, principal: CurrentPrincipal, session: DbSession
) -> BrandOut:
    return BrandOut.of(await service.update_brand(session, principal, brand_id, body))


@router.delete("/{brand_id}", status_code=204)
async def delete_brand(
    brand_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> Response:
    await service.delete_brand(session, principal, brand_id)
    return Response(status_code=204)
