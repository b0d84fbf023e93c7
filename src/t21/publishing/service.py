"""The publishing state machine of one target, and the claims that drive it.

    scheduled/retrying ──dispatcher──► queued ──publish job (compare-and-set)──► publishing
    publishing ──outcome under its attempt id──► published | retrying | failed | needs_review

- The dispatcher claims due targets in one transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
  `BEGIN IMMEDIATE` on SQLite) and sends a publish job per target after the commit.
- A publish job starts only by moving its target `queued → publishing` with a fresh attempt id
  and a lease: a duplicate delivery finds it no longer queued and does nothing.
- A network still working on what an attempt sent (Instagram processing a reel) answers
  `Continuing`: the target goes back to `retrying`, due again shortly, with the provider's
  progress kept on it (`progress`, tied to the content's fingerprint) for the next attempt to
  resume instead of starting over. No worker waits, and the attempt count is unchanged.
- Nothing is ever re-sent on a doubt. When a request may have taken effect (`Ambiguous`, a
  timeout, a worker that died), the attempt is left to the reaper, which asks the network
  (`find_recent`): found → published; certainly absent → retried; otherwise → needs_review.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock, metrics
from t21.core.db import for_claim
from t21.core.errors import T21Error
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, OutsideFailure, ReauthRequired, Retryable
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.media.models import MediaAsset
from t21.media.service import media_item
from t21.platforms.base import Continuing, Published, PublishRequest
from t21.platforms.registry import configured_provider
from t21.posts.chain import Step, network_options, next_step
from t21.posts.models import Post, PostMedia, PostTarget, TargetStatus
from t21.posts.service import settle_posts
from t21.publishing import threads
from t21.publishing.gates import budget_wait, fail_unpostable, hold_account, within_quota
from t21.publishing.notify import notify_problems
from t21.publishing.outcomes import (
    continue_later,
    fail,
    record_error,
    retry_or_fail,
)
from t21.social.models import AccountStatus, SocialAccount
from t21.social.tokens import credentials, mark_reauth_required, refresh_account

log = get_logger("t21.publishing")

# An attempt gives up waiting for the network this long before its lease ends, so it can still
# record what happened before the reaper steps in.
LEASE_MARGIN = timedelta(seconds=30)
# After a doubtful answer, the network gets this long to show the post before we look for it.
RECONCILE_AFTER = timedelta(seconds=15)
# TEST-ONLY. Set to 1 (outside production), a publish job takes its target whatever its status:
# the compare-and-set that makes a duplicate delivery do nothing is gone. It exists so the chaos
# test and the mutation check can show that they catch a second send; inert unless set.
DISABLE_CLAIM_CAS_ENV = "T21_TEST_DISABLE_CLAIM_CAS"


def _claim_guarded(settings: Settings) -> bool:
    """Whether a publish job takes its target only from `queued` (always, but in that test)."""
    return os.environ.get(DISABLE_CLAIM_CAS_ENV) != "1" or settings.is_production


@dataclass(frozen=True)
class Attempt:
    """A target held by one publishing attempt, with what it publishes."""

    target_id: uuid.UUID
    attempt_id: str
    post_id: uuid.UUID
    account_id: uuid.UUID
    platform: str
    text: str
    options: dict[str, Any]
    media: list[MediaAsset] = field(default_factory=list)
    started_at: datetime = field(default_factory=clock.now)
    due_at: datetime | None = None
    # What an earlier attempt left at the network for this same content (see `Continuing`).
    progress: dict[str, Any] = field(default_factory=dict)
    # The step of a thread (or the first comment) this attempt sends; None for a lone post.
    step: Step | None = None


async def claim_due(session: AsyncSession, settings: Settings) -> list[uuid.UUID]:
    """Claim up to a batch of due targets (`queued`); the caller enqueues their jobs."""
    now = clock.now()
    rows = (
        await session.execute(
            for_claim(
                select(PostTarget.id, PostTarget.post_id)
                .where(
                    PostTarget.status.in_([TargetStatus.SCHEDULED, TargetStatus.RETRYING]),
                    PostTarget.due_at <= now,
                )
                .order_by(PostTarget.due_at)
                .limit(settings.dispatch_batch),
                session,
            )
        )
    ).all()
    if not rows:
        return []
    ids = [row.id for row in rows]
    await session.execute(
        update(PostTarget)
        .where(PostTarget.id.in_(ids))
        .values(status=TargetStatus.QUEUED, queued_at=now)
        .execution_options(synchronize_session=False)
    )
    await settle_posts(session, {row.post_id for row in rows})
    return ids


async def sample_pipeline(session: AsyncSession) -> None:
    """Publish the pipeline's depth to the metrics: targets per status, due but unclaimed."""
    rows = await session.execute(
        select(PostTarget.status, func.count())
        .where(
            PostTarget.status.in_(
                [
                    TargetStatus.SCHEDULED,
                    TargetStatus.QUEUED,
                    TargetStatus.PUBLISHING,
                    TargetStatus.RETRYING,
                    TargetStatus.NEEDS_REVIEW,
                ]
            )
        )
        .group_by(PostTarget.status)
    )
    counts: dict[TargetStatus, int] = {row[0]: row[1] for row in rows}
    for status in TargetStatus:
        metrics.TARGETS_BY_STATUS.labels(status.value).set(counts.get(status, 0))
    due = await session.scalar(
        select(func.count()).where(
            PostTarget.status.in_([TargetStatus.SCHEDULED, TargetStatus.RETRYING]),
            PostTarget.due_at <= clock.now(),
        )
    )
    metrics.DUE_UNCLAIMED.set(due or 0)


