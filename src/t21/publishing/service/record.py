"""Writing attempts' outcomes: each under its own attempt id (an attempt that no longer holds its
target changes nothing, unless it published), a batch in one transaction, with the target events,
usage, post statuses and problem emails done once per batch."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.billing import usage
from t21.billing.warnings import count_usage
from t21.core import clock, metrics
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, ReauthRequired, Retryable
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.platforms.base import Continuing, Published
from t21.posts.events import recorded_together
from t21.posts.models import PostTarget, TargetStatus
from t21.posts.service import settle_posts
from t21.publishing import threads
from t21.publishing.gates import (
    hold_account,
)
from t21.publishing.notify import might_need_telling, notify_problems
from t21.publishing.outcomes import (
    continue_later,
    fail,
    record_error,
    retry_or_fail,
)
from t21.publishing.service.attempt import Attempt, Outcome, content_fingerprint
from t21.social.models import SocialAccount
from t21.social.tokens import (
    mark_reauth_required,
)

log = get_logger("t21.publishing")

# After a doubtful answer, the network gets this long to show the post before we look for it.
RECONCILE_AFTER = timedelta(seconds=15)


async def record(runtime: Runtime, attempt: Attempt, outcome: Outcome) -> TargetStatus | None:
    """Write the attempt's outcome, if the attempt still holds its target; the new status."""
    return (await record_batch(runtime, [(attempt, outcome)])).get(attempt.target_id)


async def record_batch(
    runtime: Runtime, outcomes: Sequence[tuple[Attempt, Outcome]]
) -> dict[uuid.UUID, TargetStatus]:
    """Write each attempt's outcome under its own attempt id, in one transaction: an attempt
    that no longer holds its target changes nothing, unless it published (a late success is
    adopted). Posts are settled and problems reported once for the batch; the new statuses."""
    settings = runtime.settings
    if not outcomes:
        return {}
    by_target = {attempt.target_id: (attempt, outcome) for attempt, outcome in outcomes}
    statuses: dict[uuid.UUID, TargetStatus] = {}
    async with session_scope(runtime) as session, recorded_together(session):
        targets = list(
            await session.scalars(
                select(PostTarget)
                .where(PostTarget.id.in_(list(by_target)))
                .order_by(PostTarget.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
        post_ids: set[uuid.UUID] = set()
        counted: Counter[uuid.UUID] = Counter()
        for target in targets:
            attempt, outcome = by_target[target.id]
            ours = (
                target.attempt_id == attempt.attempt_id and target.status is TargetStatus.PUBLISHING
            )
            if not ours:
                if not isinstance(outcome, Published):
                    continue
                await _adopt_late_success(session, settings, target, attempt, outcome, counted)
            else:
                await _apply(session, settings, target, attempt, outcome, counted)
            post_ids.add(target.post_id)
            statuses[target.id] = target.status
        for organization_id, published in counted.items():
            await count_usage(
                session, settings, organization_id, usage.Metric.PUBLISHED_POSTS, published
            )
        settled = await settle_posts(session, post_ids)
        await notify_problems(session, settings, might_need_telling(settled))
    return statuses


async def _adopt_late_success(
    session: AsyncSession,
    settings: Settings,
    target: PostTarget,
    attempt: Attempt,
    outcome: Published,
    counted: Counter[uuid.UUID],
) -> None:
    """An attempt that outlived its lease published after all: what the network says wins over
    whatever was decided meanwhile, unless another attempt published too (reported loudly)."""
    if target.status is TargetStatus.PUBLISHED:
        if target.external_id != outcome.external_id:
            log.error(
                "a target was published by two attempts",
                target_id=str(target.id),
                external_ids=[target.external_id, outcome.external_id],
            )
        return
    log.warning("a late attempt published; recording it", target_id=str(target.id))
    await threads.published(session, settings, target, attempt.step, outcome, counted)
    target.attempt_id = attempt.attempt_id


async def _apply(
    session: AsyncSession,
    settings: Settings,
    target: PostTarget,
    attempt: Attempt,
    outcome: Outcome,
    counted: Counter[uuid.UUID],
) -> None:
    now = clock.now()
    platform = target.platform
    if isinstance(outcome, Continuing):
        fingerprint = content_fingerprint(attempt.text, attempt.options, attempt.media)
        continue_later(target, fingerprint, outcome.progress, outcome.after_s, outcome.reason)
        return
    if isinstance(outcome, Published):
        if not await threads.published(session, settings, target, attempt.step, outcome, counted):
            return  # a step of a thread is out; the next one is due now
        metrics.PUBLISH_OUTCOMES.labels(platform, "published").inc()
        if attempt.due_at is not None:
            metrics.PUBLISH_LATENCY.labels(platform).observe(
                max(0.0, (clock.now() - attempt.due_at).total_seconds())
            )
        log.info("published", target_id=str(target.id), platform=platform)
        return
    if isinstance(outcome, Ambiguous):
        # Left to the reaper once the network has had a moment to show the post.
        target.lease_expires_at = now + RECONCILE_AFTER
        record_error(target, outcome.code or "unconfirmed", outcome.message)
        metrics.PUBLISH_OUTCOMES.labels(platform, "unconfirmed").inc()
        log.warning("publish unconfirmed", target_id=str(target.id), error=outcome.message)
        return
    if isinstance(outcome, ReauthRequired):
        account = await session.get(SocialAccount, attempt.account_id)
        if account is not None:
            await mark_reauth_required(session, settings, account, outcome.message)
        await fail(session, target, "account_disconnected", outcome.message)
        metrics.PUBLISH_OUTCOMES.labels(platform, "reauth").inc()
        return
    if isinstance(outcome, Retryable):
        if outcome.after:
            await hold_account(session, attempt.account_id, now + timedelta(seconds=outcome.after))
        await retry_or_fail(
            session,
            settings,
            target,
            outcome.code or "unavailable",
            outcome.message,
            outcome.after,
        )
        return
    await fail(session, target, outcome.code or "rejected", outcome.message)
    metrics.PUBLISH_OUTCOMES.labels(platform, "failed").inc()
    log.info("publish refused", target_id=str(target.id), error=outcome.message)
