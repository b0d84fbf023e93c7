"""What may stop an attempt before it starts: an account that can't post, the organization's
monthly quota, the account's budget at its network or a wait the network asked for."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.billing import plans, usage
from t21.billing.models import UsageCounter
from t21.core import clock, metrics
from t21.core.db import among
from t21.core.errors import QuotaExceeded
from t21.core.settings import Settings
from t21.organizations.models import Organization
from t21.platforms import registry
from t21.platforms.base import Budget
from t21.posts.models import PostTarget, TargetStatus
from t21.posts.settling import settle_posts
from t21.publishing.budgets import budget_for
from t21.publishing.notify import notify_problems
from t21.publishing.outcomes import CONTINUING_CODE, fail
from t21.social.models import AccountStatus, SocialAccount

# Within this many posts of its monthly limit, an organization's attempts are counted one at a
# time under its lock; further away, concurrent attempts can't pass the limit and go unlocked.
QUOTA_LOCK_MARGIN = 500


async def fail_unpostable(
    session: AsyncSession, settings: Settings, target: PostTarget, account: SocialAccount | None
) -> None:
    if account is None:
        message = "The account was disconnected from T21; connect it again and reschedule."
    elif account.status is AccountStatus.REAUTH_REQUIRED:
        name = registry.display_name(account.platform)
        message = f"The {name} account needs reconnecting; reschedule afterwards."
    else:
        message = f"The {registry.display_name(account.platform)} account is disconnected."
    # The caller holds the target's row (locked, and seen `queued`): it changes on the object,
    # so what is read next in this transaction (the notice, the event) sees the failure.
    if target.status is not TargetStatus.QUEUED:
        return
    await fail(session, target, "account_disconnected", message)
    metrics.PUBLISH_OUTCOMES.labels(target.platform, "reauth").inc()
    await settle_posts(session, {target.post_id})
    await notify_problems(session, settings, {target.post_id})


async def within_quota(session: AsyncSession, settings: Settings, target: PostTarget) -> bool:
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
        # On the held object, not a bulk update behind its back: the notice below reads this
        # target, and a stale `queued` on it kept the post from ever being reported.
        await fail(
            session,
            target,
            "quota_exceeded",
            f"{refusal.detail} Reschedule it after upgrading or next month.",
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


async def budget_wait(
    session: AsyncSession, account: SocialAccount, now: datetime
) -> datetime | None:
    """When the account may publish next, if not now: a network's own wait, or its budget."""
    if account.rate_limited_until is not None and account.rate_limited_until > now:
        return account.rate_limited_until
    budget = budget_for(account.platform)
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


async def hold_account(session: AsyncSession, account_id: uuid.UUID, until: datetime) -> None:
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


async def far_from_quota(
    session: AsyncSession, settings: Settings, organization_id: uuid.UUID, adding: int
) -> bool:
    """Whether `adding` attempts of the organization can start together without any of them
    passing its monthly limit, counting those in flight: then none needs the locked check of
    `within_quota`. One statement: the plan's tier, the month's count and those in flight."""
    found = (
        await session.execute(
            _QUOTA_STANDING,
            {"organization": organization_id, "period": usage.period_of(clock.now())},
        )
    ).one_or_none()
    if found is None:
        return False
    cap = plans.plan_for(settings, found.tier).limits[plans.Limit.PUBLISHED_POSTS]
    return int(found.used or 0) + int(found.in_flight) + adding + QUOTA_LOCK_MARGIN <= cap


def _quota_standing() -> Select[Any]:
    organization = bindparam("organization", type_=Organization.id.type)
    in_flight = (
        select(func.count())
        .where(
            PostTarget.organization_id == organization,
            PostTarget.status == TargetStatus.PUBLISHING,
        )
        .scalar_subquery()
    )
    used = (
        select(UsageCounter.published_posts)
        .where(
            UsageCounter.organization_id == organization,
            UsageCounter.period == bindparam("period", type_=UsageCounter.period.type),
        )
        .scalar_subquery()
    )
    return select(Organization.tier, in_flight.label("in_flight"), used.label("used")).where(
        Organization.id == organization
    )


_QUOTA_STANDING = _quota_standing()


async def budget_waits(
    session: AsyncSession, wanted: list[tuple[SocialAccount, int]], now: datetime
) -> dict[uuid.UUID, list[datetime | None]]:
    """For each account and the `n` attempts a batch would start on it, when each may publish
    (None: now), as `budget_wait` says for one: one query per network budget for the batch."""
    waits: dict[uuid.UUID, list[datetime | None]] = {}
    budgeted: dict[str, list[tuple[SocialAccount, int]]] = {}
    for account, n in wanted:
        if account.rate_limited_until is not None and account.rate_limited_until > now:
            waits[account.id] = [account.rate_limited_until] * n
        elif budget_for(account.platform) is None:
            waits[account.id] = [None] * n
        else:
            budgeted.setdefault(account.platform, []).append((account, n))
    for platform, group in budgeted.items():
        budget = budget_for(platform)
        assert budget is not None
        if budget.shared:
            waits |= await _shared_waits(session, platform, budget, group, now)
            continue
        since = now - budget.window
        moment = func.coalesce(PostTarget.published_at, PostTarget.attempt_started_at)
        rows = await session.execute(
            select(PostTarget.social_account_id, func.count(), func.min(moment))
            .where(
                among(session, PostTarget.social_account_id, [a.id for a, _ in group]),
                or_(
                    PostTarget.published_at >= since,
                    (PostTarget.status == TargetStatus.PUBLISHING)
                    & (PostTarget.attempt_started_at >= since),
                ),
            )
            .group_by(PostTarget.social_account_id)
        )
        seen: dict[uuid.UUID | None, tuple[int, datetime | None]] = {
            row[0]: (int(row[1]), row[2]) for row in rows
        }
        for account, n in group:
            count, oldest = seen.get(account.id, (0, None))
            # Past the budget, each waits for the oldest publish of the window to leave it
            # (checked again then), as a single attempt would.
            waits[account.id] = [
                None if count + extra < budget.posts else (oldest or now) + budget.window
                for extra in range(n)
            ]
    return waits


async def _shared_waits(
    session: AsyncSession,
    platform: str,
    budget: Budget,
    group: list[tuple[SocialAccount, int]],
    now: datetime,
) -> dict[uuid.UUID, list[datetime | None]]:
    """`budget_waits` for a budget of T21's app at the network: every account's publications
    of the period count; past the budget, attempts wait for the next period."""
    start, end = budget.period(now)
    # Every publication begun or published in the period: an attempt that began may have spent
    # its share even if it failed after (counting it is the cautious side).
    spent = int(
        await session.scalar(
            select(func.count()).where(
                PostTarget.platform == platform,
                or_(PostTarget.published_at >= start, PostTarget.attempt_started_at >= start),
            )
        )
        or 0
    )
    waits: dict[uuid.UUID, list[datetime | None]] = {}
    for account, n in group:
        waits[account.id] = []
        for _ in range(n):
            waits[account.id].append(None if spent < budget.posts else end)
            spent += 1
    return waits


def continuing_under_shared_budget(target: PostTarget) -> bool:
    """Whether the target carries on a publication already under way whose network budgets
    T21's app as a whole: it spent its share when it began, so no budget stops it now."""
    budget = budget_for(target.platform)
    return (
        budget is not None
        and budget.shared
        and bool(target.progress)
        and target.last_error_code == CONTINUING_CODE
    )
