"""The reaper: jobs lost on the way are sent again, and attempts cut off past their lease are
settled by asking the network what it has (found → published, certainly absent → retried,
otherwise → needs_review). Nothing is re-sent on a doubt."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock, metrics
from t21.core.db import among, for_claim
from t21.core.errors import T21Error
from t21.core.logging import get_logger
from t21.core.outside import NotPermitted, OutsideFailure, Retryable
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.platforms import text as text_rules
from t21.platforms.base import Published, RecentPost
from t21.platforms.registry import configured_provider
from t21.posts.chain import Step, next_step
from t21.posts.events import recorded_together, target_event
from t21.posts.models import Post, PostTarget, TargetStatus
from t21.posts.settling import settle_posts
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

# When the network can't be asked (a timeout, a 5xx, a rate limit), it is asked again this much
# later, for as long as the attempt is younger than RECONCILE_GIVE_UP; then a person decides.
RECONCILE_AGAIN = timedelta(seconds=10)
RECONCILE_GIVE_UP = timedelta(minutes=30)


def _repeatable(window: timedelta | None, started: datetime) -> bool:
    """Whether a repeat of an attempt begun at `started` is still recognised by the network as
    the same publish (its idempotency key), so that repeating it can't post twice."""
    return window is not None and clock.now() - started < window


async def claim_lost(
    session: AsyncSession,
    settings: Settings,
    recovered_at: datetime | None = None,
    reached: datetime | None = None,
) -> list[uuid.UUID]:
    """Targets queued for too long (their job was lost): sent again; the compare-and-set makes
    a job that was merely slow harmless.

    `reached`: the latest due time among the targets this process took lately
    (`service.TakenFrontier`). A target due after it is behind the engine's progress through
    the queue, its job still on the way: when the engine is minutes behind a burst, sending it
    again would only make a second job that claims nothing.

    `recovered_at`: when this process's job consumer last read the broker again after a fault
    (a flush, a restart): every target queued before then may have had its job swallowed by
    the fault, so it is sent again now rather than after `T21_QUEUED_STALE_S`.
    """
    now = clock.now()
    lost = PostTarget.queued_at < now - timedelta(seconds=settings.queued_stale_s)
    if reached is not None:
        lost = and_(lost, or_(PostTarget.due_at.is_(None), PostTarget.due_at < reached))
    if recovered_at is not None:
        lost = or_(lost, PostTarget.queued_at < recovered_at)
    ids = list(
        await session.scalars(
            for_claim(
                select(PostTarget.id)
                .where(PostTarget.status == TargetStatus.QUEUED, lost)
                .limit(settings.dispatch_batch),
                session,
            )
        )
    )
    if ids:
        await session.execute(
            update(PostTarget)
            .where(among(session, PostTarget.id, ids))
            .values(queued_at=now)
            .execution_options(synchronize_session=False)
        )
        metrics.REAPER_ACTIONS.labels("requeued").inc(len(ids))
    return ids


def reconcile_lease(settings: Settings) -> timedelta:
    """How long the reaper holds a target while it asks the network about it."""
    return min(RECONCILE_LEASE, timedelta(seconds=settings.publish_lease_s))