async def begin(runtime: Runtime, target_id: uuid.UUID) -> Attempt | None:
    """Take the target for one attempt (`queued → publishing`), or `None` when it isn't ours to
    take: a duplicate delivery, a cancelled post, an account that can't post, a budget spent."""
    settings = runtime.settings
    guarded = _claim_guarded(settings)
    async with session_scope(runtime) as session:
        target = await session.get(
            PostTarget, target_id, populate_existing=True, with_for_update=True
        )
        if target is None or (guarded and target.status is not TargetStatus.QUEUED):
            return None
        now = clock.now()
        account = (
            await session.get(SocialAccount, target.social_account_id)
            if target.social_account_id is not None
            else None
        )
        if account is None or account.status is not AccountStatus.ACTIVE:
            await fail_unpostable(session, settings, target, account)
            return None
        if not await within_quota(session, settings, target):
            return None
        wait_until = await budget_wait(session, account, now)
        if wait_until is not None:
            await session.execute(
                update(PostTarget)
                .where(PostTarget.id == target.id, PostTarget.status == TargetStatus.QUEUED)
                .values(status=TargetStatus.SCHEDULED, due_at=wait_until)
                .execution_options(synchronize_session=False)
            )
            await settle_posts(session, {target.post_id})
            metrics.PUBLISH_OUTCOMES.labels(target.platform, "deferred").inc()
            log.info(
                "publishing deferred by the account's budget",
                target_id=str(target.id),
                until=wait_until.isoformat(),
            )
            return None
        attempt_id = uuid.uuid4().hex
        taken = await session.execute(
            update(PostTarget)
            .where(
                PostTarget.id == target.id,
                PostTarget.status == TargetStatus.QUEUED if guarded else true(),
            )
            .values(
                status=TargetStatus.PUBLISHING,
                attempt_id=attempt_id,
                attempt_started_at=now,
                lease_expires_at=now + timedelta(seconds=settings.publish_lease_s),
                attempts=PostTarget.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) != 1:
            return None
        post = await session.get(Post, target.post_id)
        assert post is not None
        media = list(
            await session.scalars(
                select(MediaAsset)
                .join(PostMedia, PostMedia.media_id == MediaAsset.id)
                .where(PostMedia.post_id == post.id)
                .order_by(PostMedia.position)
            )
        )
        await settle_posts(session, {post.id})
        text = target.content if target.content is not None else post.content
        options = network_options(target.platform, target.options)
        step = next_step(target, text)
        media = await threads.step_media(session, step, media)
        text = step.text if step is not None else text
        return Attempt(
            target_id=target.id,
            attempt_id=attempt_id,
            post_id=post.id,
            account_id=account.id,
            platform=target.platform,
            text=text,
            options=options,
            media=media,
            started_at=now,
            due_at=target.due_at,
            progress=resumable(target.progress, content_fingerprint(text, options, media)),
            step=step,
        )


def content_fingerprint(text: str, options: dict[str, Any], media: list[MediaAsset]) -> str:
    """What a publication is made of: progress left at the network for other content (the post
    was edited meanwhile) must not be resumed."""
    made_of = {"text": text, "options": options, "media": [str(asset.id) for asset in media]}
    encoded = json.dumps(made_of, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


def resumable(saved: dict[str, Any] | None, fingerprint: str) -> dict[str, Any]:
    """The progress an attempt resumes from: the saved one if it was made for this content."""
    if not saved or saved.get("for") != fingerprint or not isinstance(saved.get("state"), dict):
        return {}
    state: dict[str, Any] = saved["state"]
    return state


async def publish(runtime: Runtime, target_id: uuid.UUID) -> None:
    """One publishing attempt of a queued target, from claim to recorded outcome."""
    attempt = await begin(runtime, target_id)
    if attempt is None:
        return
    outcome: Published | Continuing | OutsideFailure
    deadline = max(1.0, runtime.settings.publish_lease_s - LEASE_MARGIN.total_seconds())
    sent = False
    try:
        async with asyncio.timeout(deadline):
            account = await refresh_account(runtime, attempt.account_id)
            held = credentials(runtime.settings, account)
            provider = configured_provider(runtime, attempt.platform)
            request = PublishRequest(
                text=attempt.text,
                media=[media_item(runtime, asset) for asset in attempt.media],
                options=attempt.options,
                progress=attempt.progress,
                key=threads.attempt_key(target_id, attempt.step),
            )
            sent = True
            outcome = await threads.send(provider, held, request, attempt.step)
    except OutsideFailure as failure:
        outcome = failure
    except TimeoutError:
        outcome = (
            Ambiguous("The network took too long to answer; T21 is checking whether it posted.")
            if sent
            else Retryable("Getting ready to publish took too long.", after=60)
        )
    except T21Error as error:
        # The network isn't configured in this process: nothing was sent.
        outcome = Retryable(error.detail, after=300, code=error.code)
    except Exception:
        log.exception("publishing failed unexpectedly", target_id=str(target_id))
        outcome = (
            Ambiguous("Publishing was interrupted; T21 is checking whether it posted.")
            if sent
            else Retryable("Publishing failed unexpectedly before anything was sent.", after=60)
        )
    await record(runtime, attempt, outcome)


async def record(
    runtime: Runtime, attempt: Attempt, outcome: Published | Continuing | OutsideFailure
) -> TargetStatus | None:
    """Write the attempt's outcome, if the attempt still holds its target; the new status."""
    settings = runtime.settings
    async with session_scope(runtime) as session:
        target = await session.get(
            PostTarget, attempt.target_id, populate_existing=True, with_for_update=True
        )
        if target is None:
            return None
        ours = target.attempt_id == attempt.attempt_id and target.status is TargetStatus.PUBLISHING
        if not ours:
            if isinstance(outcome, Published):
                await _adopt_late_success(session, settings, target, attempt, outcome)
            else:
                return None
        else:
            await _apply(session, settings, target, attempt, outcome)
        post_ids = {target.post_id}
        await settle_posts(session, post_ids)
        await notify_problems(session, settings, post_ids)
        return target.status


async def _adopt_late_success(
    session: AsyncSession,
    settings: Settings,
    target: PostTarget,
    attempt: Attempt,
    outcome: Published,
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
    await threads.published(session, settings, target, attempt.step, outcome)
    target.attempt_id = attempt.attempt_id


async def _apply(
    session: AsyncSession,
    settings: Settings,
    target: PostTarget,
    attempt: Attempt,
    outcome: Published | Continuing | OutsideFailure,
) -> None:
    now = clock.now()
    platform = target.platform
    if isinstance(outcome, Continuing):
        fingerprint = content_fingerprint(attempt.text, attempt.options, attempt.media)
        continue_later(target, fingerprint, outcome.progress, outcome.after_s, outcome.reason)
        return
    if isinstance(outcome, Published):
        if not await threads.published(session, settings, target, attempt.step, outcome):
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
