"""Brands of an organization: admins manage them, every member reads them."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.audit.service import Actor
from t21.billing import plans
from t21.brands.models import Brand
from t21.brands.schemas import BrandIn, BrandPatch
from t21.core.errors import ValidationFailed
from t21.core.pagination import PageRequest, keyset_page
from t21.core.settings import Settings
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal, get_scoped, scoped

# A model of a brand's things: its rows have an `id`, an `organization_id` and a `brand_id`.
B = TypeVar("B")


def _default_organization(principal: Principal) -> uuid.UUID:
    """The caller's personal organization (a user), or the API key's organization."""
    if principal.api_key is not None:
        return principal.api_key.organization_id
    personal = principal.personal_organization_id
    if personal is None:
        message = "organization_id is required: you have no personal organization."
        raise ValidationFailed(
            message, errors=[{"loc": ["body", "organization_id"], "msg": message}]
        )
    return personal


def _values(fields: BrandIn | BrandPatch) -> dict[str, Any]:
    values = fields.model_dump(exclude_unset=True, exclude={"organization_id"})
    if values.get("website") is not None:
        values["website"] = str(values["website"])
    for listed in ("keywords", "default_hashtags"):
        if listed in values and values[listed] is None:
            values[listed] = []
    if values.get("requires_approval", False) is None:
        values["requires_approval"] = False
    return values


async def create_brand(
    session: AsyncSession, settings: Settings, principal: Principal, fields: BrandIn
) -> Brand:
    """A new brand, within the organization's plan (402 `quota_exceeded` past it)."""
    organization_id = fields.organization_id or _default_organization(principal)
    principal.authorize(organization_id, Action.MANAGE_BRANDS)
    await plans.enforce(session, settings, organization_id, plans.Limit.BRANDS)
    values = _values(fields)
    values.setdefault("timezone", "UTC")
    values.setdefault("keywords", [])
    values.setdefault("default_hashtags", [])
    values.setdefault("requires_approval", False)
    if values.get("timezone") is None:
        values["timezone"] = "UTC"
    brand = Brand(organization_id=organization_id, **values)
    session.add(brand)
    await session.flush()
    return brand


async def get_brand(
    session: AsyncSession, principal: Principal, brand_id: uuid.UUID, action: Action = Action.READ
) -> Brand:
    """The brand, if the principal's organizations include its own; else 404."""
    return await get_scoped(session, principal, Brand, brand_id, what="brand", action=action)


async def list_brands(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    organization_id: uuid.UUID | None = None,
) -> tuple[list[Brand], str | None]:
    statement = scoped(select(Brand), principal, Brand.organization_id)
    if organization_id is not None:
        principal.authorize(organization_id, Action.READ)
        statement = statement.where(Brand.organization_id == organization_id)
    return await keyset_page(
        session, statement, keys=[Brand.id], key_of=lambda brand: (brand.id,), request=page
    )


async def update_brand(
    session: AsyncSession, principal: Principal, brand_id: uuid.UUID, fields: BrandPatch
) -> Brand:
    brand = await get_brand(session, principal, brand_id, Action.MANAGE_BRANDS)
    values = _values(fields)
    if "timezone" in values and values["timezone"] is None:
        values["timezone"] = "UTC"
    if "name" in values and values["name"] is None:
        del values["name"]
    for name, value in values.items():
        setattr(brand, name, value)
    await session.flush()
    return brand


async def delete_brand(session: AsyncSession, principal: Principal, brand_id: uuid.UUID) -> None:
    brand = await get_brand(session, principal, brand_id, Action.MANAGE_BRANDS)
    await audit.record(
        session,
        organization_id=brand.organization_id,
        actor=Actor.of(principal),
        action="brand.deleted",
        target_type="brand",
        target_id=brand.id,
        details={"name": brand.name},
    )
    await session.delete(brand)
    await session.flush()


async def list_of_brands(
    session: AsyncSession,
    principal: Principal,
    model: type[B],
    page: PageRequest,
    brand_id: uuid.UUID | None = None,
) -> tuple[list[B], str | None]:
    """Rows of `model` (a brand's accounts, media, templates...) of `brand_id`, or of every
    organization of the caller, oldest first; another tenant's brand answers 404."""
    table = cast(Any, model)
    statement = scoped(select(model), principal, table.organization_id)
    if brand_id is not None:
        await get_brand(session, principal, brand_id)
        statement = statement.where(table.brand_id == brand_id)
    return await keyset_page(
        session, statement, keys=[table.id], key_of=lambda row: (row.id,), request=page
    )
