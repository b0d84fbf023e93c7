"""Periodic clean-up of shared machinery."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.idempotency import purge_expired
from t21.worker.loops import periodic

PURGE_BATCH = 1000


@periodic("core.purge_idempotency_keys", interval=lambda settings: 600.0, batch_size=PURGE_BATCH)
async def purge_idempotency_keys(session: AsyncSession) -> int:
    """Forget idempotency keys older than their 24 hours."""
    return await purge_expired(session, limit=PURGE_BATCH)
