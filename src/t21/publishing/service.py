"""The publishing state machine of one target, and the claims that drive it.

    scheduled/retrying ──dispatcher──► queued ──publish job (compare-and-set)──► publishing
    publishing ──outcome under its attempt id──► published | retrying | failed | needs_review

- The dispatcher claims due targets in one transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
  `BEGIN IMMEDIATE` on SQLite) and sends a publish job per target after the commit.
- A publish job starts only by moving its target `queued → publishing` with a fresh attempt id
  and a lease: a duplicate delivery finds it no longer queued and does nothing.
- Nothing is ever re-sent on a doubt. When a request may have taken effect (`Ambiguous`, a
  timeout, a worker that died), the attempt is left to the reaper, which asks the network
  (`find_recent`): found → published; certainly absent → retried; otherwise → needs_review.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.analytics.schedule import next_collect_at
from t21.billing import plans, usage
from t21.core import clock, metrics
from t21.core.backoff import full_jitter
from t21.core.db import for_claim
from t21.core.errors import QuotaExceeded, T21Error
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, OutsideFailure, ReauthRequired, Retryable
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.media.models import MediaAsset
from t21.media.service import media_item
from t21.organizations.models import Organization
from t21.platforms.base import Published, PublishRequest, RecentPost
from t21.platforms.registry import configured_provider
from t21.posts.models import Post, PostMedia, PostTarget, TargetStatus
from t21.posts.service import settle_posts
from t21.publishing.budgets import BUDGETS
from t21.publishing.notify import notify_problems
from t21.social.models import AccountStatus, SocialAccount
from t21.social.tokens import credentials, mark_reauth_required, refresh_account

log = get_logger("t21.publishing")

# An attempt gives up waiting for the network this long before its lease ends, so it can still
# record what happened before the reaper steps in.
LEASE_MARGIN = timedelta(seconds=30)
# After a doubtful answer, the network gets this long to show the post before we look for it.
RECONCILE_AFTER = timedelta(seconds=15)
# The reaper's hold on a target while it asks the network, at most: never longer than an
# attempt's own lease, since a lost reconciliation waits out the hold before it is tried again.
RECONCILE_LEASE = timedelta(minutes=2)
# How many of the account's latest posts a reconciliation reads: a busy account can publish
# dozens after the doubtful attempt (a budget allows 100 in 15 minutes on X), and a post that
# isn't among those read can't be told from one that was never made.
RECONCILE_LOOKBACK = 100
# Posts found this long before an attempt started still count as possibly ours (clock skew).
CLOCK_SKEW = timedelta(minutes=2)
MAX_ERROR_LENGTH = 2000
# Within this many posts of its monthly limit, an organization's attempts are counted one at a
# time under its lock; further away, concurrent attempts can't pass the limit and go unlocked.
QUOTA_LOCK_MARGIN = 500

_URL = re.compile(r"https?://\S+|\bwww\.\S+", re.IGNORECASE)


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


# --- the dispatcher ---------------------------------------------------------------------------


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


# --- one attempt ------------------------------------------------------------------------------


async def begin(runtime: Runtime, target_id: uuid.UUID) -> Attempt | None:
    """Take the target for one attempt (`queued → publishing`), or `None` when it isn't ours to
    take: a duplicate delivery, a cancelled post, an account that can't post, a budget spent."""
    settings = runtime.settings
    async with session_scope(runtime) as session:
        target = await session.get(
            PostTarget, target_id, populate_existing=True, with_for_update=True
        )
        if target is None or target.status is not TargetStatus.QUEUED:
            return None
        now = clock.now()
        account = (
            await session.get(SocialAccount, target.social_account_id)
            if target.social_account_id is not None
            else None
        )
        if account is None or account.status is not AccountStatus.ACTIVE:
            await _fail_unpostable(session, settings, target, account)
            return None
        if not await _within_quota(session, settings, target):
            return None
        wait_until = await _budget_wait(session, account, now)
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
            .where(PostTarget.id == target.id, PostTarget.status == TargetStatus.QUEUED)
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
        return Attempt(
            target_id=target.id,
            attempt_id=attempt_id,
            post_id=post.id,
            account_id=account.id,
            platform=target.platform,
            text=target.content if target.content is not None else post.content,
            options=dict(target.options or {}),
            media=media,
            started_at=now,
            due_at=target.due_at,
        )


