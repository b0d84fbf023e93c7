"""`/api/v1/posts/{id}/approve|reject|review-links`, and `/api/v1/review/{token}` (no auth)."""

from __future__ import annotations

import uuid

from fastapi import Path, Request

from t21.core.deps import DbSession
from t21.core.routing import IDEMPOTENT, APIRouter
from t21.organizations.auth import CurrentPrincipal
from t21.posts.schemas import PostOut, post_out
from t21.review import service
from t21.review.schemas import (
    ApprovalHistory,
    ApproveIn,
    RejectIn,
    ReviewDecisionIn,
    ReviewLinkIn,
    ReviewLinkOut,
    ReviewOut,
)

router = APIRouter(prefix="/posts", tags=["approvals"])
review_router = APIRouter(prefix="/review", tags=["approvals"])

Token = Path(max_length=200, description="The token of a review link.")


@router.post("/{post_id}/approve")
async def approve_post(
    post_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    body: ApproveIn | None = None,
) -> PostOut:
    """Approve a post waiting for approval (admins): it is scheduled for its time; 409 if that
    time has passed (reschedule it) or the post isn't waiting."""
    comment = body.comment if body is not None else None
    view = await service.approve(session, principal, post_id, comment or None)
    return post_out(request.app.state.runtime, view)


@router.post("/{post_id}/reject")
async def reject_post(
    post_id: uuid.UUID,
    body: RejectIn,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
) -> PostOut:
    """Reject a post waiting for approval, saying why (admins): it goes back to `draft`, the
    comment kept on its `approval`."""
    view = await service.reject(session, principal, post_id, body.comment)
    return post_out(request.app.state.runtime, view)


@router.get("/{post_id}/approvals")
async def list_approvals(
    post_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> ApprovalHistory:
    """Every approval decision on the post, oldest first (members and above): who decided (a
    user, an API key, or a reviewer by the name given through a review link), what, why, when."""
    return await service.history(session, principal, post_id)


@router.post("/{post_id}/review-links", status_code=201, openapi_extra=IDEMPOTENT)
async def create_review_link(
    post_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    body: ReviewLinkIn | None = None,
) -> ReviewLinkOut:
    """A signed link (admins) for someone without an account to see the post as each network
    will show it and approve or reject it; it expires, and any edit of the post voids it."""
    hours = (body or ReviewLinkIn()).expires_in_hours
    settings = request.app.state.runtime.settings
    link, token, url = await service.create_link(session, settings, principal, post_id, hours)
    return ReviewLinkOut(url=url, token=token, expires_at=link.expires_at)


@review_router.get("/{token}")
async def get_review(request: Request, session: DbSession, token: str = Token) -> ReviewOut:
    """The post of a review link, as each network will show it (no authentication: the link is
    the credential). 404 for an unknown, tampered or voided link; 410 once it has expired."""
    return await service.review(session, request.app.state.runtime, token)


@review_router.post("/{token}")
async def decide_review(
    body: ReviewDecisionIn, request: Request, session: DbSession, token: str = Token
) -> ReviewOut:
    """Approve or reject the post of a review link, signed with the reviewer's name; 409 when
    the post isn't waiting for approval (or its time has passed, for an approval)."""
    decision = "approved" if body.decision == "approve" else "rejected"
    return await service.decide_by_link(
        session, request.app.state.runtime, token, decision, body.name, body.comment or None
    )
