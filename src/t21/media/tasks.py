"""Media's background work: removing objects once their rows are gone, and abandoned uploads."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.logging import get_logger
from t21.core.runtime import get_runtime
from t21.media.service import DELETE_OBJECTS_JOB, expire_abandoned_uploads
from t21.media.storage import storage_of
from t21.worker.jobs import job
from t21.worker.loops import periodic

log = get_logger("t21.media")

EXPIRE_BATCH = 100


@job(DELETE_OBJECTS_JOB)
async def delete_objects(keys: list[str]) -> None:
    """Remove objects no row points at any more; best effort (a leftover costs only space)."""
    try:
        await storage_of(get_runtime()).delete(keys)
    except Exception as exc:
        log.warning("media objects not deleted", keys=keys, error=type(exc).__name__)


@periodic(
    "media.expire_uploads",
    interval=lambda settings: settings.media_cleanup_interval_s,
    batch_size=EXPIRE_BATCH,
)
async def expire_uploads(session: AsyncSession) -> int:
    """Remove direct uploads that were announced and never completed in time."""
    return await expire_abandoned_uploads(session, limit=EXPIRE_BATCH)
