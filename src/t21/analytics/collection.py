"""Collecting published targets' numbers from their networks, one account at a time.

The loop claims due targets by moving their `next_collect_at` a claim window ahead (`FOR UPDATE
SKIP LOCKED` on PostgreSQL), so many workers never collect the same target twice, and a job lost
with the broker comes back once the window passes. The job fetches one account's targets in one
`metrics` call outside any transaction, then appends a snapshot per target that has numbers and
moves each target to its next collection; it writes only targets still held by its own claim.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.analytics.models import MetricSnapshot
from t21.analytics.schedule import next_collect_at
from t21.core import clock
from t21.core.db import for_claim
from t21.core.errors import NotFound, T21Error
from t21.core.logging import get_logger
from t21.core.outside import NotPermitted, OutsideFailure, Permanent, ReauthRequired
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.platforms.base import Credentials, PostMetrics, Provider
from t21.platforms.registry import configured_provider
from t21.posts.models import Post, PostTarget, TargetStatus
from t21.social.models import AccountStatus, SocialAccount
from t21.social.tokens import credentials, needs_refresh, refresh_account

log = get_logger("t21.analytics")

# Longer than one account's collection takes; a claim older than this is taken again.
CLAIM_FOR = timedelta(minutes=10)
# After a failure the network says will pass: its own wait, within these bounds.
RETRY_AFTER = timedelta(minutes=5)
MIN_RETRY_AFTER = timedelta(seconds=30)
MAX_RETRY_AFTER = timedelta(hours=1)
# The network refused the account's tokens for its numbers (e.g. a declined analytics scope).
# Publishing may still work, so the account isn't marked here; ask again much later. An account
# marked `reauth_required` elsewhere is passed by until it is reconnected.
REAUTH_RETRY_AFTER = timedelta(hours=6)
# T21 can't reach the network at all (not configured).
UNAVAILABLE_RETRY_AFTER = timedelta(hours=1)


@dataclass
class Claim:
    """Targets claimed in one iteration, by account, all held until `until`."""

    until: datetime
    by_account: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.by_account.values())


async def claim_due_targets(session: AsyncSession, *, limit: int) -> Claim:
    """Claim up to `limit` published targets due for collection whose account is active.

    Due targets that can never be collected (their account was removed, or they have no id at
    the network) stop collecting instead.
    """
    now = clock.now()
    account_active = exists().where(
        SocialAccount.id == PostTarget.social_account_id,
        SocialAccount.status == AccountStatus.ACTIVE,
    )
    rows = (
        await session.execute(
            for_claim(
                select(PostTarget.id, PostTarget.social_account_id, PostTarget.external_id)
                .where(
                    PostTarget.status == TargetStatus.PUBLISHED,
                    PostTarget.next_collect_at <= now,
                    or_(PostTarget.social_account_id.is_(None), account_active),
                )
                .order_by(PostTarget.next_collect_at)
                .limit(limit),
                session,
            )
        )
    ).all()
    claim = Claim(until=now + CLAIM_FOR)
    orphans: list[uuid.UUID] = []
    for target_id, account_id, external_id in rows:
        if account_id is None or external_id is None:
            orphans.append(target_id)
        else:
            claim.by_account.setdefault(account_id, []).append(target_id)
    if orphans:
        await _set_next(session, orphans, None)
    claimed = [target_id for ids in claim.by_account.values() for target_id in ids]
    if claimed:
        await _set_next(session, claimed, claim.until)
    return claim


async def _set_next(
    session: AsyncSession, target_ids: list[uuid.UUID], when: datetime | None
) -> None:
    await session.execute(
        update(PostTarget)
        .where(PostTarget.id.in_(target_ids))
        .values(next_collect_at=when)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class _Target:
    id: uuid.UUID
    external_id: str
    published_at: datetime | None
    post_id: uuid.UUID
    organization_id: uuid.UUID
    brand_id: uuid.UUID
    platform: str


@dataclass
class _Fetched:
    numbers: dict[str, PostMetrics | None] = field(default_factory=dict)
    # Posts the network refused to give numbers for, for good (deleted, not ours).
    gone: set[str] = field(default_factory=set)


async def collect_account(
    runtime: Runtime,
    account_id: uuid.UUID,
    target_ids: list[uuid.UUID],
    claimed_until: datetime,
) -> int:
    """Collect the numbers of one account's claimed targets; how many snapshots were added."""
    settings = runtime.settings
    async with session_scope(runtime) as session:
        account = await session.get(SocialAccount, account_id)
        if account is None or account.status is not AccountStatus.ACTIVE:
            # Its targets stay claimed until the window passes; the loop passes them by while
            # the account isn't active, and takes them again once it is reconnected.
            return 0
        targets = await _held_targets(session, account_id, target_ids, claimed_until)
        platform = account.platform
        had_note = account.metrics_unavailable is not None
        held: Credentials | None = None
        if not needs_refresh(account, settings, clock.now()):
            held = credentials(settings, account)
    if not targets:
        return 0
    try:
        if held is None:
            held = credentials(settings, await refresh_account(runtime, account_id))
        provider = configured_provider(runtime, platform)
        fetched = await _fetch(provider, held, [target.external_id for target in targets])
    except NotPermitted as failure:
        # Skipped, with the reason kept on the account; asked again much later (the account
        # may be reconnected with the permission meanwhile).
        log.info("metrics skipped: permission missing", **_context(account_id, failure))
        await _note_metrics(runtime, account_id, failure.message)
        await _postpone(runtime, targets, claimed_until, REAUTH_RETRY_AFTER)
        return 0
    except ReauthRequired as failure:
        log.warning("metrics refused: account needs reconnecting", **_context(account_id, failure))
        await _postpone(runtime, targets, claimed_until, REAUTH_RETRY_AFTER)
        return 0
    except OutsideFailure as failure:
        log.info("metrics postponed", **_context(account_id, failure))
        await _postpone(runtime, targets, claimed_until, _retry_delay(failure))
        return 0
    except NotFound:
        return 0  # the account was removed meanwhile; its targets stop at the next claim
    except T21Error as failure:
        log.warning("metrics postponed", account_id=str(account_id), error=failure.detail)
        await _postpone(runtime, targets, claimed_until, UNAVAILABLE_RETRY_AFTER)
        return 0
    if had_note:
        await _note_metrics(runtime, account_id, None)
    return await _record(runtime, settings, targets, claimed_until, fetched)


