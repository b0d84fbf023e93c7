"""The publishing loops (dispatcher, reaper) and jobs (publish, reconcile)."""

from __future__ import annotations

import time
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.runtime import get_runtime
from t21.publishing import reaper, service
from t21.worker.jobs import enqueue, job
from t21.worker.loops import periodic, run_again_in

# The dispatcher polls at least this long apart when it wakes early for a target falling due:
# targets due close together are claimed (and their publish jobs batched) together. At 50
# arrivals a second, 0.2 s made batches of about 10 (bench/README.md, fifth round); 0.5 s keeps
# batches of 25, and a target waits at most half a second for its claim.
DISPATCH_SOONEST_S = 0.5


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
    claim commits; wake again when the next target falls due, if before the next poll (at
    least `DISPATCH_SOONEST_S` later), so that a target waits for no full interval."""
    runtime = get_runtime()
    settings = runtime.settings
    claimed = await service.claim_due(session, settings)
    enqueue_publishing(claimed, settings.publish_batch)
    now = time.monotonic()
    # Counting every status reads every target in flight: a poll woken early for a target
    # falling due leaves it to the regular ones.
    early: float | None = runtime.state.get("publishing_dispatch_woken_early")
    by_status = early is None or now - early >= settings.dispatch_interval_s
    pipeline = await service.sample_pipeline(
        session, settings.dispatch_interval_s, by_status=by_status
    )
    wait = None
    if pipeline.next_due_at is not None:
        wait = max(DISPATCH_SOONEST_S, (pipeline.next_due_at - clock.now()).total_seconds())
        run_again_in(wait)
    if wait is None or wait >= settings.dispatch_interval_s:
        runtime.state.pop("publishing_dispatch_woken_early", None)
    elif by_status:
        runtime.state["publishing_dispatch_woken_early"] = now
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
