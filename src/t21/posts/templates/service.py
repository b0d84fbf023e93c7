"""Post templates of a brand: members write them, everyone in the organization reads and
renders them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from t21.brands.service import get_brand, list_of_brands
from t21.core.errors import Conflict, ValidationFailed
from t21.core.pagination import PageRequest
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal, get_scoped
from t21.posts.models import Template
from t21.posts.templates import rendering
from t21.posts.templates.schemas import TemplateIn, TemplatePatch


def _checked_content(content: str, variables: list[str], *, blame: str) -> None:
    """Refuse content that doesn't parse, or that uses a placeholder `variables` doesn't declare
    (reported at `blame`, the field the caller changed)."""
    try:
        used = rendering.placeholders(content)
    except rendering.TemplateSyntaxError as error:
        raise ValidationFailed(
            "The content has malformed placeholders; see `errors`.",
            errors=[{"loc": ["body", "content"], "msg": problem} for problem in error.problems],
        ) from None
    declared = set(variables)
    undeclared = [name for name in used if name not in declared]
    if undeclared:
        raise ValidationFailed(
            "The content uses variables that are not declared in `variables`.",
            errors=[
                {"loc": ["body", blame], "msg": f"{{{{ {name} }}}} is not declared in variables"}
                for name in undeclared
            ],
        )


async def _save(session: AsyncSession, template: Template, changes: Mapping[str, Any]) -> None:
    """Apply `changes` and flush in a savepoint: (brand, name) is unique, and a clash is a 409."""
    try:
        async with session.begin_nested():
            for field, value in changes.items():
                setattr(template, field, value)
            session.add(template)
            await session.flush()
    except IntegrityError:
        name = changes.get("name", "")
        raise Conflict(f"This brand already has a template named {name!r}.") from None


async def create_template(
    session: AsyncSession, principal: Principal, fields: TemplateIn
) -> Template:
    brand = await get_brand(session, principal, fields.brand_id, Action.WRITE_CONTENT)
    _checked_content(fields.content, fields.variables, blame="content")
    template = Template(
        organization_id=brand.organization_id, brand_id=brand.id, created_by_id=principal.user_id
    )
    await _save(session, template, fields.model_dump(exclude={"brand_id"}))
    return template


async def get_template(
    session: AsyncSession,
    principal: Principal,
    template_id: uuid.UUID,
    action: Action = Action.READ,
) -> Template:
    """The template, if it belongs to one of the principal's organizations; else 404."""
    return await get_scoped(
        session, principal, Template, template_id, what="template", action=action
    )


async def list_templates(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    brand_id: uuid.UUID | None = None,
) -> tuple[list[Template], str | None]:
    return await list_of_brands(session, principal, Template, page, brand_id)


async def update_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID, fields: TemplatePatch
) -> Template:
    template = await get_template(session, principal, template_id, Action.WRITE_CONTENT)
    changes: dict[str, Any] = fields.model_dump(exclude_unset=True)
    if "content" in changes or "variables" in changes:
        _checked_content(
            changes.get("content", template.content),
            changes.get("variables", list(template.variables or [])),
            blame="content" if "content" in changes else "variables",
        )
    await _save(session, template, changes)
    return template


async def delete_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID
) -> None:
    template = await get_template(session, principal, template_id, Action.WRITE_CONTENT)
    await session.delete(template)
    await session.flush()


async def render_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID, values: Mapping[str, str]
) -> str:
    """The template's text with `values` in place of its placeholders. Readers may render: it
    changes nothing. Every unknown and every missing variable is named in `errors`."""
    template = await get_template(session, principal, template_id, Action.READ)
    declared = set(template.variables or [])
    parsed = rendering.parse(template.content)
    errors: list[dict[str, Any]] = [
        {
            "loc": ["body", "values", name],
            "msg": "unknown variable: the template doesn't declare it",
        }
        for name in values
        if name not in declared
    ]
    errors += [
        {"loc": ["body", "values", name], "msg": "missing: the template uses this variable"}
        for name in parsed.placeholders
        if name not in values
    ]
    if errors:
        raise ValidationFailed(
            "The values don't match the template's variables; see `errors`.", errors=errors
        )
    try:
        return rendering.render(parsed, values)
    except rendering.OutputTooLarge as error:
        raise ValidationFailed(
            "The rendered text would be too long.",
            errors=[{"loc": ["body", "values"], "msg": str(error)}],
        ) from None