async def _note_metrics(runtime: Runtime, account_id: uuid.UUID, reason: str | None) -> None:
    """Why the account's numbers are skipped (None: they are collected again)."""
    async with session_scope(runtime) as session:
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id == account_id)
            .values(metrics_unavailable=reason)
            .execution_options(synchronize_session=False)
        )


def _context(account_id: uuid.UUID, failure: OutsideFailure) -> dict[str, Any]:
    return {"account_id": str(account_id), "error": failure.message, "code": failure.code}


def _retry_delay(failure: OutsideFailure) -> timedelta:
    after = getattr(failure, "after", None)
    wanted = timedelta(seconds=after) if after else RETRY_AFTER
    return max(MIN_RETRY_AFTER, min(MAX_RETRY_AFTER, wanted))


async def _held_targets(
    session: AsyncSession,
    account_id: uuid.UUID,
    target_ids: list[uuid.UUID],
    claimed_until: datetime,
) -> list[_Target]:
    """The targets of this claim that are still this claim's (published, of this account, not
    taken again since by another claim)."""
    rows = await session.execute(
        select(
            PostTarget.id,
            PostTarget.external_id,
            PostTarget.published_at,
            PostTarget.post_id,
            PostTarget.organization_id,
            Post.brand_id,
            PostTarget.platform,
        )
        .join(Post, Post.id == PostTarget.post_id)
        .where(
            PostTarget.id.in_(target_ids),
            PostTarget.social_account_id == account_id,
            PostTarget.status == TargetStatus.PUBLISHED,
            PostTarget.external_id.is_not(None),
            PostTarget.next_collect_at == claimed_until,
        )
    )
    return [
        _Target(
            id=row.id,
            external_id=str(row.external_id),
            published_at=row.published_at,
            post_id=row.post_id,
            organization_id=row.organization_id,
            brand_id=row.brand_id,
            platform=row.platform,
        )
        for row in rows
    ]


