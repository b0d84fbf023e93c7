"""The events' housekeeping: the log keeps 30 days."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from t21.events.service import purge_old_events
from t21.worker.loops import periodic

PURGE_BATCH = 1000


@periodic("events.purge_old_events", interval=lambda settings: 3600.0, batch_size=PURGE_BATCH)
async def purge_events(session: AsyncSession) -> int:
    """Delete events past their 30 days, a batch at a time."""
    return await purge_old_events(session, limit=PURGE_BATCH)
