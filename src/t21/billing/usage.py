"""Counting what an organization uses, per calendar month, with atomic increments.

An increment is one `INSERT … ON CONFLICT DO UPDATE SET n = n + k` (on SQLite and PostgreSQL
alike): concurrent increments never lose one, and the month's row is created by its first use.
Callers increment in the same transaction as the change they count, so it counts exactly once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

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
    statement = _incrementing(session.get_bind().dialect.name, metric)
    parameters = {
        "organization_id": organization_id,
        "period": period_of(at or clock.now()),
        "amount": amount,
    }
    row = (await session.execute(statement, parameters)).one()
    return int(row[0]), int(row[1])


@lru_cache(maxsize=8)
def _incrementing(dialect: str, metric: Metric) -> ReturningInsert[Any]:
    """The upsert adding `:amount` to `metric` (the month's row made by its first use), built
    once per dialect and metric with every value bound: the engine counts each batch of
    publishes with it."""
    table = UsageCounter.metadata.tables[UsageCounter.__tablename__]
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values: dict[str, Any] = {other.value: 0 for other in Metric}
    values |= {
        "organization_id": bindparam("organization_id", type_=table.c.organization_id.type),
        "period": bindparam("period", type_=table.c.period.type),
        metric.value: bindparam("amount", type_=table.c[metric.value].type),
    }
    statement = insert(table).values(values)
    counted = table.c[metric.value]
    return statement.on_conflict_do_update(
        index_elements=[table.c.organization_id, table.c.period],
        set_={metric.value: counted + statement.excluded[metric.value]},
    ).returning(counted, table.c[f"{metric.value}_warned"])


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