async def _fetch(provider: Provider, held: Credentials, external_ids: list[str]) -> _Fetched:
    """The numbers of every post, in one call. A `Permanent` refusal of the whole call is asked
    again post by post, so one deleted post doesn't stop its account's others."""
    unique = list(dict.fromkeys(external_ids))
    try:
        return _Fetched(numbers=dict(await provider.metrics(held, unique)))
    except Permanent:
        if len(unique) == 1:
            return _Fetched(gone=set(unique))
    fetched = _Fetched()
    for external_id in unique:
        try:
            fetched.numbers.update(await provider.metrics(held, [external_id]))
        except Permanent:
            fetched.gone.add(external_id)
    return fetched


async def _record(
    runtime: Runtime,
    settings: Settings,
    targets: list[_Target],
    claimed_until: datetime,
    fetched: _Fetched,
) -> int:
    added = 0
    async with session_scope(runtime) as session:
        now = clock.now()
        mine = await _still_held(session, targets, claimed_until)
        schedule: list[dict[str, Any]] = []
        for target in targets:
            if target.id not in mine:
                continue
            if target.external_id in fetched.gone:
                schedule.append({"id": target.id, "next_collect_at": None})
                log.info("metrics stopped: post gone", target_id=str(target.id))
                continue
            numbers = fetched.numbers.get(target.external_id)
            if numbers is not None:
                session.add(_snapshot(target, numbers, now))
                added += 1
            published_at = target.published_at or now
            schedule.append(
                {"id": target.id, "next_collect_at": next_collect_at(published_at, now, settings)}
            )
        if schedule:
            await session.execute(update(PostTarget), schedule)
    return added


async def _still_held(
    session: AsyncSession, targets: list[_Target], claimed_until: datetime
) -> set[uuid.UUID]:
    """Lock and return the targets no other claim has taken since (on SQLite the transaction
    already holds the write lock)."""
    rows = await session.scalars(
        select(PostTarget.id)
        .where(
            PostTarget.id.in_([target.id for target in targets]),
            PostTarget.next_collect_at == claimed_until,
        )
        .with_for_update()
    )
    return set(rows)


def _snapshot(target: _Target, numbers: PostMetrics, now: datetime) -> MetricSnapshot:
    return MetricSnapshot(
        organization_id=target.organization_id,
        brand_id=target.brand_id,
        post_id=target.post_id,
        target_id=target.id,
        platform=target.platform,
        collected_at=now,
        **asdict(numbers),
    )


async def _postpone(
    runtime: Runtime, targets: list[_Target], claimed_until: datetime, delay: timedelta
) -> None:
    """Collect these targets again after `delay`, keeping their place in the schedule."""
    async with session_scope(runtime) as session:
        mine = await _still_held(session, targets, claimed_until)
        if mine:
            await _set_next(session, sorted(mine), clock.now() + delay)


@dataclass(frozen=True)
class CollectedNow:
    targets: int
    snapshots: int


async def collect_now(runtime: Runtime, *, post_id: uuid.UUID | None = None) -> CollectedNow:
    """Collect at once every published target still being collected (or only `post_id`'s),
    here rather than through the job queue, instead of waiting for its schedule: the
    development command behind `t21 analytics collect`. Each target's schedule then goes on."""
    async with session_scope(runtime) as session:
        due = update(PostTarget).where(
            PostTarget.status == TargetStatus.PUBLISHED, PostTarget.next_collect_at.is_not(None)
        )
        if post_id is not None:
            due = due.where(PostTarget.post_id == post_id)
        await session.execute(
            due.values(next_collect_at=clock.now()).execution_options(synchronize_session=False)
        )
    targets = snapshots = 0
    while True:
        async with session_scope(runtime) as session:
            claim = await claim_due_targets(session, limit=runtime.settings.analytics_batch)
        if not claim.count:
            return CollectedNow(targets=targets, snapshots=snapshots)
        targets += claim.count
        for account_id, target_ids in claim.by_account.items():
            snapshots += await collect_account(runtime, account_id, target_ids, claim.until)
