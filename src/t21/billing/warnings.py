"""Usage warnings: an organization hears once per month when it reaches 80 % and 100 % of a
monthly quota (`usage.warning`), in the transaction that counted the usage."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.billing import plans, usage
from t21.billing.models import UsageCounter
from t21.core import clock
from t21.core.settings import Settings
from t21.events.service import record_event
from t21.organizations.models import Organization

THRESHOLDS = (80, 100)


async def count_usage(
    session: AsyncSession,
    settings: Settings,
    organization_id: uuid.UUID,
    metric: usage.Metric,
    amount: int = 1,
) -> None:
    """Count `amount` of `metric` for this month, and warn at each threshold it reaches."""
    at = clock.now()
    total, warned = await usage.increment(session, organization_id, metric, amount, at=at)
    if warned >= THRESHOLDS[-1]:
        return
    limit = plans.Limit(metric.value)
    # Below the first threshold of the smallest plan, no plan warns: no need to read the tier.
    smallest = min(plan.limits[limit] for plan in plans.plans(settings).values())
    if total * 100 < THRESHOLDS[0] * smallest:
        return
    organization = await session.get(Organization, organization_id)
    if organization is None:
        return
    cap = plans.plan_for(settings, organization.tier).limits[limit]
    if cap <= 0:
        return
    percent = total * 100 // cap
    reached = [threshold for threshold in THRESHOLDS if warned < threshold <= percent]
    if not reached:
        return
    period = usage.period_of(at)
    column = getattr(UsageCounter, f"{metric.value}_warned")
    # Compare-and-set: of two transactions counting at once, one warns.
    marked = await session.execute(
        update(UsageCounter)
        .where(
            UsageCounter.organization_id == organization_id,
            UsageCounter.period == period,
            column == warned,
        )
        .values({column: reached[-1]})
        .execution_options(synchronize_session=False)
    )
    if getattr(marked, "rowcount", 0) != 1:
        return
    for threshold in reached:
        await record_event(
            session,
            organization_id=organization_id,
            type="usage.warning",
            data={
                "metric": metric.value,
                "period": period,
                "threshold": threshold,
                "used": total,
                "limit": cap,
                "tier": organization.tier,
            },
        )
