"""`/api/v1/posts`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Request, Response
from pydantic import AwareDatetime

from t21.core.deps import DbSession
from t21.core.errors import ValidationFailed
from t21.core.pagination import PageParams
from t21.core.routing import IDEMPOTENT, APIRouter
from t21.organizations.auth import CurrentPrincipal
from t21.posts import dryrun, service
from t21.posts.models import PostStatus
from t21.posts.schemas import (
    PartCheck,
    PostCheck,
    PostIn,
    PostList,
    PostOut,
    PostPatch,
    PostWarning,
    ScheduleIn,
    TargetCheck,
    post_out,
)

router = APIRouter(prefix="/posts", tags=["posts"])


@router.get("")
async def list_posts(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    brand_id: uuid.UUID | None = None,
    status: PostStatus | None = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    scheduled_from: Annotated[
        AwareDatetime | None,
        Query(alias="from", description="Posts scheduled at or after this time (RFC 3339)."),
    ] = None,
    scheduled_to: Annotated[
        AwareDatetime | None,
        Query(alias="to", description="Posts scheduled before this time (RFC 3339)."),
    ] = None,
) -> PostList:
    """Posts of the caller's organizations (or of `brand_id`), ordered by `scheduled_at`
    (unscheduled drafts last), then creation. `from`/`to` give a calendar's window."""
    if scheduled_from and scheduled_to and scheduled_from >= scheduled_to:
        message = "`from` must be before `to`."
        raise ValidationFailed(message, errors=[{"loc": ["query", "to"], "msg": message}])
    filters = service.PostFilters(
        brand_id=brand_id,
        status=status,
        platform=service.known_platform(platform) if platform is not None else None,
        scheduled_from=scheduled_from,
        scheduled_to=scheduled_to,
    )
    views, next_cursor = await service.list_posts(session, principal, page, filters)
    runtime = request.app.state.runtime
    return PostList(items=[post_out(runtime, one) for one in views], next_cursor=next_cursor)


@router.post("", status_code=201, openapi_extra=IDEMPOTENT)
async def create_post(
    body: PostIn, request: Request, principal: CurrentPrincipal, session: DbSession
) -> PostOut:
    """A draft, or a post scheduled for `scheduled_at`; every target is checked against its
    network first (422 naming the target and the rule)."""
    runtime = request.app.state.runtime
    return post_out(runtime, await service.create_post(session, runtime, principal, body))


@router.post("/validate")
async def validate_post(
    body: PostIn, request: Request, principal: CurrentPrincipal, session: DbSession
) -> PostCheck:
    """A dry run of creating this post: the errors it would meet (as a 422's `errors`), its
    warnings, and each target's counted length against its limit. Nothing is stored."""
    checked = await dryrun.validate_post(session, request.app.state.runtime, principal, body)
    return PostCheck(
        valid=not checked.errors,
        errors=checked.errors,
        warnings=[PostWarning(**warning) for warning in checked.warnings],
        targets=[
            TargetCheck(
                social_account_id=one.draft.social_account_id,
                platform=one.draft.platform,
                length=one.length,
                limit=one.limit,
                parts=[
                    PartCheck(position=position, length=length, limit=one.limit)
                    for position, length in enumerate(one.part_lengths)
                ],
            )
            for one in checked.targets
        ],
    )


@router.get("/{post_id}")
async def get_post(
    post_id: uuid.UUID, request: Request, principal: CurrentPrincipal, session: DbSession
) -> PostOut:
    post = await service.get_post(session, principal, post_id)
    return post_out(request.app.state.runtime, await service.view(session, post))


@router.patch("/{post_id}")
async def update_post(
    post_id: uuid.UUID,
    body: PostPatch,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
) -> PostOut:
    """Change the text, media or targets; 409 once a target is being or has been published."""
    runtime = request.app.state.runtime
    return post_out(runtime, await service.update_post(session, runtime, principal, post_id, body))


@router.delete("/{post_id}", status_code=204)
async def delete_post(
    post_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> Response:
    """409 once a target is being or has been published."""
    await service.delete_post(session, principal, post_id)
    return Response(status_code=204)


@router.post("/{post_id}/schedule")
async def schedule_post(
    post_id: uuid.UUID,
    body: ScheduleIn,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
) -> PostOut:
    """Schedule or reschedule the targets not yet published; 409 while one is being published."""
    runtime = request.app.state.runtime
    return post_out(
        runtime,
        await service.schedule_post(session, runtime, principal, post_id, body.scheduled_at),
    )


@router.post("/{post_id}/publish", status_code=202)
async def publish_post(
    post_id: uuid.UUID, request: Request, principal: CurrentPrincipal, session: DbSession
) -> PostOut:
    """Publish the targets not yet published now: they are due at once."""
    runtime = request.app.state.runtime
    return post_out(
        runtime, await service.schedule_post(session, runtime, principal, post_id, None)
    )


@router.post("/{post_id}/cancel")
async def cancel_post(
    post_id: uuid.UUID, request: Request, principal: CurrentPrincipal, session: DbSession
) -> PostOut:
    """Cancel the targets not yet published (a target a worker is publishing goes on)."""
    runtime = request.app.state.runtime
    return post_out(runtime, await service.cancel_post(session, principal, post_id))
