"""Processing Stripe's webhook events: a job per event, and a loop for those a job missed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from t21.billing import webhooks
from t21.core.runtime import get_runtime
from t21.worker.jobs import enqueue, job
from t21.worker.loops import periodic

REQUEUE_BATCH = 100
REQUEUE_INTERVAL_S = 15.0


@job(webhooks.PROCESS_JOB)
async def process_stripe_event(event_id: str) -> None:
    await webhooks.process(get_runtime(), event_id)


@periodic(
    "billing.requeue_stripe_events",
    interval=lambda _settings: REQUEUE_INTERVAL_S,
    batch_size=REQUEUE_BATCH,
)
async def requeue_stripe_events(session: AsyncSession) -> int:
    """Send a job for each stored event that is still unprocessed when it should not be."""
    due = await webhooks.requeue_due(session, limit=REQUEUE_BATCH)
    for event_id in due:
        enqueue(process_stripe_event, event_id=event_id)
    return len(due)
