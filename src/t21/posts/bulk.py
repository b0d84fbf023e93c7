"""Bulk actions: reschedule, cancel or delete many posts in one request.

Each post goes through the very service function a request about it alone would call
(`schedule_post`, `cancel_post`, `delete_post`), with its permission and state rules, inside
its own savepoint: a post refused leaves no trace, the others are done, and the answer lists
both. Another organization's post is refused as `not_found`, exactly like one that does not
exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.errors import Conflict, T21Error, ValidationFailed
from t21.core.pagination import PageRequest
from t21.core.runtime import Runtime
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal
from t21.platforms import registry
from t21.posts import listing, reading, service
from t21.posts.models import PostStatus
from t21.posts.schemas import UtcDatetime
from t21.posts.validation import FURTHEST_AHEAD, schedule_errors

# A shift further than the furthest a post may be scheduled is never right.
MAX_SHIFT_MINUTES = int(FURTHEST_AHEAD.total_seconds() // 60)


class NotScheduled(Conflict):
    code = "not_scheduled"
    title = "Not scheduled"


class BulkFilter(BaseModel):
    """The list's filters (`GET /api/v1/posts`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    brand_id: uuid.UUID | None = None
    status: PostStatus | None = None
    platform: Annotated[str | None, Field(max_length=32)] = None
    scheduled_from: AwareDatetime | None = Field(
        default=None, alias="from", description="Posts scheduled at or after this time."
    )
    scheduled_to: AwareDatetime | None = Field(
        default=None, alias="to", description="Posts scheduled before this time."
    )

    @field_validator("platform")
    @classmethod
    def _known(cls, platform: str | None) -> str | None:
        if platform is not None and platform not in registry.names():
            raise ValueError(f"unknown platform; one of {', '.join(registry.names())}")
        return platform

    @model_validator(mode="after")
    def _window(self) -> BulkFilter:
        if self.scheduled_from and self.scheduled_to and self.scheduled_from >= self.scheduled_to:
            raise ValueError("`from` must be before `to`")
        return self

    def filters(self) -> listing.PostFilters:
        return listing.PostFilters(
            brand_id=self.brand_id,
            status=self.status,
            platform=self.platform,
            scheduled_from=self.scheduled_from,
            scheduled_to=self.scheduled_to,
        )


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["reschedule", "cancel", "delete"]
    post_ids: list[uuid.UUID] | None = Field(
        default=None, description="The posts, by id; or give `filter`."
    )
    filter: BulkFilter | None = Field(
        default=None, description="The posts the list would show with these filters."
    )
    scheduled_at: UtcDatetime | None = Field(
        default=None, description="reschedule: the new time of every post (RFC 3339)."
    )
    shift_minutes: Annotated[int | None, Field(ge=-MAX_SHIFT_MINUTES, le=MAX_SHIFT_MINUTES)] = (
        Field(
            default=None,
            description="reschedule: move every post by this many minutes (negative: earlier).",
        )
    )

    @model_validator(mode="after")
    def _consistent(self) -> BulkIn:
        if (self.post_ids is None) == (self.filter is None):
            raise ValueError("give either post_ids or filter")
        timed = (self.scheduled_at is not None) + (self.shift_minutes is not None)
        if self.action == "reschedule" and timed != 1:
            raise ValueError("reschedule takes either scheduled_at or shift_minutes")
        if self.action != "reschedule" and timed:
            raise ValueError(f"{self.action} takes no scheduled_at nor shift_minutes")
        return self


@dataclass
class Outcome:
    done: list[uuid.UUID] = field(default_factory=list)
    refused: list[tuple[uuid.UUID, T21Error]] = field(default_factory=list)


async def run(
    session: AsyncSession, runtime: Runtime, principal: Principal, body: BulkIn
) -> Outcome:
    """Do `body.action` to each selected post as a request about it alone would."""
    cap = runtime.settings.bulk_max_posts
    if body.scheduled_at is not None:
        problems = schedule_errors(body.scheduled_at, required=True)
        if problems:
            raise ValidationFailed(problems[0]["msg"], errors=problems)
    post_ids = await _selected(session, principal, body, cap)
    outcome = Outcome()
    for post_id in post_ids:
        try:
            async with session.begin_nested():
                await _one(session, runtime, principal, body, post_id)
        except T21Error as refusal:
            outcome.refused.append((post_id, refusal))
        else:
            outcome.done.append(post_id)
    return outcome


async def _selected(
    session: AsyncSession, principal: Principal, body: BulkIn, cap: int
) -> list[uuid.UUID]:
    """The posts asked for, each once, in order; more than `cap` → 422."""
    if body.post_ids is not None:
        post_ids = list(dict.fromkeys(body.post_ids))
        where = ["body", "post_ids"]
        too_many = len(post_ids) > cap
    else:
        assert body.filter is not None
        shown, more = await listing.list_posts(
            session, principal, PageRequest(limit=cap), body.filter.filters()
        )
        post_ids = [one.post.id for one in shown]
        where = ["body", "filter"]
        too_many = more is not None  # a page of `cap` posts, and more after it
    if too_many:
        message = (
            f"One bulk action touches at most {cap} posts; this one selects more. Narrow the "
            "selection or split it."
        )
        raise ValidationFailed(message, errors=[{"loc": where, "msg": message, "rule": "too_many"}])
    return post_ids


async def _one(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    body: BulkIn,
    post_id: uuid.UUID,
) -> None:
    if body.action == "cancel":
        await service.cancel_post(session, principal, post_id)
    elif body.action == "delete":
        await service.delete_post(session, principal, post_id)
    else:
        when = body.scheduled_at
        if body.shift_minutes is not None:
            post = await reading.get_post(session, principal, post_id, Action.WRITE_CONTENT)
            if post.scheduled_at is None:
                raise NotScheduled("The post has no time to shift; give scheduled_at instead.")
            when = post.scheduled_at + timedelta(minutes=body.shift_minutes)
        assert when is not None
        await service.schedule_post(session, runtime, principal, post_id, when)
