"""Posts: writing them, checking them against each network, scheduling and cancelling them.

Every change of a post's targets first locks them (`FOR UPDATE` on PostgreSQL; SQLite's
`BEGIN IMMEDIATE` already admits one writer at a time), then checks their states: the dispatcher
claims targets with `SKIP LOCKED`, so either it claimed a target first and the change sees it
`queued` (409), or the change holds it and the dispatcher passes it by until the change commits.
A claimed target is never silently rescheduled, edited or deleted under a worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.audit.service import Actor
from t21.brands import service as brands_service
from t21.brands.models import Brand
from t21.core import clock
from t21.core.db import is_postgres
from t21.core.errors import Conflict, ValidationFailed
from t21.core.ids import uuid7
from t21.core.rows import NewRow, insert_rows, with_defaults
from t21.core.runtime import Runtime
from t21.events.models import Event
from t21.events.service import events_written, new_events
from t21.media.models import MediaAsset
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal
from t21.platforms import registry
from t21.posts import approvals
from t21.posts import status as states
from t21.posts.duplicates import of_drafts, of_targets, refuse_duplicates
from t21.posts.events import (
    kept_together,
    post_event,
    post_event_data,
    status_events,
)
from t21.posts.known import brand_and_known
from t21.posts.models import UNSCHEDULED, Post, PostMedia, PostStatus, PostTarget, TargetStatus
from t21.posts.reading import PostView, author_of, get_post, view
from t21.posts.schemas import PostIn, PostPatch, TargetIn, ThreadPartIn
from t21.posts.validation import (
    TargetDraft,
    ai_usage,
    checked_content,
    error,
    is_scheduling,
    post_schedule_errors,
    quota_warnings,
    schedule_errors,
)
from t21.queue import service as queue
from t21.webhooks.fanout import quiet_everywhere

# --- writing ------------------------------------------------------------------------------------


async def create_post(
    session: AsyncSession, runtime: Runtime, principal: Principal, fields: PostIn
) -> PostView:
    alone = await _without_transaction(session, principal, fields)
    brand, known = await brand_and_known(
        session, principal, fields.brand_id, Action.WRITE_CONTENT, fields.media_ids, fields.targets
    )
    errors: list[dict[str, Any]] = []
    if fields.schedule == "queue":
        fields = await queue.with_next_slot(session, brand, fields, errors, take=True)
    scheduling = is_scheduling(fields)
    errors += post_schedule_errors(fields)
    ai = await ai_usage(session, brand.organization_id, fields.ai_call_id, errors)
    drafts, assets = await checked_content(
        session,
        runtime,
        principal,
        brand,
        fields.content,
        fields.media_ids,
        fields.targets,
        errors,
        known=known,
    )
    if scheduling and not fields.allow_duplicate and fields.scheduled_at is not None:
        await refuse_duplicates(session, of_drafts(drafts), fields.scheduled_at)
    built = new_post(principal, brand, fields, drafts, assets, ai)
    # Read before the post is written (it counts published posts, which a new one is not):
    # without a transaction, nothing may fail after the write.
    warnings = (
        await quota_warnings(
            session, runtime.settings, built.post.organization_id, len(built.targets)
        )
        if scheduling
        else []
    )
    shown, rows, types = as_written(principal, brand, built, assets)
    if kept_together(session):
        await insert_rows(session, rows)
        for type in types:
            await post_event(session, type, shown)
    else:
        events = events_of(shown, types)
        await insert_rows(session, [*rows, *with_defaults(events)])
        await events_written(session, shown.post.organization_id, events, quiet=alone)
    if scheduling:
        shown.warnings = warnings
    return shown


def as_written(
    principal: Principal, brand: Brand, built: NewPost, assets: Sequence[MediaAsset]
) -> tuple[PostView, list[NewRow], list[str]]:
    """The post as it is answered, the rows that write it, and the types of its events.
    Core statements write it, not the unit of work's flushes: the post's row, its targets'
    and media's, which refer to it, and its events (one statement on PostgreSQL, see
    `insert_rows`). The objects stay out of any session. The rows' defaults are set first:
    the events carry the post as written."""
    post, targets = built.post, built.targets
    rows = with_defaults([post, *targets, *built.media])
    # What `view` would read back, from what is being written: every field a target's answer
    # shows is set on it already (`_new_target`).
    shown = PostView(
        post=post,
        targets=sorted(targets, key=lambda target: target.id),
        media=list(assets),
        timezone=brand.timezone,
        created_by=author_of(principal),
    )
    types = ["post.created"]
    if post.status is PostStatus.SCHEDULED:
        types.append("post.scheduled")
    if post.status is PostStatus.PENDING_APPROVAL:
        types.append("post.approval_requested")
    return shown, rows, types


def events_of(shown: PostView, types: Sequence[str]) -> list[Event]:
    data = post_event_data(shown)
    return new_events(shown.post.organization_id, [(type, data) for type in types])


async def _without_transaction(session: AsyncSession, principal: Principal, fields: PostIn) -> bool:
    """Whether this create runs without a transaction, and if so its connection set so: on
    PostgreSQL, when its one write is the INSERT of the post, its targets, media and events
    (`insert_rows`: one statement, atomic on its own), that is when it takes no queue slot,
    takes no duplicate guard's lock (a draft, or `allow_duplicate`) and its events have no
    webhook delivery to write (every organization of the principal is
    known to have no endpoint, `quiet_everywhere`: the bound of `QuietOrganizations`).
    Its reads (brand, accounts, media, duplicates, quota) then run before the write, each on
    its own, as they do in a READ COMMITTED transaction: no BEGIN and COMMIT round trips, no
    transaction held open across them. The session must not have begun one yet."""
    if fields.schedule == "queue" or session.in_transaction() or not is_postgres(session):
        return False
    if is_scheduling(fields) and not fields.allow_duplicate:
        return False  # the duplicate guard's lock is held until the transaction ends
    if not quiet_everywhere(session, principal.organization_ids):
        return False
    await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return True


@dataclass
class NewPost:
    """The rows of a new post, not yet added to a session."""

    post: Post
    targets: list[PostTarget]
    media: list[PostMedia]


def new_post(
    principal: Principal,
    brand: Brand,
    fields: PostIn,
    drafts: Sequence[TargetDraft],
    assets: Sequence[MediaAsset],
    ai: dict[str, Any] | None = None,
) -> NewPost:
    """A checked post's rows as `create_post` writes them: an import builds thousands this
    way and inserts them together."""
    post = Post(
        id=uuid7(),
        organization_id=brand.organization_id,
        brand_id=brand.id,
        author_id=principal.user_id,
        author_api_key_id=principal.api_key.id if principal.api_key is not None else None,
        content=fields.content,
        scheduled_at=fields.scheduled_at,
        sort_at=fields.scheduled_at or UNSCHEDULED,
        ai=ai,
    )
    status = (
        approvals.scheduled_status(principal, brand)
        if is_scheduling(fields)
        else TargetStatus.DRAFT
    )
    targets = [_new_target(post, draft, fields.targets[draft.index], status) for draft in drafts]
    post.status = states.derive(target.status for target in targets)
    if status is TargetStatus.PENDING_APPROVAL:
        approvals.request(post)
    return NewPost(post=post, targets=targets, media=_post_media(post.id, assets))


async def update_post(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    post_id: uuid.UUID,
    fields: PostPatch,
) -> PostView:
    """A new text, media or set of targets, while nothing of the post is (being) published."""
    post = await get_post(session, principal, post_id, Action.WRITE_CONTENT)
    targets = await _locked_targets(session, post)
    _refuse_if_locked(targets, "edited")
    brand = await brands_service.get_brand(session, principal, post.brand_id, Action.WRITE_CONTENT)
    content = fields.content if fields.content is not None else post.content
    media_ids = (
        fields.media_ids if fields.media_ids is not None else await _media_ids(session, post.id)
    )
    wanted = (
        fields.targets
        if fields.targets is not None
        else [_as_input(target) for target in targets if target.social_account_id is not None]
    )
    errors: list[dict[str, Any]] = []
    drafts, assets = await checked_content(
        session, runtime, principal, brand, content, media_ids, wanted, errors
    )
    going_out = any(target.status in states.GOING_OUT for target in targets)
    retexted = fields.content is not None or fields.targets is not None
    if going_out and retexted and not fields.allow_duplicate and post.scheduled_at is not None:
        await refuse_duplicates(session, of_drafts(drafts), post.scheduled_at, besides=post.id)
    post.content = content
    if fields.media_ids is not None:
        await session.execute(delete(PostMedia).where(PostMedia.post_id == post.id))
        session.add_all(_post_media(post.id, assets))
    if fields.targets is not None:
        targets = await _replace_targets(session, post, targets, drafts, wanted)
    sent_back = await approvals.after_edit(session, principal, brand, post, targets)
    post.status = states.derive(target.status for target in targets)
    post.updated_at = clock.now()
    await session.flush()
    shown = await view(session, post)
    await post_event(session, "post.updated", shown)
    if sent_back:
        await post_event(session, "post.approval_requested", shown)
    return shown


async def delete_post(session: AsyncSession, principal: Principal, post_id: uuid.UUID) -> None:
    post = await get_post(session, principal, post_id, Action.WRITE_CONTENT)
    _refuse_if_locked(await _locked_targets(session, post), "deleted")
    # The event carries the post as it was: afterwards there is nothing left to ask for.
    await post_event(session, "post.deleted", await view(session, post))
    await audit.record(
        session,
        organization_id=post.organization_id,
        actor=Actor.of(principal),
        action="post.deleted",
        target_type="post",
        target_id=post.id,
        details={"content": post.content[:200]},
    )
    await session.delete(post)
    await session.flush()


async def schedule_post(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    post_id: uuid.UUID,
    when: datetime | None,
    *,
    allow_duplicate: bool = False,
) -> PostView:
    """Schedule (or reschedule) every target not yet published for `when`; `None` is now.

    Drafts, scheduled, retrying, failed and cancelled targets move; published targets and
    those awaiting review stay as they are; a target the dispatcher or a worker holds → 409.
    On a brand that requires approval, what a member schedules waits in `pending_approval`;
    an admin scheduling a post that waited approves it.
    """
    post = await get_post(session, principal, post_id, Action.WRITE_CONTENT)
    targets = await _locked_targets(session, post)
    if when is not None:
        problems = schedule_errors(when, required=True)
        if problems:
            raise ValidationFailed(problems[0]["msg"], errors=problems)
    busy = [target for target in targets if target.status in states.IN_FLIGHT]
    if busy:
        raise Conflict(
            f"{_describe(busy)} being published right now; its schedule can't change.",
            target_ids=[str(target.id) for target in busy],
        )
    movable = [target for target in targets if target.status in states.SCHEDULABLE]
    if not movable:
        verb = "schedule" if when is not None else "publish"
        if not targets:
            raise Conflict("The post has no accounts to publish to; add targets first.")
        if all(target.status is TargetStatus.PUBLISHED for target in targets):
            raise Conflict(f"This post is already published: there is nothing left to {verb}.")
        raise Conflict(
            f"Nothing left to {verb}: every account of this post is published or awaits review."
        )
    await _recheck(session, runtime, principal, post, movable)
    at = when or clock.now()
    if not allow_duplicate:
        await refuse_duplicates(session, of_targets(post, movable), at, besides=post.id)
    brand = await brands_service.get_brand(session, principal, post.brand_id)
    status = approvals.scheduled_status(principal, brand)
    was_pending = post.status is PostStatus.PENDING_APPROVAL
    for target in movable:
        if target.status in (TargetStatus.FAILED, TargetStatus.CANCELLED):
            target.attempts = 0
            target.last_error_code = None
            target.last_error_message = None
        target.status = status
        target.due_at = at if status is TargetStatus.SCHEDULED else None
    post.scheduled_at = at
    post.sort_at = at
    post.status = states.derive(target.status for target in targets)
    post.updated_at = clock.now()
    if status is TargetStatus.PENDING_APPROVAL:
        approvals.request(post)
    elif was_pending:
        await approvals.record_decision(
            session, post, approvals.APPROVED, approvals.Decider.of(principal), None
        )
    await session.flush()
    shown = await view(session, post)
    if status is TargetStatus.PENDING_APPROVAL:
        await post_event(session, "post.approval_requested", shown)
    else:
        if was_pending:
            await post_event(session, "post.approved", shown)
        await post_event(session, "post.scheduled", shown)
    shown.warnings = await quota_warnings(
        session, runtime.settings, post.organization_id, len(movable)
    )
    return shown


async def cancel_post(session: AsyncSession, principal: Principal, post_id: uuid.UUID) -> PostView:
    """Cancel every target not yet published and not in a worker's hands."""
    post = await get_post(session, principal, post_id, Action.WRITE_CONTENT)
    targets = await _locked_targets(session, post)
    stoppable = [target for target in targets if target.status in states.CANCELLABLE]
    already = all(target.status is TargetStatus.CANCELLED for target in targets)
    if not stoppable and not already:
        raise Conflict(
            "Nothing left to cancel: every account of this post is published, failed, awaiting "
            "review or being published right now."
        )
    for target in stoppable:
        target.status = TargetStatus.CANCELLED
        target.due_at = None
    if approvals.is_pending(post):
        # Nobody is asked to approve a cancelled post, through the API or a review link.
        decider = approvals.Decider.of(principal)
        await approvals.record_decision(session, post, approvals.CANCELLED, decider, None)
        await approvals.void_review_links(session, post.id)
    before = post.status
    post.status = states.derive(target.status for target in targets)
    post.updated_at = clock.now()
    await session.flush()
    shown = await view(session, post)
    if post.status is not before:
        await status_events(session, [shown])
    return shown


