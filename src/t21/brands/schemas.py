"""What the brand endpoints take and give."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, StringConstraints

from t21.brands.models import Brand


@functools.cache
def _zone_names() -> frozenset[str]:
    """The IANA zone names this system knows, read once: listing them walks the whole time-zone
    database, too slow to repeat for every brand validated."""
    return frozenset(available_timezones())


def _timezone(value: str) -> str:
    if value not in _zone_names():
        raise ValueError(f"{value!r} is not an IANA timezone name (e.g. Europe/London)")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA timezone name (e.g. Europe/London)") from None
    return value


def _hashtag(value: str) -> str:
    tag = value.strip()
    tag = tag if tag.startswith("#") else f"#{tag}"
    if len(tag) < 2 or any(char.isspace() for char in tag):
        raise ValueError("a hashtag is one word")
    return tag


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Hashtag = Annotated[str, StringConstraints(max_length=100), AfterValidator(_hashtag)]
Timezone = Annotated[str, AfterValidator(_timezone)]


class BrandFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: LongText | None = None
    voice: LongText | None = None
    target_audience: LongText | None = None
    industry: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    keywords: Annotated[list[Keyword], Field(max_length=50)] | None = None
    default_hashtags: Annotated[list[Hashtag], Field(max_length=30)] | None = None
    timezone: Timezone | None = None
    website: HttpUrl | None = None
    requires_approval: bool | None = Field(
        default=None,
        description="Posts its members (and member-role API keys) schedule wait for an admin's "
        "approval (status `pending_approval`).",
    )


class BrandIn(BrandFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Ada's Bakery",
                    "description": "Sourdough and pastries, baked daily in Leeds.",
                    "voice": "warm, playful, never pushy",
                    "keywords": ["sourdough", "bakery"],
                    "default_hashtags": ["#bakery"],
                    "timezone": "Europe/London",
                    "website": "https://bakery.example.com",
                }
            ]
        }
    )

    organization_id: uuid.UUID | None = None
    name: Name


class BrandPatch(BrandFields):
    name: Name | None = None


class BrandOut(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    description: str | None
    voice: str | None
    target_audience: str | None
    industry: str | None
    keywords: list[str]
    default_hashtags: list[str]
    timezone: str
    website: str | None
    requires_approval: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, brand: Brand) -> BrandOut:
        return cls(
            id=brand.id,
            organization_id=brand.organization_id,
            name=brand.name,
            description=brand.description,
            voice=brand.voice,
            target_audience=brand.target_audience,
            industry=brand.industry,
            keywords=list(brand.keywords or []),
            default_hashtags=list(brand.default_hashtags or []),
            timezone=brand.timezone,
            website=brand.website,
            requires_approval=brand.requires_approval,
            created_at=brand.created_at,
            updated_at=brand.updated_at,
        )


class BrandList(BaseModel):
    items: list[BrandOut]
    next_cursor: str | None = None
