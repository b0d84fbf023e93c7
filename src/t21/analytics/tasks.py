"""Metrics collection: a loop claims the targets due, a job collects one account's of them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from t21.analytics.collection import claim_due_targets, collect_account
from t21.core.runtime import get_runtime
from t21.worker.jobs import enqueue, job
from t21.worker.loops import periodic


@job("analytics.collect_account")
async def collect_metrics_of(account_id: str, target_ids: list[str], claimed_until: str) -> None:
    await collect_account(
        get_runtime(),
        uuid.UUID(account_id),
        [uuid.UUID(target_id) for target_id in target_ids],
        datetime.fromisoformat(claimed_until),
    )


# batch_size=1: the claim's size is a setting, so any claim may have left more behind; the next
# iteration, at once, finds out with one query.
@periodic(
    "analytics.collect",
    interval=lambda settings: settings.analytics_interval_s,
    batch_size=1,
)
async def collect_due_metrics(session: AsyncSession) -> int:
    """Claim the targets due for collection and enqueue one job per account."""
    claim = await claim_due_targets(session, limit=get_runtime().settings.analytics_batch)
    for account_id, target_ids in claim.by_account.items():
        enqueue(
            collect_metrics_of,
            account_id=str(account_id),
            target_ids=[str(target_id) for target_id in target_ids],
            claimed_until=claim.until.isoformat(),
        )
    return claim.count
