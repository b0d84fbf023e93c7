"""The delivery dispatcher (a loop, also woken right after events commit) and the send job."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.runtime import get_runtime
from t21.core.uow import session_scope
from t21.webhooks import delivery
from t21.webhooks.claims import DELIVER_JOB, Claim, claim_due
from t21.webhooks.fanout import DISPATCH_JOB
from t21.worker.jobs import enqueue, job
from t21.worker.loops import periodic


@job(DELIVER_JOB)
async def deliver(delivery_id: str, token: str) -> None:
    await delivery.deliver(get_runtime(), Claim(uuid.UUID(delivery_id), token))


async def claim_and_enqueue(session: AsyncSession) -> int:
    """Claim due deliveries and send a job for each once the claim commits."""
    claims = await claim_due(session, get_runtime().settings)
    for claim in claims:
        enqueue(deliver, delivery_id=str(claim.delivery_id), token=claim.token)
    return len(claims)


periodic(
    "webhooks.dispatch",
    interval=lambda settings: settings.webhook_dispatch_interval_s,
    batch_size=200,
)(claim_and_enqueue)


@job(DISPATCH_JOB)
async def dispatch_now() -> None:
    """One dispatch right after events committed, instead of at the next poll."""
    async with session_scope(get_runtime()) as session:
        await claim_and_enqueue(session)
