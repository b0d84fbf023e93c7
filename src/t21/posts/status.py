"""The state rules of posts and targets: which states allow which change, and a post's status.

A post's status is never set by hand: it is derived from its targets' statuses every time one
changes, by `derive()`, and stored on the post so lists can filter on it.
"""

from __future__ import annotations

from collections.abc import Iterable

from t21.posts.models import PostStatus, TargetStatus

# Claimed by the dispatcher or a worker: nothing may change them under it.
IN_FLIGHT = frozenset({TargetStatus.QUEUED, TargetStatus.PUBLISHING})
# May have reached the network: editing or deleting the post would misrepresent it.
MAYBE_PUBLISHED = frozenset({TargetStatus.PUBLISHED, TargetStatus.NEEDS_REVIEW})
# What an edit, a delete or a reschedule must not find.
LOCKED = IN_FLIGHT | MAYBE_PUBLISHED
# Targets a reschedule (or publish-now) moves to `scheduled`.
SCHEDULABLE = frozenset(
    {
        TargetStatus.DRAFT,
        TargetStatus.PENDING_APPROVAL,
        TargetStatus.SCHEDULED,
        TargetStatus.RETRYING,
        TargetStatus.FAILED,
        TargetStatus.CANCELLED,
    }
)
# Targets a cancel stops: not yet published and not in a worker's hands.
CANCELLABLE = frozenset(
    {
        TargetStatus.DRAFT,
        TargetStatus.PENDING_APPROVAL,
        TargetStatus.SCHEDULED,
        TargetStatus.QUEUED,
        TargetStatus.RETRYING,
    }
)
# Targets that will still be attempted without anyone acting.
PENDING = frozenset(
    {TargetStatus.SCHEDULED, TargetStatus.QUEUED, TargetStatus.PUBLISHING, TargetStatus.RETRYING}
)

# Targets an edit may change that will go out unless someone acts: the duplicate guard checks
# an edit of a post holding one.
GOING_OUT = frozenset(
    {TargetStatus.PENDING_APPROVAL, TargetStatus.SCHEDULED, TargetStatus.RETRYING}
)


def derive(statuses: Iterable[TargetStatus]) -> PostStatus:
    """A post's status from its targets'.

    Cancelled targets don't count unless all are. Anything being published makes the post
    `publishing`; anything waiting for an approver makes it `pending_approval` (the dispatcher
    never picks such a target); anything still due makes it `scheduled`; once every target is
    settled the post is `published`, `partially_published` or `failed` (a target needing review
    counts as not published: a person has to look).
    """
    every = list(statuses)
    active = [status for status in every if status is not TargetStatus.CANCELLED]
    if not active:
        return PostStatus.CANCELLED if every else PostStatus.DRAFT
    if any(status in IN_FLIGHT or status is TargetStatus.RETRYING for status in active):
        return PostStatus.PUBLISHING
    if any(status is TargetStatus.PENDING_APPROVAL for status in active):
        return PostStatus.PENDING_APPROVAL
    if any(status is TargetStatus.SCHEDULED for status in active):
        return PostStatus.SCHEDULED
    if any(status is TargetStatus.DRAFT for status in active):
        return PostStatus.DRAFT
    published = sum(1 for status in active if status is TargetStatus.PUBLISHED)
    if published == len(active):
        return PostStatus.PUBLISHED
    if published:
        return PostStatus.PARTIALLY_PUBLISHED
    return PostStatus.FAILED