# --- helpers ------------------------------------------------------------------------------------


async def _recheck(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    post: Post,
    targets: Sequence[PostTarget],
) -> None:
    """The targets about to be scheduled, checked again: accounts and media change."""
    brand = await brands_service.get_brand(session, principal, post.brand_id)
    errors: list[dict[str, Any]] = []
    lost = [target for target in targets if target.social_account_id is None]
    for target in lost:
        errors.append(
            error(
                ["body"],
                f"The {registry.display_name(target.platform)} account of this post was "
                "disconnected; remove it from the post's targets.",
                rule="account",
                target_id=str(target.id),
            )
        )
    wanted = [_as_input(target) for target in targets if target.social_account_id is not None]
    await checked_content(
        session,
        runtime,
        principal,
        brand,
        post.content,
        await _media_ids(session, post.id),
        wanted,
        errors,
    )


async def _locked_targets(session: AsyncSession, post: Post) -> list[PostTarget]:
    statement = select(PostTarget).where(PostTarget.post_id == post.id).order_by(PostTarget.id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    # Fresh from the database, not the identity map: a worker may just have changed them.
    statement = statement.execution_options(populate_existing=True)
    return list(await session.scalars(statement))


def _refuse_if_locked(targets: Sequence[PostTarget], verb: str) -> None:
    # A target with part of its thread (or its first comment) out is published in part.
    locked = [target for target in targets if target.status in states.LOCKED or target.steps]
    if locked:
        raise Conflict(
            f"The post can't be {verb}: {_describe(locked)} {_state_phrase(locked)}.",
            target_ids=[str(target.id) for target in locked],
        )


def _describe(targets: Sequence[PostTarget]) -> str:
    # The networks' names as people know them (their display names, not their ids).
    platforms = sorted(
        {registry.rules_provider(target.platform).display_name for target in targets}
    )
    return f"its {', '.join(platforms)} target{'s are' if len(targets) > 1 else ' is'}"


def _state_phrase(targets: Sequence[PostTarget]) -> str:
    if any(target.status is TargetStatus.PUBLISHED for target in targets):
        return "already published"
    if any(target.status is TargetStatus.NEEDS_REVIEW for target in targets):
        return "awaiting review of an interrupted publish"
    if any(target.steps for target in targets):
        return "already published in part (a thread's first parts are out)"
    return "being published right now"


def _as_input(target: PostTarget) -> TargetIn:
    assert target.social_account_id is not None
    return TargetIn(
        social_account_id=target.social_account_id,
        content=target.content,
        options=dict(target.options or {}),
        thread=[ThreadPartIn.model_validate(part) for part in target.thread]
        if target.thread
        else None,
    )


def _new_target(
    post: Post, draft: TargetDraft, wanted: TargetIn, status: TargetStatus
) -> PostTarget:
    return PostTarget(
        id=uuid7(),
        organization_id=post.organization_id,
        post_id=post.id,
        social_account_id=draft.social_account_id,
        platform=draft.platform,
        content=wanted.content,
        options=dict(wanted.options),
        thread=thread_of(wanted),
        status=status,
        due_at=post.scheduled_at if status is TargetStatus.SCHEDULED else None,
        attempts=0,
    )


async def _replace_targets(
    session: AsyncSession,
    post: Post,
    current: list[PostTarget],
    drafts: Sequence[TargetDraft],
    wanted: Sequence[TargetIn],
) -> list[PostTarget]:
    """The post's targets become `wanted`: accounts kept keep their target (and its history),
    new ones join in the post's current state, the others are removed."""
    by_account = {target.social_account_id: target for target in current}
    scheduled = any(target.status is TargetStatus.SCHEDULED for target in current)
    kept: list[PostTarget] = []
    for draft in drafts:
        entry = wanted[draft.index]
        target = by_account.pop(draft.social_account_id, None)
        if target is None:
            target = _new_target(
                post,
                draft,
                entry,
                TargetStatus.SCHEDULED if scheduled else TargetStatus.DRAFT,
            )
            session.add(target)
        else:
            target.content = entry.content
            target.options = dict(entry.options)
            target.thread = thread_of(entry)
        kept.append(target)
    for gone in by_account.values():
        await session.delete(gone)
    return kept


async def _media_ids(session: AsyncSession, post_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        await session.scalars(
            select(PostMedia.media_id)
            .where(PostMedia.post_id == post_id)
            .order_by(PostMedia.position)
        )
    )


def _post_media(post_id: uuid.UUID, assets: Sequence[MediaAsset]) -> list[PostMedia]:
    return [
        PostMedia(post_id=post_id, position=position, media_id=asset.id)
        for position, asset in enumerate(assets)
    ]


def thread_of(wanted: TargetIn) -> list[dict[str, Any]] | None:
    """A target's thread as stored: its parts after the first, or None without one."""
    if not wanted.thread:
        return None
    return [part.model_dump(mode="json") for part in wanted.thread]


def known_platform(platform: str) -> str:
    """`platform` if T21 knows the network; 422 otherwise."""
    if platform not in registry.names():
        message = f"Unknown platform {platform!r}; one of {', '.join(registry.names())}."
        raise ValidationFailed(message, errors=[{"loc": ["query", "platform"], "msg": message}])
    return platform
