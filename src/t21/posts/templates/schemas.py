"""What the template endpoints take and give."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from t21.posts.models import Template
from t21.posts.templates.rendering import MAX_NAME_LENGTH, MAX_OUTPUT_BYTES, is_identifier

MAX_VARIABLES = 50
MAX_CONTENT_LENGTH = 20_000

PLACEHOLDERS_HELP = (
    "`{{ name }}` inserts a variable (names: letters, digits, underscores, not starting with a "
    "digit, up to 64 characters, case-sensitive); `{{{{` is a literal `{{`. Nothing else is "
    "allowed between `{{` and `}}`."
)


def _variable(value: str) -> str:
    name = value.strip()
    if not is_identifier(name):
        raise ValueError(
            "a variable name is letters, digits and underscores, not starting with a digit, "
            f"at most {MAX_NAME_LENGTH} characters"
        )
    return name


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _render_value(value: Any) -> Any:
    """A value is text; a number is accepted and written as JSON writes it. (Strings go on to
    pydantic's own checks.)"""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError("a value is a string or a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a number value must be finite")
        return repr(value)
    raise ValueError("a value is a string or a number, not an object or a list")


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Content = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_CONTENT_LENGTH),
    Field(description="The text, with placeholders. " + PLACEHOLDERS_HELP),
]
Variable = Annotated[str, StringConstraints(max_length=200), AfterValidator(_variable)]
Variables = Annotated[
    list[Variable],
    Field(
        max_length=MAX_VARIABLES,
        description="Every placeholder `content` uses, declared; duplicates are dropped. "
        "Declaring one that isn't used is allowed.",
    ),
    AfterValidator(_unique),
]
# Longer names can't be declared anyway; the constraint also makes pydantic check the text.
ValueName = Annotated[str, StringConstraints(max_length=100)]
RenderValue = Annotated[
    str,
    StringConstraints(max_length=MAX_OUTPUT_BYTES),
    BeforeValidator(_render_value),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}]}),
]


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brand_id: uuid.UUID
    name: Name
    content: Content
    variables: Variables


class TemplatePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    content: Content | None = None
    variables: Variables | None = None

    @field_validator("name", "content", "variables")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("can't be null; leave the field out to keep it")
        return value


class TemplateOut(BaseModel):
    id: uuid.UUID
    brand_id: uuid.UUID
    name: str
    content: str
    variables: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, template: Template) -> TemplateOut:
        return cls(
            id=template.id,
            brand_id=template.brand_id,
            name=template.name,
            content=template.content,
            variables=list(template.variables or []),
            created_at=template.created_at,
            updated_at=template.updated_at,
        )


class TemplateList(BaseModel):
    items: list[TemplateOut]
    next_cursor: str | None = None


class RenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: Annotated[
        dict[ValueName, RenderValue],
        Field(
            max_length=MAX_VARIABLES,
            description="A value for every placeholder the template uses, by name; values for "
            "declared but unused variables are ignored, undeclared names are refused. A value "
            "is a string or a number (written as JSON writes it) and is inserted as is, never "
            "read as template text.",
        ),
    ]


class RenderOut(BaseModel):
    content: str
