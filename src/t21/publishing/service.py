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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, true, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from t21.billing import usage
from t21.billing.warnings import count_usage
from t21.core import clock, metrics
from t21.core.db import for_claim
from t21.core.errors import T21Error
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, OutsideFailure, ReauthRequired, Retryable
from t21.core.runtime import PendingJob, Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.media.models import MediaAsset
from t21.media.service import media_item
from t21.platforms.base import Continuing, Credentials, Provider, Published, PublishRequest
from t21.platforms.registry import configured_provider, sandbox_url
from t21.posts.chain import Step, network_options, next_step
from t21.posts.models import Post, PostMedia, PostTarget, TargetStatus
from t21.posts.service import settle_posts
from t21.publishing import threads
from t21.publishing.budgets import budget_for
from t21.publishing.gates import (
    budget_waits,
    continuing_under_shared_budget,
    fail_unpostable,
    far_from_quota,
    hold_account,
    within_quota,
)
from t21.publishing.notify import notify_problems
from t21.publishing.outcomes import (
    continue_later,
    fail,
    record_error,
    retry_or_fail,
)
from t21.social.models import AccountStatus, SocialAccount
from t21.social.tokens import (
    held_credentials,
    mark_reauth_required,
    needs_refresh,
    refresh_account,
)

log = get_logger("t21.publishing")

# An attempt gives up waiting for the network this long before its lease ends, so it can still
# record what happened before the reaper steps in.
LEASE_MARGIN = timedelta(seconds=30)
# After a doubtful answer, the network gets this long to show the post before we look for it.
RECONCILE_AFTER = timedelta(seconds=15)
# Tries at writing a batch's outcomes while the database is busy, before leaving them to the reaper.
RECORD_TRIES = 4
# A publish job that finds this process's attempts all taken waits for room only while fewer
# than this many jobs wait already; otherwise it hands its targets back to the broker after a
# short pause. A waiting job holds one of the job consumer's slots (`T21_WORKER_CONCURRENCY`),
# so without the bound a burst's publish jobs fill them all and reconciliations and webhook
# deliveries wait behind the whole burst.
WAITING_JOBS_MAX = 2
HAND_BACK_PAUSE_S = 1.5
PUBLISH_BATCH_JOB = "publishing.publish_batch"
# TEST-ONLY. Set to 1 (outside production), a publish job takes its target whatever its status:
# the compare-and-set that makes a duplicate delivery do nothing is gone. It exists so the chaos
# test and the mutation check can show that they catch a second send; inert unless set.
DISABLE_CLAIM_CAS_ENV = "T21_TEST_DISABLE_CLAIM_CAS"


def _claim_guarded(settings: Settings) -> bool:
    """Whether a publish job takes its target only from `queued` (always, but in that test)."""
    return os.environ.get(DISABLE_CLAIM_CAS_ENV) != "1" or settings.is_production


# What an attempt ends with: the network published, is still working on it, or failed.
Outcome = Published | Continuing | OutsideFailure


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
    # The account's tokens when they were fresh at the claim; None: refreshed before sending.
    credentials: Credentials | None = field(default=None, repr=False)
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
    attempts = await begin_batch(runtime, [target_id])
    return attempts[0] if attempts else None