async def publish(runtime: Runtime, target_id: uuid.UUID) -> None:
    """One publishing attempt of a queued target, from claim to recorded outcome."""
    attempt = await begin(runtime, target_id)
    if attempt is None:
        return
    outcome: Published | OutsideFailure
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
            )
            sent = True
            outcome = await provider.publish(held, request)
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
    runtime: Runtime, attempt: Attempt, outcome: Published | OutsideFailure
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
    await _mark_published(
        session, settings, target, outcome.external_id, outcome.permalink, outcome.published_at
    )
    target.attempt_id = attempt.attempt_id


async def _apply(
    session: AsyncSession,
    settings: Settings,
    target: PostTarget,
    attempt: Attempt,
    outcome: Published | OutsideFailure,
) -> None:
    now = clock.now()
    platform = target.platform
    if isinstance(outcome, Published):
        await _mark_published(
            session, settings, target, outcome.external_id, outcome.permalink, outcome.published_at
        )
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
        _error(target, outcome.code or "unconfirmed", outcome.message)
        metrics.PUBLISH_OUTCOMES.labels(platform, "unconfirmed").inc()
        log.warning("publish unconfirmed", target_id=str(target.id), error=outcome.message)
        return
    if isinstance(outcome, ReauthRequired):
        account = await session.get(SocialAccount, attempt.account_id)
        if account is not None:
            await mark_reauth_required(session, settings, account, outcome.message)
        _fail(target, "account_disconnected", outcome.message)
        metrics.PUBLISH_OUTCOMES.labels(platform, "reauth").inc()
        return
    if isinstance(outcome, Retryable):
        if outcome.after:
            await _hold_account(session, attempt.account_id, now + timedelta(seconds=outcome.after))
        _retry_or_fail(
            settings, target, outcome.code or "unavailable", outcome.message, outcome.after
        )
        return
    _fail(target, outcome.code or "rejected", outcome.message)
    metrics.PUBLISH_OUTCOMES.labels(platform, "failed").inc()
    log.info("publish refused", target_id=str(target.id), error=outcome.message)


async def _mark_published(
    session: AsyncSession,
    settings: Settings,
    target: PostTarget,
    external_id: str,
    permalink: str | None,
    published_at: datetime | None,
) -> None:
    """The target is out; it counts toward its organization's month once, in this transaction."""
    when = published_at or clock.now()
    if target.status is not TargetStatus.PUBLISHED:
        await usage.increment(session, target.organization_id, usage.Metric.PUBLISHED_POSTS)
    target.status = TargetStatus.PUBLISHED
    target.external_id = external_id
    target.permalink = permalink
    target.published_at = when
    target.lease_expires_at = None
    target.due_at = None
    target.last_error_code = None
    target.last_error_message = None
    target.next_collect_at = next_collect_at(when, when, settings)


def _retry_or_fail(
    settings: Settings, target: PostTarget, code: str, message: str, after: float | None
) -> None:
    if target.attempts >= settings.publish_max_attempts:
        _fail(target, code, f"{message} (gave up after {target.attempts} attempts)")
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
    _error(target, code, message)
    metrics.PUBLISH_OUTCOMES.labels(target.platform, "retrying").inc()
    log.info("publish will be retried", target_id=str(target.id), delay_s=round(delay, 1))


def _fail(target: PostTarget, code: str, message: str) -> None:
    target.status = TargetStatus.FAILED
    target.due_at = None
    target.lease_expires_at = None
    _error(target, code, message)


def _error(target: PostTarget, code: str, message: str) -> None:
    target.last_error_code = code[:64]
    target.last_error_message = message[:MAX_ERROR_LENGTH]


