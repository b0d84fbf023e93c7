"""Approvals inside a post's life: who needs one, what scheduling or editing does to a post
under approval, and how a decision is recorded.

A brand with `requires_approval` holds what its members (and member-role API keys) schedule in
`pending_approval`, the post and its targets alike; the dispatcher only ever claims `scheduled`
and `retrying` targets, so nothing pending goes out. Admins (and above, and admin keys) schedule
directly. Editing a post that is pending or approved sends it back for approval and voids its
review links; so does any edit by someone who needs approval of a post on its way out.

`post.approval` is where the post stands, `{status: "pending" | "approved" | "rejected" |
"cancelled", decided_by, decided_at, comment}`; every decision is also kept in
`ApprovalDecision`. Cancelling a pending post closes its approval (`cancelled`, by whoever
cancelled it) and voids its review links. A target retried after review of a post not approved
waits for an approver like a newly scheduled one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.brands.models import Brand
from t21.core import clock
from t21.events.service import rfc3339
from t21.organizations.permissions import Action, allows
from t21.organizations.tenancy import Principal
from t21.posts.models import Post, PostTarget, TargetStatus
from t21.review.models import ApprovalDecision, ReviewLink

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
# The post was cancelled while it waited: nobody is asked any more.
CANCELLED = "cancelled"
# Targets an approval holds back, and those it lets go.
WAITING = frozenset({TargetStatus.SCHEDULED, TargetStatus.PENDING_APPROVAL})


def needs_approval(principal: Principal, brand: Brand) -> bool:
    """Whether what `principal` schedules on `brand` waits for an approver."""
    if not brand.requires_approval:
        return False
    role = principal.role_in(brand.organization_id)
    return role is None or not allows(role, Action.APPROVE_POSTS)


def scheduled_status(principal: Principal, brand: Brand) -> TargetStatus:
    """The status a target scheduled by `principal` takes."""
    return (
        TargetStatus.PENDING_APPROVAL
        if needs_approval(principal, brand)
        else TargetStatus.SCHEDULED
    )


def request(post: Post) -> None:
    """The post now waits for an approver (any earlier decision stays in the history)."""
    post.approval = {"status": PENDING, "decided_by": None, "decided_at": None, "comment": None}


def is_pending(post: Post) -> bool:
    return (post.approval or {}).get("status") == PENDING


def is_under_approval(post: Post) -> bool:
    return (post.approval or {}).get("status") in (PENDING, APPROVED)


async def void_review_links(session: AsyncSession, post_id: uuid.UUID) -> None:
    """Every review link of the post stops working (404): what they showed has changed."""
    await session.execute(delete(ReviewLink).where(ReviewLink.post_id == post_id))


async def after_edit(
    session: AsyncSession,
    principal: Principal,
    brand: Brand,
    post: Post,
    targets: Sequence[PostTarget],
) -> bool:
    """An edit voids the post's review links, and sends a post on its way out back for
    approval when it was pending or approved, or when the editor needs approval; whether it
    was sent back (the caller records `post.approval_requested`)."""
    await void_review_links(session, post.id)
    waiting = any(target.status in WAITING for target in targets)
    if not (brand.requires_approval and waiting):
        return False
    if not (is_under_approval(post) or needs_approval(principal, brand)):
        return False
    for target in targets:
        # A draft next to waiting targets is an account the edit just added.
        if target.status in WAITING or target.status is TargetStatus.DRAFT:
            target.status = TargetStatus.PENDING_APPROVAL
            target.due_at = None
    request(post)
    return True


def retry_status(principal: Principal, brand: Brand, post: Post) -> TargetStatus:
    """The status a target retried after review takes: it waits for an approver when the brand
    requires approval, the post isn't approved and whoever retries it needs approval."""
    if (post.approval or {}).get("status") == APPROVED:
        return TargetStatus.SCHEDULED
    return scheduled_status(principal, brand)


@dataclass(frozen=True)
class Decider:
    """Who decides: a user, an API key, or a reviewer without an account through a link."""

    type: str  # "user" | "api_key" | "reviewer"
    id: uuid.UUID | None
    name: str | None
    link_id: uuid.UUID | None = None

    @classmethod
    def of(cls, principal: Principal) -> Decider:
        if principal.api_key is not None:
            return cls(type="api_key", id=principal.api_key.id, name=principal.api_key.name)
        assert principal.user is not None
        return cls(type="user", id=principal.user.id, name=principal.user.name)

    def public(self) -> dict[str, Any]:
        return {"type": self.type, "id": str(self.id) if self.id else None, "name": self.name}


async def record_decision(
    session: AsyncSession, post: Post, decision: str, decider: Decider, comment: str | None
) -> None:
    """`decision` (approved, rejected, or cancelled: the post was cancelled while it waited)
    becomes the post's `approval` and joins its history."""
    now = clock.now()
    session.add(
        ApprovalDecision(
            organization_id=post.organization_id,
            post_id=post.id,
            decision=decision,
            user_id=decider.id if decider.type == "user" else None,
            api_key_id=decider.id if decider.type == "api_key" else None,
            review_link_id=decider.link_id,
            reviewer_name=decider.name if decider.type == "reviewer" else None,
            comment=comment,
            created_at=now,
        )
    )
    post.approval = {
        "status": decision,
        "decided_by": decider.public(),
        "decided_at": rfc3339(now),
        "comment": comment,
    }
    if decider.type == "reviewer":
        # Someone without an account, through a review link: T21 records it for them.
        actor = audit.Actor("system", None, f"{decider.name} (review link)")
    else:
        actor = audit.Actor(decider.type, str(decider.id), decider.name)
    await audit.record(
        session,
        organization_id=post.organization_id,
        actor=actor,
        action="post.approval_cancelled" if decision == CANCELLED else f"post.{decision}",
        target_type="post",
        target_id=post.id,
        details={
            "comment": comment,
            "review_link_id": str(decider.link_id) if decider.link_id else None,
        },
    )
