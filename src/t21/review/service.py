"""Approving and rejecting posts, by an admin or by a reviewer through a review link.

Approving moves the post's `pending_approval` targets to `scheduled` for the post's time (409 if
that time has passed: the post must be rescheduled, which an admin's reschedule also approves;
a target retried after review goes out at once);
rejecting sends them back to `draft` with the comment kept on `post.approval`. Each decision is
recorded (`ApprovalDecision`) and raises `post.approved` (then `post.scheduled`) or
`post.rejected`.

A review link shows one post as each network will show it, to anyone holding the link, until it
expires or the post is edited (which deletes it). Only those who may approve hand links out: a
link's holder approves with the same effect as they would.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.brands.models import Brand
from t21.core import clock
from t21.core.errors import Conflict, NotFound
from t21.core.ids import uuid7
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.identity.models import User
from t21.media.schemas import AssetOut
from t21.media.storage import storage_of
from t21.organizations.models import ApiKey
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal
from t21.platforms import registry
from t21.posts import approvals, reading
from t21.posts import status as states
from t21.posts.dryrun import counted_length
from t21.posts.events import post_event
from t21.posts.models import Post, TargetStatus
from t21.posts.schemas import Approval
from t21.posts.service import _locked_targets
from t21.posts.validation import SCHEDULE_GRACE
from t21.review import tokens
from t21.review.errors import LinkExpired
from t21.review.models import ApprovalDecision, ReviewLink
from t21.review.schemas import (
    ApprovalEntry,
    ApprovalHistory,
    ReviewAccount,
    ReviewOut,
    ReviewTarget,
)
from t21.social.models import SocialAccount


async def approve(
    session: AsyncSession, principal: Principal, post_id: uuid.UUID, comment: str | None
) -> reading.PostView:
    """An admin's approval (403 below admin)."""
    post = await reading.get_post(session, principal, post_id, Action.APPROVE_POSTS)
    return await decide(session, post, approvals.APPROVED, approvals.Decider.of(principal), comment)


async def reject(
    session: AsyncSession, principal: Principal, post_id: uuid.UUID, comment: str
) -> reading.PostView:
    """An admin's rejection, with why (403 below admin)."""
    post = await reading.get_post(session, principal, post_id, Action.APPROVE_POSTS)
    return await decide(session, post, approvals.REJECTED, approvals.Decider.of(principal), comment)


async def decide(
    session: AsyncSession,
    post: Post,
    decision: str,
    decider: approvals.Decider,
    comment: str | None,
) -> reading.PostView:
    """Apply `decision` to a post waiting for approval; 409 when it isn't waiting, or when it
    is approved after its time has passed."""
    targets = await _locked_targets(session, post)
    waiting = [target for target in targets if target.status is TargetStatus.PENDING_APPROVAL]
    if not waiting:
        raise Conflict(
            f"The post isn't waiting for approval (it is {post.status.value}).",
            status_now=post.status.value,
        )
    if decision == approvals.APPROVED:
        at = post.scheduled_at
        if any(target.attempts for target in waiting):
            # Retried after an interrupted attempt: its time is long past, it goes out now.
            at = clock.now()
        if at is None or at < clock.now() - SCHEDULE_GRACE:
            raise Conflict(
                "The post's scheduled time has passed; reschedule it (POST "
                f"/api/v1/posts/{post.id}/schedule) for a time from now on, then approve it.",
                scheduled_at=at.isoformat().replace("+00:00", "Z") if at else None,
            )
        for target in waiting:
            target.status = TargetStatus.SCHEDULED
            target.due_at = at
    else:
        for target in waiting:
            target.status = TargetStatus.DRAFT
            target.due_at = None
    await approvals.record_decision(session, post, decision, decider, comment)
    post.status = states.derive(target.status for target in targets)
    post.updated_at = clock.now()
    await session.flush()
    shown = await reading.view(session, post)
    if decision == approvals.APPROVED:
        await post_event(session, "post.approved", shown)
        await post_event(session, "post.scheduled", shown)
    else:
        await post_event(session, "post.rejected", shown)
    return shown


