"""The events of posts and their targets, with the post or target as the API shows it.

Each is recorded in the caller's transaction. Inside `recorded_together`, they are kept as they
are made (the post or target as it is at that moment) and written together when the block ends,
still in that transaction: one flush of the events and one read of the webhook endpoints per
organization, instead of a flush, an insert and a read per event (the publishing engine records
a batch's outcomes this way).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.prepared import JSONText
from t21.core.runtime import get_runtime
from t21.events.service import record_events
from t21.media.schemas import AssetRecord
from t21.posts.models import PostStatus, TargetStatus
from t21.posts.schemas import PostOut, PostRecord, TargetOut, TargetRecord, post_out_of

# The post statuses an app hears about when a post enters them.
STATUS_EVENTS = {
    PostStatus.SCHEDULED: "post.scheduled",
    PostStatus.PUBLISHED: "post.published",
    PostStatus.PARTIALLY_PUBLISHED: "post.partially_published",
    PostStatus.FAILED: "post.failed",
    PostStatus.CANCELLED: "post.cancelled",
}
TARGET_EVENTS = {
    TargetStatus.PUBLISHED: "target.published",
    TargetStatus.RETRYING: "target.retrying",
    TargetStatus.FAILED: "target.failed",
    TargetStatus.NEEDS_REVIEW: "target.needs_review",
}


class TargetEventRecord(TargetRecord, Protocol):
    """What a target's event reads: a `PostTarget`, or a row of its columns
    (`core.rows.RowWith`)."""

    @property
    def post_id(self) -> uuid.UUID: ...
    @property
    def organization_id(self) -> uuid.UUID: ...


class PostEventRecord(PostRecord, Protocol):
    """What a post's event reads of the post: a `Post`, or a row of its columns."""

    @property
    def organization_id(self) -> uuid.UUID: ...


class ShownPost(Protocol):
    """A post with what its answer shows: a `reading.PostView`, or rows of their columns."""

    @property
    def post(self) -> PostEventRecord: ...
    @property
    def targets(self) -> Sequence[TargetRecord]: ...
    @property
    def media(self) -> Sequence[AssetRecord]: ...
    @property
    def timezone(self) -> str: ...
    @property
    def created_by(self) -> dict[str, Any] | None: ...


# Where `recorded_together` keeps the events of its block, on the session.
_KEPT = "t21.posts.events.kept"


@asynccontextmanager
async def recorded_together(session: AsyncSession) -> AsyncIterator[None]:
    """Keep the post and target events recorded on `session` inside the block and write them
    together at its end, in the same transaction and in the order they were made. A block
    that raises writes none of them (its transaction is not committed either); a block inside
    another leaves the writing to the outer one."""
    info = session.sync_session.info
    if _KEPT in info:
        yield
        return
    kept: list[tuple[uuid.UUID, str, dict[str, Any]]] = []
    info[_KEPT] = kept
    try:
        yield
    finally:
        info.pop(_KEPT, None)
    by_organization: dict[uuid.UUID, list[tuple[str, dict[str, Any]]]] = {}
    for organization_id, type, data in kept:
        by_organization.setdefault(organization_id, []).append((type, data))
    for organization_id, events in by_organization.items():
        await record_events(session, organization_id=organization_id, events=events)


async def _record(
    session: AsyncSession, organization_id: uuid.UUID, type: str, data: dict[str, Any]
) -> None:
    kept: list[tuple[uuid.UUID, str, dict[str, Any]]] | None = session.sync_session.info.get(_KEPT)
    if kept is None:
        # A row by a Core statement (`record_events`), not an object through a flush.
        await record_events(session, organization_id=organization_id, events=[(type, data)])
    else:
        kept.append((organization_id, type, data))


async def post_event(session: AsyncSession, type: str, one: ShownPost) -> None:
    """Record `type` about the post, carrying the post with its targets."""
    await _record(session, one.post.organization_id, type, post_event_data(one))


def post_event_data(one: ShownPost) -> dict[str, Any]:
    """The data of a post's event: the post with its targets, as the API shows it."""
    return event_data_of(
        post_out_of(
            get_runtime(),
            one.post,
            one.targets,
            one.media,
            one.timezone,
            created_by=one.created_by,
        )
    )


def event_data_of(shown: PostOut) -> dict[str, Any]:
    """`post_event_data` of the post as already shown (its answer's warnings left out)."""
    return shown.model_dump(mode="json", exclude={"warnings"})


def event_json_of(shown: PostOut) -> JSONText:
    """`event_data_of` written as JSON at once, for a write on the driver's path
    (`core.prepared.JSONText`): 15 µs against 41 for the dict and its `json.dumps`
    (2026-12-07, a draft with one target)."""
    return JSONText(shown.__pydantic_serializer__.to_json(shown, exclude={"warnings"}).decode())


def kept_together(session: AsyncSession) -> bool:
    """Whether `session` is inside `recorded_together` (its events are written at the end)."""
    return _KEPT in session.sync_session.info


async def status_events(session: AsyncSession, changed: Sequence[ShownPost]) -> None:
    """The events of posts whose derived status just changed: the status's own event, and
    `post.needs_review` when the post settled with a target a person must look at."""
    for one in changed:
        type = STATUS_EVENTS.get(one.post.status)
        if type is not None:
            await post_event(session, type, one)
        settled = one.post.status in (PostStatus.FAILED, PostStatus.PARTIALLY_PUBLISHED)
        if settled and any(t.status is TargetStatus.NEEDS_REVIEW for t in one.targets):
            await post_event(session, "post.needs_review", one)


async def target_event(session: AsyncSession, target: TargetEventRecord) -> None:
    """Record the target's new status (if apps hear about it), with the target as shown."""
    type = TARGET_EVENTS.get(target.status)
    if type is None:
        return
    data = {"post_id": str(target.post_id), "target": TargetOut.of(target).model_dump(mode="json")}
    await _record(session, target.organization_id, type, data)
