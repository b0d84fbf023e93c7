"""The audit log's housekeeping: entries past `T21_AUDIT_RETENTION_DAYS` are deleted."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit.service import purge_expired
from t21.core.runtime import get_runtime
from t21.worker.loops import periodic

PURGE_BATCH = 1000


@periodic("audit.purge_expired", interval=lambda settings: 3600.0, batch_size=PURGE_BATCH)
async def purge_audit_entries(session: AsyncSession) -> int:
    """Delete entries past their retention, a batch at a time."""
    retention = get_runtime().settings.audit_retention_days
    return await purge_expired(session, retention_days=retention, limit=PURGE_BATCH)
