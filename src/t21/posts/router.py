"""`/api/v1/posts`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from t21.core.deps import DbSession, ReadSession
from t21.core.errors import PayloadTooLarge, ValidationFailed
from t21.core.localtime import PlainDate
from t21.core.pagination import PageParams
from t21.core.routing import IDEMPOTENT, APIRouter
from t21.core.uow import read_scope, session_scope
from t21.organizations.auth import CurrentPrincipal
from t21.posts import bulk, direct, dryrun, exporting, importing, listing, reading, service
from t21.posts.models import PostStatus
from t21.posts.schemas import (
    BulkOut,
    BulkRefusal,
    ImportOut,
    ImportRowErrors,
    PartCheck,
    PostCheck,
    PostIn,
    PostList,
    PostOut,
    PostPatch,
    PostWarning,
    PublishIn,
    ScheduleIn,
    TargetCheck,
    post_json,
    post_out,
)

router = APIRouter(prefix="/posts", tags=["posts"])


async def list_filters(
    request: Request,
    principal: CurrentPrincipal,
    brand_id: uuid.UUID | None = None,
    status: PostStatus | None = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    scheduled_from: Annotated[
        AwareDatetime | PlainDate | None,
        Query(
            alias="from",
            description="Posts scheduled at or after this time (RFC 3339), or from the start "
            "of this date (YYYY-MM-DD) in the brand's time zone (UTC without `brand_id`).",
        ),
    ] = None,
    scheduled_to: Annotated[
        AwareDatetime | PlainDate | None,
        Query(
            alias="to",
            description="Posts scheduled before this time (RFC 3339), or up to the end of this "
            "date (YYYY-MM-DD, included) in the brand's time zone (UTC without `brand_id`).",
        ),
    ] = None,
) -> listing.PostFilters:
    """The list's filters (and the export's); plain dates are whole days in the brand's zone."""
    scheduled_from, scheduled_to = await listing.calendar_window(
        request.app.state.runtime, principal, brand_id, scheduled_from, scheduled_to
    )
    if scheduled_from and scheduled_to and scheduled_from >= scheduled_to:
        message = "`from` must be before `to`."
        raise ValidationFailed(message, errors=[{"loc": ["query", "to"], "msg": message}])
    return listing.PostFilters(
        brand_id=brand_id,
        status=status,
        platform=service.known_platform(platform) if platform is not None else None,
        scheduled_from=scheduled_from,
        scheduled_to=scheduled_to,
    )


ListFilters = Annotated[listing.PostFilters, Depends(list_filters)]


# The page comes serialized (`listing`): `response_model` gives the document its schema.
@router.get("", response_model=PostList)
async def list_posts(
    request: Request,
    principal: CurrentPrincipal,
    page: PageParams,
    filters: ListFilters,
) -> Response:
    """Posts of the caller's organizations (or of `brand_id`), ordered by `scheduled_at`
    (unscheduled drafts last), then creation. `from`/`to` give a calendar's window."""
    runtime = request.app.state.runtime
    # No session where none is needed (`list_page_pooled`); else the read session taken here
    # rather than as a dependency (`ReadSession`): FastAPI runs a generator dependency in an
    # exit stack with a cancel scope and a shielded exit, work the busiest read need not pay
    # for a session that commits nothing.
    body = await listing.list_page_pooled(runtime, principal, page, filters)
    if body is None:
        async with read_scope(runtime) as session:
            body = await listing.list_page(session, runtime, principal, page, filters)
    return Response(body, media_type="application/json")


# The post comes serialized (`post_json`), without FastAPI validating the model it was built
# as a second time: `response_model` gives the document its schema.
# Its unit of work is opened here rather than as a dependency (`DbSession`), as the list takes
# its read session: the busiest write, and FastAPI's generator dependency costs an exit stack,
# a cancel scope and a shielded exit. The same unit of work: committed once when the service
# returns (before the response is built), rolled back on any error, jobs sent after the commit.
# A draft on PostgreSQL needs none (`direct.create_post_direct`).
@router.post("", status_code=201, response_model=PostOut, openapi_extra=IDEMPOTENT)
async def create_post(body: PostIn, request: Request, principal: CurrentPrincipal) -> Response:
    """A draft, or a post scheduled for `scheduled_at`; every target is checked against its
    network first (422 naming the target and the rule)."""
    runtime = request.app.state.runtime
    answer = await direct.create_post_direct(runtime, principal, body)
    if answer is None:
        async with session_scope(runtime) as session:
            created = await service.create_post(session, runtime, principal, body)
        answer = post_json(runtime, created)
    return Response(answer, status_code=201, media_type="application/json")


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
        warnings=[PostWarning.model_validate(warning) for warning in checked.warnings],
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


