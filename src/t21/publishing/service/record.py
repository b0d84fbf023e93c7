"""Writing attempts' outcomes: each under its own attempt id (an attempt that no longer holds its
target changes nothing, unless it published), a batch in one transaction, with the target events,
usage, post statuses and problem emails done once per batch.

The common outcome, a lone post published by the attempt that holds its target, is written
without ORM objects: the batch's targets are locked and read as rows of the columns their events
show, and those published go out in one `UPDATE` run for each of them (an executemany), their
events built from the row and what the statement wrote. Every other outcome (a step of a thread,
a failure, a late success) goes through the ORM as before.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.analytics.schedule import next_collect_at
from t21.billing import usage
from t21.billing.warnings import count_usage
from t21.core import clock, metrics
from t21.core.db import among, in_list, is_postgres, list_shape, list_values
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, ReauthRequired, Retryable
from t21.core.rows import RowWith
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.platforms.base import Continuing, Published
from t21.posts.events import recorded_together, target_event
from t21.posts.listing import TARGET_COLUMNS
from t21.posts.models import PostTarget, TargetStatus
from t21.posts.settling import settle_posts
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

_targets = PostTarget.metadata.tables[PostTarget.__tablename__]


@lru_cache(maxsize=512)
def _locked(count: int, postgres: bool) -> Select[Any]:
    """`count` targets locked in id order (two batches sharing targets lock them in the same
    order), with what their events show and who holds them: one statement per count."""
    return (
        select(*TARGET_COLUMNS, _targets.c.organization_id, _targets.c.attempt_id)
        .where(in_list(_targets.c.id, "target", count, postgres))
        .order_by(_targets.c.id)
        .with_for_update()
    )


# A lone post out, written under the attempt's id (the row is locked and was just seen held by
# it; the condition says so again). Run once per target of the batch, in one executemany.
_PUBLISH = update(_targets).where(
    _targets.c.id == bindparam("held_id"),
    _targets.c.attempt_id == bindparam("held_by"),
    _targets.c.status == TargetStatus.PUBLISHING,
)


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
        ids = sorted(by_target)
        postgres = is_postgres(session)
        locking = _locked(list_shape(len(ids), postgres), postgres)
        rows = (await session.execute(locking, list_values("target", ids, postgres))).all()
        post_ids: set[uuid.UUID] = set()
        counted: Counter[uuid.UUID] = Counter()
        lone: list[tuple[Any, Attempt, Published]] = []
        others: list[uuid.UUID] = []
        for row in rows:
            attempt, outcome = by_target[row.id]
            ours = row.attempt_id == attempt.attempt_id and row.status is TargetStatus.PUBLISHING
            if ours and isinstance(outcome, Published) and _lone(attempt):
                lone.append((row, attempt, outcome))
            elif ours or isinstance(outcome, Published):
                others.append(row.id)
        if lone:
            await _publish_lone(session, settings, lone, counted)
            for row, _attempt, _outcome in lone:
                post_ids.add(row.post_id)
                statuses[row.id] = TargetStatus.PUBLISHED
        targets = []
        if others:
            # Locked already, by the read above.
            targets = list(
                await session.scalars(
                    select(PostTarget)
                    .where(among(session, PostTarget.id, others))
                    .order_by(PostTarget.id)
                    .execution_options(populate_existing=True)
                )
            )
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
        settled = await settle_posts(session, post_ids, shown_likely=True)
        await notify_problems(session, settings, might_need_telling(settled))
    return statuses


def _lone(attempt: Attempt) -> bool:
    """Whether the attempt publishes the whole target at once (no thread's steps to record)."""
    return attempt.step is None or attempt.step.total == 1


async def _publish_lone(
    session: AsyncSession,
    settings: Settings,
    lone: list[tuple[Any, Attempt, Published]],
    counted: Counter[uuid.UUID],
) -> None:
    """`mark_published` for targets held by their attempts and read as rows (`_locked`): one
    executemany, each target counted toward its organization's month and its event built from
    its row and what was written."""
    now = clock.now()
    written: list[dict[str, Any]] = []
    for row, attempt, outcome in lone:
        when = outcome.published_at or now
        changes = {
            "status": TargetStatus.PUBLISHED,
            "external_id": outcome.external_id,
            "permalink": outcome.permalink,
            "published_at": when,
            "lease_expires_at": None,
            "due_at": None,
            "last_error_code": None,
            "last_error_message": None,
            "progress": None,
            "next_collect_at": next_collect_at(when, when, settings),
        }
        written.append({"held_id": row.id, "held_by": attempt.attempt_id, **changes})
        counted[row.organization_id] += 1
        await target_event(session, RowWith(row, **changes))
        metrics.PUBLISH_OUTCOMES.labels(row.platform, "published").inc()
        if attempt.due_at is not None:
            metrics.PUBLISH_LATENCY.labels(row.platform).observe(
                max(0.0, (now - attempt.due_at).total_seconds())
            )
        log.info("published", target_id=str(row.id), platform=row.platform)
    await session.execute(_PUBLISH, written)


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
