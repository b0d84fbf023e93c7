"""`/api/v1/templates`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response

from t21.core.deps import DbSession
from t21.core.pagination import PageParams
from t21.core.routing import IDEMPOTENT, APIRouter
from t21.organizations.auth import CurrentPrincipal
from t21.posts.templates import service
from t21.posts.templates.schemas import (
    RenderIn,
    RenderOut,
    TemplateIn,
    TemplateList,
    TemplateOut,
    TemplatePatch,
)

router = APIRouter(prefix="/templates", tags=["templates"])


@router.get("")
async def list_templates(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    brand_id: Annotated[
        uuid.UUID | None, Query(description="Default: every brand the caller can see.")
    ] = None,
) -> TemplateList:
    templates, next_cursor = await service.list_templates(session, principal, page, brand_id)
    return TemplateList(items=[TemplateOut.of(t) for t in templates], next_cursor=next_cursor)


@router.post("", status_code=201, openapi_extra=IDEMPOTENT)
async def create_template(
    body: TemplateIn, principal: CurrentPrincipal, session: DbSession
) -> TemplateOut:
    """A template of the brand; members and above. Names are unique per brand (409)."""
    return TemplateOut.of(await service.create_template(session, principal, body))


@router.get("/{template_id}")
async def get_template(
    template_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> TemplateOut:
    return TemplateOut.of(await service.get_template(session, principal, template_id))


@router.patch("/{template_id}")
async def update_template(
    template_id: uuid.UUID, body: TemplatePatch, principal: CurrentPrincipal, session: DbSession
) -> TemplateOut:
    return TemplateOut.of(await service.update_template(session, principal, template_id, body))


@router.delete("/{template_id}", status_code=204)
async def delete_template(
    template_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> Response:
    await service.delete_template(session, principal, template_id)
    return Response(status_code=204)


@router.post("/{template_id}/render")
async def render_template(
    template_id: uuid.UUID, body: RenderIn, principal: CurrentPrincipal, session: DbSession
) -> RenderOut:
    """The template's text with the values in place; viewers may render. Unknown and missing
    variables answer 422 naming each one."""
    content = await service.render_template(session, principal, template_id, body.values)
    return RenderOut(content=content)
