"""The reaper: jobs lost on the way are sent again, and attempts cut off past their lease are
settled by asking the network what it has (found → published, certainly absent → retried,
otherwise → needs_review). Nothing is re-sent on a doubt."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock, metrics
from t21.core.db import for_claim
from t21.core.errors import T21Error
from t21.core.logging import get_logger
from t21.core.outside import NotPermitted, OutsideFailure
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.platforms import text as text_rules
from t21.platforms.base import Published, RecentPost
from t21.platforms.registry import configured_provider
from t21.posts.chain import next_step
from t21.posts.events import target_event
from t21.posts.models import Post, PostTarget, TargetStatus
from t21.posts.service import settle_posts
from t21.publishing import threads
from t21.publishing.notify import notify_problems
from t21.publishing.outcomes import record_error, retry_or_fail
from t21.social.tokens import credentials, refresh_account

log = get_logger("t21.publishing")

# The reaper's hold on a target while it asks the network, at most: never longer than an
# attempt's own lease, since a lost reconciliation waits out the hold before it is tried again.
RECONCILE_LEASE = timedelta(minutes=2)


# How many of the account's latest posts a reconciliation reads: a busy account can publish
# dozens after the doubtful attempt (a budget allows 100 in 15 minutes on X), and a post that
# isn't among those read can't be told from one that was never made.
RECONCILE_LOOKBACK = 100


# Posts found this long before an attempt started still count as possibly ours (clock skew).
CLOCK_SKEW = timedelta(minutes=2)


def _repeatable(window: timedelta | None, started: datetime) -> bool:
    """Whether a repeat of an attempt begun at `started` is still recognised by the network as
    the same publish (its idempotency key), so that repeating it can't post twice."""
    return window is not None and clock.now() - started < window


async def claim_lost(
    session: AsyncSession, settings: Settings, recovered_at: datetime | None = None
) -> list[uuid.UUID]:
    """Targets queued for too long (their job was lost): sent again; the compare-and-set makes
    a job that was merely slow harmless.

    `recovered_at`: when this process's job consumer last read the broker again after a fault
    (a flush, a restart): every target queued before then may have had its job swallowed by
    the fault, so it is sent again now rather than after `T21_QUEUED_STALE_S`.
    """
    now = clock.now()
    cutoff = now - timedelta(seconds=settings.queued_stale_s)
    if recovered_at is not None and recovered_at > cutoff:
        cutoff = recovered_at
    ids = list(
        await session.scalars(
            for_claim(
                select(PostTarget.id)
                .where(
                    PostTarget.status == TargetStatus.QUEUED,
                    PostTarget.queued_at < cutoff,
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
        # A thread's part or a first comment is looked for as itself, where it should be.
        step = next_step(target, text)
        text = step.text if step is not None else text
        started = target.attempt_started_at or clock.now()
        account_id, platform = target.social_account_id, target.platform
    verdict: RecentPost | bool | None = None
    reason = "The account is no longer connected, so T21 can't check."
    # The network won't let T21 look (a permission the account lacks): said as such.
    cannot_check = False
    repeat_window: timedelta | None = None
    if account_id is not None:
        try:
            account = await refresh_account(runtime, account_id)
            provider = configured_provider(runtime, platform)
            repeat_window = provider.idempotency_window
            held = credentials(settings, account)
            blocker = provider.find_recent_blocker(held)
            if blocker is not None:
                raise NotPermitted(blocker, code="cannot_check")
            recent = await threads.look_for(
                provider, held, step, since=started - CLOCK_SKEW, limit=RECONCILE_LOOKBACK
            )
            verdict = match_recent(
                recent,
                text,
                started,
                limit=RECONCILE_LOOKBACK,
                comparable=provider.comparable_text,
            )
            reason = (
                "The network shows posts since the attempt that look like this one, or more "
                "than T21 can read back, so it can't tell whether this one was posted."
            )
        except NotPermitted as failure:
            cannot_check = True
            reason = failure.message
        except (OutsideFailure, T21Error) as failure:
            message = failure.message if isinstance(failure, OutsideFailure) else failure.detail
            reason = f"The network couldn't say whether it posted: {message}"
    if verdict is None and _repeatable(repeat_window, started):
        # Sent again under the same key, the network answers with what it made, if it made
        # anything: the repeat is exact, whatever its listing said or couldn't say.
        verdict = False
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
            found = Published(verdict.external_id, verdict.permalink, verdict.created_at)
            await threads.published(session, settings, target, step, found)
            metrics.REAPER_ACTIONS.labels("found").inc()
            metrics.PUBLISH_OUTCOMES.labels(platform, "published").inc()
            log.info("interrupted attempt had published", target_id=str(target_id))
        elif verdict is False:
            metrics.REAPER_ACTIONS.labels("absent").inc()
            await retry_or_fail(
                session,
                settings,
                target,
                "interrupted",
                "The attempt was interrupted before posting.",
                None,
            )
        else:
            metrics.REAPER_ACTIONS.labels("unknown").inc()
            target.status = TargetStatus.NEEDS_REVIEW
            target.lease_expires_at = None
            target.due_at = None
            record_error(
                target,
                "cannot_check" if cannot_check else "needs_review",
                f"A publishing attempt was cut off and T21 couldn't confirm whether it posted. "
                f"{reason} Check the account, then tell T21 what happened (resolve the target).",
            )
            await target_event(session, target)
            log.warning("attempt needs review", target_id=str(target_id), reason=reason)
        await settle_posts(session, {target.post_id})
        await notify_problems(session, settings, {target.post_id})


def match_recent(
    recent: Sequence[RecentPost],
    text: str,
    started: datetime,
    *,
    limit: int | None = None,
    comparable: Callable[[str], str] = text_rules.comparable,
) -> RecentPost | bool | None:
    """Which recent post is ours: the post (found), False (certainly absent), or None (can't
    tell). Certainly absent: nothing was posted since the attempt began, or the listing covers
    that whole window (fewer posts than `limit`, or it reaches back before the window) and none
    of it is our text, even loosely. Two posts of our text, a near-match (the same letters and
    digits, other punctuation or spacing), or a listing cut short of the window: can't tell.
    `comparable` is the network's own normalisation (`Provider.comparable_text`)."""
    since = started - CLOCK_SKEW
    candidates = [post for post in recent if post.created_at is None or post.created_at >= since]
    if not candidates:
        return False
    wanted = comparable(text)
    same = [post for post in candidates if comparable(post.text or "") == wanted]
    if len(same) == 1:
        return same[0]
    if same:
        return None
    loose = text_rules.loosely_comparable(wanted)
    if any(
        text_rules.loosely_comparable(comparable(post.text or "")) == loose for post in candidates
    ):
        return None
    reaches_back = any(post.created_at is not None and post.created_at < since for post in recent)
    complete = limit is None or len(recent) < limit or reaches_back
    return False if complete else None
