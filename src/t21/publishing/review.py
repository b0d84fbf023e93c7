"""Settling a target in `needs_review`: a person says what happened on the network.

Published: the target is recorded published (counted toward the month once), and what the
person didn't give (id, link) is looked up on the network where it can list the account's posts.
Not published: the target is due again now (`retry`; on a brand that requires approval, a post
not approved that a member retries waits for an approver first) or cancelled. Each decision is kept
(`TargetReview`) with who made it, and writes `target.resolved` (plus `target.published` when it
went out); the post's status follows, with its own event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.brands.models import Brand
from t21.core import clock
from t21.core.errors import Conflict, NotFound, T21Error, ValidationFailed
from t21.core.logging import get_logger
from t21.core.outside import OutsideFailure
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.events.service import record_event
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal
from t21.platforms.base import Published, RecentPost
from t21.platforms.registry import configured_provider
from t21.posts import approvals, reading
from t21.posts.chain import COMMENT, Step, next_step
from t21.posts.events import post_event
from t21.posts.models import Post, PostTarget, TargetReview, TargetStatus
from t21.posts.schemas import TargetOut
from t21.posts.settling import settle_posts
from t21.publishing import threads
from t21.publishing.outcomes import mark_published
from t21.publishing.reaper import CLOCK_SKEW, RECONCILE_LOOKBACK, match_recent
from t21.publishing.schemas import ResolvedNotPublished, ResolvedPublished
from t21.social.tokens import credentials, refresh_account

log = get_logger("t21.publishing")


@dataclass(frozen=True)
class _Seen:
    """What the lookup needs of the target, read before leaving the database."""

    account_id: uuid.UUID | None
    platform: str
    text: str
    started: datetime
    # The step of a thread (or the first comment) that was in doubt; None for a lone post.
    step: Step | None = None


async def resolve(
    runtime: Runtime,
    principal: Principal,
    post_id: uuid.UUID,
    target_id: uuid.UUID,
    decision: ResolvedPublished | ResolvedNotPublished,
) -> reading.PostView:
    """Record the person's word on the target; the post as it now is."""
    async with session_scope(runtime) as session:
        post, target = await _under_review(session, principal, post_id, target_id)
        text = target.content if target.content is not None else post.content
        step = next_step(target, text)
        seen = _Seen(
            account_id=target.social_account_id,
            platform=target.platform,
            text=step.text if step is not None else text,
            started=target.attempt_started_at or target.updated_at,
            step=step,
        )
    found: RecentPost | None = None
    if isinstance(decision, ResolvedPublished) and (
        decision.external_id is None or decision.permalink is None
    ):
        # Outside any transaction: the network may be slow.
        found = await _look_up(runtime, seen, decision.external_id)
    async with session_scope(runtime) as session:
        post, target = await _under_review(session, principal, post_id, target_id)
        if isinstance(decision, ResolvedPublished):
            external_id = decision.external_id or (found.external_id if found else None)
            permalink = str(decision.permalink) if decision.permalink else None
            permalink = permalink or (found.permalink if found else None)
            if seen.step is not None and seen.step.total > 1 and external_id is not None:
                # A thread's part (or the first comment) is out: the chain goes on from it.
                out = Published(external_id, permalink, found.created_at if found else None)
                await threads.published(session, runtime.settings, target, seen.step, out)
            elif seen.step is not None and seen.step.total > 1:
                if not seen.step.last:
                    # The next part replies to this one: without its id the chain can't go on.
                    raise _id_needed(seen.step)
                await threads.last_out_unknown(
                    session, runtime.settings, target, seen.step, permalink
                )
            else:
                await mark_published(
                    session,
                    runtime.settings,
                    target,
                    external_id,
                    permalink,
                    found.created_at if found else None,
                )
            action = None
        elif decision.action == "retry":
            brand = await session.get_one(Brand, post.brand_id)
            target.status = approvals.retry_status(principal, brand, post)
            waits = target.status is TargetStatus.PENDING_APPROVAL
            target.due_at = None if waits else clock.now()
            target.last_error_code = None
            target.last_error_message = None
            if waits:
                approvals.request(post)
            action = "retry"
        else:
            target.status = TargetStatus.CANCELLED
            target.due_at = None
            action = "cancel"
        review = TargetReview(
            organization_id=target.organization_id,
            target_id=target.id,
            outcome=decision.outcome,
            action=action,
            user_id=principal.user_id,
            api_key_id=principal.api_key.id if principal.api_key is not None else None,
        )
        session.add(review)
        await session.flush()
        if principal.staff:
            await audit.record(
                session,
                organization_id=target.organization_id,
                actor=audit.Actor.of(principal),
                action="target.resolved",
                target_type="target",
                target_id=target.id,
                details={
                    "post_id": str(post.id),
                    "outcome": decision.outcome,
                    "action": action,
                    "external_id": target.external_id,
                },
            )
        await record_event(
            session,
            organization_id=target.organization_id,
            type="target.resolved",
            data={
                "post_id": str(post.id),
                "target": TargetOut.of(target).model_dump(mode="json"),
                "resolution": {
                    "outcome": decision.outcome,
                    "action": action,
                    "decided_by": _decided_by(principal),
                    "decided_at": review.created_at.isoformat().replace("+00:00", "Z"),
                },
            },
        )
        await settle_posts(session, {post.id})
        shown = await reading.view(session, post)
        if target.status is TargetStatus.PENDING_APPROVAL:
            await post_event(session, "post.approval_requested", shown)
        return shown