async def _fail_unpostable(
    session: AsyncSession, settings: Settings, target: PostTarget, account: SocialAccount | None
) -> None:
    if account is None:
        message = "The account was disconnected from T21; connect it again and reschedule."
    elif account.status is AccountStatus.REAUTH_REQUIRED:
        message = f"The {account.platform} account needs reconnecting; reschedule afterwards."
    else:
        message = f"The {account.platform} account is disconnected."
    failed = await session.execute(
        update(PostTarget)
        .where(PostTarget.id == target.id, PostTarget.status == TargetStatus.QUEUED)
        .values(
            status=TargetStatus.FAILED,
            due_at=None,
            last_error_code="account_disconnected",
            last_error_message=message,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(failed, "rowcount", 0) == 1:
        metrics.PUBLISH_OUTCOMES.labels(target.platform, "reauth").inc()
        await settle_posts(session, {target.post_id})
        await notify_problems(session, settings, {target.post_id})


async def _within_quota(session: AsyncSession, settings: Settings, target: PostTarget) -> bool:
    """Whether the organization's plan still has a published post this month for the target
    (counting those being published); if not, the target fails and people are told."""
    in_flight = int(
        await session.scalar(
            select(func.count()).where(
                PostTarget.organization_id == target.organization_id,
                PostTarget.status == TargetStatus.PUBLISHING,
            )
        )
        or 0
    )
    if await _far_from_quota(session, settings, target.organization_id, in_flight):
        return True
    try:
        await plans.enforce(
            session,
            settings,
            target.organization_id,
            plans.Limit.PUBLISHED_POSTS,
            adding=1 + in_flight,
        )
    except QuotaExceeded as refusal:
        await session.execute(
            update(PostTarget)
            .where(PostTarget.id == target.id, PostTarget.status == TargetStatus.QUEUED)
            .values(
                status=TargetStatus.FAILED,
                due_at=None,
                last_error_code="quota_exceeded",
                last_error_message=(
                    f"{refusal.detail} Reschedule it after upgrading or next month."
                )[:MAX_ERROR_LENGTH],
            )
            .execution_options(synchronize_session=False)
        )
        metrics.PUBLISH_OUTCOMES.labels(target.platform, "quota").inc()
        await settle_posts(session, {target.post_id})
        await notify_problems(session, settings, {target.post_id})
        return False
    return True


async def _far_from_quota(
    session: AsyncSession, settings: Settings, organization_id: uuid.UUID, in_flight: int
) -> bool:
    """Whether the organization is so far from its monthly limit that no burst of concurrent
    attempts could pass it: then no lock is needed. Near the limit, `enforce` counts under the
    organization's lock, one attempt at a time."""
    organization = await session.get(Organization, organization_id)
    if organization is None:
        return False
    cap = plans.plan_for(settings, organization.tier).limits[plans.Limit.PUBLISHED_POSTS]
    used = await plans.used(session, organization_id, plans.Limit.PUBLISHED_POSTS)
    return used + in_flight + 1 + QUOTA_LOCK_MARGIN <= cap


async def _budget_wait(
    session: AsyncSession, account: SocialAccount, now: datetime
) -> datetime | None:
    """When the account may publish next, if not now: a network's own wait, or its budget."""
    if account.rate_limited_until is not None and account.rate_limited_until > now:
        return account.rate_limited_until
    budget = BUDGETS.get(account.platform)
    if budget is None:
        return None
    since = now - budget.window
    recent = list(
        await session.scalars(
            select(func.coalesce(PostTarget.published_at, PostTarget.attempt_started_at))
            .where(
                PostTarget.social_account_id == account.id,
                or_(
                    PostTarget.published_at >= since,
                    (PostTarget.status == TargetStatus.PUBLISHING)
                    & (PostTarget.attempt_started_at >= since),
                ),
            )
            .order_by(func.coalesce(PostTarget.published_at, PostTarget.attempt_started_at))
            .limit(budget.posts)
        )
    )
    if len(recent) < budget.posts:
        return None
    return recent[0] + budget.window


async def _hold_account(session: AsyncSession, account_id: uuid.UUID, until: datetime) -> None:
    await session.execute(
        update(SocialAccount)
        .where(
            SocialAccount.id == account_id,
            or_(
                SocialAccount.rate_limited_until.is_(None),
                SocialAccount.rate_limited_until < until,
            ),
        )
        .values(rate_limited_until=until)
        .execution_options(synchronize_session=False)
    )


# --- the reaper -------------------------------------------------------------------------------


async def claim_lost(session: AsyncSession, settings: Settings) -> list[uuid.UUID]:
    """Targets queued for too long (their job was lost): sent again; the compare-and-set makes
    a job that was merely slow harmless."""
    now = clock.now()
    ids = list(
        await session.scalars(
            for_claim(
                select(PostTarget.id)
                .where(
                    PostTarget.status == TargetStatus.QUEUED,
                    PostTarget.queued_at < now - timedelta(seconds=settings.queued_stale_s),
                )
                .limit(settings.dispatch_batch),
                session,
            )
        )
    )
    if ids:
        await session.execute(
            update(PostTarget)
            .where(PostTarget.id.in_(ids))
            .values(queued_at=now)
            .execution_options(synchronize_session=False)
        )
        metrics.REAPER_ACTIONS.labels("requeued").inc(len(ids))
    return ids


def reconcile_lease(settings: Settings) -> timedelta:
    """How long the reaper holds a target while it asks the network about it."""
    return min(RECONCILE_LEASE, timedelta(seconds=settings.publish_lease_s))


async def claim_expired(session: AsyncSession, settings: Settings) -> list[tuple[uuid.UUID, str]]:
    """Attempts past their lease (a worker died, or the network left a doubt): held for a
    reconciliation, returned with their attempt ids."""
    now = clock.now()
    rows = (
        await session.execute(
            for_claim(
                select(PostTarget.id, PostTarget.attempt_id)
                .where(
                    PostTarget.status == TargetStatus.PUBLISHING,
                    PostTarget.lease_expires_at < now,
                )
                .limit(settings.dispatch_batch),
                session,
            )
        )
    ).all()
    if not rows:
        return []
    await session.execute(
        update(PostTarget)
        .where(PostTarget.id.in_([row.id for row in rows]))
        .values(lease_expires_at=now + reconcile_lease(settings))
        .execution_options(synchronize_session=False)
    )
    return [(row.id, row.attempt_id or "") for row in rows]


async def reconcile(runtime: Runtime, target_id: uuid.UUID, attempt_id: str) -> None:
    """Ask the network whether an attempt that was cut off published, and settle the target."""
    settings = runtime.settings
    async with session_scope(runtime) as session:
        target = await session.get(
            PostTarget, target_id, populate_existing=True, with_for_update=True
        )
        if (
            target is None
            or target.status is not TargetStatus.PUBLISHING
            or (target.attempt_id or "") != attempt_id
        ):
            return
        post = await session.get(Post, target.post_id)
        assert post is not None
        text = target.content if target.content is not None else post.content
        started = target.attempt_started_at or clock.now()
        account_id, platform = target.social_account_id, target.platform
    verdict: RecentPost | bool | None = None
    reason = "The account is no longer connected, so T21 can't check."
    if account_id is not None:
        try:
            account = await refresh_account(runtime, account_id)
            provider = configured_provider(runtime, platform)
            recent = await provider.find_recent(
                credentials(settings, account), since=started - CLOCK_SKEW, limit=RECONCILE_LOOKBACK
            )
            verdict = match_recent(recent, text, started)
            reason = "The network shows posts since the attempt, but none matches this one."
        except (OutsideFailure, T21Error) as failure:
            message = failure.message if isinstance(failure, OutsideFailure) else failure.detail
            reason = f"The network couldn't say whether it posted: {message}"
    async with session_scope(runtime) as session:
        target = await session.get(
            PostTarget, target_id, populate_existing=True, with_for_update=True
        )
        if (
            target is None
            or target.status is not TargetStatus.PUBLISHING
            or (target.attempt_id or "") != attempt_id
        ):
            return
        if isinstance(verdict, RecentPost):
            await _mark_published(
                session,
                settings,
                target,
                verdict.external_id,
                verdict.permalink,
                verdict.created_at,
            )
            metrics.REAPER_ACTIONS.labels("found").inc()
            metrics.PUBLISH_OUTCOMES.labels(platform, "published").inc()
            log.info("interrupted attempt had published", target_id=str(target_id))
        elif verdict is False:
            metrics.REAPER_ACTIONS.labels("absent").inc()
            _retry_or_fail(
                settings, target, "interrupted", "The attempt was interrupted before posting.", None
            )
        else:
            metrics.REAPER_ACTIONS.labels("unknown").inc()
            target.status = TargetStatus.NEEDS_REVIEW
            target.lease_expires_at = None
            target.due_at = None
            _error(
                target,
                "needs_review",
                f"A publishing attempt was cut off and T21 couldn't confirm whether it posted. "
                f"{reason} Check the account: reschedule the post if it isn't there.",
            )
            log.warning("attempt needs review", target_id=str(target_id), reason=reason)
        await settle_posts(session, {target.post_id})
        await notify_problems(session, settings, {target.post_id})


def normalise(text: str | None) -> str:
    """Text as networks hand it back, for comparison: links (which networks rewrite) dropped,
    whitespace collapsed, case folded."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", _URL.sub(" ", text))
    return " ".join(text.split()).casefold()


def match_recent(
    recent: Sequence[RecentPost], text: str, started: datetime
) -> RecentPost | bool | None:
    """Which recent post is ours: the post (found), False (certainly absent: nothing was posted
    since the attempt began), or None (posts exist that we can't tell apart)."""
    since = started - CLOCK_SKEW
    candidates = [post for post in recent if post.created_at is None or post.created_at >= since]
    if not candidates:
        return False
    wanted = normalise(text)
    same = [post for post in candidates if normalise(post.text) == wanted]
    if len(same) == 1:
        return same[0]
    return None
