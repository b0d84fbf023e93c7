"""What the AI endpoints take and give."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from t21.platforms import registry

MAX_CONTENT = 65_000  # as a post's content


def _platform(value: str) -> str:
    if value not in registry.names():
        raise ValueError(f"unknown platform; one of {', '.join(registry.names())}")
    return value


Platform = Annotated[str, AfterValidator(_platform)]
ModelName = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[\w.-]+/[\w.:-]+$", max_length=128)
]
Model = Annotated[
    ModelName | None,
    Field(description="An OpenRouter model id (vendor/model); default: the server's default."),
]
ChargedTo = Annotated[
    uuid.UUID | None,
    Field(
        description="The organization charged when there is no brand; default: the caller's "
        "personal organization (an API key: its own)."
    ),
]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CONTENT)
]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brand_id: uuid.UUID
    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    platform: Platform
    tone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    variants: Annotated[int, Field(ge=1, le=5)] = 1
    model: Model = None


class HashtagsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: Text
    platform: Platform
    count: Annotated[int, Field(ge=1, le=30)] = 10
    brand_id: uuid.UUID | None = None
    organization_id: ChargedTo = None
    model: Model = None


class ImproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: Text
    platform: Platform
    instructions: Short | None = None
    brand_id: uuid.UUID | None = None
    organization_id: ChargedTo = None
    model: Model = None


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    credits: int = Field(description="AI credits charged: ceil(total tokens / 1000), at least 1.")


class VariantOut(BaseModel):
    content: str = Field(description="The post text, without its hashtags.")
    hashtags: list[str] = Field(
        description="Its hashtags; the text followed by a blank line and these still fits."
    )


class AiOut(BaseModel):
    id: uuid.UUID = Field(
        description="This AI call; pass it as a new post's `ai_call_id` to record its usage."
    )
    model: str
    usage: UsageOut


class GenerateOut(AiOut):
    variants: list[VariantOut]


class HashtagsOut(AiOut):
    hashtags: list[str]


class ImproveOut(AiOut):
    content: str