async def begin_batch(runtime: Runtime, target_ids: Sequence[uuid.UUID]) -> list[Attempt]:
    """Take each of the targets for one attempt (`queued → publishing`, each under its own
    attempt id) in one transaction, and load what the attempts publish. A target that isn't
    ours to take is left out: a duplicate delivery, a cancelled post, an account that can't
    post, the plan's quota spent (it fails), the account's budget spent (it waits)."""
    settings = runtime.settings
    guarded = _claim_guarded(settings)
    async with session_scope(runtime) as session:
        # In id order, so that two batches sharing targets lock them in the same order.
        targets = list(
            await session.scalars(
                select(PostTarget)
                .where(PostTarget.id.in_(set(target_ids)))
                .order_by(PostTarget.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
        now = clock.now()
        account_ids = {t.social_account_id for t in targets if t.social_account_id is not None}
        accounts = {
            account.id: account
            for account in await session.scalars(
                select(SocialAccount).where(SocialAccount.id.in_(account_ids))
            )
        }
        postable: list[PostTarget] = []
        for target in targets:
            if guarded and target.status is not TargetStatus.QUEUED:
                continue
            account = accounts.get(target.social_account_id) if target.social_account_id else None
            if account is None or account.status is not AccountStatus.ACTIVE:
                await fail_unpostable(session, settings, target, account)
                continue
            postable.append(target)
        ready = await _within_budgets(
            session, accounts, await _within_quotas(session, settings, postable), now
        )
        attempt_ids = {target.id: uuid.uuid4().hex for target in ready}
        taken = await _take(session, settings, attempt_ids, now, guarded) if ready else set()
        held = [target for target in ready if target.id in taken]
        if not held:
            return []
        post_ids = {target.post_id for target in held}
        posts = {
            post.id: post
            for post in await session.scalars(select(Post).where(Post.id.in_(post_ids)))
        }
        media: dict[uuid.UUID, list[MediaAsset]] = {post_id: [] for post_id in post_ids}
        for post_id, asset in await session.execute(
            select(PostMedia.post_id, MediaAsset)
            .join(PostMedia, PostMedia.media_id == MediaAsset.id)
            .where(PostMedia.post_id.in_(post_ids))
            .order_by(PostMedia.post_id, PostMedia.position)
        ):
            media[post_id].append(asset)
        await settle_posts(session, post_ids)
        attempts: list[Attempt] = []
        for target in held:
            post = posts[target.post_id]
            text = target.content if target.content is not None else post.content
            options = network_options(target.platform, target.options)
            step = next_step(target, text)
            assets = await threads.step_media(session, step, media[post.id])
            text = step.text if step is not None else text
            account = accounts[target.social_account_id]  # type: ignore[index]
            attempts.append(
                Attempt(
                    target_id=target.id,
                    attempt_id=attempt_ids[target.id],
                    post_id=post.id,
                    account_id=account.id,
                    platform=target.platform,
                    text=text,
                    options=options,
                    media=assets,
                    started_at=now,
                    due_at=target.due_at,
                    progress=resumable(target.progress, content_fingerprint(text, options, assets)),
                    step=step,
                    credentials=None
                    if needs_refresh(account, settings, now)
                    else held_credentials(runtime, account),
                )
            )
        return attempts


async def _within_quotas(
    session: AsyncSession, settings: Settings, targets: list[PostTarget]
) -> list[PostTarget]:
    """The targets the organizations' plans still have room for. An organization far from its
    limit passes its whole share of the batch at once; near it, each target is checked and
    taken one at a time under the organization's lock (`within_quota`), so concurrent batches
    can't pass the limit together."""
    by_organization: dict[uuid.UUID, list[PostTarget]] = {}
    for target in targets:
        by_organization.setdefault(target.organization_id, []).append(target)
    passing: list[PostTarget] = []
    for organization_id, share in by_organization.items():
        if await far_from_quota(session, settings, organization_id, len(share)):
            passing.extend(share)
            continue
        for target in share:
            if await within_quota(session, settings, target):
                passing.append(target)
    return passing


async def _within_budgets(
    session: AsyncSession,
    accounts: dict[uuid.UUID, SocialAccount],
    targets: list[PostTarget],
    now: datetime,
) -> list[PostTarget]:
    """The targets their accounts' budgets let publish now; the others wait (a later due),
    saying why when the budget has words for it."""
    by_account: dict[uuid.UUID, list[PostTarget]] = {}
    ready: list[PostTarget] = []
    for target in targets:
        assert target.social_account_id is not None
        if continuing_under_shared_budget(target):
            ready.append(target)
            continue
        by_account.setdefault(target.social_account_id, []).append(target)
    waits = await budget_waits(
        session,
        [(accounts[account_id], len(share)) for account_id, share in by_account.items()],
        now,
    )
    deferred: set[uuid.UUID] = set()
    for account_id, share in by_account.items():
        for target, wait_until in zip(share, waits[account_id], strict=True):
            if wait_until is None:
                ready.append(target)
                continue
            said = _budget_words(accounts[account_id], target.platform, now)
            await session.execute(
                update(PostTarget)
                .where(PostTarget.id == target.id, PostTarget.status == TargetStatus.QUEUED)
                .values(status=TargetStatus.SCHEDULED, due_at=wait_until, **said)
                .execution_options(synchronize_session=False)
            )
            deferred.add(target.post_id)
            metrics.PUBLISH_OUTCOMES.labels(target.platform, "deferred").inc()
            log.info(
                "publishing deferred by the account's budget",
                target_id=str(target.id),
                until=wait_until.isoformat(),
            )
    if deferred:
        await settle_posts(session, deferred)
    return ready


def _budget_words(account: SocialAccount, platform: str, now: datetime) -> dict[str, str]:
    """What a target waiting for its network's budget says of it, if the budget has words and
    the wait is the budget's (not a hold the network asked for)."""
    budget = budget_for(platform)
    held = account.rate_limited_until is not None and account.rate_limited_until > now
    if budget is None or budget.reason is None or held:
        return {}
    return {"last_error_code": budget.code, "last_error_message": budget.reason}


async def _take(
    session: AsyncSession,
    settings: Settings,
    attempt_ids: dict[uuid.UUID, str],
    now: datetime,
    guarded: bool,
) -> set[uuid.UUID]:
    """Move the targets `queued → publishing` in one statement, each under its attempt id (the
    compare-and-set: a target no longer queued is not taken); the ids taken."""
    taken = await session.execute(
        update(PostTarget)
        .where(
            PostTarget.id.in_(list(attempt_ids)),
            PostTarget.status == TargetStatus.QUEUED if guarded else true(),
        )
        .values(
            status=TargetStatus.PUBLISHING,
            attempt_id=case(attempt_ids, value=PostTarget.id),
            attempt_started_at=now,
            lease_expires_at=now + timedelta(seconds=settings.publish_lease_s),
            attempts=PostTarget.attempts + 1,
        )
        .returning(PostTarget.id)
        .execution_options(synchronize_session=False)
    )
    return set(taken.scalars())


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
    await publish_batch(runtime, [target_id])


async def publish_batch(runtime: Runtime, target_ids: Sequence[uuid.UUID]) -> None:
    """One publishing attempt of each of the queued targets: claimed together, their requests
    sent concurrently, and their outcomes recorded in a few transactions. An outcome waits at
    most `T21_PUBLISH_FLUSH_S` for slower attempts of the batch to be recorded with."""
    slots = _attempt_slots(runtime)
    ids = list(target_ids)
    for start in range(0, len(ids), slots.size):
        chunk = ids[start : start + slots.size]
        if not await slots.take_unless_crowded(len(chunk), WAITING_JOBS_MAX):
            # The targets stay queued (a compare-and-set still guards them); the job goes to
            # the back of the broker's queue, behind whatever arrived meanwhile.
            await asyncio.sleep(HAND_BACK_PAUSE_S)
            rest = [str(target_id) for target_id in ids[start:]]
            await runtime.jobs.send([PendingJob(PUBLISH_BATCH_JOB, {"target_ids": rest})])
            return
        try:
            await _publish_held(runtime, chunk)
        finally:
            await slots.give(len(chunk))


class AttemptSlots:
    """How many attempts this process holds at once (`T21_WORKER_CONCURRENCY`): a batch waits
    for room before it claims, so a worker that dies leaves no more attempts for the reaper to
    check than it would with one attempt per job."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self.waiting = 0
        self._changed = asyncio.Condition()

    async def take_unless_crowded(self, n: int, waiting_max: int) -> bool:
        """Take `n` once there is room, unless there is none now and `waiting_max` takers
        already wait for it (then False, nothing taken)."""
        async with self._changed:
            if self.free < n and self.waiting >= waiting_max:
                return False
            self.waiting += 1
            try:
                await self._changed.wait_for(lambda: self.free >= n)
            finally:
                self.waiting -= 1
            self.free -= n
            return True

    async def give(self, n: int) -> None:
        async with self._changed:
            self.free += n
            self._changed.notify_all()


def _attempt_slots(runtime: Runtime) -> AttemptSlots:
    slots: AttemptSlots | None = runtime.state.get("publishing_attempt_slots")
    if slots is None:
        slots = AttemptSlots(runtime.settings.worker_concurrency)
        runtime.state["publishing_attempt_slots"] = slots
    return slots


async def _publish_held(runtime: Runtime, target_ids: Sequence[uuid.UUID]) -> None:
    attempts = await begin_batch(runtime, target_ids)
    if not attempts:
        return
    pending: set[asyncio.Task[tuple[Attempt, Outcome]]] = {
        asyncio.create_task(attempt_outcome(runtime, attempt)) for attempt in attempts
    }
    flush_s = runtime.settings.publish_flush_s
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if pending and flush_s > 0:
                more, pending = await asyncio.wait(pending, timeout=flush_s)
                done |= more
            await _record_surely(runtime, [task.result() for task in done])
    finally:
        for task in pending:
            task.cancel()


async def _record_surely(runtime: Runtime, outcomes: list[tuple[Attempt, Outcome]]) -> None:
    """`record_batch`, tried again while the database is momentarily busy (SQLite's write lock
    held past its timeout, a deadlock): an outcome left unwritten would hold its target until
    the reaper. Writing the same outcomes again is harmless (each under its attempt id)."""
    for attempt in range(RECORD_TRIES):
        try:
            await record_batch(runtime, outcomes)
            return
        except DBAPIError as error:
            if isinstance(error, IntegrityError | ProgrammingError | DataError):
                raise
            if attempt == RECORD_TRIES - 1:
                raise
            log.warning(
                "recording outcomes failed; trying again",
                targets=len(outcomes),
                error=type(error.orig).__name__,
            )
            await asyncio.sleep(0.2 * 2**attempt)


async def attempt_outcome(runtime: Runtime, attempt: Attempt) -> tuple[Attempt, Outcome]:
    """Send the attempt to its network; what happened, classified (never raises)."""
    outcome: Outcome
    deadline = max(1.0, runtime.settings.publish_lease_s - LEASE_MARGIN.total_seconds())
    sent = False
    try:
        async with asyncio.timeout(deadline):
            held = attempt.credentials
            if held is None:
                account = await refresh_account(runtime, attempt.account_id)
                held = held_credentials(runtime, account)
            provider = _provider(runtime, attempt.platform)
            request = PublishRequest(
                text=attempt.text,
                media=[media_item(runtime, asset) for asset in attempt.media],
                options=attempt.options,
                progress=attempt.progress,
                key=threads.attempt_key(attempt.target_id, attempt.step),
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
        log.exception("publishing failed unexpectedly", target_id=str(attempt.target_id))
        outcome = (
            Ambiguous("Publishing was interrupted; T21 is checking whether it posted.")
            if sent
            else Retryable("Publishing failed unexpectedly before anything was sent.", after=60)
        )
    return attempt, outcome


def _provider(runtime: Runtime, platform: str) -> Provider:
    """The provider of `platform` as this process reaches it, built once per configuration:
    providers hold only their configuration (each operation opens its own HTTP client)."""
    cache: dict[tuple[str, int, str | None], Provider] = runtime.state.setdefault(
        "publishing_providers", {}
    )
    key = (platform, id(runtime.settings), sandbox_url(runtime))
    found = cache.get(key)
    if found is None:
        found = cache[key] = configured_provider(runtime, platform)
    return found


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
    async with session_scope(runtime) as session:
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
        await settle_posts(session, post_ids)
        await notify_problems(session, settings, post_ids)
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