async def claim_expired(
    session: AsyncSession, settings: Settings
) -> dict[uuid.UUID | None, list[tuple[uuid.UUID, str]]]:
    """Attempts past their lease (a worker died, or the network left a doubt): held for a
    reconciliation, returned per account (so one listing answers an account's doubts) with
    their attempt ids."""
    now = clock.now()
    rows = (
        await session.execute(
            for_claim(
                select(PostTarget.id, PostTarget.attempt_id, PostTarget.social_account_id)
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
        return {}
    await session.execute(
        update(PostTarget)
        .where(PostTarget.id.in_([row.id for row in rows]))
        .values(lease_expires_at=now + reconcile_lease(settings))
        .execution_options(synchronize_session=False)
    )
    by_account: dict[uuid.UUID | None, list[tuple[uuid.UUID, str]]] = {}
    for row in rows:
        by_account.setdefault(row.social_account_id, []).append((row.id, row.attempt_id or ""))
    return by_account


@dataclass
class Doubt:
    """An attempt that was cut off, as the reconciliation needs it."""

    target_id: uuid.UUID
    attempt_id: str
    post_id: uuid.UUID
    account_id: uuid.UUID | None
    platform: str
    text: str
    step: Step | None
    started: datetime


@dataclass
class Verdict:
    """What the network said about one doubt: our post (found), False (certainly absent) or
    None (can't tell, `reason` says why); `transient` when the network couldn't be asked just
    now (asked again later rather than left for a person)."""

    found: RecentPost | bool | None = None
    reason: str = "The account is no longer connected, so T21 can't check."
    cannot_check: bool = False
    transient: bool = False


def _held(target: PostTarget | None, attempt_id: str) -> bool:
    return (
        target is not None
        and target.status is TargetStatus.PUBLISHING
        and (target.attempt_id or "") == attempt_id
    )


async def reconcile(runtime: Runtime, target_id: uuid.UUID, attempt_id: str) -> None:
    """Ask the network whether an attempt that was cut off published, and settle the target."""
    await reconcile_batch(runtime, [(target_id, attempt_id)])


async def reconcile_batch(runtime: Runtime, attempts: Sequence[tuple[uuid.UUID, str]]) -> None:
    """Settle attempts that were cut off (those of one account, normally): the network is asked
    once per account for its recent posts since the earliest of them began, and each attempt is
    matched against that listing over its own window (a later attempt's window is inside the
    earlier one's, so the listing covers it at least as far back)."""
    doubts = await _read_doubts(runtime, attempts)
    verdicts: dict[uuid.UUID, Verdict] = {}
    by_account: dict[tuple[uuid.UUID | None, str], list[Doubt]] = {}
    for doubt in doubts:
        by_account.setdefault((doubt.account_id, doubt.platform), []).append(doubt)
    for (account_id, platform), group in by_account.items():
        verdicts.update(await _ask_network(runtime, account_id, platform, group))
    await _settle(runtime, doubts, verdicts)


async def _read_doubts(runtime: Runtime, attempts: Sequence[tuple[uuid.UUID, str]]) -> list[Doubt]:
    wanted = dict(attempts)
    doubts: list[Doubt] = []
    async with session_scope(runtime) as session:
        rows = await session.execute(
            select(PostTarget, Post.content)
            .join(Post, Post.id == PostTarget.post_id)
            .where(among(session, PostTarget.id, wanted))
            .execution_options(populate_existing=True)
        )
        for target, content in rows.all():
            if not _held(target, wanted[target.id]):
                continue
            text = target.content if target.content is not None else content
            # A thread's part or a first comment is looked for as itself, where it should be.
            step = next_step(target, text)
            doubts.append(
                Doubt(
                    target_id=target.id,
                    attempt_id=wanted[target.id],
                    post_id=target.post_id,
                    account_id=target.social_account_id,
                    platform=target.platform,
                    text=step.text if step is not None else text,
                    step=step,
                    started=target.attempt_started_at or clock.now(),
                )
            )
    return doubts


def _failed(failure: OutsideFailure | T21Error) -> Verdict:
    if isinstance(failure, NotPermitted):
        return Verdict(reason=failure.message, cannot_check=True)
    message = failure.message if isinstance(failure, OutsideFailure) else failure.detail
    return Verdict(
        reason=f"The network couldn't say whether it posted: {message}",
        transient=isinstance(failure, Retryable),
    )


async def _ask_network(
    runtime: Runtime, account_id: uuid.UUID | None, platform: str, doubts: list[Doubt]
) -> dict[uuid.UUID, Verdict]:
    """The verdict on each of one account's doubts, from one listing of its recent posts (plus
    one per thread reply or comment, looked for where it would be)."""
    if account_id is None:
        return {doubt.target_id: Verdict() for doubt in doubts}
    window: timedelta | None = None
    try:
        account = await refresh_account(runtime, account_id)
        provider = configured_provider(runtime, platform)
        window = provider.idempotency_window
        held = credentials(runtime.settings, account)
        blocker = provider.find_recent_blocker(held)
        if blocker is not None:
            raise NotPermitted(blocker, code="cannot_check")
    except (OutsideFailure, T21Error) as failure:
        verdict = _failed(failure)
        verdicts = {doubt.target_id: verdict for doubt in doubts}
        return _repeat_where_keyed(verdicts, doubts, window)
    verdicts = {}
    listed = {doubt.target_id: doubt for doubt in doubts if threads.in_account_listing(doubt.step)}
    listing: list[RecentPost] | Verdict = []
    if listed:
        since = min(doubt.started for doubt in listed.values()) - CLOCK_SKEW
        try:
            listing = await provider.find_recent(held, since=since, limit=RECONCILE_LOOKBACK)
        except (OutsideFailure, T21Error) as failure:
            listing = _failed(failure)
    for doubt in doubts:
        if doubt.target_id in listed:
            recent = listing
        else:
            try:
                recent = await threads.look_for(
                    provider,
                    held,
                    doubt.step,
                    since=doubt.started - CLOCK_SKEW,
                    limit=RECONCILE_LOOKBACK,
                )
            except (OutsideFailure, T21Error) as failure:
                recent = _failed(failure)
        if isinstance(recent, Verdict):
            verdicts[doubt.target_id] = recent
            continue
        verdicts[doubt.target_id] = Verdict(
            found=match_recent(
                recent,
                doubt.text,
                doubt.started,
                limit=RECONCILE_LOOKBACK,
                comparable=provider.comparable_text,
            ),
            reason=(
                "The network shows posts since the attempt that look like this one, or more "
                "than T21 can read back, so it can't tell whether this one was posted."
            ),
        )
    return _repeat_where_keyed(verdicts, doubts, window)


def _repeat_where_keyed(
    verdicts: dict[uuid.UUID, Verdict], doubts: list[Doubt], window: timedelta | None
) -> dict[uuid.UUID, Verdict]:
    """Sent again under the same key, the network answers with what it made, if it made
    anything: the repeat is exact, whatever its listing said or couldn't say."""
    for doubt in doubts:
        verdict = verdicts[doubt.target_id]
        if verdict.found is None and _repeatable(window, doubt.started):
            verdicts[doubt.target_id] = Verdict(found=False)
    return verdicts


async def _settle(
    runtime: Runtime, doubts: list[Doubt], verdicts: dict[uuid.UUID, Verdict]
) -> None:
    """Write each verdict on its target, if the attempt still holds it."""
    if not doubts:
        return
    settings = runtime.settings
    attempt_of = {doubt.target_id: doubt for doubt in doubts}
    post_ids: set[uuid.UUID] = set()
    async with session_scope(runtime) as session, recorded_together(session):
        targets = list(
            await session.scalars(
                select(PostTarget)
                .where(among(session, PostTarget.id, attempt_of))
                .order_by(PostTarget.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
        for target in targets:
            doubt = attempt_of[target.id]
            if not _held(target, doubt.attempt_id):
                continue
            await _apply_verdict(session, settings, target, doubt, verdicts[target.id])
            post_ids.add(target.post_id)
        await settle_posts(session, post_ids)
        await notify_problems(session, settings, post_ids)


async def _apply_verdict(
    session: AsyncSession, settings: Settings, target: PostTarget, doubt: Doubt, verdict: Verdict
) -> None:
    target_id, found = str(target.id), verdict.found
    if isinstance(found, RecentPost):
        published = Published(found.external_id, found.permalink, found.created_at)
        await threads.published(session, settings, target, doubt.step, published)
        metrics.REAPER_ACTIONS.labels("found").inc()
        metrics.PUBLISH_OUTCOMES.labels(target.platform, "published").inc()
        log.info("interrupted attempt had published", target_id=target_id)
    elif found is False:
        metrics.REAPER_ACTIONS.labels("absent").inc()
        await retry_or_fail(
            session,
            settings,
            target,
            "interrupted",
            "The attempt was interrupted before posting.",
            None,
        )
    elif verdict.transient and clock.now() - doubt.started < RECONCILE_GIVE_UP:
        # The network couldn't be asked just now (a timeout, a 5xx, a rate limit): the
        # attempt stays held, and the reaper asks again shortly.
        metrics.REAPER_ACTIONS.labels("ask_again").inc()
        target.lease_expires_at = clock.now() + RECONCILE_AGAIN
        record_error(target, "unconfirmed", verdict.reason)
        log.info("reconciliation will ask again", target_id=target_id, reason=verdict.reason)
    else:
        metrics.REAPER_ACTIONS.labels("unknown").inc()
        target.status = TargetStatus.NEEDS_REVIEW
        target.lease_expires_at = None
        target.due_at = None
        record_error(
            target,
            "cannot_check" if verdict.cannot_check else "needs_review",
            f"A publishing attempt was cut off and T21 couldn't confirm whether it posted. "
            f"{verdict.reason} Check the account, then tell T21 what happened (resolve the "
            "target).",
        )
        await target_event(session, target)
        log.warning("attempt needs review", target_id=target_id, reason=verdict.reason)


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
