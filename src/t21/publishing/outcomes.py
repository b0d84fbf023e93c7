"""How an attempt's outcome is written on its target: published (counted once toward the
month), retried with backoff, or failed with the network's reason."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from t21.analytics.schedule import next_collect_at
from t21.billing import usage
from t21.billing.warnings import count_usage
from t21.core import clock, metrics
from t21.core.backoff import full_jitter
from t21.core.logging import get_logger
from t21.core.settings import Settings
from t21.posts.events import target_event
from t21.posts.models import PostTarget, TargetStatus

# The error code of a target whose publication goes on in a later attempt (`continue_later`).
CONTINUING_CODE = "in_progress"
log = get_logger("t21.publishing")

MAX_ERROR_LENGTH = 2000


async def mark_published(
    session: AsyncSession,
    settings: Settings,
    target: PostTarget,
    external_id: str | None,
    permalink: str | None,
    published_at: datetime | None,
    counted: Counter[uuid.UUID] | None = None,
) -> None:
    """The target is out; it counts toward its organization's month once, in this transaction
    (added to `counted` when given, for the caller to count a batch's publishes at once)."""
    when = published_at or clock.now()
    if target.status is not TargetStatus.PUBLISHED:
        if counted is not None:
            counted[target.organization_id] += 1
        else:
            await count_usage(
                session, settings, target.organization_id, usage.Metric.PUBLISHED_POSTS
            )
    target.status = TargetStatus.PUBLISHED
    target.external_id = external_id
    target.permalink = permalink
    target.published_at = when
    target.lease_expires_at = None
    target.due_at = None
    target.last_error_code = None
    target.last_error_message = None
    target.progress = None
    target.next_collect_at = next_collect_at(when, when, settings)
    await target_event(session, target)


def continue_later(
    target: PostTarget, fingerprint: str, progress: dict[str, Any], after_s: float, reason: str
) -> None:
    """The network is still working on what the attempt sent: the target is due again in
    `after_s` with the attempt's progress kept for the next one to resume. The wait is a due
    time like any other (no worker waits), and it is the same attempt going on, so it doesn't
    count toward the retry limit."""
    target.status = TargetStatus.RETRYING
    target.due_at = clock.now() + timedelta(seconds=max(0.0, after_s))
    target.lease_expires_at = None
    target.attempts = max(0, target.attempts - 1)
    target.progress = {"for": fingerprint, "state": progress}
    record_error(target, CONTINUING_CODE, reason)
    metrics.PUBLISH_OUTCOMES.labels(target.platform, "continuing").inc()
    log.info("publishing continues later", target_id=str(target.id), after_s=round(after_s, 1))


async def retry_or_fail(
    session: AsyncSession,
    settings: Settings,
    target: PostTarget,
    code: str,
    message: str,
    after: float | None,
) -> None:
    if target.attempts >= settings.publish_max_attempts:
        await fail(session, target, code, f"{message} (gave up after {target.attempts} attempts)")
        metrics.PUBLISH_OUTCOMES.labels(target.platform, "failed").inc()
        return
    delay = full_jitter(
        target.attempts,
        base=settings.publish_retry_base_s,
        cap=settings.publish_retry_max_s,
        at_least=after,
    )
    target.status = TargetStatus.RETRYING
    target.due_at = clock.now() + timedelta(seconds=delay)
    target.lease_expires_at = None
    record_error(target, code, message)
    await target_event(session, target)
    metrics.PUBLISH_OUTCOMES.labels(target.platform, "retrying").inc()
    log.info("publish will be retried", target_id=str(target.id), delay_s=round(delay, 1))


async def fail(session: AsyncSession, target: PostTarget, code: str, message: str) -> None:
    target.status = TargetStatus.FAILED
    target.due_at = None
    target.lease_expires_at = None
    target.progress = None
    record_error(target, code, message)
    await target_event(session, target)


def record_error(target: PostTarget, code: str, message: str) -> None:
    target.last_error_code = code[:64]
    target.last_error_message = message[:MAX_ERROR_LENGTH]