def _id_needed(step: Step) -> ValidationFailed:
    what = "The first comment" if step.kind == COMMENT else f"Part {step.position + 1}"
    message = (
        f"{what} of this thread went out, but the network couldn't say which post it is, and "
        "the next step replies to it: give its external_id (or, if it didn't go out, resolve "
        "it as not_published)."
    )
    return ValidationFailed(
        message, errors=[{"loc": ["body", "external_id"], "msg": message, "rule": "thread_part"}]
    )


async def retry_failed(
    runtime: Runtime, principal: Principal, post_id: uuid.UUID, target_id: uuid.UUID
) -> reading.PostView:
    """Send a `failed` target out again now, with a fresh count of attempts (an operator's
    decision once the cause is fixed). Only staff do this: a failure is final for members."""
    assert principal.staff
    async with session_scope(runtime) as session:
        post = await reading.get_post(session, principal, post_id, Action.WRITE_CONTENT)
        target = await session.get(
            PostTarget, target_id, populate_existing=True, with_for_update=True
        )
        if target is None or target.post_id != post.id:
            raise NotFound("No such target.")
        if target.status is not TargetStatus.FAILED:
            raise Conflict(
                f"Only a failed target can be sent again; this one is {target.status.value}."
            )
        reason = target.last_error_code
        target.status = TargetStatus.SCHEDULED
        target.due_at = clock.now()
        target.attempts = 0
        target.last_error_code = None
        target.last_error_message = None
        await audit.record(
            session,
            organization_id=target.organization_id,
            actor=audit.Actor.of(principal),
            action="target.retried",
            target_type="target",
            target_id=target.id,
            details={"post_id": str(post.id), "from": "failed", "reason": reason},
        )
        await settle_posts(session, {post.id})
        return await reading.view(session, post)


async def _under_review(
    session: AsyncSession, principal: Principal, post_id: uuid.UUID, target_id: uuid.UUID
) -> tuple[Post, PostTarget]:
    post = await reading.get_post(session, principal, post_id, Action.WRITE_CONTENT)
    target = await session.get(PostTarget, target_id, populate_existing=True, with_for_update=True)
    if target is None or target.post_id != post.id:
        raise NotFound("No such target.")
    if target.status is not TargetStatus.NEEDS_REVIEW:
        raise Conflict(
            f"Only a target awaiting review can be resolved; this one is {target.status.value}."
        )
    return post, target


async def _look_up(runtime: Runtime, seen: _Seen, external_id: str | None) -> RecentPost | None:
    """The post on the network: the one with `external_id`, else the only one matching the text
    since the attempt began. None when the network can't tell (or can't be asked)."""
    if seen.account_id is None:
        return None
    try:
        account = await refresh_account(runtime, seen.account_id)
        provider = configured_provider(runtime, seen.platform)
        recent = await threads.look_for(
            provider,
            credentials(runtime.settings, account),
            seen.step,
            since=seen.started - CLOCK_SKEW,
            limit=RECONCILE_LOOKBACK,
        )
    except (OutsideFailure, T21Error) as failure:
        message = failure.message if isinstance(failure, OutsideFailure) else failure.detail
        log.info("review lookup failed", account_id=str(seen.account_id), error=message)
        return None
    if external_id is not None:
        return next((post for post in recent if post.external_id == external_id), None)
    verdict = match_recent(recent, seen.text, seen.started)
    return verdict if isinstance(verdict, RecentPost) else None


def _decided_by(principal: Principal) -> dict[str, str]:
    if principal.staff:
        return {"type": "staff", "id": str(principal.user_id)}
    if principal.api_key is not None:
        return {"type": "api_key", "id": str(principal.api_key.id)}
    return {"type": "user", "id": str(principal.user_id)}
