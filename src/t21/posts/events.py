"""The events of posts and their targets, with the post or target as the API shows it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.runtime import get_runtime
from t21.events.service import record_event
from t21.posts.models import PostStatus, PostTarget, TargetStatus
from t21.posts.schemas import TargetOut, post_out

if TYPE_CHECKING:
    from t21.posts.service import PostView

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


async def post_event(session: AsyncSession, type: str, one: PostView) -> None:
    """Record `type` about the post, carrying the post with its targets."""
    data = post_out(get_runtime(), one).model_dump(mode="json", exclude={"warnings"})
    await record_event(session, organization_id=one.post.organization_id, type=type, data=data)


async def status_events(session: AsyncSession, changed: Sequence[PostView]) -> None:
    """The events of posts whose derived status just changed: the status's own event, and
    `post.needs_review` when the post settled with a target a person must look at."""
    for one in changed:
        type = STATUS_EVENTS.get(one.post.status)
        if type is not None:
            await post_event(session, type, one)
        settled = one.post.status in (PostStatus.FAILED, PostStatus.PARTIALLY_PUBLISHED)
        if settled and any(t.status is TargetStatus.NEEDS_REVIEW for t in one.targets):
            await post_event(session, "post.needs_review", one)


async def target_event(session: AsyncSession, target: PostTarget) -> None:
    """Record the target's new status (if apps hear about it), with the target as shown."""
    type = TARGET_EVENTS.get(target.status)
    if type is None:
        return
    data = {"post_id": str(target.post_id), "target": TargetOut.of(target).model_dump(mode="json")}
    await record_event(session, organization_id=target.organization_id, type=type, data=data)