async def history(
    session: AsyncSession, principal: Principal, post_id: uuid.UUID
) -> ApprovalHistory:
    """Every decision on the post, oldest first (members and above; 404 across tenants)."""
    post = await reading.get_post(session, principal, post_id, Action.WRITE_CONTENT)
    rows = await session.execute(
        select(ApprovalDecision, User.name, ApiKey.name)
        .outerjoin(User, User.id == ApprovalDecision.user_id)
        .outerjoin(ApiKey, ApiKey.id == ApprovalDecision.api_key_id)
        .where(ApprovalDecision.post_id == post.id)
        .order_by(ApprovalDecision.created_at, ApprovalDecision.id)
    )
    items = []
    for decision, user_name, key_name in rows:
        if decision.api_key_id is not None:
            who = {"type": "api_key", "id": decision.api_key_id, "name": key_name}
        elif decision.reviewer_name is not None:
            who = {"type": "reviewer", "id": None, "name": decision.reviewer_name}
        else:
            who = {"type": "user", "id": decision.user_id, "name": user_name}
        items.append(
            ApprovalEntry.model_validate(
                {
                    "id": decision.id,
                    "decision": decision.decision,
                    "decided_by": who,
                    "comment": decision.comment,
                    "at": decision.created_at,
                }
            )
        )
    return ApprovalHistory(items=items)


# --- review links -------------------------------------------------------------------------------


async def create_link(
    session: AsyncSession, settings: Settings, principal: Principal, post_id: uuid.UUID, hours: int
) -> tuple[ReviewLink, str, str]:
    """A new review link of the post (those who may approve): the link, its token, its URL."""
    post = await reading.get_post(session, principal, post_id, Action.APPROVE_POSTS)
    link = ReviewLink(
        id=uuid7(),
        organization_id=post.organization_id,
        post_id=post.id,
        created_by_id=principal.user_id,
        expires_at=clock.now() + timedelta(hours=hours),
    )
    session.add(link)
    await session.flush()
    token = tokens.sign(settings, link.id)
    return link, token, f"{settings.resolved_frontend_url.rstrip('/')}/review/{token}"


async def link_of(session: AsyncSession, settings: Settings, token: str) -> ReviewLink:
    """The live link a token names: 404 for a forged, tampered or voided one, 410 once it has
    expired."""
    link_id = tokens.verify(settings, token)
    link = await session.get(ReviewLink, link_id) if link_id is not None else None
    if link is None:
        raise NotFound("No such review link; it may have been replaced after an edit.")
    if link.expires_at <= clock.now():
        raise LinkExpired("This review link has expired; ask the sender for a new one.")
    return link


async def review(session: AsyncSession, runtime: Runtime, token: str) -> ReviewOut:
    """The post of the link as each network will show it."""
    link = await link_of(session, runtime.settings, token)
    return await _shown(session, runtime, link)


async def decide_by_link(
    session: AsyncSession,
    runtime: Runtime,
    token: str,
    decision: str,
    name: str,
    comment: str | None,
) -> ReviewOut:
    """A reviewer's decision through a link, signed with their name."""
    link = await link_of(session, runtime.settings, token)
    post = await session.get(Post, link.post_id)
    if post is None:
        raise NotFound("No such review link.")
    decider = approvals.Decider(type="reviewer", id=None, name=name, link_id=link.id)
    await decide(session, post, decision, decider, comment)
    return await _shown(session, runtime, link)


async def _shown(session: AsyncSession, runtime: Runtime, link: ReviewLink) -> ReviewOut:
    post = await session.get(Post, link.post_id, populate_existing=True)
    if post is None:
        raise NotFound("No such review link.")
    shown = await reading.view(session, post)
    brand = await session.get(Brand, post.brand_id)
    account_ids = [t.social_account_id for t in shown.targets if t.social_account_id]
    accounts = {
        account.id: account
        for account in await session.scalars(
            select(SocialAccount).where(SocialAccount.id.in_(account_ids))
        )
    }
    storage, ttl = storage_of(runtime), runtime.settings.media_url_ttl_s
    media = [AssetOut.of(asset, storage, ttl) for asset in shown.media]
    targets = []
    for target in shown.targets:
        if target.status is TargetStatus.CANCELLED:
            continue
        text = target.content if target.content is not None else post.content
        length, limit = counted_length(target.platform, text, dict(target.options or {}))
        account = accounts.get(target.social_account_id) if target.social_account_id else None
        targets.append(
            ReviewTarget(
                network=target.platform,
                network_name=registry.rules_provider(target.platform).display_name,
                account=ReviewAccount(
                    username=account.username,
                    display_name=account.display_name,
                    avatar_url=account.avatar_url,
                )
                if account is not None
                else None,
                text=text,
                media=media,
                length=length,
                limit=limit,
            )
        )
    return ReviewOut(
        post_id=post.id,
        brand_name=brand.name if brand is not None else "",
        status=post.status,
        scheduled_at=post.scheduled_at,
        scheduled_at_local=(
            post.scheduled_at.astimezone(ZoneInfo(shown.timezone)).isoformat()
            if post.scheduled_at
            else None
        ),
        timezone=shown.timezone,
        approval=Approval.model_validate(post.approval) if post.approval else None,
        can_decide=any(t.status is TargetStatus.PENDING_APPROVAL for t in shown.targets),
        expires_at=link.expires_at,
        targets=targets,
    )
