"""The publishing loops (dispatcher, reaper) and jobs (publish, reconcile)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.runtime import get_runtime
from t21.publishing import reaper, service
from t21.worker.jobs import enqueue, job
from t21.worker.loops import periodic


@job("publishing.publish")
async def publish_target(target_id: str) -> None:
    await service.publish(get_runtime(), uuid.UUID(target_id))


@job(service.PUBLISH_BATCH_JOB)
async def publish_targets(target_ids: list[str]) -> None:
    await service.publish_batch(get_runtime(), [uuid.UUID(target_id) for target_id in target_ids])


def enqueue_publishing(target_ids: list[uuid.UUID], batch: int) -> None:
    """Send the publish jobs of claimed targets, `batch` targets to a job."""
    for start in range(0, len(target_ids), batch):
        chunk = target_ids[start : start + batch]
        enqueue(publish_targets, target_ids=[str(target_id) for target_id in chunk])


@job("publishing.reconcile")
async def reconcile_target(target_id: str, attempt_id: str) -> None:
    await reaper.reconcile(get_runtime(), uuid.UUID(target_id), attempt_id)


@job("publishing.reconcile_batch")
async def reconcile_targets(attempts: list[list[str]]) -> None:
    """Settle one account's cut-off attempts, given as `[target_id, attempt_id]` pairs."""
    await reaper.reconcile_batch(
        get_runtime(), [(uuid.UUID(target_id), attempt_id) for target_id, attempt_id in attempts]
    )


@periodic(
    "publishing.dispatch",
    interval=lambda settings: settings.dispatch_interval_s,
    batch_size=200,
)
async def dispatch(session: AsyncSession) -> int:
    """Claim the due targets and send their publish jobs (a batch of targets each) once the
    claim commits."""
    settings = get_runtime().settings
    claimed = await service.claim_due(session, settings)
    enqueue_publishing(claimed, settings.publish_batch)
    await service.sample_pipeline(session)
    return len(claimed)


@periodic("publishing.reap", interval=lambda settings: settings.reaper_interval_s)
async def reap(session: AsyncSession) -> int:
    """Send again the jobs of targets queued too long; reconcile attempts past their lease."""
    runtime = get_runtime()
    settings = runtime.settings
    reached = service.taken_frontier(runtime).reached(settings, clock.now())
    lost = await reaper.claim_lost(session, settings, runtime.jobs.recovered_at, reached)
    enqueue_publishing(lost, settings.publish_batch)
    expired = await reaper.claim_expired(session, settings)
    for attempts in expired.values():
        pairs = [[str(target_id), attempt_id] for target_id, attempt_id in attempts]
        enqueue(reconcile_targets, attempts=pairs)
    return len(lost) + sum(len(attempts) for attempts in expired.values())
