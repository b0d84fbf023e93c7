"""Counting what an organization uses, per calendar month, with atomic increments.

An increment is one `INSERT … ON CONFLICT DO UPDATE SET n = n + k` (on SQLite and PostgreSQL
alike): concurrent increments never lose one, and the month's row is created by its first use.
Callers increment in the same transaction as the change they count, so it counts exactly once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from t21.billing.models import UsageCounter
from t21.core import clock


class Metric(StrEnum):
    PUBLISHED_POSTS = "published_posts"
    AI_CREDITS = "ai_credits"


def period_of(moment: datetime) -> str:
    """The calendar month (UTC) a moment counts in: "YYYY-MM"."""
    return f"{moment.year:04d}-{moment.month:02d}"


async def increment(
    session: AsyncSession,
    organization_id: uuid.UUID,
    metric: Metric,
    amount: int = 1,
    *,
    at: datetime | None = None,
) -> tuple[int, int]:
    """Add `amount` to the organization's `metric` for the month of `at` (default now); the
    month's new total and the usage warning (percent) already sent for it, read in the same
    statement. Counting that should warn goes through `billing.warnings.count_usage`."""
    period = period_of(at or clock.now())
    column = getattr(UsageCounter, metric.value)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {"organization_id": organization_id, "period": period, metric.value: amount}
    for other in Metric:
        values.setdefault(other.value, 0)
    statement = insert(UsageCounter).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[UsageCounter.organization_id, UsageCounter.period],
        set_={metric.value: column + amount},
    )
    warned = getattr(UsageCounter, f"{metric.value}_warned")
    row = (await session.execute(statement.returning(column, warned))).one()
    return int(row[0]), int(row[1])


async def usage(
    session: AsyncSession, organization_id: uuid.UUID, *, at: datetime | None = None
) -> dict[Metric, int]:
    """The organization's usage in the month of `at` (default now); zero where nothing counted."""
    row = await session.scalar(
        select(UsageCounter)
        .where(
            UsageCounter.organization_id == organization_id,
            UsageCounter.period == period_of(at or clock.now()),
        )
        .execution_options(populate_existing=True)
    )
    if row is None:
        return dict.fromkeys(Metric, 0)
    return {metric: int(getattr(row, metric.value)) for metric in Metric}