@router.post("/import", openapi_extra=IDEMPOTENT)
async def import_posts(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    file: Annotated[UploadFile, File(description="CSV (a header row) or JSON (an array).")],
    brand_id: Annotated[uuid.UUID, Form()],
    dry_run: Annotated[bool, Form(description="Check every row; store nothing.")] = False,
    partial: Annotated[
        bool, Form(description="Create the valid rows even if others have problems.")
    ] = False,
    allow_duplicate: Annotated[
        bool,
        Form(
            description="Import rows that repeat a post (or another row) on the same account "
            "within 24 hours; a row's own `allow_duplicate` column does so for that row."
        ),
    ] = False,
) -> ImportOut:
    """Posts from a file, each row checked as `POST /posts/validate` would. All-or-nothing
    unless `partial`: a row with a problem → 422 listing every row's problems, nothing
    stored. See README "Bulk import and export" for the columns."""
    runtime = request.app.state.runtime
    limit = runtime.settings.import_max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"The file is larger than {limit} bytes.")
    imported = await importing.import_posts(
        session,
        runtime,
        principal,
        brand_id,
        data,
        filename=file.filename,
        content_type=file.content_type,
        dry_run=dry_run,
        partial=partial,
        allow_duplicate=allow_duplicate,
    )
    return ImportOut(
        dry_run=imported.dry_run,
        rows=imported.rows,
        valid=imported.valid,
        created=len(imported.post_ids),
        post_ids=imported.post_ids,
        errors=[ImportRowErrors(**entry) for entry in imported.errors],
        warnings=[PostWarning.model_validate(warning) for warning in imported.warnings],
    )


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {media: {} for media in exporting.MEDIA_TYPES.values()},
            "description": "The posts as an import takes them, streamed.",
        }
    },
)
async def export_posts(
    request: Request,
    principal: CurrentPrincipal,
    session: ReadSession,
    filters: ListFilters,
    format: exporting.ExportFormat = "csv",
) -> StreamingResponse:
    """The posts the list would show with these filters, in its order, as a CSV or JSON file
    with the import's columns (formulas defused in CSV)."""
    await exporting.check_filters(session, principal, filters)
    return StreamingResponse(
        exporting.export_posts(request.app.state.runtime, principal, filters, format),
        media_type=exporting.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="posts.{format}"'},
    )


@router.post("/bulk")
async def bulk_action(
    body: bulk.BulkIn, request: Request, principal: CurrentPrincipal, session: DbSession
) -> BulkOut:
    """Reschedule, cancel or delete many posts, each under the rules it has alone; the
    answer lists what was done and what was refused and why."""
    outcome = await bulk.run(session, request.app.state.runtime, principal, body)
    return BulkOut(
        done=outcome.done,
        refused=[
            BulkRefusal(post_id=post_id, code=refusal.code, detail=refusal.detail)
            for post_id, refusal in outcome.refused
        ],
    )


@router.get("/{post_id}")
async def get_post(
    post_id: uuid.UUID, request: Request, principal: CurrentPrincipal, session: DbSession
) -> PostOut:
    post = await reading.get_post(session, principal, post_id)
    return post_out(request.app.state.runtime, await reading.view(session, post))


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
        await service.schedule_post(
            session,
            runtime,
            principal,
            post_id,
            body.scheduled_at,
            allow_duplicate=body.allow_duplicate,
        ),
    )


@router.post("/{post_id}/publish", status_code=202)
async def publish_post(
    post_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    body: PublishIn | None = None,
) -> PostOut:
    """Publish the targets not yet published now: they are due at once (or wait for an
    approver, on a brand that requires approval)."""
    runtime = request.app.state.runtime
    allow_duplicate = body.allow_duplicate if body is not None else False
    return post_out(
        runtime,
        await service.schedule_post(
            session, runtime, principal, post_id, None, allow_duplicate=allow_duplicate
        ),
    )


@router.post("/{post_id}/cancel")
async def cancel_post(
    post_id: uuid.UUID, request: Request, principal: CurrentPrincipal, session: DbSession
) -> PostOut:
    """Cancel the targets not yet published (a target a worker is publishing goes on)."""
    runtime = request.app.state.runtime
    return post_out(runtime, await service.cancel_post(session, principal, post_id))
